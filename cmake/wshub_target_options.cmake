# Warnings and sanitizers are applied per target, never through global flags.
function(wshub_target_options target)
  target_compile_features(${target} PUBLIC cxx_std_20)
  set_target_properties(${target} PROPERTIES CXX_EXTENSIONS OFF)
  # -Wshadow=local is GCC's; clang (the fuzz build) has no such option.
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic $<$<CXX_COMPILER_ID:GNU>:-Wshadow=local>)
  if(WSHUB_SANITIZE)
    list(JOIN WSHUB_SANITIZE "," sanitizers)
    target_compile_options(${target} PUBLIC -fsanitize=${sanitizers} -fno-omit-frame-pointer -fno-sanitize-recover=all)
    target_link_options(${target} PUBLIC -fsanitize=${sanitizers})
  endif()
endfunction()
