/* Loading certgate.json: the document, its top-level sections (workers, state_dir, log,
 * admin, limits, timeouts), the scalar keys of every section through the key table, and
 * freeing the result. Listeners and upstreams have files of their own. */
#include "config/config.h"

#include <ctype.h>
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/bug.h"
#include "common/mem.h"
#include "config/config_internal.h"

#define MAX_NAME_LEN 64
/* Keys of one JSON object: the table's and the section parser's own. */
#define MAX_OBJECT_KEYS 64

/* ---- small helpers ---------------------------------------------------------------- */

const json_t *config_member(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_null(v) ? NULL : v;
}

/* join_path returns |rel| if absolute, else |base|/|rel| without leading "./". */
static char *join_path(const char *base, const char *rel)
{
    if (rel[0] == '/') {
        return cg_xstrdup(rel);
    }
    while (rel[0] == '.' && rel[1] == '/') {
        rel += 2;
        while (rel[0] == '/') {
            rel++;
        }
    }
    if (rel[0] == '\0' || strcmp(rel, ".") == 0) {
        return cg_xstrdup(base);
    }
    size_t base_len = strlen(base);
    bool slash = base_len > 0 && base[base_len - 1] == '/';
    size_t len = base_len + (slash ? 0 : 1) + strlen(rel) + 1;
    char *out = cg_xmalloc(len);
    snprintf(out, len, "%s%s%s", base, slash ? "" : "/", rel);
    return out;
}

/* absolute_cwd returns the current directory joined with |p| (or |p| if absolute). */
static int absolute_cwd(const char *p, char **out, struct cg_errbuf *err)
{
    if (p[0] == '/') {
        *out = cg_xstrdup(p);
        return CG_OK;
    }
    char cwd[4096];
    if (getcwd(cwd, sizeof(cwd)) == NULL) {
        return cg_errf(err, CG_ERR_IO, "cannot get the current directory: %s", strerror(errno));
    }
    *out = join_path(cwd, p);
    return CG_OK;
}

int config_get_path(struct config_loader *ld, const json_t *obj, const char *path, const char *key,
                    bool required, char **out)
{
    const char *s = NULL;
    char p[CONFIG_PATH_LEN];
    int rc = cg_json_get_string(&ld->ctx, obj, path, key, &s);
    if (rc != CG_OK) {
        return rc;
    }
    if (s == NULL) {
        if (required) {
            return cg_json_fail(&ld->ctx, cg_json_path(p, sizeof(p), path, key, 0),
                                "required: a file path");
        }
        return CG_OK;
    }
    if (s[0] == '\0') {
        return cg_json_fail(&ld->ctx, cg_json_path(p, sizeof(p), path, key, 0),
                            "expected a non-empty file path");
    }
    *out = join_path(ld->base_dir, s);
    return CG_OK;
}

bool config_name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > MAX_NAME_LEN) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '.' && c != '_' && c != '-') {
            return false;
        }
    }
    return true;
}

int config_get_array(struct config_loader *ld, const json_t *obj, const char *path, const char *key,
                     bool required, const char *what, const json_t **out)
{
    char p[CONFIG_PATH_LEN];
    const json_t *v = config_member(obj, key);
    *out = NULL;
    if (v == NULL) {
        if (required) {
            return cg_json_fail(&ld->ctx, cg_json_path(p, sizeof(p), path, key, 0), "required: %s",
                                what);
        }
        return CG_OK;
    }
    if (!json_is_array(v)) {
        return cg_json_fail(&ld->ctx, cg_json_path(p, sizeof(p), path, key, 0),
                            "expected an array of %s", what);
    }
    if (required && json_array_size(v) == 0) {
        return cg_json_fail(&ld->ctx, cg_json_path(p, sizeof(p), path, key, 0),
                            "expected at least one of %s", what);
    }
    *out = v;
    return CG_OK;
}

int config_array_string(struct config_loader *ld, const json_t *arr, const char *path, size_t i,
                        const char **out)
{
    char p[CONFIG_PATH_LEN];
    const json_t *v = json_array_get(arr, i);
    if (!json_is_string(v) || json_string_length(v) == 0 ||
        strlen(json_string_value(v)) != json_string_length(v)) {
        return cg_json_fail(&ld->ctx, cg_json_path(p, sizeof(p), path, NULL, i),
                            "expected a non-empty string");
    }
    *out = json_string_value(v);
    return CG_OK;
}

/* ---- the key table ---------------------------------------------------------------- */

static bool in_object(const struct config_key *k, enum config_scope scope, const char *object)
{
    if (k->scope != scope) {
        return false;
    }
    if (k->object == NULL || object == NULL) {
        return k->object == object;
    }
    return strcmp(k->object, object) == 0;
}

int config_check_keys(struct config_loader *ld, enum config_scope scope, const char *object,
                      const json_t *obj, const char *path, const char *const *others)
{
    const char *allowed[MAX_OBJECT_KEYS + 1];
    size_t n = 0;
    for (size_t i = 0; i < config_num_keys; i++) {
        if (in_object(&config_keys[i], scope, object)) {
            CG_BUG_ON(n == MAX_OBJECT_KEYS);
            allowed[n++] = config_keys[i].name;
        }
    }
    for (; others != NULL && *others != NULL; others++) {
        CG_BUG_ON(n == MAX_OBJECT_KEYS);
        allowed[n++] = *others;
    }
    allowed[n] = NULL;
    return cg_json_check_keys(&ld->ctx, obj, path, allowed);
}

/* read_enum reads a string member that must name one of |k|'s choices. */
static int read_enum(struct config_loader *ld, const struct config_key *k, const json_t *obj,
                     const char *path, uint64_t *out)
{
    const char *s = NULL;
    int rc = cg_json_get_string(&ld->ctx, obj, path, k->name, &s);
    if (rc != CG_OK || s == NULL) {
        return rc;
    }
    for (const struct config_choice *c = k->choices; c->name != NULL; c++) {
        if (strcmp(s, c->name) == 0) {
            *out = c->value;
            return CG_OK;
        }
    }
    /* expected "a" (the default), "b" or "c" */
    char want[256];
    size_t len = 0;
    want[0] = '\0';
    for (const struct config_choice *c = k->choices; c->name != NULL; c++) {
        const char *sep = c == k->choices ? "" : c[1].name == NULL ? " or " : ", ";
        int w = snprintf(want + len, sizeof(want) - len, "%s\"%s\"%s", sep, c->name,
                         c->value == k->def ? " (the default)" : "");
        if (w < 0 || (size_t)w >= sizeof(want) - len) {
            break;
        }
        len += (size_t)w;
    }
    char p[CONFIG_PATH_LEN];
    return cg_json_fail(&ld->ctx, cg_json_path(p, sizeof(p), path, k->name, 0), "expected %s",
                        want);
}

/* read_key reads |k| from |obj| into |base| if present. */
static int read_key(struct config_loader *ld, const struct config_key *k, const json_t *obj,
                    const char *path, void *base)
{
    const struct cg_json_ctx *ctx = &ld->ctx;
    uint64_t v = config_key_get(k, base);
    bool b = v != 0;
    char p[CONFIG_PATH_LEN];
    char min[32];
    int rc = CG_OK;
    switch (k->type) {
    case CONFIG_KEY_COUNT:
        rc = cg_json_get_uint(ctx, obj, path, k->name, k->min, k->max, &v);
        break;
    case CONFIG_KEY_SIZE:
        rc = cg_json_get_size(ctx, obj, path, k->name, k->min, k->max, &v);
        break;
    case CONFIG_KEY_DURATION:
        rc = cg_json_get_duration_ms(ctx, obj, path, k->name, k->max, &v);
        if (rc == CG_OK && v < k->min) {
            return cg_json_fail(ctx, cg_json_path(p, sizeof(p), path, k->name, 0),
                                "must be at least %s",
                                config_key_format(k, k->min, min, sizeof(min)));
        }
        break;
    case CONFIG_KEY_BOOL:
        rc = cg_json_get_bool(ctx, obj, path, k->name, &b);
        v = b;
        break;
    case CONFIG_KEY_ENUM:
        rc = read_enum(ld, k, obj, path, &v);
        break;
    }
    if (rc != CG_OK) {
        return rc;
    }
    config_key_set(k, base, v);
    return CG_OK;
}

int config_read_keys(struct config_loader *ld, enum config_scope scope, const char *object,
                     const json_t *obj, const char *path, void *base)
{
    for (size_t i = 0; i < config_num_keys; i++) {
        if (in_object(&config_keys[i], scope, object)) {
            int rc = read_key(ld, &config_keys[i], obj, path, base);
            if (rc != CG_OK) {
                return rc;
            }
        }
    }
    return CG_OK;
}

/* read_section checks and reads the optional top-level object |name|, which holds only
 * keys of the table. */
static int read_section(struct config_loader *ld, const json_t *root, const char *name)
{
    char path[CONFIG_PATH_LEN];
    const json_t *obj = config_member(root, name);
    if (obj == NULL) {
        return CG_OK;
    }
    cg_json_path(path, sizeof(path), "$", name, 0);
    int rc = config_check_keys(ld, CONFIG_SCOPE_ROOT, name, obj, path, NULL);
    if (rc != CG_OK) {
        return rc;
    }
    return config_read_keys(ld, CONFIG_SCOPE_ROOT, name, obj, path, ld->cfg);
}

/* ---- top-level sections ----------------------------------------------------------- */

static int parse_log(struct config_loader *ld, const json_t *root)
{
    static const char *const keys[] = {"access_log", NULL};
    const json_t *log = config_member(root, "log");
    const char *path = "$.log";
    if (log == NULL) {
        return CG_OK;
    }
    int rc = config_check_keys(ld, CONFIG_SCOPE_ROOT, "log", log, path, keys);
    if (rc != CG_OK ||
        (rc = config_read_keys(ld, CONFIG_SCOPE_ROOT, "log", log, path, ld->cfg)) != CG_OK) {
        return rc;
    }
    const char *access = NULL;
    rc = cg_json_get_string(&ld->ctx, log, path, "access_log", &access);
    if (rc != CG_OK) {
        return rc;
    }
    if (access != NULL && strcmp(access, "-") == 0) {
        ld->cfg->log.access_log = cg_xstrdup("-");
        return CG_OK;
    }
    return config_get_path(ld, log, path, "access_log", false, &ld->cfg->log.access_log);
}

static int count_cores(void)
{
    cpu_set_t set;
    /* The affinity mask, not the machine, is what this process may use (taskset,
     * cpusets in containers). */
    if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0) {
        return CPU_COUNT(&set);
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)(n > INT32_MAX ? INT32_MAX : n) : 1;
}

/* resolve_workers turns "workers": 0 (read with the top-level keys) into the number of
 * CPUs this process may run on. */
static void resolve_workers(struct config *cfg)
{
    if (cfg->workers == 0) {
        int cores = count_cores();
        cfg->workers_auto = true;
        cfg->workers = cores > CONFIG_MAX_WORKERS ? CONFIG_MAX_WORKERS : (unsigned)cores;
    }
}

static int parse_limits(struct config_loader *ld, const json_t *root)
{
    const struct config_limits *lim = &ld->cfg->limits;
    int rc = read_section(ld, root, "limits");
    if (rc != CG_OK) {
        return rc;
    }
    if (lim->max_request_line > lim->max_header_bytes) {
        return cg_json_fail(&ld->ctx, "$.limits.max_request_line",
                            "must not exceed max_header_bytes (%zu)", lim->max_header_bytes);
    }
    return CG_OK;
}

static int parse_admin(struct config_loader *ld, const json_t *root)
{
    static const char *const keys[] = {"listen", "listener", "host", NULL};
    const json_t *obj = config_member(root, "admin");
    if (obj == NULL) {
        return CG_OK;
    }
    int rc = config_check_keys(ld, CONFIG_SCOPE_ROOT, "admin", obj, "$.admin", keys);
    if (rc != CG_OK ||
        (rc = config_read_keys(ld, CONFIG_SCOPE_ROOT, "admin", obj, "$.admin", ld->cfg)) != CG_OK) {
        return rc;
    }
    const char *listen = NULL, *listener = NULL, *host = NULL;
    if ((rc = cg_json_get_string(&ld->ctx, obj, "$.admin", "listen", &listen)) != CG_OK ||
        (rc = cg_json_get_string(&ld->ctx, obj, "$.admin", "listener", &listener)) != CG_OK ||
        (rc = cg_json_get_string(&ld->ctx, obj, "$.admin", "host", &host)) != CG_OK) {
        return rc;
    }
    if (listener != NULL) {
        size_t i = 0;
        while (i < ld->cfg->num_listeners && strcmp(ld->cfg->listeners[i].name, listener) != 0) {
            i++;
        }
        if (i == ld->cfg->num_listeners) {
            return cg_json_fail(&ld->ctx, "$.admin.listener", "no listener is named \"%s\"",
                                listener);
        }
        ld->cfg->admin.listener_index = i;
    }
    if (host != NULL) {
        const struct config_listener *l = &ld->cfg->listeners[ld->cfg->admin.listener_index];
        ld->cfg->admin.host = config_host_names_find(&l->host_names, cg_str_from_cstr(host));
        if (ld->cfg->admin.host == NULL) {
            return cg_json_fail(&ld->ctx, "$.admin.host",
                                "no host entry of listener \"%s\" has the name \"%s\"", l->name,
                                host);
        }
    }
    if (listen == NULL) {
        return CG_OK;
    }
    struct config_address a[2] = {{0}};
    if (config_address_parse(listen, false, a) != 1) {
        return cg_json_fail(&ld->ctx, "$.admin.listen",
                            "expected \"IPv4:port\" or \"[IPv6]:port\" (numeric, port "
                            "1-65535), got \"%s\"",
                            listen);
    }
    if ((rc = config_address_check_overlap(ld, "$.admin.listen", &a[0])) != CG_OK) {
        config_address_cleanup(&a[0]);
        return rc;
    }
    ld->cfg->admin.enabled = true;
    ld->cfg->admin.address = a[0];
    return CG_OK;
}

/* parse_status reads "status": {"listen": address}, an address no listener and not the
 * admin API uses. */
static int parse_status(struct config_loader *ld, const json_t *root)
{
    static const char *const keys[] = {"listen", NULL};
    const json_t *obj = config_member(root, "status");
    if (obj == NULL) {
        return CG_OK;
    }
    int rc = config_check_keys(ld, CONFIG_SCOPE_ROOT, "status", obj, "$.status", keys);
    const char *listen = NULL;
    if (rc != CG_OK ||
        (rc = cg_json_get_string(&ld->ctx, obj, "$.status", "listen", &listen)) != CG_OK) {
        return rc;
    }
    if (listen == NULL) {
        return CG_OK;
    }
    struct config_address a[2] = {{0}};
    if (config_address_parse(listen, false, a) != 1) {
        return cg_json_fail(&ld->ctx, "$.status.listen",
                            "expected \"IPv4:port\" or \"[IPv6]:port\" (numeric, port "
                            "1-65535), got \"%s\"",
                            listen);
    }
    if ((rc = config_address_check_overlap(ld, "$.status.listen", &a[0])) != CG_OK) {
        config_address_cleanup(&a[0]);
        return rc;
    }
    const struct config_admin *admin = &ld->cfg->admin;
    if (admin->enabled && admin->address.addr_len == a[0].addr_len &&
        memcmp(&admin->address.addr, &a[0].addr, a[0].addr_len) == 0) {
        config_address_cleanup(&a[0]);
        return cg_json_fail(&ld->ctx, "$.status.listen", "address \"%s\" is the admin API's",
                            listen);
    }
    ld->cfg->status.enabled = true;
    ld->cfg->status.address = a[0];
    return CG_OK;
}

static int parse_root(struct config_loader *ld, const json_t *root)
{
    static const char *const keys[] = {"state_dir", "log",      "listeners", "upstreams",
                                       "resolvers", "admin",    "status",    "limits",
                                       "timeouts",  NULL};
    int rc = config_check_keys(ld, CONFIG_SCOPE_ROOT, NULL, root, "$", keys);
    if (rc != CG_OK) {
        return rc;
    }
    /* Upstreams before listeners, which refer to them by name. */
    if ((rc = config_read_keys(ld, CONFIG_SCOPE_ROOT, NULL, root, "$", ld->cfg)) != CG_OK ||
        (rc = config_get_path(ld, root, "$", "state_dir", false, &ld->cfg->state_dir)) != CG_OK ||
        (rc = parse_log(ld, root)) != CG_OK || (rc = config_parse_upstreams(ld, root)) != CG_OK ||
        (rc = config_parse_resolvers(ld, root)) != CG_OK ||
        (rc = config_parse_listeners(ld, root)) != CG_OK || (rc = parse_admin(ld, root)) != CG_OK ||
        (rc = parse_status(ld, root)) != CG_OK ||
        (rc = parse_limits(ld, root)) != CG_OK ||
        (rc = read_section(ld, root, "timeouts")) != CG_OK) {
        return rc;
    }
    resolve_workers(ld->cfg);
    return CG_OK;
}

/* load parses |root| into a new config; |source| becomes config->source. */
static int load(const char *name, const char *source, const char *base_dir, json_t *root,
                struct config **out, struct cg_errbuf *err)
{
    struct config *cfg = cg_xcalloc(1, sizeof(*cfg));
    config_keys_set_defaults(CONFIG_SCOPE_ROOT, cfg);
    cfg->source = cg_xstrdup(source);
    struct config_loader ld = {
        .ctx = {.file = name, .err = err},
        .base_dir = base_dir,
        .cfg = cfg,
    };
    int rc = parse_root(&ld, root);
    if (rc != CG_OK) {
        config_free(cfg);
        return rc;
    }
    *out = cfg;
    return CG_OK;
}

/* ---- public ----------------------------------------------------------------------- */

int config_load_string(const char *name, const char *json, size_t len, const char *base_dir,
                       struct config **out, struct cg_errbuf *err)
{
    json_t *root = NULL;
    char *base = NULL;
    if (name == NULL) {
        name = "<input>";
    }
    int rc = absolute_cwd(base_dir != NULL ? base_dir : ".", &base, err);
    if (rc != CG_OK) {
        return rc;
    }
    rc = cg_json_load_str(name, json, len, &root, err);
    if (rc == CG_OK) {
        rc = load(name, name, base, root, out, err);
    }
    json_decref(root);
    free(base);
    return rc;
}

int config_load_file(const char *path, struct config **out, struct cg_errbuf *err)
{
    json_t *root = NULL;
    char *abs = NULL;
    int rc = cg_json_load_file(path, &root, err);
    if (rc != CG_OK) {
        return rc;
    }
    rc = absolute_cwd(path, &abs, err);
    if (rc == CG_OK) {
        /* Relative paths start at the file's directory. */
        char *base = cg_xstrdup(abs);
        char *slash = strrchr(base, '/');
        if (slash == base) {
            slash[1] = '\0';
        } else {
            *slash = '\0';
        }
        rc = load(path, abs, base, root, out, err);
        free(base);
    }
    free(abs);
    json_decref(root);
    return rc;
}

void config_free(struct config *cfg)
{
    if (cfg == NULL) {
        return;
    }
    for (size_t i = 0; i < cfg->num_listeners; i++) {
        config_listener_cleanup(&cfg->listeners[i]);
    }
    free(cfg->listeners);
    for (size_t i = 0; i < cfg->num_upstreams; i++) {
        config_upstream_cleanup(&cfg->upstreams[i]);
    }
    free(cfg->upstreams);
    for (size_t i = 0; i < cfg->num_resolvers; i++) {
        config_address_cleanup(&cfg->resolvers[i]);
    }
    free(cfg->resolvers);
    config_address_cleanup(&cfg->admin.address);
    config_address_cleanup(&cfg->status.address);
    free(cfg->log.access_log);
    free(cfg->state_dir);
    free(cfg->source);
    free(cfg);
}
