#include "common/latency.h"

#define X(us) (us),
const uint64_t cg_latency_bounds_us[CG_LATENCY_NUM_BOUNDS] = {CG_LATENCY_BOUNDS};
#undef X

void cg_latency_add_to(const struct cg_latency *h, struct cg_latency_sum *out)
{
    for (size_t i = 0; i <= CG_LATENCY_NUM_BOUNDS; i++) {
        out->buckets[i] += cg_counter_get(&h->buckets[i]);
    }
    out->sum_us += cg_counter_get(&h->sum_us);
}

uint64_t cg_latency_count(const struct cg_latency_sum *s)
{
    uint64_t n = 0;
    for (size_t i = 0; i <= CG_LATENCY_NUM_BOUNDS; i++) {
        n += s->buckets[i];
    }
    return n;
}
