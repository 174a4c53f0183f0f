/* config_diff_compute and its printing (config_diff.h says what they are for). Values are
 * compared as the text a file would hold, which is also what the change shows: two
 * configurations that print the same for an item do not differ in it. */
#include "config/config_diff.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "config/config_keys.h"

/* A value longer than this is cut with "...": a change line stays one line. */
#define VALUE_MAX 200

/* struct text is a growing string, NUL-terminated, cut at VALUE_MAX. */
struct text {
    char buf[VALUE_MAX + 4];
    size_t len;
};

static void text_add(struct text *t, const char *s)
{
    size_t n = strlen(s);
    if (t->len + n > VALUE_MAX) {
        if (t->len <= VALUE_MAX) {
            memcpy(t->buf + t->len, "...", 4);
            t->len = VALUE_MAX + 1;
        }
        return;
    }
    memcpy(t->buf + t->len, s, n + 1);
    t->len += n;
}

static void text_list(struct text *t, const char *const *items, size_t n)
{
    text_add(t, "[");
    for (size_t i = 0; i < n; i++) {
        if (i > 0) {
            text_add(t, ", ");
        }
        text_add(t, items[i] != NULL ? items[i] : "null");
    }
    text_add(t, "]");
}

static void push(struct config_diff *d, enum config_change_kind kind, bool live, const char *from,
                 const char *to, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void push(struct config_diff *d, enum config_change_kind kind, bool live, const char *from,
                 const char *to, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    d->changes = cg_xrealloc(d->changes, (d->num_changes + 1) * sizeof(*d->changes));
    d->changes[d->num_changes++] = (struct config_change){
        .kind = kind,
        .what = cg_xstrdup(what),
        .from = cg_xstrdup(from != NULL ? from : "null"),
        .to = cg_xstrdup(to != NULL ? to : "null"),
        .live = live,
    };
}

/* changed_str records |what| when the two optional strings differ. */
static void changed_str(struct config_diff *d, bool live, const char *a, const char *b,
                        const char *prefix, const char *what)
{
    if ((a == NULL) != (b == NULL) || (a != NULL && strcmp(a, b) != 0)) {
        push(d, CONFIG_CHANGE_CHANGED, live, a, b, "%s%s", prefix, what);
    }
}

/* changed_text records |what| when the two rendered values differ. */
static void changed_text(struct config_diff *d, bool live, const struct text *a,
                         const struct text *b, const char *prefix, const char *what)
{
    if (strcmp(a->buf, b->buf) != 0) {
        push(d, CONFIG_CHANGE_CHANGED, live, a->buf, b->buf, "%s%s", prefix, what);
    }
}

/* keys compares every key of |scope| between |a| and |b|, named |prefix| + its place. */
static void keys(struct config_diff *d, enum config_scope scope, const void *a, const void *b,
                 const char *prefix)
{
    for (size_t i = 0; i < config_num_keys; i++) {
        const struct config_key *k = &config_keys[i];
        if (k->scope != scope) {
            continue;
        }
        uint64_t va = config_key_get(k, a);
        uint64_t vb = config_key_get(k, b);
        if (va == vb) {
            continue;
        }
        char fa[32], fb[32];
        /* The worker threads are started once: their number needs a restart. */
        bool live = !(scope == CONFIG_SCOPE_ROOT && strcmp(k->name, "workers") == 0);
        push(d, CONFIG_CHANGE_CHANGED, live, config_key_format(k, va, fa, sizeof(fa)),
             config_key_format(k, vb, fb, sizeof(fb)), "%s%s%s%s", prefix,
             k->object != NULL ? k->object : "", k->object != NULL ? "." : "", k->name);
    }
}

static void addresses_text(const struct config_address *v, size_t n, struct text *t)
{
    const char **items = cg_xcalloc(n ? n : 1, sizeof(*items));
    for (size_t i = 0; i < n; i++) {
        items[i] = v[i].text;
    }
    text_list(t, items, n);
    free(items);
}

static void certificates_text(const struct config_certificate *v, size_t n, struct text *t)
{
    text_add(t, "[");
    for (size_t i = 0; i < n; i++) {
        text_add(t, i > 0 ? ", " : "");
        text_add(t, v[i].cert);
        text_add(t, " + ");
        text_add(t, v[i].key);
        if (v[i].ocsp != NULL) {
            text_add(t, " + ");
            text_add(t, v[i].ocsp);
        }
    }
    text_add(t, "]");
}

static void paths_text(const struct config_path *v, size_t n, struct text *t)
{
    text_add(t, "[");
    for (size_t i = 0; i < n; i++) {
        text_add(t, i > 0 ? ", " : "");
        text_add(t, v[i].prefix);
        text_add(t, " -> ");
        text_add(t, v[i].upstream->name);
    }
    text_add(t, "]");
}

static void alpn_text(unsigned alpn, struct text *t)
{
    const char *items[2];
    size_t n = 0;
    if (alpn & CONFIG_ALPN_H2) {
        items[n++] = "h2";
    }
    if (alpn & CONFIG_ALPN_HTTP11) {
        items[n++] = "http/1.1";
    }
    text_list(t, items, n);
}

static const char *upstream_name(const struct config_upstream *u)
{
    return u != NULL ? u->name : NULL;
}

static void host(struct config_diff *d, const struct config_host *a, const struct config_host *b,
                 const char *prefix)
{
    struct text ta = {0}, tb = {0};
    text_list(&ta, (const char *const *)a->names, a->num_names);
    text_list(&tb, (const char *const *)b->names, b->num_names);
    changed_text(d, true, &ta, &tb, prefix, "names");
    changed_str(d, true, a->upstream->name, b->upstream->name, prefix, "upstream");
    changed_str(d, true, a->policy, b->policy, prefix, "policy");
    ta = (struct text){0};
    tb = (struct text){0};
    certificates_text(a->certificates, a->num_certificates, &ta);
    certificates_text(b->certificates, b->num_certificates, &tb);
    changed_text(d, true, &ta, &tb, prefix, "certificates");
    ta = (struct text){0};
    tb = (struct text){0};
    paths_text(a->paths, a->num_paths, &ta);
    paths_text(b->paths, b->num_paths, &tb);
    changed_text(d, true, &ta, &tb, prefix, "paths");
}

static const struct config_host *find_host(const struct config_listener *l, const char *name)
{
    for (size_t i = 0; i < l->num_hosts; i++) {
        if (strcmp(l->hosts[i].name, name) == 0) {
            return &l->hosts[i];
        }
    }
    return NULL;
}

static void hosts(struct config_diff *d, const struct config_listener *a,
                  const struct config_listener *b, const char *prefix)
{
    for (size_t i = 0; i < a->num_hosts; i++) {
        const struct config_host *hb = find_host(b, a->hosts[i].name);
        if (hb == NULL) {
            push(d, CONFIG_CHANGE_REMOVED, true, "", "", "%shosts.%s", prefix, a->hosts[i].name);
        } else {
            char p[512];
            snprintf(p, sizeof(p), "%.250shosts.%.250s.", prefix, a->hosts[i].name);
            host(d, &a->hosts[i], hb, p);
        }
    }
    for (size_t i = 0; i < b->num_hosts; i++) {
        if (find_host(a, b->hosts[i].name) == NULL) {
            push(d, CONFIG_CHANGE_ADDED, true, "", "", "%shosts.%s", prefix, b->hosts[i].name);
        }
    }
}

static void listener(struct config_diff *d, const struct config_listener *a,
                     const struct config_listener *b)
{
    char prefix[256];
    snprintf(prefix, sizeof(prefix), "listeners.%s.", a->name);
    struct text ta = {0}, tb = {0};
    addresses_text(a->addresses, a->num_addresses, &ta);
    addresses_text(b->addresses, b->num_addresses, &tb);
    changed_text(d, true, &ta, &tb, prefix, "listen");
    ta = (struct text){0};
    tb = (struct text){0};
    certificates_text(a->tls.certificates, a->tls.num_certificates, &ta);
    certificates_text(b->tls.certificates, b->tls.num_certificates, &tb);
    changed_text(d, true, &ta, &tb, prefix, "tls.certificates");
    changed_str(d, true, a->tls.client_ca, b->tls.client_ca, prefix, "tls.client_ca");
    changed_str(d, true, a->tls.crl, b->tls.crl, prefix, "tls.crl");
    ta = (struct text){0};
    tb = (struct text){0};
    alpn_text(a->alpn, &ta);
    alpn_text(b->alpn, &tb);
    changed_text(d, true, &ta, &tb, prefix, "alpn");
    changed_str(d, true, a->policy, b->policy, prefix, "policy");
    changed_str(d, true, upstream_name(a->upstream), upstream_name(b->upstream), prefix,
                "upstream");
    ta = (struct text){0};
    tb = (struct text){0};
    text_list(&ta, (const char *const *)a->proxy_protocol.from, a->proxy_protocol.num_from);
    text_list(&tb, (const char *const *)b->proxy_protocol.from, b->proxy_protocol.num_from);
    changed_text(d, true, &ta, &tb, prefix, "proxy_protocol.from");
    keys(d, CONFIG_SCOPE_LISTENER, a, b, prefix);
    hosts(d, a, b, prefix);
}

/* servers_text lists the servers of |u| as written: IP literals, then names. */
static void servers_text(const struct config_upstream *u, struct text *t)
{
    size_t n = u->num_servers + u->num_hosts;
    const char **items = cg_xcalloc(n ? n : 1, sizeof(*items));
    for (size_t i = 0; i < u->num_servers; i++) {
        items[i] = u->servers[i].text;
    }
    for (size_t i = 0; i < u->num_hosts; i++) {
        items[u->num_servers + i] = u->hosts[i].text;
    }
    text_list(t, items, n);
    free(items);
}

static void health_check(struct config_diff *d, const struct config_health_check *a,
                         const struct config_health_check *b, const char *prefix)
{
    bool same = a->enabled == b->enabled;
    if (same && a->enabled) {
        same = strcmp(a->path, b->path) == 0 && a->interval == b->interval &&
               a->timeout == b->timeout && a->rise == b->rise && a->fall == b->fall &&
               a->num_expect == b->num_expect &&
               memcmp(a->expect, b->expect, a->num_expect * sizeof(*a->expect)) == 0;
    }
    if (!same) {
        push(d, CONFIG_CHANGE_CHANGED, true, a->enabled ? "{...}" : "null",
             b->enabled ? "{...}" : "null", "%shealth_check", prefix);
    }
}

static void upstream(struct config_diff *d, const struct config_upstream *a,
                     const struct config_upstream *b)
{
    char prefix[256];
    snprintf(prefix, sizeof(prefix), "upstreams.%s.", a->name);
    struct text ta = {0}, tb = {0};
    servers_text(a, &ta);
    servers_text(b, &tb);
    changed_text(d, true, &ta, &tb, prefix, "servers");
    keys(d, CONFIG_SCOPE_UPSTREAM, a, b, prefix);
    health_check(d, &a->health, &b->health, prefix);
    if (a->tls.enabled != b->tls.enabled) {
        push(d, CONFIG_CHANGE_CHANGED, true, a->tls.enabled ? "{...}" : "null",
             b->tls.enabled ? "{...}" : "null", "%stls", prefix);
    } else if (a->tls.enabled) {
        changed_str(d, true, a->tls.ca, b->tls.ca, prefix, "tls.ca");
        changed_str(d, true, a->tls.cert, b->tls.cert, prefix, "tls.cert");
        changed_str(d, true, a->tls.key, b->tls.key, prefix, "tls.key");
        changed_str(d, true, a->tls.sni, b->tls.sni, prefix, "tls.sni");
    }
}

static const struct config_listener *find_listener(const struct config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->num_listeners; i++) {
        if (strcmp(cfg->listeners[i].name, name) == 0) {
            return &cfg->listeners[i];
        }
    }
    return NULL;
}

static void address_setting(struct config_diff *d, bool ea, const struct config_address *a,
                            bool eb, const struct config_address *b, const char *what)
{
    /* The admin API and the status port are served by the main thread from sockets
     * bound at start (and handed over by a binary upgrade): moving them is a restart. */
    changed_str(d, false, ea ? a->text : NULL, eb ? b->text : NULL, "", what);
}

void config_diff_compute(const struct config *old, const struct config *new,
                         struct config_diff *out)
{
    keys(out, CONFIG_SCOPE_ROOT, old, new, "");
    {
        struct text ta = {0}, tb = {0};
        addresses_text(old->resolvers, old->num_resolvers, &ta);
        addresses_text(new->resolvers, new->num_resolvers, &tb);
        changed_text(out, true, &ta, &tb, "", "resolvers");
    }
    changed_str(out, false, old->state_dir, new->state_dir, "", "state_dir");
    changed_str(out, false, old->log.access_log, new->log.access_log, "", "log.access_log");
    address_setting(out, old->admin.enabled, &old->admin.address, new->admin.enabled,
                    &new->admin.address, "admin.listen");
    if (old->admin.enabled && new->admin.enabled) {
        changed_str(out, false, old->listeners[old->admin.listener_index].name,
                    new->listeners[new->admin.listener_index].name, "", "admin.listener");
        changed_str(out, false, old->admin.host != NULL ? old->admin.host->name : NULL,
                    new->admin.host != NULL ? new->admin.host->name : NULL, "", "admin.host");
    }
    address_setting(out, old->status.enabled, &old->status.address, new->status.enabled,
                    &new->status.address, "status.listen");
    for (size_t i = 0; i < old->num_listeners; i++) {
        const struct config_listener *b = find_listener(new, old->listeners[i].name);
        if (b == NULL) {
            push(out, CONFIG_CHANGE_REMOVED, true, "", "", "listeners.%s",
                 old->listeners[i].name);
        } else {
            listener(out, &old->listeners[i], b);
        }
    }
    for (size_t i = 0; i < new->num_listeners; i++) {
        if (find_listener(old, new->listeners[i].name) == NULL) {
            push(out, CONFIG_CHANGE_ADDED, true, "", "", "listeners.%s", new->listeners[i].name);
        }
    }
    for (size_t i = 0; i < old->num_upstreams; i++) {
        const struct config_upstream *b = config_find_upstream(new, old->upstreams[i].name);
        if (b == NULL) {
            push(out, CONFIG_CHANGE_REMOVED, true, "", "", "upstreams.%s",
                 old->upstreams[i].name);
        } else {
            upstream(out, &old->upstreams[i], b);
        }
    }
    for (size_t i = 0; i < new->num_upstreams; i++) {
        if (config_find_upstream(old, new->upstreams[i].name) == NULL) {
            push(out, CONFIG_CHANGE_ADDED, true, "", "", "upstreams.%s", new->upstreams[i].name);
        }
    }
}

void config_diff_cleanup(struct config_diff *d)
{
    for (size_t i = 0; i < d->num_changes; i++) {
        free(d->changes[i].what);
        free(d->changes[i].from);
        free(d->changes[i].to);
    }
    free(d->changes);
    *d = (struct config_diff){0};
}

size_t config_diff_num_restart(const struct config_diff *d)
{
    size_t n = 0;
    for (size_t i = 0; i < d->num_changes; i++) {
        n += d->changes[i].live ? 0 : 1;
    }
    return n;
}

const char *config_change_format(const struct config_change *c, char *buf, size_t len)
{
    static const char *const kinds[] = {
        [CONFIG_CHANGE_ADDED] = "added",
        [CONFIG_CHANGE_REMOVED] = "removed",
        [CONFIG_CHANGE_CHANGED] = "changed",
    };
    const char *restart = c->live ? "" : " (restart needed)";
    if (c->kind == CONFIG_CHANGE_CHANGED) {
        snprintf(buf, len, "%s: %s %s -> %s%s", kinds[c->kind], c->what, c->from, c->to, restart);
    } else {
        snprintf(buf, len, "%s: %s%s", kinds[c->kind], c->what, restart);
    }
    return buf;
}

void config_diff_print(const struct config_diff *d, const char *indent, FILE *out)
{
    if (d->num_changes == 0) {
        fprintf(out, "%sno change\n", indent);
    }
    for (size_t i = 0; i < d->num_changes; i++) {
        char line[2 * VALUE_MAX + 512];
        fprintf(out, "%s%s\n", indent, config_change_format(&d->changes[i], line, sizeof(line)));
    }
}
