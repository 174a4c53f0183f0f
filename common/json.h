/* Strict JSON reading for configuration and policy files.
 *
 * Every error is one line naming the file, the JSON path ($.listeners[0].tls) and, for
 * syntax errors, line:column as jansson reports them. Unknown keys are errors: a typo
 * must never silently weaken security. */
#ifndef CG_COMMON_JSON_H
#define CG_COMMON_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"

/* struct cg_json_ctx names the document being read, for error messages. */
struct cg_json_ctx {
    const char *file;      /* shown in errors; "<input>" if NULL */
    struct cg_errbuf *err; /* receives the first error; may be NULL */
};

/* cg_json_load_file parses |path| (rejecting duplicate keys) into |*out|, owned by the
 * caller. On a syntax error it returns CG_ERR_INVALID with "file:line:column: text". */
int cg_json_load_file(const char *path, json_t **out, struct cg_errbuf *err);

/* cg_json_load_str is cg_json_load_file for a document in memory; |name| is used in
 * messages. */
int cg_json_load_str(const char *name, const char *text, size_t len, json_t **out,
                     struct cg_errbuf *err);

/* cg_json_fail records "file: path: message" and returns CG_ERR_INVALID. */
int cg_json_fail(const struct cg_json_ctx *ctx, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* cg_json_check_keys fails if |obj| is not an object or has a key not in the
 * NULL-terminated list |allowed|. */
int cg_json_check_keys(const struct cg_json_ctx *ctx, const json_t *obj, const char *path,
                       const char *const *allowed);

/* cg_json_path formats "parent.key" or "parent[index]" (index used when key is NULL)
 * into |out|. */
const char *cg_json_path(char *out, size_t out_len, const char *parent, const char *key,
                         size_t index);

/* The getters below read an optional member |key| of |obj|. When it is absent (or JSON
 * null) they leave |*out| unchanged and succeed, so callers preset defaults. A member of
 * the wrong type or out of range fails with its path. */
int cg_json_get_string(const struct cg_json_ctx *ctx, const json_t *obj, const char *path,
                       const char *key, const char **out);
int cg_json_get_bool(const struct cg_json_ctx *ctx, const json_t *obj, const char *path,
                     const char *key, bool *out);
int cg_json_get_uint(const struct cg_json_ctx *ctx, const json_t *obj, const char *path,
                     const char *key, uint64_t min, uint64_t max, uint64_t *out);
/* cg_json_get_duration_ms reads a number of milliseconds (integer) or a string with a
 * unit: "250ms", "30s", "5m", "1h". */
int cg_json_get_duration_ms(const struct cg_json_ctx *ctx, const json_t *obj, const char *path,
                            const char *key, uint64_t max_ms, uint64_t *out);
/* cg_json_get_size reads a byte count: an integer or a string "16k", "8KiB", "1m", "2MiB". */
int cg_json_get_size(const struct cg_json_ctx *ctx, const json_t *obj, const char *path,
                     const char *key, uint64_t min, uint64_t max, uint64_t *out);

#endif
