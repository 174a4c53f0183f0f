/* $.listeners[].hosts: the virtual hosts of a listener, and the table that finds the
 * host entry a name (SNI or Host) selects. */
#include <stdlib.h>
#include <string.h>

#include "common/hostname.h"
#include "common/mem.h"
#include "config/config_internal.h"
#include "policy/path_normalize.h"

/* ---- lookup ---------------------------------------------------------------------- */

static int cmp_names(const void *a, const void *b)
{
    return strcmp(((const struct config_host_name *)a)->name,
                  ((const struct config_host_name *)b)->name);
}

static const struct config_host *find_in(const struct config_host_name *arr, size_t n,
                                         const char *name)
{
    if (n == 0) {
        return NULL; /* |arr| may be NULL, which bsearch must not get */
    }
    const struct config_host_name key = {.name = name};
    const struct config_host_name *hit = bsearch(&key, arr, n, sizeof(*arr), cmp_names);
    return hit != NULL ? hit->host : NULL;
}

const struct config_host *config_host_names_find(const struct config_host_names *names,
                                                 struct cg_str name)
{
    if (names->num_exact + names->num_wildcard == 0 || !cg_hostname_valid(name)) {
        return NULL;
    }
    char lower[CG_HOSTNAME_MAX + 1];
    for (size_t i = 0; i < name.len; i++) {
        lower[i] = cg_ascii_lower(name.p[i]);
    }
    lower[name.len] = '\0';
    const struct config_host *h = find_in(names->exact, names->num_exact, lower);
    if (h != NULL) {
        return h;
    }
    /* A wildcard covers exactly one label, as in certificates (RFC 6125 §6.4.3): the
     * only one that can match is the name without its first label. */
    const char *dot = strchr(lower, '.');
    return dot != NULL ? find_in(names->wildcard, names->num_wildcard, dot + 1) : NULL;
}

/* ---- parsing --------------------------------------------------------------------- */

static int parse_upstream_ref(struct config_loader *ld, const json_t *obj, const char *path,
                              struct config_upstream **out, size_t *out_index)
{
    const char *name = NULL;
    char p[CONFIG_PATH_LEN];
    int rc = cg_json_get_string(&ld->ctx, obj, path, "upstream", &name);
    if (rc != CG_OK) {
        return rc;
    }
    cg_json_path(p, sizeof(p), path, "upstream", 0);
    if (name == NULL) {
        return cg_json_fail(&ld->ctx, p, "required: the name of an upstream");
    }
    const struct config_upstream *up = config_find_upstream(ld->cfg, name);
    if (up == NULL) {
        return cg_json_fail(&ld->ctx, p, "unknown upstream \"%s\"", name);
    }
    *out_index = (size_t)(up - ld->cfg->upstreams);
    *out = &ld->cfg->upstreams[*out_index];
    return CG_OK;
}

/* prefix_valid accepts what policy_path_normalize leaves unchanged: requests are
 * routed by their normalized path, which a prefix in any other spelling never starts. */
static bool prefix_valid(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || s[0] != '/' || strchr(s, '?') != NULL) {
        return false;
    }
    char *out = cg_xmalloc(len + 1);
    struct policy_path res;
    bool ok = policy_path_normalize(s, len, NULL, out, len + 1, &res) == CG_OK &&
              res.path_len == len && memcmp(out, s, len) == 0;
    free(out);
    return ok;
}

static int cmp_paths(const void *a, const void *b)
{
    const struct config_path *x = a, *y = b;
    if (x->prefix_len != y->prefix_len) {
        return x->prefix_len > y->prefix_len ? -1 : 1;
    }
    return strcmp(x->prefix, y->prefix);
}

static int parse_paths(struct config_loader *ld, const json_t *obj, const char *path,
                       struct config_host *h)
{
    static const char *const keys[] = {"prefix", "upstream", NULL};
    const json_t *arr;
    char p[CONFIG_PATH_LEN];
    int rc = config_get_array(ld, obj, path, "paths", false,
                              "{\"prefix\": \"/path/\", \"upstream\": NAME} objects", &arr);
    if (rc != CG_OK || arr == NULL) {
        return rc;
    }
    cg_json_path(p, sizeof(p), path, "paths", 0);
    h->paths = cg_xcalloc(json_array_size(arr) ? json_array_size(arr) : 1, sizeof(*h->paths));
    for (size_t i = 0; i < json_array_size(arr); i++) {
        char ep[CONFIG_PATH_LEN], kp[CONFIG_PATH_LEN];
        const json_t *v = json_array_get(arr, i);
        cg_json_path(ep, sizeof(ep), p, NULL, i);
        if ((rc = cg_json_check_keys(&ld->ctx, v, ep, keys)) != CG_OK) {
            return rc;
        }
        const char *prefix = NULL;
        if ((rc = cg_json_get_string(&ld->ctx, v, ep, "prefix", &prefix)) != CG_OK) {
            return rc;
        }
        cg_json_path(kp, sizeof(kp), ep, "prefix", 0);
        if (prefix == NULL) {
            return cg_json_fail(&ld->ctx, kp, "required: a path prefix (\"/ingest/\")");
        }
        if (!prefix_valid(prefix)) {
            return cg_json_fail(&ld->ctx, kp,
                                "expected a normalized path starting with '/' and without "
                                "a query (no \"//\", \".\" or \"..\" segments, escapes only "
                                "where needed, in upper case), got \"%s\"",
                                prefix);
        }
        for (size_t k = 0; k < h->num_paths; k++) {
            if (strcmp(h->paths[k].prefix, prefix) == 0) {
                return cg_json_fail(&ld->ctx, kp, "duplicate prefix \"%s\"", prefix);
            }
        }
        struct config_path *cp = &h->paths[h->num_paths++];
        cp->prefix = cg_xstrdup(prefix);
        cp->prefix_len = strlen(prefix);
        if ((rc = parse_upstream_ref(ld, v, ep, &cp->upstream, &cp->upstream_index)) != CG_OK) {
            return rc;
        }
    }
    if (h->num_paths > 1) {
        qsort(h->paths, h->num_paths, sizeof(*h->paths), cmp_paths);
    }
    return CG_OK;
}

/* add_name records |name| (lower case, owned by |h|) in |l|'s table unless another
 * host entry of |l| has it already. */
static int add_name(struct config_loader *ld, const char *path, struct config_listener *l,
                    const struct config_host *h, const char *name)
{
    struct config_host_names *t = &l->host_names;
    bool wildcard = name[0] == '*';
    const char *key = wildcard ? name + 2 : name;
    struct config_host_name *arr = wildcard ? t->wildcard : t->exact;
    size_t n = wildcard ? t->num_wildcard : t->num_exact;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(arr[i].name, key) == 0) {
            return arr[i].host == h
                       ? cg_json_fail(&ld->ctx, path, "duplicate name \"%s\"", name)
                       : cg_json_fail(&ld->ctx, path, "\"%s\" is already a name of hosts[%zu]",
                                      name, arr[i].host->index);
        }
    }
    arr = cg_xrealloc(arr, (n + 1) * sizeof(*arr));
    arr[n] = (struct config_host_name){.name = key, .host = h};
    if (wildcard) {
        t->wildcard = arr;
        t->num_wildcard = n + 1;
    } else {
        t->exact = arr;
        t->num_exact = n + 1;
    }
    return CG_OK;
}

static int parse_names(struct config_loader *ld, const json_t *obj, const char *path,
                       struct config_listener *l, struct config_host *h)
{
    const json_t *arr;
    char p[CONFIG_PATH_LEN];
    int rc = config_get_array(ld, obj, path, "names", true,
                              "host names (\"db.example.com\", \"*.eu.example.com\")", &arr);
    if (rc != CG_OK) {
        return rc;
    }
    cg_json_path(p, sizeof(p), path, "names", 0);
    h->names = cg_xcalloc(json_array_size(arr), sizeof(*h->names));
    for (size_t i = 0; i < json_array_size(arr); i++) {
        const char *s;
        char ep[CONFIG_PATH_LEN];
        if ((rc = config_array_string(ld, arr, p, i, &s)) != CG_OK) {
            return rc;
        }
        cg_json_path(ep, sizeof(ep), p, NULL, i);
        if (!cg_hostname_pattern_valid(cg_str_from_cstr(s))) {
            return cg_json_fail(&ld->ctx, ep,
                                "expected a host name (\"db.example.com\") or a wildcard "
                                "covering one label (\"*.example.com\"), without port, IP "
                                "literal or trailing dot, got \"%s\"",
                                s);
        }
        char *lower = cg_xstrdup(s);
        for (char *q = lower; *q != '\0'; q++) {
            *q = cg_ascii_lower(*q);
        }
        h->names[h->num_names++] = lower;
        if ((rc = add_name(ld, ep, l, h, lower)) != CG_OK) {
            return rc;
        }
    }
    h->name = cg_xstrdup(h->names[0]);
    return CG_OK;
}

static int parse_host(struct config_loader *ld, const json_t *obj, const char *path,
                      struct config_listener *l, struct config_host *h)
{
    static const char *const keys[] = {"names",        "upstream", "policy",
                                       "certificates", "paths",    NULL};
    int rc = cg_json_check_keys(&ld->ctx, obj, path, keys);
    if (rc != CG_OK || (rc = parse_names(ld, obj, path, l, h)) != CG_OK ||
        (rc = parse_upstream_ref(ld, obj, path, &h->upstream, &h->upstream_index)) != CG_OK ||
        (rc = config_get_path(ld, obj, path, "policy", true, &h->policy)) != CG_OK ||
        (rc = config_parse_certificates(ld, obj, path, "certificates", false, &h->certificates,
                                        &h->num_certificates)) != CG_OK) {
        return rc;
    }
    return parse_paths(ld, obj, path, h);
}

int config_parse_hosts(struct config_loader *ld, const json_t *obj, const char *path,
                       struct config_listener *l)
{
    const json_t *arr;
    char p[CONFIG_PATH_LEN];
    int rc = config_get_array(ld, obj, path, "hosts", false,
                              "host objects {\"names\", \"upstream\", \"policy\"}", &arr);
    if (rc != CG_OK || arr == NULL) {
        return rc;
    }
    cg_json_path(p, sizeof(p), path, "hosts", 0);
    /* Allocated once: the lookup table points into it. */
    l->hosts = cg_xcalloc(json_array_size(arr) ? json_array_size(arr) : 1, sizeof(*l->hosts));
    for (size_t i = 0; i < json_array_size(arr); i++) {
        char hp[CONFIG_PATH_LEN];
        cg_json_path(hp, sizeof(hp), p, NULL, i);
        struct config_host *h = &l->hosts[l->num_hosts++];
        h->index = i;
        if ((rc = parse_host(ld, json_array_get(arr, i), hp, l, h)) != CG_OK) {
            return rc;
        }
    }
    struct config_host_names *t = &l->host_names;
    if (t->num_exact > 1) {
        qsort(t->exact, t->num_exact, sizeof(*t->exact), cmp_names);
    }
    if (t->num_wildcard > 1) {
        qsort(t->wildcard, t->num_wildcard, sizeof(*t->wildcard), cmp_names);
    }
    return CG_OK;
}

void config_hosts_cleanup(struct config_listener *l)
{
    for (size_t i = 0; i < l->num_hosts; i++) {
        struct config_host *h = &l->hosts[i];
        free(h->name);
        for (size_t k = 0; k < h->num_names; k++) {
            free(h->names[k]);
        }
        free(h->names);
        free(h->policy);
        config_certificates_free(h->certificates, h->num_certificates);
        for (size_t k = 0; k < h->num_paths; k++) {
            free(h->paths[k].prefix);
        }
        free(h->paths);
    }
    free(l->hosts);
    l->hosts = NULL;
    l->num_hosts = 0;
    free(l->host_names.exact);
    free(l->host_names.wildcard);
    l->host_names = (struct config_host_names){0};
}
