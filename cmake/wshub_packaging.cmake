# Installation and the Debian package.
#
#   cmake --install build/release            the binary, wshub.service and /etc/wshub/wshub.json
#   (cd build/release && cpack -G DEB)       wshub_<version>_<arch>.deb, enabled and started on install
#
# The unit's ExecStart names the installed binary, so the unit is written at install time, when
# the final prefix is known (`cmake --install --prefix`, or /usr inside the .deb).
include_guard(GLOBAL)
include(GNUInstallDirs)  # the binary itself is installed by the top-level CMakeLists.txt

set(WSHUB_INSTALL_CONFIG_DIR "/etc/wshub" CACHE PATH "Absolute folder for the installed wshub.json")
set(WSHUB_INSTALL_UNIT_DIR "lib/systemd/system" CACHE STRING
    "Folder for wshub.service, relative to the install prefix (systemd reads both /usr and /usr/local)")
set(WSHUB_DEB_MAINTAINER "wshub maintainers <wshub@example.org>" CACHE STRING
    "The Maintainer field of the .deb and its changelog: a name and an address")
set(WSHUB_PACKAGE_RELEASE 1 CACHE STRING "The Debian revision of the .deb (its version is <project version>-<this>)")

# Installing and packaging take what `cmake --build` built and never start a build themselves,
# so the package test can run inside ctest without rebuilding the tree under the other tests.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)

set(_wshub_config_in "${PROJECT_SOURCE_DIR}/config/wshub.json")
set(_wshub_unit_in "${PROJECT_SOURCE_DIR}/config/wshub.service")
set(_wshub_stage "${PROJECT_BINARY_DIR}/wshub_install")
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${_wshub_config_in}")

# The service's default configuration: config/wshub.json with the message log in the unit's
# StateDirectory.
file(READ "${_wshub_config_in}" _wshub_json)
string(REGEX REPLACE "\"data_dir\": *\"[^\"]*\"" "\"data_dir\": \"/var/lib/wshub\"" _wshub_service_json "${_wshub_json}")
if(_wshub_service_json STREQUAL _wshub_json AND NOT _wshub_json MATCHES "\"/var/lib/wshub\"")
  message(FATAL_ERROR "config/wshub.json has no \"data_dir\" to point at /var/lib/wshub")
endif()
file(CONFIGURE OUTPUT "${_wshub_stage}/wshub.json" CONTENT "${_wshub_service_json}" @ONLY)

# wshub.service for the prefix in use when installing, written under a name of its own so that
# installs running side by side do not share a file.
if(IS_ABSOLUTE "${CMAKE_INSTALL_BINDIR}")
  set(_wshub_bindir "${CMAKE_INSTALL_BINDIR}")
else()
  set(_wshub_bindir "\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}")
endif()
if(IS_ABSOLUTE "${WSHUB_INSTALL_UNIT_DIR}")
  set(_wshub_unitdir "${WSHUB_INSTALL_UNIT_DIR}")
else()
  set(_wshub_unitdir "\${CMAKE_INSTALL_PREFIX}/${WSHUB_INSTALL_UNIT_DIR}")
endif()
install(CODE "
  file(READ \"${_wshub_unit_in}\" _unit)
  string(REPLACE \"ExecStart=/usr/bin/wshub --config /etc/wshub/wshub.json\"
    \"ExecStart=${_wshub_bindir}/wshub --config ${WSHUB_INSTALL_CONFIG_DIR}/wshub.json\" _unit \"\${_unit}\")
  string(RANDOM LENGTH 16 _tag)
  set(_tmp \"${_wshub_stage}/tmp-\${_tag}/wshub.service\")
  file(WRITE \"\${_tmp}\" \"\${_unit}\")
  file(INSTALL \"\${_tmp}\" DESTINATION \"${_wshub_unitdir}\"
       FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
  file(REMOVE_RECURSE \"${_wshub_stage}/tmp-\${_tag}\")
")

# The service's system user (systemd-sysusers creates it; the .deb runs it on install).
install(FILES "${PROJECT_SOURCE_DIR}/packaging/wshub.sysusers" DESTINATION lib/sysusers.d RENAME wshub.conf)

# The configuration is the administrator's once installed: `cmake --install` never overwrites
# it (the .deb marks it a conffile, so dpkg asks). file(INSTALL) adds DESTDIR itself.
install(CODE "
  if(EXISTS \"\$ENV{DESTDIR}${WSHUB_INSTALL_CONFIG_DIR}/wshub.json\")
    message(STATUS \"Keeping: \$ENV{DESTDIR}${WSHUB_INSTALL_CONFIG_DIR}/wshub.json\")
  else()
    file(INSTALL \"${_wshub_stage}/wshub.json\" DESTINATION \"${WSHUB_INSTALL_CONFIG_DIR}\"
         FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
  endif()
")

# The .deb.
# Debian's documentation files (lintian checks them): the copyright (DEP-5, the project's MIT
# licence) and the changelog of the package, compressed as Debian wants it (gzip -9n: no name or
# time stamp in it, so the same tree gives the same bytes).
set(WSHUB_DEB_VERSION "${PROJECT_VERSION}-${WSHUB_PACKAGE_RELEASE}")
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/packaging/deb/changelog.in")
configure_file("${PROJECT_SOURCE_DIR}/packaging/deb/changelog.in" "${_wshub_stage}/deb/doc/changelog.Debian" @ONLY)
find_program(WSHUB_GZIP gzip REQUIRED)
execute_process(COMMAND "${WSHUB_GZIP}" -9nf "${_wshub_stage}/deb/doc/changelog.Debian" COMMAND_ERROR_IS_FATAL ANY)
install(FILES "${PROJECT_SOURCE_DIR}/packaging/deb/copyright" "${_wshub_stage}/deb/doc/changelog.Debian.gz"
        DESTINATION "${CMAKE_INSTALL_DOCDIR}" PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)

file(CONFIGURE OUTPUT "${_wshub_stage}/deb/conffiles" CONTENT "${WSHUB_INSTALL_CONFIG_DIR}/wshub.json\n" @ONLY)
foreach(_script postinst prerm postrm)
  configure_file("${PROJECT_SOURCE_DIR}/packaging/deb/${_script}" "${_wshub_stage}/deb/${_script}" COPYONLY)
endforeach()

set(CPACK_GENERATOR DEB)
set(CPACK_SOURCE_GENERATOR "")
set(CPACK_PACKAGE_NAME wshub)
set(CPACK_PACKAGE_VENDOR wshub)
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_DESCRIPTION
    "One small native binary: browsers and programs hold a WebSocket open,\npublishers POST messages, and every matching socket gets them in real\ntime. Runs as a systemd service.")
set(CPACK_PACKAGE_CONTACT "${WSHUB_DEB_MAINTAINER}")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE "${WSHUB_PACKAGE_RELEASE}")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# procps: /bin/kill for ExecReload.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "procps")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "systemd")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${_wshub_stage}/deb/conffiles;${_wshub_stage}/deb/postinst;${_wshub_stage}/deb/prerm;${_wshub_stage}/deb/postrm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)

# Tests of the above: the installed unit passes `systemd-analyze verify`, the .deb holds what it
# should.
if(WSHUB_BUILD_TESTS)
  add_test(NAME ops_install_and_verify_unit
           COMMAND bash "${PROJECT_SOURCE_DIR}/tests/ops/install_test.sh" "${PROJECT_BINARY_DIR}")
  add_test(NAME ops_deb_package
           COMMAND bash "${PROJECT_SOURCE_DIR}/tests/ops/deb_test.sh" "${PROJECT_BINARY_DIR}")
  set_tests_properties(ops_install_and_verify_unit ops_deb_package PROPERTIES LABELS ops TIMEOUT 300)
endif()
