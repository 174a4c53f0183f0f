/* One server of an upstream as every thread sees it: its address, its health and its
 * counters, shared by the workers and the main thread and reference counted.
 *
 * The main thread creates a struct upstream_server when an address enters an
 * upstream (from the configuration or from DNS, control/upstream_sets.c) and puts it in
 * the immutable server sets it publishes (proxy/upstream/upstream_set.h). A set built
 * from another reuses the same object for the same address, so what belongs to the
 * server survives a change of the set: its health, its TLS sessions and its counters.
 *
 * Health is read on every pick without a lock: |health_down| is written by the active
 * health checks (main thread), |down_until_ms| by any worker whose connect failed
 * (passive marking, for timeouts.upstream_down, seen by every worker). Counters have one
 * writer each: every worker counts in its own slot, the metrics sum the slots. */
#ifndef CG_PROXY_UPSTREAM_UPSTREAM_SERVER_H
#define CG_PROXY_UPSTREAM_UPSTREAM_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/http_status.h"
#include "config/config.h"

struct tls_client_sessions;

/* struct upstream_server_counters is what one worker counted for one server; on a
 * cache line of its own so that workers never write the same line. */
struct upstream_server_counters {
    atomic_uint_fast64_t connect_errors;                      /* connects that failed */
    atomic_uint_fast64_t responses[CG_HTTP_STATUS_NUM_SLOTS]; /* response heads by slot */
} __attribute__((aligned(64)));

struct upstream_server {
    atomic_uint refs;
    struct config_address addr;               /* addr.text is not owned: see _new */
    struct tls_client_sessions *tls_sessions; /* TLS upstreams: the server's session
                                                 cache (proxy/tls/tls_client.h); else NULL */
    atomic_bool health_down;                  /* failed health_check.fall checks and has not
                                                 passed health_check.rise since */
    atomic_uint_fast64_t down_until_ms;       /* passive: wall clock ms until which it is
                                                 skipped; 0 = not marked */
    unsigned num_workers;
    struct upstream_server_counters *counters; /* num_workers slots */
};

/* upstream_server_new creates a server at |sa| (|sa_len| bytes) with one reference,
 * healthy, counters at zero, one counter slot per worker (|num_workers| >= 1), a TLS
 * session cache when |tls|. |text| ("ip:port") must outlive the server: the
 * configuration's text, or one that control/upstream_sets.c keeps for the process's
 * life, so that a log line may hold it after the server left. Main thread. */
struct upstream_server *upstream_server_new(const struct sockaddr *sa, socklen_t sa_len,
                                            const char *text, bool tls, unsigned num_workers);

/* upstream_server_ref takes a reference; any thread. Returns |s|. */
struct upstream_server *upstream_server_ref(struct upstream_server *s);

/* upstream_server_unref drops a reference and frees |s| with the last; any thread;
 * NULL is a no-op. */
void upstream_server_unref(struct upstream_server *s);

/* upstream_server_same_address reports whether |s| is at the socket address |sa|. */
bool upstream_server_same_address(const struct upstream_server *s, const struct sockaddr *sa,
                                  socklen_t sa_len);

/* upstream_server_usable reports whether |s| may take a request at wall clock |now_ms|:
 * not down by health checks nor marked down by a failed connect. */
static inline bool upstream_server_usable(const struct upstream_server *s, uint64_t now_ms)
{
    if (atomic_load_explicit(&s->health_down, memory_order_relaxed)) {
        return false;
    }
    uint64_t until = atomic_load_explicit(&s->down_until_ms, memory_order_relaxed);
    return until == 0 || until <= now_ms;
}

/* struct upstream_server_report is what the metrics say about one server. */
struct upstream_server_report {
    bool up;                 /* upstream_server_usable now */
    bool health_down;        /* by the active health checks */
    uint64_t connect_errors; /* summed over the workers */
    uint64_t responses[CG_HTTP_STATUS_NUM_SLOTS];
};

/* upstream_server_report fills |out| for |s| at wall clock |now_ms|; any thread, values
 * a moment old. */
void upstream_server_report(const struct upstream_server *s, uint64_t now_ms,
                            struct upstream_server_report *out);

#endif
