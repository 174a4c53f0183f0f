#include "control/listen_set.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/mem.h"
#include "control/listen.h"
#include "control/upgrade.h"

static bool same_address(const struct config_address *a, const struct config_address *b)
{
    if (a->addr.ss_family != b->addr.ss_family) {
        return false;
    }
    if (a->addr.ss_family == AF_INET) {
        const struct sockaddr_in *x = (const struct sockaddr_in *)&a->addr;
        const struct sockaddr_in *y = (const struct sockaddr_in *)&b->addr;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)&a->addr;
    const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)&b->addr;
    return x->sin6_port == y->sin6_port &&
           memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
}

struct listen_addr *listen_set_find(const struct listen_set *s, const struct config_address *a)
{
    for (size_t i = 0; i < s->num_addrs; i++) {
        if (same_address(&s->addrs[i].addr, a)) {
            return &s->addrs[i];
        }
    }
    return NULL;
}

static void push_socket(struct listen_addr *e, int fd, unsigned worker)
{
    e->socks = cg_xrealloc(e->socks, (e->num_socks + 1) * sizeof(*e->socks));
    e->socks[e->num_socks++] = (struct listen_socket){.fd = fd, .worker = worker};
}

static void addr_free(struct listen_addr *e, bool close_socks)
{
    if (e->claim >= 0) {
        close(e->claim);
    }
    for (size_t k = 0; close_socks && k < e->num_socks; k++) {
        close(e->socks[k].fd);
    }
    free(e->socks);
    free(e->addr.text);
}

int listen_set_add(struct listen_set *s, const struct config_address *a, unsigned num_workers,
                   struct upgrade_client *uc, struct cg_errbuf *err)
{
    struct listen_addr e = {.addr = *a, .claim = -1};
    e.addr.text = cg_xstrdup(a->text);
    int fd = uc != NULL ? upgrade_client_take(uc, UPGRADE_SOCKET_CLAIM, a) : -1;
    if (fd < 0) {
        int rc = listen_claim(a, &fd, err);
        if (rc != CG_OK) {
            addr_free(&e, true);
            return rc;
        }
    }
    e.claim = fd;
    unsigned k = 0;
    while (uc != NULL && (fd = upgrade_client_take(uc, UPGRADE_SOCKET_LISTEN, a)) >= 0) {
        push_socket(&e, fd, k++ % num_workers);
    }
    for (; k < num_workers; k++) {
        int rc = listen_socket_open(a, true, "listen", &fd, err);
        if (rc != CG_OK) {
            addr_free(&e, true);
            return rc;
        }
        push_socket(&e, fd, k);
    }
    s->addrs = cg_xrealloc(s->addrs, (s->num_addrs + 1) * sizeof(*s->addrs));
    s->addrs[s->num_addrs++] = e;
    return CG_OK;
}

void listen_set_remove(struct listen_set *s, struct listen_addr *e)
{
    size_t i = (size_t)(e - s->addrs);
    addr_free(e, false);
    memmove(&s->addrs[i], &s->addrs[i + 1], (s->num_addrs - i - 1) * sizeof(*s->addrs));
    s->num_addrs--;
}

size_t listen_set_worker_sockets(const struct listen_set *s, const struct config *cfg,
                                 unsigned worker, int **out_fds, size_t **out_listener)
{
    size_t n = 0, cap = 0;
    int *fds = NULL;
    size_t *listener = NULL;
    for (size_t i = 0; i < cfg->num_listeners; i++) {
        for (size_t j = 0; j < cfg->listeners[i].num_addresses; j++) {
            const struct listen_addr *e = listen_set_find(s, &cfg->listeners[i].addresses[j]);
            for (size_t k = 0; e != NULL && k < e->num_socks; k++) {
                if (e->socks[k].worker != worker) {
                    continue;
                }
                if (n == cap) {
                    cap = cap ? 2 * cap : 8;
                    fds = cg_xrealloc(fds, cap * sizeof(*fds));
                    listener = cg_xrealloc(listener, cap * sizeof(*listener));
                }
                fds[n] = e->socks[k].fd;
                listener[n++] = i;
            }
        }
    }
    *out_fds = fds;
    *out_listener = listener;
    return n;
}

void listen_set_close_sockets(struct listen_set *s)
{
    for (size_t i = 0; i < s->num_addrs; i++) {
        for (size_t k = 0; k < s->addrs[i].num_socks; k++) {
            close(s->addrs[i].socks[k].fd);
        }
        s->addrs[i].num_socks = 0;
    }
}

void listen_set_cleanup(struct listen_set *s)
{
    for (size_t i = 0; i < s->num_addrs; i++) {
        addr_free(&s->addrs[i], false);
    }
    free(s->addrs);
    *s = (struct listen_set){0};
}
