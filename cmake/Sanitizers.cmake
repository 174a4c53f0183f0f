# ASan + UBSan for the whole build (-DCERTGATE_SANITIZE=ON); UB aborts instead of
# printing and continuing, so a test cannot pass over it.
if(CERTGATE_SANITIZE)
    add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=undefined
                        -fno-omit-frame-pointer -g)
    add_link_options(-fsanitize=address,undefined -fno-sanitize-recover=undefined)
endif()

# libFuzzer targets (-DCERTGATE_FUZZ=ON, clang only): instrument everything so the
# parsers under test report coverage.
if(CERTGATE_FUZZ)
    if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
        message(FATAL_ERROR "CERTGATE_FUZZ needs clang (cmake -DCMAKE_C_COMPILER=clang)")
    endif()
    add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -g)
    add_link_options(-fsanitize=address,undefined)
endif()
