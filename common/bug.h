/* Invariants. assert() for debug-only checks; CG_BUG_ON for the ones that must hold in
 * production too, where continuing would corrupt memory or leak data between clients. */
#ifndef CG_COMMON_BUG_H
#define CG_COMMON_BUG_H

#include <stdio.h>
#include <stdlib.h>

#define CG_BUG_ON(cond)                                                                            \
    do {                                                                                           \
        if (__builtin_expect(!!(cond), 0)) {                                                       \
            fprintf(stderr, "certgate: BUG at %s:%d: %s\n", __FILE__, __LINE__, #cond);            \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
