#include "config/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/hostname.h"
#include "common/json.h"
#include "common/mem.h"
#include "common/sockaddr.h"
#include "policy/ipset.h"

#define PATH_LEN 256
#define MAX_NAME_LEN 64
#define MAX_TIMEOUT_MS (24ull * 3600 * 1000)

/* struct loader is the state of one load: the document, where relative paths start,
 * and the config being filled. */
struct loader {
    struct cg_json_ctx ctx;
    const char *base_dir; /* absolute, no trailing slash unless "/" */
    struct config *cfg;
};

/* ---- defaults --------------------------------------------------------------------- */

static void set_defaults(struct config *cfg)
{
    cfg->log.level = CG_LOG_INFO;
    cfg->limits = (struct config_limits){
        .max_connections = 10000,
        .max_request_line = 8 * 1024,
        .max_header_bytes = 16 * 1024,
        .max_headers = 100,
        .max_body = 0,
        .buffer_high_water = 256 * 1024,
        .h2_max_concurrent_streams = 100,
        .h2_max_header_list = 64 * 1024,
        .h2_max_continuations = 8,
        .h2_reset_burst = 1000,
        .h2_reset_rate = 33,
        .h2_max_no_progress_frames = 1000,
        .upstream_pool_max_idle = 128,
    };
    cfg->timeouts = (struct config_timeouts){
        .tls_handshake = 10000,
        .request_header = 10000,
        .client_body_idle = 30000,
        .keepalive_idle = 60000,
        .upstream_connect = 5000,
        .upstream_response = 60000,
        .upstream_idle = 60000,
        .upstream_down = 10000,
        .drain = 30000,
        .h2_idle = 300000,
    };
}

/* ---- small helpers ---------------------------------------------------------------- */

static const json_t *member(const json_t *obj, const char *key)
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

/* get_path reads an optional string member naming a file and stores it resolved
 * against the config directory (|*out| stays NULL when absent or null). */
static int get_path(struct loader *ld, const json_t *obj, const char *path, const char *key,
                    bool required, char **out)
{
    const char *s = NULL;
    char p[PATH_LEN];
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

/* valid_name accepts 1..64 characters of [A-Za-z0-9._-]: names show up in logs,
 * metrics labels and JSON paths. */
static bool valid_name(const char *s)
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

/* get_array returns member |key| of |obj| as an array (NULL when absent or null). */
static int get_array(struct loader *ld, const json_t *obj, const char *path, const char *key,
                     bool required, const char *what, const json_t **out)
{
    char p[PATH_LEN];
    const json_t *v = member(obj, key);
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

/* array_string returns element |i| of |arr| if it is a non-empty string. */
static int array_string(struct loader *ld, const json_t *arr, const char *path, size_t i,
                        const char **out)
{
    char p[PATH_LEN];
    const json_t *v = json_array_get(arr, i);
    if (!json_is_string(v) || json_string_length(v) == 0 ||
        strlen(json_string_value(v)) != json_string_length(v)) {
        return cg_json_fail(&ld->ctx, cg_json_path(p, sizeof(p), path, NULL, i),
                            "expected a non-empty string");
    }
    *out = json_string_value(v);
    return CG_OK;
}

/* ---- addresses -------------------------------------------------------------------- */

static bool parse_port(const char *s, uint16_t *out)
{
    unsigned long n = 0;
    if (*s == '\0' || strlen(s) > 5) {
        return false;
    }
    for (; *s != '\0'; s++) {
        if (!isdigit((unsigned char)*s)) {
            return false;
        }
        n = n * 10 + (unsigned long)(*s - '0');
    }
    if (n == 0 || n > 65535) {
        return false;
    }
    *out = (uint16_t)n;
    return true;
}

static void set_sockaddr(struct config_address *a, int family, const void *ip, uint16_t port)
{
    memset(&a->addr, 0, sizeof(a->addr));
    if (family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&a->addr;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        memcpy(&sin->sin_addr, ip, sizeof(sin->sin_addr));
        a->addr_len = sizeof(*sin);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a->addr;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        memcpy(&sin6->sin6_addr, ip, sizeof(sin6->sin6_addr));
        a->addr_len = sizeof(*sin6);
    }
}

/* parse_address parses "a.b.c.d:port", "[v6]:port" and, with |wildcard|, "*:port"
 * into one or two addresses (|out| has room for two). It returns the number stored,
 * or 0 if |s| is not such an address. */
static size_t parse_address(const char *s, bool wildcard, struct config_address *out)
{
    const char *colon = strrchr(s, ':');
    uint16_t port;
    if (colon == NULL || !parse_port(colon + 1, &port)) {
        return 0;
    }
    size_t host_len = (size_t)(colon - s);
    char host[INET6_ADDRSTRLEN + 2];
    if (host_len + 1 > sizeof(host)) {
        return 0;
    }
    memcpy(host, s, host_len);
    host[host_len] = '\0';

    if (wildcard && strcmp(host, "*") == 0) {
        struct in_addr any4 = {.s_addr = htonl(INADDR_ANY)};
        set_sockaddr(&out[0], AF_INET, &any4, port);
        set_sockaddr(&out[1], AF_INET6, &in6addr_any, port);
        out[0].text = cg_xstrdup(s);
        out[1].text = cg_xstrdup(s);
        return 2;
    }
    if (host[0] == '[') {
        struct in6_addr a6;
        if (host_len < 3 || host[host_len - 1] != ']') {
            return 0;
        }
        host[host_len - 1] = '\0';
        if (inet_pton(AF_INET6, host + 1, &a6) != 1) {
            return 0;
        }
        set_sockaddr(&out[0], AF_INET6, &a6, port);
    } else {
        struct in_addr a4;
        if (inet_pton(AF_INET, host, &a4) != 1) {
            return 0;
        }
        set_sockaddr(&out[0], AF_INET, &a4, port);
    }
    out[0].text = cg_xstrdup(s);
    return 1;
}

static bool is_unspecified(const struct config_address *a)
{
    if (a->addr.ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)&a->addr;
        return sin->sin_addr.s_addr == htonl(INADDR_ANY);
    }
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&a->addr;
    return IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr);
}

/* overlaps reports whether binding both |a| and |b| would take the same connections:
 * same family and port, and the same address or either one a wildcard (with
 * SO_REUSEPORT the kernel would accept both binds and split traffic silently). */
static bool overlaps(const struct config_address *a, const struct config_address *b)
{
    if (a->addr.ss_family != b->addr.ss_family ||
        cg_sockaddr_port((const struct sockaddr *)&a->addr) !=
            cg_sockaddr_port((const struct sockaddr *)&b->addr)) {
        return false;
    }
    if (is_unspecified(a) || is_unspecified(b)) {
        return true;
    }
    if (a->addr.ss_family == AF_INET) {
        return ((const struct sockaddr_in *)&a->addr)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)&b->addr)->sin_addr.s_addr;
    }
    return memcmp(&((const struct sockaddr_in6 *)&a->addr)->sin6_addr,
                  &((const struct sockaddr_in6 *)&b->addr)->sin6_addr,
                  sizeof(struct in6_addr)) == 0;
}

/* check_overlap fails if |a| overlaps an address already taken by a listener (the
 * listeners parsed so far, including the one being parsed). */
static int check_overlap(struct loader *ld, const char *path, const struct config_address *a)
{
    const struct config *cfg = ld->cfg;
    for (size_t i = 0; i < cfg->num_listeners; i++) {
        const struct config_listener *l = &cfg->listeners[i];
        for (size_t j = 0; j < l->num_addresses; j++) {
            if (overlaps(a, &l->addresses[j])) {
                return cg_json_fail(&ld->ctx, path,
                                    "address \"%s\" overlaps \"%s\" of listener \"%s\"", a->text,
                                    l->addresses[j].text, l->name ? l->name : "");
            }
        }
    }
    return CG_OK;
}

static void address_cleanup(struct config_address *a)
{
    free(a->text);
    a->text = NULL;
}

/* ---- top-level sections ----------------------------------------------------------- */

static int parse_log(struct loader *ld, const json_t *root)
{
    static const char *const keys[] = {"level", "access_log", NULL};
    const json_t *log = member(root, "log");
    const char *path = "$.log";
    if (log == NULL) {
        return CG_OK;
    }
    int rc = cg_json_check_keys(&ld->ctx, log, path, keys);
    if (rc != CG_OK) {
        return rc;
    }
    const char *level = NULL;
    rc = cg_json_get_string(&ld->ctx, log, path, "level", &level);
    if (rc != CG_OK) {
        return rc;
    }
    if (level != NULL) {
        if (cg_log_level_parse(level, &ld->cfg->log.level) != CG_OK) {
            return cg_json_fail(&ld->ctx, "$.log.level",
                                "expected \"error\", \"warn\", \"info\" or \"debug\"");
        }
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
    return get_path(ld, log, path, "access_log", false, &ld->cfg->log.access_log);
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

static int parse_workers(struct loader *ld, const json_t *root)
{
    uint64_t workers = 0;
    int rc = cg_json_get_uint(&ld->ctx, root, "$", "workers", 0, CONFIG_MAX_WORKERS, &workers);
    if (rc != CG_OK) {
        return rc;
    }
    if (workers == 0) {
        int cores = count_cores();
        ld->cfg->workers_auto = true;
        ld->cfg->workers = cores > CONFIG_MAX_WORKERS ? CONFIG_MAX_WORKERS : (unsigned)cores;
    } else {
        ld->cfg->workers = (unsigned)workers;
    }
    return CG_OK;
}

static int parse_limits(struct loader *ld, const json_t *root)
{
    static const char *const keys[] = {"max_connections",
                                       "max_request_line",
                                       "max_header_bytes",
                                       "max_headers",
                                       "max_body",
                                       "buffer_high_water",
                                       "h2_max_concurrent_streams",
                                       "h2_max_header_list",
                                       "h2_max_continuations",
                                       "h2_reset_burst",
                                       "h2_reset_rate",
                                       "h2_max_no_progress_frames",
                                       "upstream_pool_max_idle",
                                       NULL};
    const json_t *obj = member(root, "limits");
    const char *path = "$.limits";
    struct config_limits *lim = &ld->cfg->limits;
    const struct cg_json_ctx *ctx = &ld->ctx;
    if (obj == NULL) {
        return CG_OK;
    }
    int rc = cg_json_check_keys(ctx, obj, path, keys);
    if (rc != CG_OK) {
        return rc;
    }
    uint64_t v;
#define GET_UINT(field, min, max)                                                                  \
    do {                                                                                           \
        v = lim->field;                                                                            \
        rc = cg_json_get_uint(ctx, obj, path, #field, (min), (max), &v);                           \
        if (rc != CG_OK) {                                                                         \
            return rc;                                                                             \
        }                                                                                          \
        lim->field = v;                                                                            \
    } while (0)
#define GET_SIZE(field, min, max)                                                                  \
    do {                                                                                           \
        v = lim->field;                                                                            \
        rc = cg_json_get_size(ctx, obj, path, #field, (min), (max), &v);                           \
        if (rc != CG_OK) {                                                                         \
            return rc;                                                                             \
        }                                                                                          \
        lim->field = v;                                                                            \
    } while (0)
    GET_UINT(max_connections, 1, 1000000);
    GET_SIZE(max_request_line, 256, 1024 * 1024);
    GET_SIZE(max_header_bytes, 1024, 1024 * 1024);
    GET_UINT(max_headers, 1, 10000);
    GET_SIZE(max_body, 0, INT64_MAX);
    GET_SIZE(buffer_high_water, 4096, 64 * 1024 * 1024);
    GET_UINT(h2_max_concurrent_streams, 1, 10000);
    GET_SIZE(h2_max_header_list, 1024, 1024 * 1024);
    GET_UINT(h2_max_continuations, 0, 1000);
    GET_UINT(h2_reset_burst, 1, 1000000);
    GET_UINT(h2_reset_rate, 1, 1000000);
    GET_UINT(h2_max_no_progress_frames, 1, 100000);
    GET_UINT(upstream_pool_max_idle, 0, 10000);
#undef GET_UINT
#undef GET_SIZE
    if (lim->max_request_line > lim->max_header_bytes) {
        return cg_json_fail(ctx, "$.limits.max_request_line",
                            "must not exceed max_header_bytes (%zu)", lim->max_header_bytes);
    }
    return CG_OK;
}

static int parse_timeouts(struct loader *ld, const json_t *root)
{
    static const char *const keys[] = {"tls_handshake",
                                       "request_header",
                                       "client_body_idle",
                                       "keepalive_idle",
                                       "upstream_connect",
                                       "upstream_response",
                                       "upstream_idle",
                                       "upstream_down",
                                       "drain",
                                       "h2_idle",
                                       NULL};
    const json_t *obj = member(root, "timeouts");
    const char *path = "$.timeouts";
    struct config_timeouts *t = &ld->cfg->timeouts;
    const struct cg_json_ctx *ctx = &ld->ctx;
    if (obj == NULL) {
        return CG_OK;
    }
    int rc = cg_json_check_keys(ctx, obj, path, keys);
    if (rc != CG_OK) {
        return rc;
    }
    /* Every timeout but drain must be positive: 0 would expire everything at once. */
#define GET_MS(field, positive)                                                                    \
    do {                                                                                           \
        rc = cg_json_get_duration_ms(ctx, obj, path, #field, MAX_TIMEOUT_MS, &t->field);           \
        if (rc != CG_OK) {                                                                         \
            return rc;                                                                             \
        }                                                                                          \
        if ((positive) && t->field == 0) {                                                         \
            return cg_json_fail(ctx, "$.timeouts." #field, "must be at least 1ms");                \
        }                                                                                          \
    } while (0)
    GET_MS(tls_handshake, true);
    GET_MS(request_header, true);
    GET_MS(client_body_idle, true);
    GET_MS(keepalive_idle, true);
    GET_MS(upstream_connect, true);
    GET_MS(upstream_response, true);
    GET_MS(upstream_idle, true);
    GET_MS(upstream_down, true);
    GET_MS(drain, false);
    GET_MS(h2_idle, true);
#undef GET_MS
    return CG_OK;
}

/* ---- upstreams -------------------------------------------------------------------- */

static int parse_upstream_tls(struct loader *ld, const json_t *obj, const char *path,
                              struct config_upstream *up)
{
    static const char *const keys[] = {"ca", "cert", "key", "sni", NULL};
    char p[PATH_LEN];
    int rc = cg_json_check_keys(&ld->ctx, obj, path, keys);
    if (rc != CG_OK) {
        return rc;
    }
    up->tls.enabled = true;
    if ((rc = get_path(ld, obj, path, "ca", true, &up->tls.ca)) != CG_OK ||
        (rc = get_path(ld, obj, path, "cert", false, &up->tls.cert)) != CG_OK ||
        (rc = get_path(ld, obj, path, "key", false, &up->tls.key)) != CG_OK) {
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
    return CG_OK;
}

static int parse_upstream(struct loader *ld, const char *name, const json_t *obj,
                          struct config_upstream *up)
{
    static const char *const keys[] = {"servers", "protocol", "tls", NULL};
    char path[PATH_LEN];
    char p[PATH_LEN];
    cg_json_path(path, sizeof(path), "$.upstreams", name, 0);
    up->name = cg_xstrdup(name);
    int rc = cg_json_check_keys(&ld->ctx, obj, path, keys);
    if (rc != CG_OK) {
        return rc;
    }

    const json_t *servers;
    rc = get_array(ld, obj, path, "servers", true, "\"host:port\" addresses", &servers);
    if (rc != CG_OK) {
        return rc;
    }
    cg_json_path(p, sizeof(p), path, "servers", 0);
    up->servers = cg_xcalloc(json_array_size(servers), sizeof(*up->servers));
    for (size_t i = 0; i < json_array_size(servers); i++) {
        char sp[PATH_LEN];
        const char *s;
        struct config_address a[2] = {{0}};
        if ((rc = array_string(ld, servers, p, i, &s)) != CG_OK) {
            return rc;
        }
        cg_json_path(sp, sizeof(sp), p, NULL, i);
        if (parse_address(s, false, a) != 1 || is_unspecified(&a[0])) {
            address_cleanup(&a[0]);
            return cg_json_fail(&ld->ctx, sp,
                                "expected \"IPv4:port\" or \"[IPv6]:port\" (numeric, port "
                                "1-65535), got \"%s\"",
                                s);
        }
        up->servers[up->num_servers++] = a[0];
    }

    const char *protocol = NULL;
    rc = cg_json_get_string(&ld->ctx, obj, path, "protocol", &protocol);
    if (rc != CG_OK) {
        return rc;
    }
    if (protocol == NULL || strcmp(protocol, "http/1.1") == 0) {
        up->protocol = CONFIG_UPSTREAM_HTTP11;
    } else if (strcmp(protocol, "h2c") == 0) {
        up->protocol = CONFIG_UPSTREAM_H2C;
    } else if (strcmp(protocol, "h2") == 0) {
        up->protocol = CONFIG_UPSTREAM_H2;
    } else {
        return cg_json_fail(&ld->ctx, cg_json_path(p, sizeof(p), path, "protocol", 0),
                            "expected \"http/1.1\", \"h2c\" or \"h2\"");
    }

    const json_t *tls = member(obj, "tls");
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

static int parse_upstreams(struct loader *ld, const json_t *root)
{
    const json_t *obj = member(root, "upstreams");
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
        if (!valid_name(name)) {
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

/* ---- listeners -------------------------------------------------------------------- */

static int parse_certificate(struct loader *ld, const json_t *obj, const char *path,
                             struct config_certificate *c)
{
    static const char *const keys[] = {"cert", "key", "ocsp", NULL};
    int rc = cg_json_check_keys(&ld->ctx, obj, path, keys);
    if (rc != CG_OK) {
        return rc;
    }
    if ((rc = get_path(ld, obj, path, "cert", true, &c->cert)) != CG_OK ||
        (rc = get_path(ld, obj, path, "key", true, &c->key)) != CG_OK ||
        (rc = get_path(ld, obj, path, "ocsp", false, &c->ocsp)) != CG_OK) {
        return rc;
    }
    return CG_OK;
}

static int parse_listener_tls(struct loader *ld, const json_t *obj, const char *path,
                              struct config_listener_tls *tls)
{
    static const char *const keys[] = {"certificates", "min_version",     "client_ca", "crl",
                                       "strict_sni",   "session_tickets", NULL};
    char p[PATH_LEN];
    int rc;
    if (obj == NULL) {
        return cg_json_fail(&ld->ctx, path, "required: an object with \"certificates\"");
    }
    if ((rc = cg_json_check_keys(&ld->ctx, obj, path, keys)) != CG_OK) {
        return rc;
    }
    const json_t *certs;
    rc = get_array(ld, obj, path, "certificates", true, "{\"cert\": FILE, \"key\": FILE} objects",
                   &certs);
    if (rc != CG_OK) {
        return rc;
    }
    cg_json_path(p, sizeof(p), path, "certificates", 0);
    tls->certificates = cg_xcalloc(json_array_size(certs), sizeof(*tls->certificates));
    for (size_t i = 0; i < json_array_size(certs); i++) {
        char cp[PATH_LEN];
        cg_json_path(cp, sizeof(cp), p, NULL, i);
        struct config_certificate *c = &tls->certificates[tls->num_certificates++];
        if ((rc = parse_certificate(ld, json_array_get(certs, i), cp, c)) != CG_OK) {
            return rc;
        }
    }

    const char *minv = NULL;
    if ((rc = cg_json_get_string(&ld->ctx, obj, path, "min_version", &minv)) != CG_OK) {
        return rc;
    }
    tls->min_version = CONFIG_TLS_1_2;
    if (minv != NULL) {
        if (strcmp(minv, "1.2") == 0) {
            tls->min_version = CONFIG_TLS_1_2;
        } else if (strcmp(minv, "1.3") == 0) {
            tls->min_version = CONFIG_TLS_1_3;
        } else {
            return cg_json_fail(&ld->ctx, cg_json_path(p, sizeof(p), path, "min_version", 0),
                                "expected \"1.2\" or \"1.3\"");
        }
    }

    if ((rc = get_path(ld, obj, path, "client_ca", false, &tls->client_ca)) != CG_OK ||
        (rc = get_path(ld, obj, path, "crl", false, &tls->crl)) != CG_OK) {
        return rc;
    }
    if (tls->crl != NULL && tls->client_ca == NULL) {
        return cg_json_fail(&ld->ctx, cg_json_path(p, sizeof(p), path, "crl", 0),
                            "requires client_ca (a CRL is checked against the client CA)");
    }
    tls->strict_sni = false;
    tls->session_tickets = true;
    if ((rc = cg_json_get_bool(&ld->ctx, obj, path, "strict_sni", &tls->strict_sni)) != CG_OK ||
        (rc = cg_json_get_bool(&ld->ctx, obj, path, "session_tickets", &tls->session_tickets)) !=
            CG_OK) {
        return rc;
    }
    return CG_OK;
}

static int parse_alpn(struct loader *ld, const json_t *obj, const char *path, unsigned *out)
{
    const json_t *arr;
    char p[PATH_LEN];
    int rc = get_array(ld, obj, path, "alpn", false, "\"h2\" / \"http/1.1\"", &arr);
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
        char ep[PATH_LEN];
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

static int parse_proxy_protocol(struct loader *ld, const json_t *obj, const char *path,
                                struct config_proxy_protocol *pp)
{
    static const char *const keys[] = {"from", NULL};
    const json_t *v = member(obj, "proxy_protocol");
    char p[PATH_LEN];
    char fp[PATH_LEN];
    if (v == NULL) {
        return CG_OK;
    }
    cg_json_path(p, sizeof(p), path, "proxy_protocol", 0);
    int rc = cg_json_check_keys(&ld->ctx, v, p, keys);
    if (rc != CG_OK) {
        return rc;
    }
    const json_t *from;
    rc = get_array(ld, v, p, "from", true, "CIDR strings (\"10.0.0.0/8\")", &from);
    if (rc != CG_OK) {
        return rc;
    }
    cg_json_path(fp, sizeof(fp), p, "from", 0);
    pp->from = cg_xcalloc(json_array_size(from), sizeof(*pp->from));
    for (size_t i = 0; i < json_array_size(from); i++) {
        const char *s;
        char ep[PATH_LEN];
        if ((rc = array_string(ld, from, fp, i, &s)) != CG_OK) {
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

/* get_choice reads an optional string member that must be |off| (the default, false)
 * or |on| (true). */
static int get_choice(struct loader *ld, const json_t *obj, const char *path, const char *key,
                      const char *off, const char *on, bool *out)
{
    const char *s = NULL;
    char p[PATH_LEN];
    int rc = cg_json_get_string(&ld->ctx, obj, path, key, &s);
    if (rc != CG_OK) {
        return rc;
    }
    *out = false;
    if (s == NULL || strcmp(s, off) == 0) {
        return CG_OK;
    }
    if (strcmp(s, on) == 0) {
        *out = true;
        return CG_OK;
    }
    return cg_json_fail(&ld->ctx, cg_json_path(p, sizeof(p), path, key, 0),
                        "expected \"%s\" (the default) or \"%s\"", off, on);
}

/* parse_requests reads the request-head options of a listener. */
static int parse_requests(struct loader *ld, const json_t *obj, const char *path,
                          struct config_listener_requests *r)
{
    int rc;
    if ((rc = get_choice(ld, obj, path, "underscores_in_headers", "drop", "keep",
                         &r->keep_underscore_headers)) != CG_OK ||
        (rc = get_choice(ld, obj, path, "path_semicolons", "reject", "allow",
                         &r->allow_path_semicolons)) != CG_OK ||
        (rc = get_choice(ld, obj, path, "path_encoded_percent", "reject", "allow",
                         &r->allow_path_encoded_percent)) != CG_OK) {
        return rc;
    }
    return CG_OK;
}

static int parse_listen(struct loader *ld, const json_t *obj, const char *path,
                        struct config_listener *l)
{
    const json_t *arr;
    char p[PATH_LEN];
    int rc = get_array(ld, obj, path, "listen", true, "\"host:port\" addresses", &arr);
    if (rc != CG_OK) {
        return rc;
    }
    cg_json_path(p, sizeof(p), path, "listen", 0);
    /* "*:port" becomes two addresses. */
    l->addresses = cg_xcalloc(2 * json_array_size(arr), sizeof(*l->addresses));
    for (size_t i = 0; i < json_array_size(arr); i++) {
        const char *s;
        char ep[PATH_LEN];
        struct config_address a[2] = {{0}};
        if ((rc = array_string(ld, arr, p, i, &s)) != CG_OK) {
            return rc;
        }
        cg_json_path(ep, sizeof(ep), p, NULL, i);
        size_t n = parse_address(s, true, a);
        if (n == 0) {
            return cg_json_fail(&ld->ctx, ep,
                                "expected \"IPv4:port\", \"[IPv6]:port\" or \"*:port\" "
                                "(numeric, port 1-65535), got \"%s\"",
                                s);
        }
        for (size_t k = 0; k < n; k++) {
            rc = check_overlap(ld, ep, &a[k]);
            if (rc != CG_OK) {
                for (size_t j = k; j < n; j++) {
                    address_cleanup(&a[j]);
                }
                return rc;
            }
            l->addresses[l->num_addresses++] = a[k];
        }
    }
    return CG_OK;
}

static int parse_listener(struct loader *ld, const json_t *obj, const char *path,
                          struct config_listener *l)
{
    static const char *const keys[] = {"name",
                                       "listen",
                                       "tls",
                                       "alpn",
                                       "policy",
                                       "upstream",
                                       "proxy_protocol",
                                       "underscores_in_headers",
                                       "path_semicolons",
                                       "path_encoded_percent",
                                       NULL};
    struct config *cfg = ld->cfg;
    char p[PATH_LEN];
    int rc = cg_json_check_keys(&ld->ctx, obj, path, keys);
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
    if (!valid_name(name)) {
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
    if ((rc = parse_listener_tls(ld, member(obj, "tls"), p, &l->tls)) != CG_OK) {
        return rc;
    }
    if ((rc = parse_alpn(ld, obj, path, &l->alpn)) != CG_OK) {
        return rc;
    }
    if ((rc = get_path(ld, obj, path, "policy", false, &l->policy)) != CG_OK) {
        return rc;
    }

    const char *upstream = NULL;
    if ((rc = cg_json_get_string(&ld->ctx, obj, path, "upstream", &upstream)) != CG_OK) {
        return rc;
    }
    cg_json_path(p, sizeof(p), path, "upstream", 0);
    if (upstream == NULL) {
        return cg_json_fail(&ld->ctx, p, "required: the name of an upstream");
    }
    const struct config_upstream *up = config_find_upstream(cfg, upstream);
    if (up == NULL) {
        return cg_json_fail(&ld->ctx, p, "unknown upstream \"%s\"", upstream);
    }
    l->upstream_index = (size_t)(up - cfg->upstreams);
    l->upstream = &cfg->upstreams[l->upstream_index];

    if ((rc = parse_proxy_protocol(ld, obj, path, &l->proxy_protocol)) != CG_OK) {
        return rc;
    }
    return parse_requests(ld, obj, path, &l->requests);
}

static int parse_listeners(struct loader *ld, const json_t *root)
{
    const json_t *arr;
    int rc = get_array(ld, root, "$", "listeners", true, "listener objects", &arr);
    if (rc != CG_OK) {
        return rc;
    }
    struct config *cfg = ld->cfg;
    cfg->listeners = cg_xcalloc(json_array_size(arr), sizeof(*cfg->listeners));
    for (size_t i = 0; i < json_array_size(arr); i++) {
        char p[PATH_LEN];
        cg_json_path(p, sizeof(p), "$.listeners", NULL, i);
        struct config_listener *l = &cfg->listeners[cfg->num_listeners++];
        if ((rc = parse_listener(ld, json_array_get(arr, i), p, l)) != CG_OK) {
            return rc;
        }
    }
    return CG_OK;
}

static int parse_admin(struct loader *ld, const json_t *root)
{
    static const char *const keys[] = {"listen", "listener", NULL};
    const json_t *obj = member(root, "admin");
    if (obj == NULL) {
        return CG_OK;
    }
    int rc = cg_json_check_keys(&ld->ctx, obj, "$.admin", keys);
    if (rc != CG_OK) {
        return rc;
    }
    const char *listen = NULL, *listener = NULL;
    if ((rc = cg_json_get_string(&ld->ctx, obj, "$.admin", "listen", &listen)) != CG_OK ||
        (rc = cg_json_get_string(&ld->ctx, obj, "$.admin", "listener", &listener)) != CG_OK) {
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
    if (listen == NULL) {
        return CG_OK;
    }
    struct config_address a[2] = {{0}};
    if (parse_address(listen, false, a) != 1) {
        return cg_json_fail(&ld->ctx, "$.admin.listen",
                            "expected \"IPv4:port\" or \"[IPv6]:port\" (numeric, port "
                            "1-65535), got \"%s\"",
                            listen);
    }
    if ((rc = check_overlap(ld, "$.admin.listen", &a[0])) != CG_OK) {
        address_cleanup(&a[0]);
        return rc;
    }
    ld->cfg->admin.enabled = true;
    ld->cfg->admin.address = a[0];
    return CG_OK;
}

static int parse_root(struct loader *ld, const json_t *root)
{
    static const char *const keys[] = {"workers", "state_dir", "log",      "listeners", "upstreams",
                                       "admin",   "limits",    "timeouts", NULL};
    int rc = cg_json_check_keys(&ld->ctx, root, "$", keys);
    if (rc != CG_OK) {
        return rc;
    }
    /* Upstreams before listeners, which refer to them by name. */
    if ((rc = parse_workers(ld, root)) != CG_OK ||
        (rc = get_path(ld, root, "$", "state_dir", false, &ld->cfg->state_dir)) != CG_OK ||
        (rc = parse_log(ld, root)) != CG_OK || (rc = parse_upstreams(ld, root)) != CG_OK ||
        (rc = parse_listeners(ld, root)) != CG_OK || (rc = parse_admin(ld, root)) != CG_OK ||
        (rc = parse_limits(ld, root)) != CG_OK || (rc = parse_timeouts(ld, root)) != CG_OK) {
        return rc;
    }
    return CG_OK;
}

/* load parses |root| into a new config; |source| becomes config->source. */
static int load(const char *name, const char *source, const char *base_dir, json_t *root,
                struct config **out, struct cg_errbuf *err)
{
    struct config *cfg = cg_xcalloc(1, sizeof(*cfg));
    set_defaults(cfg);
    cfg->source = cg_xstrdup(source);
    struct loader ld = {
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

static void listener_cleanup(struct config_listener *l)
{
    free(l->name);
    for (size_t i = 0; i < l->num_addresses; i++) {
        address_cleanup(&l->addresses[i]);
    }
    free(l->addresses);
    for (size_t i = 0; i < l->tls.num_certificates; i++) {
        free(l->tls.certificates[i].cert);
        free(l->tls.certificates[i].key);
        free(l->tls.certificates[i].ocsp);
    }
    free(l->tls.certificates);
    free(l->tls.client_ca);
    free(l->tls.crl);
    free(l->policy);
    for (size_t i = 0; i < l->proxy_protocol.num_from; i++) {
        free(l->proxy_protocol.from[i]);
    }
    free(l->proxy_protocol.from);
}

static void upstream_cleanup(struct config_upstream *up)
{
    free(up->name);
    for (size_t i = 0; i < up->num_servers; i++) {
        address_cleanup(&up->servers[i]);
    }
    free(up->servers);
    free(up->tls.ca);
    free(up->tls.cert);
    free(up->tls.key);
    free(up->tls.sni);
}

void config_free(struct config *cfg)
{
    if (cfg == NULL) {
        return;
    }
    for (size_t i = 0; i < cfg->num_listeners; i++) {
        listener_cleanup(&cfg->listeners[i]);
    }
    free(cfg->listeners);
    for (size_t i = 0; i < cfg->num_upstreams; i++) {
        upstream_cleanup(&cfg->upstreams[i]);
    }
    free(cfg->upstreams);
    address_cleanup(&cfg->admin.address);
    free(cfg->log.access_log);
    free(cfg->state_dir);
    free(cfg->source);
    free(cfg);
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

/* ---- summary ---------------------------------------------------------------------- */

static const char *fmt_ms(char *buf, size_t len, uint64_t ms)
{
    if (ms != 0 && ms % 1000 == 0) {
        snprintf(buf, len, "%" PRIu64 "s", ms / 1000);
    } else {
        snprintf(buf, len, "%" PRIu64 "ms", ms);
    }
    return buf;
}

static const char *fmt_size(char *buf, size_t len, uint64_t n)
{
    if (n != 0 && n % (1024 * 1024) == 0) {
        snprintf(buf, len, "%" PRIu64 "MiB", n / (1024 * 1024));
    } else if (n != 0 && n % 1024 == 0) {
        snprintf(buf, len, "%" PRIu64 "KiB", n / 1024);
    } else {
        snprintf(buf, len, "%" PRIu64, n);
    }
    return buf;
}

void config_print_summary(const struct config *cfg, FILE *out)
{
    static const char *const levels[] = {"error", "warn", "info", "debug"};
    char b[10][32];
    fprintf(out, "config %s: %u worker%s%s, log level %s, access log %s\n", cfg->source,
            cfg->workers, cfg->workers == 1 ? "" : "s", cfg->workers_auto ? " (one per core)" : "",
            (unsigned)cfg->log.level < 4 ? levels[cfg->log.level] : "?",
            cfg->log.access_log
                ? (strcmp(cfg->log.access_log, "-") == 0 ? "stderr" : cfg->log.access_log)
                : "off");
    if (cfg->state_dir != NULL) {
        fprintf(out, "state_dir %s\n", cfg->state_dir);
    }
    for (size_t i = 0; i < cfg->num_listeners; i++) {
        const struct config_listener *l = &cfg->listeners[i];
        fprintf(out, "listener %s:", l->name);
        for (size_t j = 0; j < l->num_addresses; j++) {
            /* "*:port" yields two entries with the same text: print it once. */
            if (j > 0 && strcmp(l->addresses[j].text, l->addresses[j - 1].text) == 0) {
                continue;
            }
            fprintf(out, " %s", l->addresses[j].text);
        }
        fprintf(out, " -> upstream %s; alpn %s%s%s; TLS >= 1.%d; %zu certificate%s%s%s\n",
                l->upstream->name, (l->alpn & CONFIG_ALPN_H2) ? "h2" : "",
                (l->alpn & CONFIG_ALPN_H2) && (l->alpn & CONFIG_ALPN_HTTP11) ? "," : "",
                (l->alpn & CONFIG_ALPN_HTTP11) ? "http/1.1" : "",
                l->tls.min_version == CONFIG_TLS_1_3 ? 3 : 2, l->tls.num_certificates,
                l->tls.num_certificates == 1 ? "" : "s", l->tls.strict_sni ? ", strict SNI" : "",
                l->tls.session_tickets ? "" : ", no session tickets");
        for (size_t j = 0; j < l->tls.num_certificates; j++) {
            fprintf(out, "  certificate %s (key %s%s%s)\n", l->tls.certificates[j].cert,
                    l->tls.certificates[j].key, l->tls.certificates[j].ocsp ? ", ocsp " : "",
                    l->tls.certificates[j].ocsp ? l->tls.certificates[j].ocsp : "");
        }
        fprintf(out, "  client_ca %s%s%s\n", l->tls.client_ca ? l->tls.client_ca : "none",
                l->tls.crl ? ", crl " : "", l->tls.crl ? l->tls.crl : "");
        fprintf(out, "  policy %s\n", l->policy ? l->policy : "none (every request denied)");
        const struct config_listener_requests *r = &l->requests;
        if (r->keep_underscore_headers || r->allow_path_semicolons ||
            r->allow_path_encoded_percent) {
            fprintf(out, "  requests:%s%s%s\n",
                    r->keep_underscore_headers ? " underscores_in_headers keep" : "",
                    r->allow_path_semicolons ? " path_semicolons allow" : "",
                    r->allow_path_encoded_percent ? " path_encoded_percent allow" : "");
        }
        if (l->proxy_protocol.num_from > 0) {
            fprintf(out, "  proxy_protocol from");
            for (size_t j = 0; j < l->proxy_protocol.num_from; j++) {
                fprintf(out, " %s", l->proxy_protocol.from[j]);
            }
            fputc('\n', out);
        }
    }
    for (size_t i = 0; i < cfg->num_upstreams; i++) {
        const struct config_upstream *up = &cfg->upstreams[i];
        fprintf(out, "upstream %s (%s%s):", up->name, config_upstream_protocol_str(up->protocol),
                up->tls.enabled ? " over TLS" : "");
        for (size_t j = 0; j < up->num_servers; j++) {
            fprintf(out, " %s", up->servers[j].text);
        }
        fputc('\n', out);
        if (up->tls.enabled) {
            fprintf(out, "  ca %s%s%s, sni %s\n", up->tls.ca, up->tls.cert ? ", client cert " : "",
                    up->tls.cert ? up->tls.cert : "", up->tls.sni ? up->tls.sni : "none");
        }
    }
    if (cfg->admin.enabled) {
        fprintf(out, "admin %s (listener %s)\n", cfg->admin.address.text,
                cfg->listeners[cfg->admin.listener_index].name);
    } else {
        fprintf(out, "admin off\n");
    }
    const struct config_limits *lim = &cfg->limits;
    fprintf(out,
            "limits: max_connections %u, max_request_line %s, max_header_bytes %s, "
            "max_headers %u, max_body %s, buffer_high_water %s,\n"
            "  h2_max_concurrent_streams %" PRIu32 ", h2_max_header_list %s, "
            "h2_max_continuations %u, h2_reset %" PRIu64 " burst / %" PRIu64 " per s,\n"
            "  h2_max_no_progress_frames %" PRIu32 ", upstream_pool_max_idle %u\n",
            lim->max_connections, fmt_size(b[0], sizeof(b[0]), lim->max_request_line),
            fmt_size(b[1], sizeof(b[1]), lim->max_header_bytes), lim->max_headers,
            lim->max_body ? fmt_size(b[2], sizeof(b[2]), lim->max_body) : "unlimited",
            fmt_size(b[3], sizeof(b[3]), lim->buffer_high_water), lim->h2_max_concurrent_streams,
            fmt_size(b[4], sizeof(b[4]), lim->h2_max_header_list), lim->h2_max_continuations,
            lim->h2_reset_burst, lim->h2_reset_rate, lim->h2_max_no_progress_frames,
            lim->upstream_pool_max_idle);
    const struct config_timeouts *t = &cfg->timeouts;
    fprintf(
        out,
        "timeouts: tls_handshake %s, request_header %s, client_body_idle %s, "
        "keepalive_idle %s,\n  upstream_connect %s, upstream_response %s, upstream_idle %s, "
        "upstream_down %s, drain %s, h2_idle %s\n",
        fmt_ms(b[0], sizeof(b[0]), t->tls_handshake), fmt_ms(b[1], sizeof(b[1]), t->request_header),
        fmt_ms(b[2], sizeof(b[2]), t->client_body_idle),
        fmt_ms(b[3], sizeof(b[3]), t->keepalive_idle),
        fmt_ms(b[4], sizeof(b[4]), t->upstream_connect),
        fmt_ms(b[5], sizeof(b[5]), t->upstream_response),
        fmt_ms(b[6], sizeof(b[6]), t->upstream_idle), fmt_ms(b[7], sizeof(b[7]), t->upstream_down),
        fmt_ms(b[8], sizeof(b[8]), t->drain), fmt_ms(b[9], sizeof(b[9]), t->h2_idle));
}
