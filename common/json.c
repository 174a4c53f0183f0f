#include "common/json.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *doc_name(const struct cg_json_ctx *ctx)
{
    return ctx->file ? ctx->file : "<input>";
}

static int syntax_error(const char *name, const json_error_t *je, struct cg_errbuf *err)
{
    if (je->line > 0) {
        return cg_errf(err, CG_ERR_INVALID, "%s:%d:%d: %s", name, je->line, je->column, je->text);
    }
    return cg_errf(err, CG_ERR_INVALID, "%s: %s", name, je->text);
}

int cg_json_load_file(const char *path, json_t **out, struct cg_errbuf *err)
{
    json_error_t je;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL) {
        if (je.line <= 0 && errno != 0 && strstr(je.text, "unable to open") != NULL) {
            return cg_errf(err, CG_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        }
        return syntax_error(path, &je, err);
    }
    *out = root;
    return CG_OK;
}

int cg_json_load_str(const char *name, const char *text, size_t len, json_t **out,
                     struct cg_errbuf *err)
{
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL) {
        return syntax_error(name, &je, err);
    }
    *out = root;
    return CG_OK;
}

int cg_json_fail(const struct cg_json_ctx *ctx, const char *path, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return cg_errf(ctx->err, CG_ERR_INVALID, "%s: %s: %s", doc_name(ctx), path, msg);
}

const char *cg_json_path(char *out, size_t out_len, const char *parent, const char *key,
                         size_t index)
{
    if (key != NULL) {
        snprintf(out, out_len, "%s.%s", parent, key);
    } else {
        snprintf(out, out_len, "%s[%zu]", parent, index);
    }
    return out;
}

int cg_json_check_keys(const struct cg_json_ctx *ctx, const json_t *obj, const char *path,
                       const char *const *allowed)
{
    if (!json_is_object(obj)) {
        return cg_json_fail(ctx, path, "expected an object");
    }
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)obj, key, value)
    {
        bool known = false;
        for (const char *const *a = allowed; *a != NULL; a++) {
            if (strcmp(*a, key) == 0) {
                known = true;
                break;
            }
        }
        if (!known) {
            char p[256];
            return cg_json_fail(ctx, cg_json_path(p, sizeof(p), path, key, 0), "unknown key \"%s\"",
                                key);
        }
    }
    return CG_OK;
}

static const json_t *member(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_null(v) ? NULL : v;
}

int cg_json_get_string(const struct cg_json_ctx *ctx, const json_t *obj, const char *path,
                       const char *key, const char **out)
{
    const json_t *v = member(obj, key);
    if (v == NULL) {
        return CG_OK;
    }
    char p[256];
    if (!json_is_string(v)) {
        return cg_json_fail(ctx, cg_json_path(p, sizeof(p), path, key, 0), "expected a string");
    }
    if (strlen(json_string_value(v)) != json_string_length(v)) {
        return cg_json_fail(ctx, cg_json_path(p, sizeof(p), path, key, 0),
                            "string contains a NUL character");
    }
    *out = json_string_value(v);
    return CG_OK;
}

int cg_json_get_bool(const struct cg_json_ctx *ctx, const json_t *obj, const char *path,
                     const char *key, bool *out)
{
    const json_t *v = member(obj, key);
    if (v == NULL) {
        return CG_OK;
    }
    if (!json_is_boolean(v)) {
        char p[256];
        return cg_json_fail(ctx, cg_json_path(p, sizeof(p), path, key, 0),
                            "expected true or false");
    }
    *out = json_is_true(v);
    return CG_OK;
}

int cg_json_get_uint(const struct cg_json_ctx *ctx, const json_t *obj, const char *path,
                     const char *key, uint64_t min, uint64_t max, uint64_t *out)
{
    const json_t *v = member(obj, key);
    if (v == NULL) {
        return CG_OK;
    }
    char p[256];
    if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) < min ||
        (uint64_t)json_integer_value(v) > max) {
        return cg_json_fail(ctx, cg_json_path(p, sizeof(p), path, key, 0),
                            "expected an integer from %" PRIu64 " to %" PRIu64, min, max);
    }
    *out = (uint64_t)json_integer_value(v);
    return CG_OK;
}

/* parse_scaled parses "<digits><unit>" where |units| maps suffixes to multipliers. */
struct unit {
    const char *suffix;
    uint64_t mult;
};

static bool parse_scaled(const char *s, const struct unit *units, uint64_t *out)
{
    if (!isdigit((unsigned char)s[0])) {
        return false;
    }
    uint64_t n = 0;
    while (isdigit((unsigned char)*s)) {
        unsigned d = (unsigned)(*s - '0');
        if (n > (UINT64_MAX - d) / 10) {
            return false;
        }
        n = n * 10 + d;
        s++;
    }
    for (const struct unit *u = units; u->suffix != NULL; u++) {
        if (strcmp(s, u->suffix) == 0) {
            if (u->mult != 0 && n > UINT64_MAX / u->mult) {
                return false;
            }
            *out = n * u->mult;
            return true;
        }
    }
    return false;
}

static int get_scaled(const struct cg_json_ctx *ctx, const json_t *obj, const char *path,
                      const char *key, const struct unit *units, uint64_t min, uint64_t max,
                      const char *what, uint64_t *out)
{
    const json_t *v = member(obj, key);
    if (v == NULL) {
        return CG_OK;
    }
    uint64_t n = 0;
    bool ok = false;
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        n = (uint64_t)json_integer_value(v);
        ok = true;
    } else if (json_is_string(v)) {
        ok = parse_scaled(json_string_value(v), units, &n);
    }
    if (!ok || n < min || n > max) {
        char p[256];
        return cg_json_fail(ctx, cg_json_path(p, sizeof(p), path, key, 0),
                            "expected %s from %" PRIu64 " to %" PRIu64, what, min, max);
    }
    *out = n;
    return CG_OK;
}

int cg_json_get_duration_ms(const struct cg_json_ctx *ctx, const json_t *obj, const char *path,
                            const char *key, uint64_t max_ms, uint64_t *out)
{
    static const struct unit units[] = {{"ms", 1},      {"s", 1000}, {"m", 60000},
                                        {"h", 3600000}, {"", 1},     {NULL, 0}};
    return get_scaled(ctx, obj, path, key, units, 0, max_ms,
                      "a duration (milliseconds, or \"30s\", \"5m\")", out);
}

int cg_json_get_size(const struct cg_json_ctx *ctx, const json_t *obj, const char *path,
                     const char *key, uint64_t min, uint64_t max, uint64_t *out)
{
    static const struct unit units[] = {{"", 1},
                                        {"k", 1024},
                                        {"K", 1024},
                                        {"KiB", 1024},
                                        {"m", 1024 * 1024},
                                        {"M", 1024 * 1024},
                                        {"MiB", 1024 * 1024},
                                        {"g", 1024ull * 1024 * 1024},
                                        {"G", 1024ull * 1024 * 1024},
                                        {"GiB", 1024ull * 1024 * 1024},
                                        {NULL, 0}};
    return get_scaled(ctx, obj, path, key, units, min, max,
                      "a size in bytes (or \"16KiB\", \"1MiB\")", out);
}
