/* Counters with one writer and any number of readers, for metrics: a worker thread
 * counts on its own counters and the main thread sums them on a scrape.
 *
 * A counter is an atomic_uint_fast64_t that only its owner thread changes, by a relaxed
 * load and a relaxed store (not a read-modify-write: with one writer nothing can be
 * lost), so on x86-64 an increment is the plain load, add and store of an ordinary
 * integer: no lock prefix, no fence. Readers load it relaxed and see a value that was
 * true a moment ago. A gauge is the same counter moved both ways; its value is the
 * unsigned difference, which stays small when the owner never takes more than it
 * added. */
#ifndef CG_COMMON_COUNTER_H
#define CG_COMMON_COUNTER_H

#include <stdatomic.h>
#include <stdint.h>

/* cg_counter_add adds |n| to |c|; only |c|'s owner thread may call it. */
static inline void cg_counter_add(atomic_uint_fast64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

/* cg_counter_sub takes |n| from the gauge |c|; only |c|'s owner thread may call it. */
static inline void cg_counter_sub(atomic_uint_fast64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) - n,
                          memory_order_relaxed);
}

/* cg_counter_get reads |c| from any thread. */
static inline uint64_t cg_counter_get(const atomic_uint_fast64_t *c)
{
    return atomic_load_explicit((atomic_uint_fast64_t *)c, memory_order_relaxed);
}

#endif
