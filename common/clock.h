/* Monotonic time for deadlines and durations (never wall-clock time, which jumps). */
#ifndef CG_COMMON_CLOCK_H
#define CG_COMMON_CLOCK_H

#include <stdint.h>
#include <time.h>

/* cg_monotonic_us returns CLOCK_MONOTONIC in microseconds. */
static inline uint64_t cg_monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

#endif
