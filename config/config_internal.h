/* Private to config/: the state of one load and the helpers its section parsers share.
 *
 * config.c loads the document (top level, log, limits, timeouts, admin) and frees it,
 * config_listeners.c and config_upstreams.c parse those sections, config_address.c the
 * socket addresses and CIDRs they contain, config_keys.c is the table of scalar keys
 * that every section reads through config_read_keys. Every failing function below has
 * recorded one error line in ld->ctx and returns CG_ERR_INVALID; on any failure the
 * caller frees the half-filled config with config_free. */
#ifndef CG_CONFIG_CONFIG_INTERNAL_H
#define CG_CONFIG_CONFIG_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/json.h"
#include "config/config.h"
#include "config/config_keys.h"

#define CONFIG_PATH_LEN 256 /* room for a JSON path in an error message */

/* struct config_loader is the state of one load: the document's name for errors, where
 * relative paths start, and the config being filled. */
struct config_loader {
    struct cg_json_ctx ctx;
    const char *base_dir; /* absolute, no trailing slash unless "/" */
    struct config *cfg;
};

/* config_member returns member |key| of |obj|, or NULL when absent or JSON null. */
const json_t *config_member(const json_t *obj, const char *key);

/* config_get_path reads the optional string member |key| of |obj| (at |path|) naming a
 * file and stores it in |*out| resolved against ld->base_dir, newly allocated;
 * |*out| stays NULL when the member is absent or null, which fails when |required|. */
int config_get_path(struct config_loader *ld, const json_t *obj, const char *path, const char *key,
                    bool required, char **out);

/* config_get_array stores member |key| of |obj| in |*out| if it is an array (NULL when
 * absent or null, which fails when |required|, as does an empty one). |what| names the
 * elements in messages ("listener objects"). */
int config_get_array(struct config_loader *ld, const json_t *obj, const char *path, const char *key,
                     bool required, const char *what, const json_t **out);

/* config_array_string stores element |i| of |arr| (at |path|) in |*out| if it is a
 * non-empty string without NUL bytes; the string belongs to |arr|. */
int config_array_string(struct config_loader *ld, const json_t *arr, const char *path, size_t i,
                        const char **out);

/* config_name_valid accepts 1..64 characters of [A-Za-z0-9._-]: listener and upstream
 * names show up in logs, metrics labels and JSON paths. */
bool config_name_valid(const char *s);

/* config_check_keys fails unless |obj| (at |path|) is an object whose every key is a
 * key of the table in |scope| and |object| (NULL: the scope's own object) or one of the
 * NULL-terminated |others| (the keys a section parser reads itself). */
int config_check_keys(struct config_loader *ld, enum config_scope scope, const char *object,
                      const json_t *obj, const char *path, const char *const *others);

/* config_read_keys reads every key of the table in |scope| and |object| from |obj| (at
 * |path|) into |base|, a struct of that scope that already holds the defaults: an
 * absent or null key keeps its default, a present one must have the key's type and be
 * in its range. */
int config_read_keys(struct config_loader *ld, enum config_scope scope, const char *object,
                     const json_t *obj, const char *path, void *base);

/* config_address_parse parses "a.b.c.d:port", "[v6]:port" and, with |wildcard|,
 * "*:port" into one or two addresses (|out| has room for two; "*:port" is 0.0.0.0:port
 * and [::]:port), each owning a copy of |s| as its text. It returns the number stored,
 * or 0 (nothing stored) if |s| is not such an address. */
size_t config_address_parse(const char *s, bool wildcard, struct config_address *out);

/* config_address_is_unspecified reports whether |a| is 0.0.0.0 or [::]. */
bool config_address_is_unspecified(const struct config_address *a);

/* config_address_check_overlap fails (naming |path|) if |a| overlaps an address of a
 * listener parsed so far, the one being parsed included. */
int config_address_check_overlap(struct config_loader *ld, const char *path,
                                 const struct config_address *a);

/* config_address_cleanup frees the text of |a|; cleaning up twice is harmless. */
void config_address_cleanup(struct config_address *a);


/* config_parse_upstreams fills cfg->upstreams from $.upstreams (required). */
int config_parse_upstreams(struct config_loader *ld, const json_t *root);

/* config_parse_resolvers fills cfg->resolvers from $.resolvers (optional). */
int config_parse_resolvers(struct config_loader *ld, const json_t *root);

/* config_upstream_cleanup frees what |up| owns, however far its parsing went. */
void config_upstream_cleanup(struct config_upstream *up);

/* config_parse_certificates fills |*out| (|*num| entries) from the array member
 * |key| of |obj| (at |path|): {"cert", "key", "ocsp"} objects. Absent or null stores
 * nothing and fails only when |required|; an empty array always fails. */
int config_parse_certificates(struct config_loader *ld, const json_t *obj, const char *path,
                              const char *key, bool required, struct config_certificate **out,
                              size_t *num);

/* config_certificates_free frees |n| certificates and the array. */
void config_certificates_free(struct config_certificate *certs, size_t n);

/* config_parse_hosts fills l->hosts and l->host_names from the optional member "hosts"
 * of the listener object |obj| (at |path|), whose upstreams must be parsed already. */
int config_parse_hosts(struct config_loader *ld, const json_t *obj, const char *path,
                       struct config_listener *l);

/* config_hosts_cleanup frees what config_parse_hosts stored in |l|, however far it
 * went. */
void config_hosts_cleanup(struct config_listener *l);

/* config_parse_listeners fills cfg->listeners from $.listeners (required); the
 * upstreams they name must be parsed already. */
int config_parse_listeners(struct config_loader *ld, const json_t *root);

/* config_listener_cleanup frees what |l| owns, however far its parsing went. */
void config_listener_cleanup(struct config_listener *l);

#endif
