#include "proxy/upstream/upstream_set.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

/* addr_cmp orders socket addresses: IPv4 before IPv6, then by address bytes, then port. */
static int addr_cmp(const struct config_address *x, const struct config_address *y)
{
    const struct sockaddr *a = (const struct sockaddr *)&x->addr;
    const struct sockaddr *b = (const struct sockaddr *)&y->addr;
    if (a->sa_family != b->sa_family) {
        return a->sa_family == AF_INET ? -1 : 1;
    }
    int c;
    uint16_t pa, pb;
    if (a->sa_family == AF_INET) {
        const struct sockaddr_in *p = (const struct sockaddr_in *)a;
        const struct sockaddr_in *q = (const struct sockaddr_in *)b;
        c = memcmp(&p->sin_addr, &q->sin_addr, sizeof(p->sin_addr));
        pa = ntohs(p->sin_port);
        pb = ntohs(q->sin_port);
    } else {
        const struct sockaddr_in6 *p = (const struct sockaddr_in6 *)a;
        const struct sockaddr_in6 *q = (const struct sockaddr_in6 *)b;
        c = memcmp(&p->sin6_addr, &q->sin6_addr, sizeof(p->sin6_addr));
        if (c == 0 && p->sin6_scope_id != q->sin6_scope_id) {
            c = p->sin6_scope_id < q->sin6_scope_id ? -1 : 1;
        }
        pa = ntohs(p->sin6_port);
        pb = ntohs(q->sin6_port);
    }
    if (c != 0) {
        return c;
    }
    return pa < pb ? -1 : pa > pb ? 1 : 0;
}

static int addr_ptr_cmp(const void *x, const void *y)
{
    return addr_cmp(*(const struct config_address *const *)x,
                    *(const struct config_address *const *)y);
}

struct upstream_set *upstream_set_new(const struct upstream_set *old,
                                      const struct config_address *addrs, size_t num, bool tls,
                                      unsigned num_workers)
{
    const struct config_address **sorted = cg_xcalloc(num ? num : 1, sizeof(*sorted));
    for (size_t i = 0; i < num; i++) {
        sorted[i] = &addrs[i];
    }
    qsort(sorted, num, sizeof(*sorted), addr_ptr_cmp);
    struct upstream_set *set = cg_xcalloc(1, sizeof(*set) + num * sizeof(set->servers[0]));
    atomic_init(&set->refs, 1);
    for (size_t i = 0; i < num; i++) {
        const struct config_address *a = sorted[i];
        if (i > 0 && addr_cmp(sorted[i - 1], a) == 0) {
            continue;
        }
        struct upstream_server *s = NULL;
        for (size_t k = 0; old != NULL && k < old->num_servers && s == NULL; k++) {
            if (upstream_server_same_address(old->servers[k], (const struct sockaddr *)&a->addr,
                                             a->addr_len)) {
                s = upstream_server_ref(old->servers[k]);
            }
        }
        if (s == NULL) {
            s = upstream_server_new((const struct sockaddr *)&a->addr, a->addr_len, a->text, tls,
                                    num_workers);
        }
        set->servers[set->num_servers++] = s;
    }
    free(sorted);
    return set;
}

struct upstream_set *upstream_set_ref(struct upstream_set *set)
{
    atomic_fetch_add_explicit(&set->refs, 1, memory_order_relaxed);
    return set;
}

void upstream_set_unref(struct upstream_set *set)
{
    if (set == NULL || atomic_fetch_sub_explicit(&set->refs, 1, memory_order_acq_rel) != 1) {
        return;
    }
    for (size_t i = 0; i < set->num_servers; i++) {
        upstream_server_unref(set->servers[i]);
    }
    free(set);
}

bool upstream_set_same(const struct upstream_set *a, const struct upstream_set *b)
{
    if (a->num_servers != b->num_servers) {
        return false;
    }
    /* Both are in address order. */
    for (size_t i = 0; i < a->num_servers; i++) {
        if (a->servers[i] != b->servers[i]) {
            return false;
        }
    }
    return true;
}

long upstream_set_find(const struct upstream_set *set, const struct upstream_server *s)
{
    for (size_t i = 0; i < set->num_servers; i++) {
        if (set->servers[i] == s) {
            return (long)i;
        }
    }
    return -1;
}
