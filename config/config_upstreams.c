/* $.upstreams: the named groups of database servers and the TLS towards them. */
#include <stdlib.h>
#include <string.h>

#include "common/hostname.h"
#include "common/mem.h"
#include "config/config_internal.h"

static int parse_upstream_tls(struct config_loader *ld, const json_t *obj, const char *path,
                              struct config_upstream *up)
{
    static const char *const keys[] = {"ca", "cert", "key", "sni", NULL};
    char p[CONFIG_PATH_LEN];
    int rc = config_check_keys(ld, CONFIG_SCOPE_UPSTREAM, "tls", obj, path, keys);
    if (rc != CG_OK) {
        return rc;
    }
    up->tls.enabled = true;
    if ((rc = config_get_path(ld, obj, path, "ca", true, &up->tls.ca)) != CG_OK ||
        (rc = config_get_path(ld, obj, path, "cert", false, &up->tls.cert)) != CG_OK ||
        (rc = config_get_path(ld, obj, path, "key", false, &up->tls.key)) != CG_OK) {
        return rc;
    }
    if (up->tls.cert != NULL && up->tls.key == NULL) {
        return cg_json_fail(&ld->ctx, cg_json_path(p, sizeof(p), path, "key", 0),
                            "required when cert is given");
    }
    if (up->tls.key != NULL && up->tls.cert == NULL) {
        return cg_json_fail(&ld->ctx, cg_json_path(p, sizeof(p), path, "cert", 0),
                            "required when key is given");
    }
    const char *sni = NULL;
    rc = cg_json_get_string(&ld->ctx, obj, path, "sni", &sni);
    if (rc != CG_OK) {
        return rc;
    }
    if (sni != NULL) {
        if (!cg_hostname_valid(cg_str_from_cstr(sni))) {
            return cg_json_fail(&ld->ctx, cg_json_path(p, sizeof(p), path, "sni", 0),
                                "expected a DNS name (omit sni to verify the server's IP "
                                "address)");
        }
        up->tls.sni = cg_xstrdup(sni);
    }
    return config_read_keys(ld, CONFIG_SCOPE_UPSTREAM, "tls", obj, path, up);
}

bool config_upstream_host_parse(const char *s, struct config_upstream_host *out)
{
    const char *colon = strrchr(s, ':');
    if (colon == NULL || colon == s || colon[1] == '\0' || strlen(colon + 1) > 5) {
        return false;
    }
    unsigned long port = 0;
    for (const char *p = colon + 1; *p != '\0'; p++) {
        if (*p < '0' || *p > '9') {
            return false;
        }
        port = port * 10 + (unsigned long)(*p - '0');
    }
    struct cg_str name = {.p = s, .len = (size_t)(colon - s)};
    if (port < 1 || port > 65535 || !cg_hostname_valid(name)) {
        return false;
    }
    out->name = cg_xstrndup(s, name.len);
    out->port = (uint16_t)port;
    out->text = cg_xstrdup(s);
    return true;
}

static void host_cleanup(struct config_upstream_host *h)
{
    free(h->name);
    free(h->text);
}

static int parse_servers(struct config_loader *ld, const json_t *obj, const char *path,
                         struct config_upstream *up)
{
    const json_t *servers;
    char p[CONFIG_PATH_LEN];
    int rc = config_get_array(ld, obj, path, "servers", true, "\"host:port\" addresses", &servers);
    if (rc != CG_OK) {
        return rc;
    }
    cg_json_path(p, sizeof(p), path, "servers", 0);
    up->servers = cg_xcalloc(json_array_size(servers), sizeof(*up->servers));
    up->hosts = cg_xcalloc(json_array_size(servers), sizeof(*up->hosts));
    for (size_t i = 0; i < json_array_size(servers); i++) {
        char sp[CONFIG_PATH_LEN];
        const char *s;
        struct config_address a[2] = {{0}};
        if ((rc = config_array_string(ld, servers, p, i, &s)) != CG_OK) {
            return rc;
        }
        cg_json_path(sp, sizeof(sp), p, NULL, i);
        if (config_address_parse(s, false, a) == 1) {
            if (config_address_is_unspecified(&a[0])) {
                config_address_cleanup(&a[0]);
                return cg_json_fail(&ld->ctx, sp, "\"%s\" is a wildcard, not a server", s);
            }
            up->servers[up->num_servers++] = a[0];
            continue;
        }
        /* Not an IP literal: a name, resolved at run time only (certgate check never
         * asks DNS). */
        struct config_upstream_host h = {0};
        if (!config_upstream_host_parse(s, &h)) {
            return cg_json_fail(&ld->ctx, sp,
                                "expected \"IPv4:port\", \"[IPv6]:port\" or \"host.name:port\" "
                                "(port 1-65535), got \"%s\"",
                                s);
        }
        up->hosts[up->num_hosts++] = h;
    }
    return CG_OK;
}

/* parse_health_check reads $.upstreams.<name>.health_check; its scalar keys are the
 * table's, "path" and "expect" are read here. */
static int parse_health_check(struct config_loader *ld, const json_t *obj, const char *path,
                              struct config_upstream *up)
{
    static const char *const keys[] = {"path", "expect", NULL};
    struct config_health_check *hc = &up->health;
    char p[CONFIG_PATH_LEN];
    int rc = config_check_keys(ld, CONFIG_SCOPE_UPSTREAM, "health_check", obj, path, keys);
    if (rc != CG_OK ||
        (rc = config_read_keys(ld, CONFIG_SCOPE_UPSTREAM, "health_check", obj, path, up)) !=
            CG_OK) {
        return rc;
    }
    hc->enabled = true;
    const char *target = NULL;
    if ((rc = cg_json_get_string(&ld->ctx, obj, path, "path", &target)) != CG_OK) {
        return rc;
    }
    if (target == NULL) {
        target = "/health";
    }
    bool visible = target[0] == '/' && strlen(target) <= 1024;
    for (const char *c = target; visible && *c != '\0'; c++) {
        visible = *c > ' ' && *c < 0x7f;
    }
    if (!visible) {
        return cg_json_fail(&ld->ctx, cg_json_path(p, sizeof(p), path, "path", 0),
                            "expected a request target: \"/\" then up to 1024 visible ASCII "
                            "characters, got \"%s\"",
                            target);
    }
    hc->path = cg_xstrdup(target);
    if (hc->timeout > hc->interval) {
        return cg_json_fail(&ld->ctx, cg_json_path(p, sizeof(p), path, "timeout", 0),
                            "must not exceed interval (%llu ms)",
                            (unsigned long long)hc->interval);
    }
    const json_t *expect = NULL;
    if ((rc = config_get_array(ld, obj, path, "expect", false, "HTTP statuses", &expect)) !=
        CG_OK) {
        return rc;
    }
    if (expect == NULL) {
        hc->expect = cg_xcalloc(1, sizeof(*hc->expect));
        hc->expect[hc->num_expect++] = 200;
        return CG_OK;
    }
    cg_json_path(p, sizeof(p), path, "expect", 0);
    if (json_array_size(expect) == 0) {
        return cg_json_fail(&ld->ctx, p, "expected at least one HTTP status");
    }
    hc->expect = cg_xcalloc(json_array_size(expect), sizeof(*hc->expect));
    for (size_t i = 0; i < json_array_size(expect); i++) {
        const json_t *v = json_array_get(expect, i);
        char ep[CONFIG_PATH_LEN];
        cg_json_path(ep, sizeof(ep), p, NULL, i);
        if (!json_is_integer(v) || json_integer_value(v) < 200 || json_integer_value(v) > 599) {
            return cg_json_fail(&ld->ctx, ep, "expected an HTTP status from 200 to 599");
        }
        hc->expect[hc->num_expect++] = (int)json_integer_value(v);
    }
    return CG_OK;
}

static int parse_upstream(struct config_loader *ld, const char *name, const json_t *obj,
                          struct config_upstream *up)
{
    static const char *const keys[] = {"servers", "tls", "health_check", NULL};
    char path[CONFIG_PATH_LEN];
    char p[CONFIG_PATH_LEN];
    cg_json_path(path, sizeof(path), "$.upstreams", name, 0);
    up->name = cg_xstrdup(name);
    config_keys_set_defaults(CONFIG_SCOPE_UPSTREAM, up);
    int rc = config_check_keys(ld, CONFIG_SCOPE_UPSTREAM, NULL, obj, path, keys);
    if (rc != CG_OK) {
        return rc;
    }
    if ((rc = parse_servers(ld, obj, path, up)) != CG_OK ||
        (rc = config_read_keys(ld, CONFIG_SCOPE_UPSTREAM, NULL, obj, path, up)) != CG_OK) {
        return rc;
    }

    const json_t *tls = config_member(obj, "tls");
    cg_json_path(p, sizeof(p), path, "tls", 0);
    if (tls != NULL) {
        if (up->protocol == CONFIG_UPSTREAM_H2C) {
            return cg_json_fail(&ld->ctx, p,
                                "not allowed with protocol \"h2c\" (cleartext); use \"h2\"");
        }
        if ((rc = parse_upstream_tls(ld, tls, p, up)) != CG_OK) {
            return rc;
        }
    } else if (up->protocol == CONFIG_UPSTREAM_H2) {
        return cg_json_fail(&ld->ctx, p,
                            "required when protocol is \"h2\" (use \"h2c\" for cleartext "
                            "HTTP/2)");
    }
    const json_t *hc = config_member(obj, "health_check");
    if (hc != NULL) {
        cg_json_path(p, sizeof(p), path, "health_check", 0);
        return parse_health_check(ld, hc, p, up);
    }
    return CG_OK;
}

int config_parse_upstreams(struct config_loader *ld, const json_t *root)
{
    const json_t *obj = config_member(root, "upstreams");
    if (obj == NULL) {
        return cg_json_fail(&ld->ctx, "$.upstreams", "required: at least one upstream");
    }
    if (!json_is_object(obj)) {
        return cg_json_fail(&ld->ctx, "$.upstreams", "expected an object of upstreams by name");
    }
    if (json_object_size(obj) == 0) {
        return cg_json_fail(&ld->ctx, "$.upstreams", "expected at least one upstream");
    }
    struct config *cfg = ld->cfg;
    cfg->upstreams = cg_xcalloc(json_object_size(obj), sizeof(*cfg->upstreams));
    const char *name;
    json_t *value;
    json_object_foreach((json_t *)obj, name, value)
    {
        if (!config_name_valid(name)) {
            return cg_json_fail(&ld->ctx, "$.upstreams",
                                "invalid upstream name \"%s\": expected 1-64 characters "
                                "from A-Z a-z 0-9 . _ -",
                                name);
        }
        /* Counted before parsing so that config_free releases a half-filled entry. */
        struct config_upstream *up = &cfg->upstreams[cfg->num_upstreams++];
        int rc = parse_upstream(ld, name, value, up);
        if (rc != CG_OK) {
            return rc;
        }
    }
    return CG_OK;
}

void config_upstream_cleanup(struct config_upstream *up)
{
    free(up->name);
    for (size_t i = 0; i < up->num_servers; i++) {
        config_address_cleanup(&up->servers[i]);
    }
    free(up->servers);
    for (size_t i = 0; i < up->num_hosts; i++) {
        host_cleanup(&up->hosts[i]);
    }
    free(up->hosts);
    free(up->health.path);
    free(up->health.expect);
    free(up->tls.ca);
    free(up->tls.cert);
    free(up->tls.key);
    free(up->tls.sni);
}

int config_parse_resolvers(struct config_loader *ld, const json_t *root)
{
    const json_t *arr = NULL;
    char p[CONFIG_PATH_LEN];
    int rc = config_get_array(ld, root, "$", "resolvers", false, "\"IP:port\" addresses", &arr);
    if (rc != CG_OK || arr == NULL) {
        return rc;
    }
    if (json_array_size(arr) == 0) {
        return cg_json_fail(&ld->ctx, "$.resolvers",
                            "expected at least one DNS server (omit it for the system's)");
    }
    struct config *cfg = ld->cfg;
    cfg->resolvers = cg_xcalloc(json_array_size(arr), sizeof(*cfg->resolvers));
    for (size_t i = 0; i < json_array_size(arr); i++) {
        const char *s;
        struct config_address a[2] = {{0}};
        if ((rc = config_array_string(ld, arr, "$.resolvers", i, &s)) != CG_OK) {
            return rc;
        }
        if (config_address_parse(s, false, a) != 1 || config_address_is_unspecified(&a[0])) {
            config_address_cleanup(&a[0]);
            return cg_json_fail(&ld->ctx, cg_json_path(p, sizeof(p), "$.resolvers", NULL, i),
                                "expected \"IPv4:port\" or \"[IPv6]:port\" of a DNS server "
                                "(numeric, port 1-65535), got \"%s\"",
                                s);
        }
        cfg->resolvers[cfg->num_resolvers++] = a[0];
    }
    return CG_OK;
}

const struct config_upstream *config_find_upstream(const struct config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->num_upstreams; i++) {
        if (cfg->upstreams[i].name != NULL && strcmp(cfg->upstreams[i].name, name) == 0) {
            return &cfg->upstreams[i];
        }
    }
    return NULL;
}

const char *config_upstream_protocol_str(enum config_upstream_protocol protocol)
{
    switch (protocol) {
    case CONFIG_UPSTREAM_HTTP11:
        return "http/1.1";
    case CONFIG_UPSTREAM_H2C:
        return "h2c";
    case CONFIG_UPSTREAM_H2:
        return "h2";
    }
    return "?";
}
