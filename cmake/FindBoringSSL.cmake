# FindBoringSSL: locate BoringSSL, by default Debian's Android build
# (android-libboringssl-dev), never OpenSSL 3.
#
# Input:  BORINGSSL_ROOT  prefix of another BoringSSL build (include/ and lib/ below it)
# Output: BoringSSL::ssl, BoringSSL::crypto imported targets; BORINGSSL_LIBRARY_DIR,
#         which callers put in the RPATH because the Android directory is not in the
#         loader path.

set(BORINGSSL_ROOT "" CACHE PATH "Prefix of a self-built BoringSSL (default: Debian's Android build)")

if(BORINGSSL_ROOT)
    set(_bssl_inc_hints "${BORINGSSL_ROOT}/include")
    set(_bssl_lib_hints "${BORINGSSL_ROOT}/lib" "${BORINGSSL_ROOT}/build" "${BORINGSSL_ROOT}")
else()
    set(_bssl_inc_hints /usr/include/android)
    set(_bssl_lib_hints /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/android /usr/lib/x86_64-linux-gnu/android
                        /usr/lib/aarch64-linux-gnu/android)
endif()

# NO_DEFAULT_PATH: /usr/include/openssl is OpenSSL 3 and must never be picked up.
find_path(BORINGSSL_INCLUDE_DIR openssl/base.h HINTS ${_bssl_inc_hints} NO_DEFAULT_PATH)
find_library(BORINGSSL_SSL_LIBRARY NAMES ssl HINTS ${_bssl_lib_hints} NO_DEFAULT_PATH)
find_library(BORINGSSL_CRYPTO_LIBRARY NAMES crypto HINTS ${_bssl_lib_hints} NO_DEFAULT_PATH)

if(BORINGSSL_INCLUDE_DIR AND EXISTS "${BORINGSSL_INCLUDE_DIR}/openssl/base.h")
    file(STRINGS "${BORINGSSL_INCLUDE_DIR}/openssl/base.h" _bssl_marker REGEX "define OPENSSL_IS_BORINGSSL")
    if(NOT _bssl_marker)
        message(FATAL_ERROR "${BORINGSSL_INCLUDE_DIR}/openssl/base.h is not BoringSSL's")
    endif()
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(BoringSSL
    REQUIRED_VARS BORINGSSL_INCLUDE_DIR BORINGSSL_SSL_LIBRARY BORINGSSL_CRYPTO_LIBRARY)

if(BoringSSL_FOUND)
    get_filename_component(BORINGSSL_LIBRARY_DIR "${BORINGSSL_SSL_LIBRARY}" DIRECTORY)
    if(NOT TARGET BoringSSL::crypto)
        add_library(BoringSSL::crypto UNKNOWN IMPORTED)
        set_target_properties(BoringSSL::crypto PROPERTIES
            IMPORTED_LOCATION "${BORINGSSL_CRYPTO_LIBRARY}"
            INTERFACE_INCLUDE_DIRECTORIES "${BORINGSSL_INCLUDE_DIR}"
            INTERFACE_LINK_LIBRARIES pthread)
    endif()
    if(NOT TARGET BoringSSL::ssl)
        add_library(BoringSSL::ssl UNKNOWN IMPORTED)
        set_target_properties(BoringSSL::ssl PROPERTIES
            IMPORTED_LOCATION "${BORINGSSL_SSL_LIBRARY}"
            INTERFACE_INCLUDE_DIRECTORIES "${BORINGSSL_INCLUDE_DIR}"
            INTERFACE_LINK_LIBRARIES "BoringSSL::crypto;stdc++")
    endif()
endif()
