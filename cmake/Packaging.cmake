# Install rules and the Debian package (`cpack -G DEB` in the build directory;
# docs/operations.md, "Debian package").
#
#   /usr/bin/certgate                           RUNPATH: the Android BoringSSL directory
#   /usr/share/man/man1/certgate.1.gz, man5/certgate.json.5.gz, man5/certgate-policy.5.gz
#   /usr/lib/systemd/system/certgate.service
#   /usr/share/bash-completion/completions/certgate
#   /etc/certgate/policies/*.json               policy presets (conffiles)
#   /usr/share/doc/certgate/                    copyright, README, docs, examples/
#
# The postinst creates the certgate system user; nothing is enabled or started.

include(GNUInstallDirs)

# Man pages: roff sources under docs/man, compressed as Debian installs them.
set(_man_pages certgate.1 certgate.json.5 certgate-policy.5)
set(_man_outputs)
foreach(page ${_man_pages})
    set(_src "${CMAKE_SOURCE_DIR}/docs/man/${page}")
    set(_out "${CMAKE_BINARY_DIR}/man/${page}.gz")
    add_custom_command(OUTPUT "${_out}"
        COMMAND "${CMAKE_COMMAND}" -E make_directory "${CMAKE_BINARY_DIR}/man"
        COMMAND gzip -9nc "${_src}" > "${_out}"
        DEPENDS "${_src}" VERBATIM)
    list(APPEND _man_outputs "${_out}")
    string(REGEX REPLACE ".*\\.([0-9])$" "\\1" _section "${page}")
    install(FILES "${_out}" DESTINATION "${CMAKE_INSTALL_MANDIR}/man${_section}")
endforeach()
add_custom_target(cg_man_pages ALL DEPENDS ${_man_outputs})

install(FILES deploy/systemd/certgate.service DESTINATION lib/systemd/system)
install(FILES deploy/bash-completion/certgate DESTINATION share/bash-completion/completions)

# Debian's copyright file: the licence, then NOTICE (the libraries certgate links).
set(_copyright "${CMAKE_BINARY_DIR}/package/copyright")
file(READ "${CMAKE_SOURCE_DIR}/NOTICE" _notice)
file(WRITE "${_copyright}"
     "certgate is licensed under the Apache License, Version 2.0; on Debian systems its\n"
     "text is in /usr/share/common-licenses/Apache-2.0.\n\n${_notice}")
install(FILES "${_copyright}" README.md DESTINATION "${CMAKE_INSTALL_DOCDIR}")
file(GLOB _docs "${CMAKE_SOURCE_DIR}/docs/*.md")
install(FILES ${_docs} DESTINATION "${CMAKE_INSTALL_DOCDIR}")
install(FILES deploy/debian/certgate.json DESTINATION "${CMAKE_INSTALL_DOCDIR}/examples")

# The presets go to /etc/certgate/policies in the package only: a local
# `cmake --install` must not write to /etc. CPack runs this script after staging the
# install tree and before building the package.
file(GLOB _presets RELATIVE "${CMAKE_SOURCE_DIR}/conf/policies" "${CMAKE_SOURCE_DIR}/conf/policies/*.json")
set(_conffiles "")
foreach(p ${_presets})
    string(APPEND _conffiles "/etc/certgate/policies/${p}\n")
endforeach()
file(WRITE "${CMAKE_BINARY_DIR}/package/conffiles" "${_conffiles}")
set(CERTGATE_PRESETS_DIR "${CMAKE_SOURCE_DIR}/conf/policies")
configure_file(cmake/package_etc.cmake.in "${CMAKE_BINARY_DIR}/package/package_etc.cmake" @ONLY)

set(CPACK_PACKAGE_NAME certgate)
set(CPACK_PACKAGE_VENDOR "certgate")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "TLS gateway that authorizes database clients by certificate")
set(CPACK_PACKAGE_DESCRIPTION
    "certgate terminates TLS in front of an unmodified database (RavenDB, etcd,
InfluxDB, an HTTP API) and lets a request through only when the client's
certificate and address allow it, by a JSON policy reloaded while traffic flows.
It also runs a private CA and issues server and client certificates.")
set(CPACK_PACKAGE_CONTACT "certgate maintainers <certgate@invalid>")
set(CPACK_RESOURCE_FILE_LICENSE "${CMAKE_SOURCE_DIR}/LICENSE")
set(CPACK_STRIP_FILES ON)
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_DIRECTORY "${CMAKE_BINARY_DIR}/package")
set(CPACK_PRE_BUILD_SCRIPTS "${CMAKE_BINARY_DIR}/package/package_etc.cmake")

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# dpkg-shlibdeps finds the libraries through the binary's RUNPATH, the Android one
# included: Depends names exactly the runtime packages the binary needs. passwd is for
# useradd in the postinst, procps for the unit's ExecReload=/bin/kill (neither is in a
# minimal Debian).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "passwd, procps")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${CMAKE_SOURCE_DIR}/deploy/debian/postinst;${CMAKE_SOURCE_DIR}/deploy/debian/prerm;${CMAKE_SOURCE_DIR}/deploy/debian/postrm;${CMAKE_BINARY_DIR}/package/conffiles")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

include(CPack)
