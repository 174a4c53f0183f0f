# Warning set of docs/contributing.md, applied to certgate's own targets only.
set(CERTGATE_C_WARNINGS
    -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes -Wold-style-definition
    -Wmissing-prototypes -Wwrite-strings -Wvla -Wimplicit-fallthrough -Wundef
    -Wpointer-arith -Wnull-dereference -Wno-unused-parameter
    -Werror=implicit-function-declaration)
if(CMAKE_C_COMPILER_ID STREQUAL "GNU")
    list(APPEND CERTGATE_C_WARNINGS -Wduplicated-cond -Wlogical-op)
endif()
if(CERTGATE_WERROR)
    list(APPEND CERTGATE_C_WARNINGS -Werror)
endif()

# certgate_target_setup applies warnings and hardening to one of our targets.
function(certgate_target_setup target)
    target_compile_options(${target} PRIVATE ${CERTGATE_C_WARNINGS})
    target_compile_definitions(${target} PRIVATE _GNU_SOURCE)
endfunction()
