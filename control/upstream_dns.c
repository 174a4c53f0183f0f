#include "control/upstream_dns.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/dns.h>
#include <event2/util.h>

#include "common/bug.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"

/* Answers beyond this many addresses are left out (a DNS answer over UDP holds fewer). */
#define MAX_ADDRESSES 64

struct dns_name;

/* struct dns_ticket is what an answer finds: libevent may deliver a cancelled request's
 * callback from the loop after the resolver is gone, so the callback owns the ticket
 * and the resolver only clears |n|. */
struct dns_ticket {
    struct dns_name *n; /* NULL: the resolver is gone */
};

/* struct dns_name is one name to resolve. */
struct dns_name {
    struct upstream_dns *d;
    size_t upstream, host;
    struct evdns_getaddrinfo_request *req; /* in flight, or NULL */
    struct dns_ticket *ticket;             /* of |req| */
    struct event *ev_next;                 /* the next resolution */
    bool answered;                         /* had an answer, good or bad */
    bool failing;                          /* the last resolution failed (logged once) */
};

struct upstream_dns {
    const struct config *cfg;
    struct event_base *base;
    struct evdns_base *dns;
    upstream_dns_answer answer;
    void *arg;
    struct dns_name *names;
    size_t num_names;
    uint64_t *ok, *failed; /* per upstream */
};

static void resolve(struct dns_name *n);

static void schedule(struct dns_name *n)
{
    struct timeval tv = cg_timeval_ms(n->d->cfg->upstreams[n->upstream].resolve_interval);
    evtimer_add(n->ev_next, &tv);
}

static void format_address(const struct sockaddr *sa, char *out, size_t len)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
        snprintf(out, len, "%s:%u", ip, ntohs(in->sin_port));
    } else {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
        snprintf(out, len, "[%s]:%u", ip, ntohs(in6->sin6_port));
    }
}

static void on_answer(int result, struct evutil_addrinfo *res, void *arg)
{
    struct dns_ticket *t = arg;
    struct dns_name *n = t->n;
    free(t);
    if (n == NULL || result == EVUTIL_EAI_CANCEL) {
        if (res != NULL) {
            evutil_freeaddrinfo(res);
        }
        return;
    }
    struct upstream_dns *d = n->d;
    n->req = NULL;
    n->ticket = NULL;
    const struct config_upstream *up = &d->cfg->upstreams[n->upstream];
    const struct config_upstream_host *h = &up->hosts[n->host];
    n->answered = true;
    struct config_address addrs[MAX_ADDRESSES];
    char texts[MAX_ADDRESSES][INET6_ADDRSTRLEN + 10];
    size_t num = 0;
    for (struct evutil_addrinfo *ai = res; result == 0 && ai != NULL && num < MAX_ADDRESSES;
         ai = ai->ai_next) {
        if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
            ai->ai_addrlen > sizeof(addrs[0].addr)) {
            continue;
        }
        struct config_address *a = &addrs[num];
        memset(a, 0, sizeof(*a));
        memcpy(&a->addr, ai->ai_addr, ai->ai_addrlen);
        a->addr_len = (socklen_t)ai->ai_addrlen;
        if (ai->ai_family == AF_INET) {
            ((struct sockaddr_in *)&a->addr)->sin_port = htons(h->port);
        } else {
            ((struct sockaddr_in6 *)&a->addr)->sin6_port = htons(h->port);
        }
        format_address((const struct sockaddr *)&a->addr, texts[num], sizeof(texts[num]));
        a->text = texts[num];
        num++;
    }
    if (res != NULL) {
        evutil_freeaddrinfo(res);
    }
    schedule(n);
    if (num == 0) {
        d->failed[n->upstream]++;
        const char *why = result != 0 ? evutil_gai_strerror(result) : "no address";
        if (!n->failing) {
            CG_LOG_WARN("upstream %s: resolving %s failed (%s): keeping its last addresses",
                        up->name, h->name, why);
        } else {
            CG_LOG_DEBUG("upstream %s: resolving %s failed again (%s)", up->name, h->name, why);
        }
        n->failing = true;
        d->answer(d->arg, n->upstream, n->host, NULL, 0);
        return;
    }
    if (n->failing) {
        CG_LOG_INFO("upstream %s: %s resolves again", up->name, h->name);
    }
    n->failing = false;
    d->ok[n->upstream]++;
    d->answer(d->arg, n->upstream, n->host, addrs, num);
}

static void resolve(struct dns_name *n)
{
    struct evutil_addrinfo hints = {0};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    const struct config_upstream_host *h = &n->d->cfg->upstreams[n->upstream].hosts[n->host];
    /* The answer may come before evdns_getaddrinfo returns (a hosts file entry): it
     * then returns NULL, and on_answer has run. */
    struct dns_ticket *t = cg_xcalloc(1, sizeof(*t));
    t->n = n;
    n->ticket = t;
    struct evdns_getaddrinfo_request *req =
        evdns_getaddrinfo(n->d->dns, h->name, NULL, &hints, on_answer, t);
    if (n->ticket != NULL) {
        n->req = req; /* else answered already */
    }
}

static void on_next(evutil_socket_t fd, short what, void *arg)
{
    struct dns_name *n = arg;
    if (n->ticket == NULL) {
        resolve(n);
    } else {
        schedule(n); /* still waiting for the last answer: evdns times it out */
    }
}

/* set_options bounds a resolution: 2 attempts of 1 s per server, so that a name that
 * does not resolve at start delays the start by seconds, not minutes. */
static int set_options(struct upstream_dns *d, struct cg_errbuf *err)
{
    if (evdns_base_set_option(d->dns, "timeout:", "1") != 0 ||
        evdns_base_set_option(d->dns, "attempts:", "2") != 0) {
        return cg_errf(err, CG_ERR_INVALID, "resolvers: cannot set the DNS timeouts");
    }
    return CG_OK;
}

int upstream_dns_new(struct event_base *base, const struct config *cfg, upstream_dns_answer answer,
                     void *arg, struct upstream_dns **out, struct cg_errbuf *err)
{
    struct upstream_dns *d = cg_xcalloc(1, sizeof(*d));
    d->cfg = cfg;
    d->base = base;
    d->answer = answer;
    d->arg = arg;
    size_t nu = cfg->num_upstreams ? cfg->num_upstreams : 1;
    d->ok = cg_xcalloc(nu, sizeof(*d->ok));
    d->failed = cg_xcalloc(nu, sizeof(*d->failed));
    size_t num = 0;
    for (size_t i = 0; i < cfg->num_upstreams; i++) {
        num += cfg->upstreams[i].num_hosts;
    }
    d->names = cg_xcalloc(num ? num : 1, sizeof(*d->names));
    *out = d;
    if (num == 0) {
        return CG_OK; /* no name: no resolver, no socket */
    }
    /* With $.resolvers only those are asked; else the system's (resolv.conf, and the
     * hosts file, which evdns reads with it). */
    d->dns = evdns_base_new(base, cfg->num_resolvers > 0 ? 0 : EVDNS_BASE_INITIALIZE_NAMESERVERS);
    if (d->dns == NULL) {
        return cg_errf(err, CG_ERR_INVALID,
                       "resolvers: cannot set up DNS resolution (/etc/resolv.conf)");
    }
    for (size_t i = 0; i < cfg->num_resolvers; i++) {
        const struct config_address *a = &cfg->resolvers[i];
        if (evdns_base_nameserver_sockaddr_add(d->dns, (const struct sockaddr *)&a->addr,
                                               a->addr_len, 0) != 0) {
            return cg_errf(err, CG_ERR_INVALID, "resolvers[%zu]: cannot use %s", i, a->text);
        }
    }
    int rc = set_options(d, err);
    if (rc != CG_OK) {
        return rc;
    }
    for (size_t i = 0; i < cfg->num_upstreams; i++) {
        for (size_t k = 0; k < cfg->upstreams[i].num_hosts; k++) {
            struct dns_name *n = &d->names[d->num_names++];
            n->d = d;
            n->upstream = i;
            n->host = k;
            n->ev_next = evtimer_new(base, on_next, n);
            CG_BUG_ON(n->ev_next == NULL);
            /* From the loop: never an answer before we return. */
            event_active(n->ev_next, EV_TIMEOUT, 0);
        }
    }
    return CG_OK;
}

bool upstream_dns_settled(const struct upstream_dns *d)
{
    for (size_t i = 0; i < d->num_names; i++) {
        if (!d->names[i].answered) {
            return false;
        }
    }
    return true;
}

void upstream_dns_counts(const struct upstream_dns *d, size_t upstream, uint64_t *out_ok,
                         uint64_t *out_failed)
{
    *out_ok = d->ok[upstream];
    *out_failed = d->failed[upstream];
}

void upstream_dns_free(struct upstream_dns *d)
{
    if (d == NULL) {
        return;
    }
    for (size_t i = 0; i < d->num_names; i++) {
        struct dns_name *n = &d->names[i];
        if (n->ticket != NULL) {
            n->ticket->n = NULL;
            if (n->req != NULL) {
                /* on_answer runs with EVUTIL_EAI_CANCEL, now or from the loop */
                evdns_getaddrinfo_cancel(n->req);
            }
        }
        event_free(n->ev_next);
    }
    if (d->dns != NULL) {
        evdns_base_free(d->dns, 0);
    }
    free(d->names);
    free(d->ok);
    free(d->failed);
    free(d);
}
