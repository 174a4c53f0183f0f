/* $.listeners: where clients connect, with their TLS, protocols, policy and upstream. */
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "config/config_internal.h"
#include "policy/ipset.h"

static int parse_certificate(struct config_loader *ld, const json_t *obj, const char *path,
                             struct config_certificate *c)
{
    static const char *const keys[] = {"cert", "key", "ocsp", NULL};
    int rc = cg_json_check_keys(&ld->ctx, obj, path, keys);
    if (rc != CG_OK) {
        return rc;
    }
    if ((rc = config_get_path(ld, obj, path, "cert", true, &c->cert)) != CG_OK ||
        (rc = config_get_path(ld, obj, path, "key", true, &c->key)) != CG_OK ||
        (rc = config_get_path(ld, obj, path, "ocsp", false, &c->ocsp)) != CG_OK) {
        return rc;
    }
    return CG_OK;
}

int config_parse_certificates(struct config_loader *ld, const json_t *obj, const char *path,
                              const char *key, bool required, struct config_certificate **out,
                              size_t *num)
{
    const json_t *certs;
    char p[CONFIG_PATH_LEN];
    int rc = config_get_array(ld, obj, path, key, required,
                              "{\"cert\": FILE, \"key\": FILE} objects", &certs);
    if (rc != CG_OK || certs == NULL) {
        return rc;
    }
    cg_json_path(p, sizeof(p), path, key, 0);
    if (json_array_size(certs) == 0) {
        return cg_json_fail(&ld->ctx, p,
                            "expected at least one {\"cert\": FILE, \"key\": FILE} object "
                            "(leave the key out for none)");
    }
    *out = cg_xcalloc(json_array_size(certs), sizeof(**out));
    for (size_t i = 0; i < json_array_size(certs); i++) {
        char cp[CONFIG_PATH_LEN];
        cg_json_path(cp, sizeof(cp), p, NULL, i);
        struct config_certificate *c = &(*out)[(*num)++];
        if ((rc = parse_certificate(ld, json_array_get(certs, i), cp, c)) != CG_OK) {
            return rc;
        }
    }
    return CG_OK;
}

void config_certificates_free(struct config_certificate *certs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(certs[i].cert);
        free(certs[i].key);
        free(certs[i].ocsp);
    }
    free(certs);
}

static int parse_listener_tls(struct config_loader *ld, const json_t *obj, const char *path,
                              struct config_listener *l)
{
    static const char *const keys[] = {"certificates", "client_ca", "crl", NULL};
    struct config_listener_tls *tls = &l->tls;
    char p[CONFIG_PATH_LEN];
    int rc;
    if (obj == NULL) {
        return cg_json_fail(&ld->ctx, path, "required: an object with \"certificates\"");
    }
    if ((rc = config_check_keys(ld, CONFIG_SCOPE_LISTENER, "tls", obj, path, keys)) != CG_OK) {
        return rc;
    }
    rc = config_parse_certificates(ld, obj, path, "certificates", true, &tls->certificates,
                                   &tls->num_certificates);
    if (rc != CG_OK) {
        return rc;
    }

    if ((rc = config_get_path(ld, obj, path, "client_ca", false, &tls->client_ca)) != CG_OK ||
        (rc = config_get_path(ld, obj, path, "crl", false, &tls->crl)) != CG_OK) {
        return rc;
    }
    if (tls->crl != NULL && tls->client_ca == NULL) {
        return cg_json_fail(&ld->ctx, cg_json_path(p, sizeof(p), path, "crl", 0),
                            "requires client_ca (a CRL is checked against the client CA)");
    }
    /* The scalars of "tls" come from the key table. */
    return config_read_keys(ld, CONFIG_SCOPE_LISTENER, "tls", obj, path, l);
}

static int parse_alpn(struct config_loader *ld, const json_t *obj, const char *path, unsigned *out)
{
    const json_t *arr;
    char p[CONFIG_PATH_LEN];
    int rc = config_get_array(ld, obj, path, "alpn", false, "\"h2\" / \"http/1.1\"", &arr);
    if (rc != CG_OK) {
        return rc;
    }
    *out = CONFIG_ALPN_H2 | CONFIG_ALPN_HTTP11;
    if (arr == NULL) {
        return CG_OK;
    }
    cg_json_path(p, sizeof(p), path, "alpn", 0);
    if (json_array_size(arr) == 0) {
        return cg_json_fail(&ld->ctx, p, "expected at least one of \"h2\", \"http/1.1\"");
    }
    *out = 0;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        char ep[CONFIG_PATH_LEN];
        const json_t *v = json_array_get(arr, i);
        const char *s = json_is_string(v) ? json_string_value(v) : "";
        unsigned bit = strcmp(s, "h2") == 0         ? CONFIG_ALPN_H2
                       : strcmp(s, "http/1.1") == 0 ? CONFIG_ALPN_HTTP11
                                                    : 0;
        cg_json_path(ep, sizeof(ep), p, NULL, i);
        if (bit == 0) {
            return cg_json_fail(&ld->ctx, ep, "expected \"h2\" or \"http/1.1\"");
        }
        if (*out & bit) {
            return cg_json_fail(&ld->ctx, ep, "duplicate protocol \"%s\"", s);
        }
        *out |= bit;
    }
    return CG_OK;
}

static int parse_proxy_protocol(struct config_loader *ld, const json_t *obj, const char *path,
                                struct config_proxy_protocol *pp)
{
    static const char *const keys[] = {"from", NULL};
    const json_t *v = config_member(obj, "proxy_protocol");
    char p[CONFIG_PATH_LEN];
    char fp[CONFIG_PATH_LEN];
    if (v == NULL) {
        return CG_OK;
    }
    cg_json_path(p, sizeof(p), path, "proxy_protocol", 0);
    int rc = cg_json_check_keys(&ld->ctx, v, p, keys);
    if (rc != CG_OK) {
        return rc;
    }
    const json_t *from;
    rc = config_get_array(ld, v, p, "from", true, "CIDR strings (\"10.0.0.0/8\")", &from);
    if (rc != CG_OK) {
        return rc;
    }
    cg_json_path(fp, sizeof(fp), p, "from", 0);
    pp->from = cg_xcalloc(json_array_size(from), sizeof(*pp->from));
    for (size_t i = 0; i < json_array_size(from); i++) {
        const char *s;
        char ep[CONFIG_PATH_LEN];
        if ((rc = config_array_string(ld, from, fp, i, &s)) != CG_OK) {
            return rc;
        }
        struct cg_errbuf why = {{0}};
        if (ipset_check(s, &why) != CG_OK) {
            return cg_json_fail(&ld->ctx, cg_json_path(ep, sizeof(ep), fp, NULL, i),
                                "expected an address or CIDR (\"10.0.0.0/8\", "
                                "\"fd00::/8\"): %s",
                                why.msg);
        }
        pp->from[pp->num_from++] = cg_xstrdup(s);
    }
    return CG_OK;
}

static int parse_listen(struct config_loader *ld, const json_t *obj, const char *path,
                        struct config_listener *l)
{
    const json_t *arr;
    char p[CONFIG_PATH_LEN];
    int rc = config_get_array(ld, obj, path, "listen", true, "\"host:port\" addresses", &arr);
    if (rc != CG_OK) {
        return rc;
    }
    cg_json_path(p, sizeof(p), path, "listen", 0);
    /* "*:port" becomes two addresses. */
    l->addresses = cg_xcalloc(2 * json_array_size(arr), sizeof(*l->addresses));
    for (size_t i = 0; i < json_array_size(arr); i++) {
        const char *s;
        char ep[CONFIG_PATH_LEN];
        struct config_address a[2] = {{0}};
        if ((rc = config_array_string(ld, arr, p, i, &s)) != CG_OK) {
            return rc;
        }
        cg_json_path(ep, sizeof(ep), p, NULL, i);
        size_t n = config_address_parse(s, true, a);
        if (n == 0) {
            return cg_json_fail(&ld->ctx, ep,
                                "expected \"IPv4:port\", \"[IPv6]:port\" or \"*:port\" "
                                "(numeric, port 1-65535), got \"%s\"",
                                s);
        }
        for (size_t k = 0; k < n; k++) {
            rc = config_address_check_overlap(ld, ep, &a[k]);
            if (rc != CG_OK) {
                for (size_t j = k; j < n; j++) {
                    config_address_cleanup(&a[j]);
                }
                return rc;
            }
            l->addresses[l->num_addresses++] = a[k];
        }
    }
    return CG_OK;
}

static int parse_listener(struct config_loader *ld, const json_t *obj, const char *path,
                          struct config_listener *l)
{
    static const char *const keys[] = {"name",     "listen",         "tls",   "alpn", "policy",
                                       "upstream", "proxy_protocol", "hosts", NULL};
    struct config *cfg = ld->cfg;
    char p[CONFIG_PATH_LEN];
    config_keys_set_defaults(CONFIG_SCOPE_LISTENER, l);
    int rc = config_check_keys(ld, CONFIG_SCOPE_LISTENER, NULL, obj, path, keys);
    if (rc != CG_OK) {
        return rc;
    }

    const char *name = NULL;
    if ((rc = cg_json_get_string(&ld->ctx, obj, path, "name", &name)) != CG_OK) {
        return rc;
    }
    cg_json_path(p, sizeof(p), path, "name", 0);
    if (name == NULL) {
        return cg_json_fail(&ld->ctx, p, "required: a name for logs and metrics");
    }
    if (!config_name_valid(name)) {
        return cg_json_fail(&ld->ctx, p,
                            "expected 1-64 characters from A-Z a-z 0-9 . _ -, got \"%s\"", name);
    }
    /* |l| is the last counted listener: compare with the ones before it. */
    for (struct config_listener *o = cfg->listeners; o < l; o++) {
        if (strcmp(o->name, name) == 0) {
            return cg_json_fail(&ld->ctx, p, "duplicate listener name \"%s\"", name);
        }
    }
    l->name = cg_xstrdup(name);

    if ((rc = parse_listen(ld, obj, path, l)) != CG_OK) {
        return rc;
    }
    cg_json_path(p, sizeof(p), path, "tls", 0);
    if ((rc = parse_listener_tls(ld, config_member(obj, "tls"), p, l)) != CG_OK) {
        return rc;
    }
    if ((rc = parse_alpn(ld, obj, path, &l->alpn)) != CG_OK) {
        return rc;
    }
    if ((rc = config_get_path(ld, obj, path, "policy", false, &l->policy)) != CG_OK) {
        return rc;
    }

    if ((rc = config_parse_hosts(ld, obj, path, l)) != CG_OK) {
        return rc;
    }
    const char *upstream = NULL;
    if ((rc = cg_json_get_string(&ld->ctx, obj, path, "upstream", &upstream)) != CG_OK) {
        return rc;
    }
    cg_json_path(p, sizeof(p), path, "upstream", 0);
    if (upstream == NULL && l->num_hosts == 0) {
        return cg_json_fail(&ld->ctx, p, "required: the name of an upstream");
    }
    if (upstream == NULL && l->policy != NULL) {
        /* The listener's own policy and upstream are the default host entry together. */
        return cg_json_fail(&ld->ctx, p,
                            "required with \"policy\": the listener's upstream and policy "
                            "serve the names no host entry has");
    }
    if (upstream != NULL) {
        const struct config_upstream *up = config_find_upstream(cfg, upstream);
        if (up == NULL) {
            return cg_json_fail(&ld->ctx, p, "unknown upstream \"%s\"", upstream);
        }
        l->upstream_index = (size_t)(up - cfg->upstreams);
        l->upstream = &cfg->upstreams[l->upstream_index];
    }

    if ((rc = parse_proxy_protocol(ld, obj, path, &l->proxy_protocol)) != CG_OK) {
        return rc;
    }
    /* The listener's own scalars (request options) come from the key table. */
    return config_read_keys(ld, CONFIG_SCOPE_LISTENER, NULL, obj, path, l);
}

int config_parse_listeners(struct config_loader *ld, const json_t *root)
{
    const json_t *arr;
    int rc = config_get_array(ld, root, "$", "listeners", true, "listener objects", &arr);
    if (rc != CG_OK) {
        return rc;
    }
    struct config *cfg = ld->cfg;
    cfg->listeners = cg_xcalloc(json_array_size(arr), sizeof(*cfg->listeners));
    for (size_t i = 0; i < json_array_size(arr); i++) {
        char p[CONFIG_PATH_LEN];
        cg_json_path(p, sizeof(p), "$.listeners", NULL, i);
        struct config_listener *l = &cfg->listeners[cfg->num_listeners++];
        if ((rc = parse_listener(ld, json_array_get(arr, i), p, l)) != CG_OK) {
            return rc;
        }
    }
    return CG_OK;
}

void config_listener_cleanup(struct config_listener *l)
{
    free(l->name);
    for (size_t i = 0; i < l->num_addresses; i++) {
        config_address_cleanup(&l->addresses[i]);
    }
    free(l->addresses);
    config_certificates_free(l->tls.certificates, l->tls.num_certificates);
    config_hosts_cleanup(l);
    free(l->tls.client_ca);
    free(l->tls.crl);
    free(l->policy);
    for (size_t i = 0; i < l->proxy_protocol.num_from; i++) {
        free(l->proxy_protocol.from[i]);
    }
    free(l->proxy_protocol.from);
}
