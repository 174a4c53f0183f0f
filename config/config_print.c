/* config_print_summary: what `certgate check` says about a loaded configuration. The
 * scalar settings are printed from the key table, so a new key shows up by itself. */
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "config/config_keys.h"

#define WIDTH 96 /* columns before a list of settings wraps */

/* find returns the table entry of |name| in |object| of the root scope. */
static const struct config_key *find(const char *object, const char *name)
{
    for (size_t i = 0; i < config_num_keys; i++) {
        const struct config_key *k = &config_keys[i];
        if (k->scope == CONFIG_SCOPE_ROOT && k->object != NULL && strcmp(k->object, object) == 0 &&
            strcmp(k->name, name) == 0) {
            return k;
        }
    }
    return NULL;
}

/* print_keys prints |first| then "key value, key value, ..." for the keys of |scope|
 * in |base|, wrapped at WIDTH columns with continuation lines starting with |cont|.
 * With |object| only the keys of that object are printed, by name; without, every key
 * of the scope, named "object.key". A 0 that means something says what. */
static void print_keys(FILE *out, const char *first, const char *cont, enum config_scope scope,
                       const char *object, const void *base)
{
    size_t col = (size_t)fprintf(out, "%s", first);
    bool empty = true;
    for (size_t i = 0; i < config_num_keys; i++) {
        const struct config_key *k = &config_keys[i];
        if (k->scope != scope ||
            (object != NULL && (k->object == NULL || strcmp(k->object, object) != 0))) {
            continue;
        }
        char item[160];
        char value[32];
        uint64_t v = config_key_get(k, base);
        bool prefix = object == NULL && k->object != NULL;
        int n = snprintf(item, sizeof(item), "%s%s%s %s%s%s%s", prefix ? k->object : "",
                         prefix ? "." : "", k->name, config_key_format(k, v, value, sizeof(value)),
                         v == 0 && k->zero ? " (" : "", v == 0 && k->zero ? k->zero : "",
                         v == 0 && k->zero ? ")" : "");
        size_t len = n > 0 ? (size_t)n : 0;
        if (!empty && col + 2 + len > WIDTH) {
            col = (size_t)fprintf(out, ",\n%s", cont) - 2;
        } else if (!empty) {
            col += (size_t)fprintf(out, ", ");
        } else if (col > 0 && first[col - 1] != ' ') {
            col += (size_t)fprintf(out, " ");
        }
        col += (size_t)fprintf(out, "%s", item);
        empty = false;
    }
    fputc('\n', out);
}

static void print_host(FILE *out, const struct config_host *h)
{
    fprintf(out, "  host %s:", h->name);
    for (size_t k = 0; k < h->num_names; k++) {
        fprintf(out, " %s", h->names[k]);
    }
    fprintf(out, " -> upstream %s\n", h->upstream->name);
    fprintf(out, "    policy %s\n", h->policy);
    for (size_t k = 0; k < h->num_certificates; k++) {
        fprintf(out, "    certificate %s (key %s%s%s)\n", h->certificates[k].cert,
                h->certificates[k].key, h->certificates[k].ocsp ? ", ocsp " : "",
                h->certificates[k].ocsp ? h->certificates[k].ocsp : "");
    }
    if (h->num_certificates == 0) {
        fprintf(out, "    certificates: the listener's\n");
    }
    for (size_t k = 0; k < h->num_paths; k++) {
        fprintf(out, "    path %s -> upstream %s\n", h->paths[k].prefix,
                h->paths[k].upstream->name);
    }
}

static void print_listener(FILE *out, const struct config_listener *l)
{
    fprintf(out, "listener %s:", l->name);
    for (size_t j = 0; j < l->num_addresses; j++) {
        /* "*:port" yields two entries with the same text: print it once. */
        if (j > 0 && strcmp(l->addresses[j].text, l->addresses[j - 1].text) == 0) {
            continue;
        }
        fprintf(out, " %s", l->addresses[j].text);
    }
    fprintf(out, " -> upstream %s; alpn %s%s%s; %zu certificate%s\n",
            l->upstream ? l->upstream->name : "none (names no host entry has are refused)",
            (l->alpn & CONFIG_ALPN_H2) ? "h2" : "",
            (l->alpn & CONFIG_ALPN_H2) && (l->alpn & CONFIG_ALPN_HTTP11) ? "," : "",
            (l->alpn & CONFIG_ALPN_HTTP11) ? "http/1.1" : "", l->tls.num_certificates,
            l->tls.num_certificates == 1 ? "" : "s");
    print_keys(out, "  ", "    ", CONFIG_SCOPE_LISTENER, NULL, l);
    for (size_t j = 0; j < l->tls.num_certificates; j++) {
        fprintf(out, "  certificate %s (key %s%s%s)\n", l->tls.certificates[j].cert,
                l->tls.certificates[j].key, l->tls.certificates[j].ocsp ? ", ocsp " : "",
                l->tls.certificates[j].ocsp ? l->tls.certificates[j].ocsp : "");
    }
    fprintf(out, "  client_ca %s%s%s\n", l->tls.client_ca ? l->tls.client_ca : "none",
            l->tls.crl ? ", crl " : "", l->tls.crl ? l->tls.crl : "");
    if (l->upstream != NULL) {
        fprintf(out, "  policy %s\n", l->policy ? l->policy : "none (every request denied)");
    }
    for (size_t j = 0; j < l->num_hosts; j++) {
        print_host(out, &l->hosts[j]);
    }
    if (l->proxy_protocol.num_from > 0) {
        fprintf(out, "  proxy_protocol from");
        for (size_t j = 0; j < l->proxy_protocol.num_from; j++) {
            fprintf(out, " %s", l->proxy_protocol.from[j]);
        }
        fputc('\n', out);
    }
}

static void print_upstream(FILE *out, const struct config_upstream *up)
{
    fprintf(out, "upstream %s:", up->name);
    for (size_t j = 0; j < up->num_servers; j++) {
        fprintf(out, " %s", up->servers[j].text);
    }
    for (size_t j = 0; j < up->num_hosts; j++) {
        fprintf(out, " %s (resolved at run time)", up->hosts[j].text);
    }
    fputc('\n', out);
    print_keys(out, "  ", "    ", CONFIG_SCOPE_UPSTREAM, NULL, up);
    if (up->health.enabled) {
        fprintf(out, "  health_check: GET %s, expect", up->health.path);
        for (size_t j = 0; j < up->health.num_expect; j++) {
            fprintf(out, " %d", up->health.expect[j]);
        }
        fputc('\n', out);
    } else {
        fprintf(out, "  health_check off (passive only)\n");
    }
    if (up->tls.enabled) {
        fprintf(out, "  tls: ca %s%s%s, sni %s\n", up->tls.ca, up->tls.cert ? ", client cert " : "",
                up->tls.cert ? up->tls.cert : "", up->tls.sni ? up->tls.sni : "none");
    } else {
        fprintf(out, "  tls off (cleartext)\n");
    }
}

void config_print_summary(const struct config *cfg, FILE *out)
{
    const struct config_key *level = find("log", "level");
    const struct config_key *format = find("log", "format");
    char b[32], f[32];
    fprintf(out, "config %s: %u worker%s%s, log level %s, log format %s, access log %s\n",
            cfg->source, cfg->workers, cfg->workers == 1 ? "" : "s",
            cfg->workers_auto ? " (one per core)" : "",
            level ? config_key_format(level, config_key_get(level, cfg), b, sizeof(b)) : "?",
            format ? config_key_format(format, config_key_get(format, cfg), f, sizeof(f)) : "?",
            cfg->log.access_log
                ? (strcmp(cfg->log.access_log, "-") == 0 ? "stderr" : cfg->log.access_log)
                : "off");
    if (cfg->state_dir != NULL) {
        fprintf(out, "state_dir %s\n", cfg->state_dir);
    }
    for (size_t i = 0; i < cfg->num_listeners; i++) {
        print_listener(out, &cfg->listeners[i]);
    }
    for (size_t i = 0; i < cfg->num_upstreams; i++) {
        print_upstream(out, &cfg->upstreams[i]);
    }
    if (cfg->admin.enabled) {
        fprintf(out, "admin %s (listener %s%s%s)\n", cfg->admin.address.text,
                cfg->listeners[cfg->admin.listener_index].name, cfg->admin.host ? ", host " : "",
                cfg->admin.host ? cfg->admin.host->name : "");
    } else {
        fprintf(out, "admin off\n");
    }
    fprintf(out, "status %s\n", cfg->status.enabled ? cfg->status.address.text : "off");
    print_keys(out, "limits:", "  ", CONFIG_SCOPE_ROOT, "limits", cfg);
    print_keys(out, "timeouts:", "  ", CONFIG_SCOPE_ROOT, "timeouts", cfg);
}
