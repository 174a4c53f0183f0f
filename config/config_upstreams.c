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
    for (size_t i = 0; i < json_array_size(servers); i++) {
        char sp[CONFIG_PATH_LEN];
        const char *s;
        struct config_address a[2] = {{0}};
        if ((rc = config_array_string(ld, servers, p, i, &s)) != CG_OK) {
            return rc;
        }
        cg_json_path(sp, sizeof(sp), p, NULL, i);
        if (config_address_parse(s, false, a) != 1 || config_address_is_unspecified(&a[0])) {
            config_address_cleanup(&a[0]);
            return cg_json_fail(&ld->ctx, sp,
                                "expected \"IPv4:port\" or \"[IPv6]:port\" (numeric, port "
                                "1-65535), got \"%s\"",
                                s);
        }
        up->servers[up->num_servers++] = a[0];
    }
    return CG_OK;
}

static int parse_upstream(struct config_loader *ld, const char *name, const json_t *obj,
                          struct config_upstream *up)
{
    static const char *const keys[] = {"servers", "tls", NULL};
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
    free(up->tls.ca);
    free(up->tls.cert);
    free(up->tls.key);
    free(up->tls.sni);
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
