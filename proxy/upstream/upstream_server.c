#include "proxy/upstream/upstream_server.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "common/bug.h"
#include "common/counter.h"
#include "common/mem.h"
#include "proxy/tls/tls_client.h"

struct upstream_server *upstream_server_new(const struct sockaddr *sa, socklen_t sa_len,
                                            const char *text, bool tls, unsigned num_workers)
{
    CG_BUG_ON(sa_len > sizeof(struct sockaddr_storage) || num_workers == 0);
    struct upstream_server *s = cg_xcalloc(1, sizeof(*s));
    atomic_init(&s->refs, 1);
    memcpy(&s->addr.addr, sa, sa_len);
    s->addr.addr_len = sa_len;
    s->addr.text = (char *)text; /* not owned: see the header */
    if (tls) {
        s->tls_sessions = tls_client_sessions_new();
    }
    s->num_workers = num_workers;
    s->counters = aligned_alloc(64, num_workers * sizeof(*s->counters));
    CG_BUG_ON(s->counters == NULL);
    memset(s->counters, 0, num_workers * sizeof(*s->counters));
    return s;
}

struct upstream_server *upstream_server_ref(struct upstream_server *s)
{
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    return s;
}

void upstream_server_unref(struct upstream_server *s)
{
    if (s == NULL || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1) {
        return;
    }
    tls_client_sessions_free(s->tls_sessions);
    free(s->counters);
    free(s);
}

bool upstream_server_same_address(const struct upstream_server *s, const struct sockaddr *sa,
                                  socklen_t sa_len)
{
    const struct sockaddr *a = (const struct sockaddr *)&s->addr.addr;
    if (a->sa_family != sa->sa_family || s->addr.addr_len != sa_len) {
        return false;
    }
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *x = (const struct sockaddr_in *)a;
        const struct sockaddr_in *y = (const struct sockaddr_in *)sa;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a;
    const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)sa;
    return x->sin6_port == y->sin6_port && x->sin6_scope_id == y->sin6_scope_id &&
           memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
}

void upstream_server_report(const struct upstream_server *s, uint64_t now_ms,
                            struct upstream_server_report *out)
{
    memset(out, 0, sizeof(*out));
    out->up = upstream_server_usable(s, now_ms);
    out->health_down = atomic_load_explicit(&s->health_down, memory_order_relaxed);
    for (unsigned w = 0; w < s->num_workers; w++) {
        const struct upstream_server_counters *c = &s->counters[w];
        out->connect_errors += cg_counter_get(&c->connect_errors);
        for (size_t k = 0; k < CG_HTTP_STATUS_NUM_SLOTS; k++) {
            out->responses[k] += cg_counter_get(&c->responses[k]);
        }
    }
}
