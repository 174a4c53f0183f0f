/* A latency histogram with fixed buckets, counted by one thread (common/counter.h) and
 * summed by another: what certgate_request_duration_seconds and
 * certgate_upstream_response_seconds are made of (docs/operations.md lists the bounds).
 *
 * Each bucket counts the observations that fall into it (not cumulative: one store per
 * observation); the exposition adds them up. The sum is kept in microseconds, which an
 * unsigned 64-bit counter holds for half a million years of latency. */
#ifndef CG_COMMON_LATENCY_H
#define CG_COMMON_LATENCY_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "common/counter.h"

/* Upper bounds of the finite buckets, in microseconds, ascending; one more bucket
 * (+Inf) takes what is above the last. */
#define CG_LATENCY_BOUNDS                                                                          \
    X(500) X(1000) X(2500) X(5000) X(10000) X(25000) X(50000) X(100000) X(250000) X(500000)        \
        X(1000000) X(2500000) X(5000000) X(10000000) X(30000000) X(60000000)

#define X(us) +1
enum { CG_LATENCY_NUM_BOUNDS = 0 CG_LATENCY_BOUNDS };
#undef X

/* cg_latency_bounds_us holds the finite bounds (CG_LATENCY_NUM_BOUNDS of them). */
extern const uint64_t cg_latency_bounds_us[CG_LATENCY_NUM_BOUNDS];

struct cg_latency {
    atomic_uint_fast64_t buckets[CG_LATENCY_NUM_BOUNDS + 1]; /* last: above every bound */
    atomic_uint_fast64_t sum_us;                             /* of every observation */
};

/* cg_latency_observe counts one observation of |us| microseconds in |h|; only |h|'s
 * owner thread may call it. */
static inline void cg_latency_observe(struct cg_latency *h, uint64_t us)
{
    size_t i = 0;
    while (i < CG_LATENCY_NUM_BOUNDS && us > cg_latency_bounds_us[i]) {
        i++;
    }
    cg_counter_add(&h->buckets[i], 1);
    cg_counter_add(&h->sum_us, us);
}

/* struct cg_latency_sum is a histogram read out (and summed over owners), for the
 * exposition: counts per bucket, not cumulative. */
struct cg_latency_sum {
    uint64_t buckets[CG_LATENCY_NUM_BOUNDS + 1];
    uint64_t sum_us;
};

/* cg_latency_add_to adds what |h| counted so far to |out| (any thread). */
void cg_latency_add_to(const struct cg_latency *h, struct cg_latency_sum *out);

/* cg_latency_count returns the number of observations in |s|. */
uint64_t cg_latency_count(const struct cg_latency_sum *s);

#endif
