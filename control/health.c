#include "control/health.h"

#include <stdatomic.h>
#include <stddef.h>

#include "proxy/core/runtime.h"

bool health_ready(const struct runtime *rt, const char **out_why)
{
    if (atomic_load(&((struct runtime *)rt)->stopping)) {
        /* Shutting down (timeouts.shutdown_delay): load balancers take us out first. */
        *out_why = "shutting down";
        return false;
    }
    for (size_t i = 0; i < rt->cfg->num_listeners; i++) {
        if (rt->listeners[i].tls == NULL) {
            *out_why = "listener without TLS context";
            return false;
        }
    }
    for (size_t i = 0; i < rt->num_policy_slots; i++) {
        if (rt->policy_slots[i].file != NULL && rt->policy_slots[i].policy == NULL) {
            *out_why = "listener without a loaded policy";
            return false;
        }
    }
    if (rt->num_workers == 0 || rt->workers == NULL) {
        *out_why = "workers not started";
        return false;
    }
    return true;
}
