/* Monotonic time for deadlines and durations (never wall-clock time, which jumps). */
#ifndef CG_COMMON_CLOCK_H
#define CG_COMMON_CLOCK_H

#include <stdint.h>
#include <sys/time.h>
#include <time.h>

/* cg_monotonic_us returns CLOCK_MONOTONIC in microseconds. */
static inline uint64_t cg_monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* cg_timeval_ms converts a duration in milliseconds to the struct timeval libevent
 * takes. */
static inline struct timeval cg_timeval_ms(uint64_t ms)
{
    return (struct timeval){.tv_sec = (time_t)(ms / 1000),
                            .tv_usec = (suseconds_t)(ms % 1000) * 1000};
}

#endif
