# wshub_embed_web(NAME DIR FILE...) generates ${CMAKE_CURRENT_BINARY_DIR}/NAME.cpp, which defines
# wshub::http::embedded_files(): the given files of DIR as byte arrays, so the binary serves them
# without reading the disk. A FILE given as an absolute path is embedded under its file name (a
# file kept elsewhere in the tree, served beside DIR's). The generated source is rebuilt when any
# of the files changes.
set(WSHUB_EMBED_SCRIPT "${CMAKE_CURRENT_LIST_DIR}/wshub_embed_web_generate.cmake")

function(wshub_embed_web name dir)
  set(files ${ARGN})
  set(inputs "")
  foreach(f IN LISTS files)
    if(IS_ABSOLUTE "${f}")
      list(APPEND inputs "${f}")
    else()
      list(APPEND inputs "${dir}/${f}")
    endif()
  endforeach()
  list(JOIN files "," files_arg)
  add_custom_command(
    OUTPUT "${CMAKE_CURRENT_BINARY_DIR}/${name}.cpp"
    COMMAND ${CMAKE_COMMAND} -DDIR=${dir} "-DFILES=${files_arg}"
            -DOUT=${CMAKE_CURRENT_BINARY_DIR}/${name}.cpp -P ${WSHUB_EMBED_SCRIPT}
    DEPENDS ${inputs} ${WSHUB_EMBED_SCRIPT}
    COMMENT "Embedding web files into ${name}.cpp"
    VERBATIM)
endfunction()
