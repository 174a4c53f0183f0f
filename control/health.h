/* Liveness and readiness, as /healthz and /readyz answer them on the status port and the
 * admin API. Main thread. */
#ifndef CG_CONTROL_HEALTH_H
#define CG_CONTROL_HEALTH_H

#include <stdbool.h>

struct runtime;

/* health_ready reports whether the process should get traffic: workers started on bound
 * listeners, each listener with its TLS context and (when it has a policy file) a loaded
 * policy, and no stop begun (runtime.stopping: from SIGTERM on, also during
 * timeouts.shutdown_delay, and once a binary upgrade took over). When not ready,
 * |*out_why| is a static reason. */
bool health_ready(const struct runtime *rt, const char **out_why);

#endif
