# Version facts baked into the binary (common/version.c): CMake's project version, the
# git commit the build comes from, and which BoringSSL package it was built against.
#
# The commit is read at every build, not only at configure time, so that a binary never
# names a commit it was not built from. CERTGATE_GIT_COMMIT overrides it for builds
# without a .git directory (a container build context, a source tarball); without
# either the commit is "unknown".

set(CERTGATE_GIT_COMMIT "" CACHE STRING "Commit to report when the source tree has no .git (default: ask git)")
if(CERTGATE_GIT_COMMIT AND NOT CERTGATE_GIT_COMMIT MATCHES "^([0-9a-f]+|unknown)$")
    message(FATAL_ERROR "CERTGATE_GIT_COMMIT must be a commit in lower-case hex, got \"${CERTGATE_GIT_COMMIT}\"")
endif()

# The Debian package of the BoringSSL headers we compile against (the library itself
# only says "BoringSSL" at run time).
set(_tls_build "")
if(NOT BORINGSSL_ROOT)
    execute_process(COMMAND dpkg-query -W "-f=\${Package} \${Version}" android-libboringssl-dev
                    OUTPUT_VARIABLE _tls_build ERROR_QUIET RESULT_VARIABLE _rc)
    if(NOT _rc EQUAL 0 OR NOT _tls_build MATCHES "^[-+.:~a-zA-Z0-9 ]+$")
        set(_tls_build "")
    endif()
endif()

set(CERTGATE_VERSION_HEADER "${CMAKE_BINARY_DIR}/generated/common/version_build.h")
add_custom_target(cg_version_header
    BYPRODUCTS "${CERTGATE_VERSION_HEADER}"
    COMMAND "${CMAKE_COMMAND}"
            "-DSOURCE_DIR=${CMAKE_SOURCE_DIR}" "-DOUT=${CERTGATE_VERSION_HEADER}"
            "-DVERSION=${PROJECT_VERSION}" "-DCOMMIT=${CERTGATE_GIT_COMMIT}"
            "-DTLS_BUILD=${_tls_build}"
            -P "${CMAKE_CURRENT_LIST_DIR}/version_header.cmake"
    COMMENT "Version header (commit)"
    VERBATIM)

# certgate_version_attach makes |target| (the module holding common/version.c) see the
# generated header and build after it.
function(certgate_version_attach target)
    add_dependencies(${target} cg_version_header)
    target_include_directories(${target} PRIVATE "${CMAKE_BINARY_DIR}/generated")
endfunction()
