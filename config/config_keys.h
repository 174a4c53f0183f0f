/* The scalar settings of certgate.json, one table.
 *
 * Every number, size, duration, boolean and one-of-a-list setting is one entry of
 * config_keys[]: where it lives in the file, its type, range and default, the struct
 * config field it fills, and a one-line description. The loader validates and fills
 * fields from it (config/config.c), the defaults come from it, `certgate check` prints
 * from it (config_print_summary), and the unit tests check every entry and that
 * docs/configuration.md, certgate.json(5) and conf/certgate.example.json state its
 * default. A new scalar setting is a field in config/config.h and a line in
 * config/config_keys.c; objects, arrays, paths and addresses keep their own parsers. */
#ifndef CG_CONFIG_CONFIG_KEYS_H
#define CG_CONFIG_CONFIG_KEYS_H

#include <stddef.h>
#include <stdint.h>

/* How a key is written in the file and stored in its field. */
enum config_key_type {
    CONFIG_KEY_COUNT,    /* a JSON integer from min to max */
    CONFIG_KEY_SIZE,     /* bytes: an integer or "16KiB", "1MiB" (common/json.h) */
    CONFIG_KEY_DURATION, /* milliseconds: an integer or "250ms", "5s", "2m", "1h" */
    CONFIG_KEY_BOOL,     /* true or false, stored as 0 or 1 */
    CONFIG_KEY_ENUM,     /* one string of |choices|, stored as that choice's value */
};

/* Which struct a key's field belongs to, and which JSON object holds it. */
enum config_scope {
    CONFIG_SCOPE_ROOT,     /* struct config: the top-level object and its sections */
    CONFIG_SCOPE_LISTENER, /* struct config_listener: each object of $.listeners */
    CONFIG_SCOPE_UPSTREAM, /* struct config_upstream: each $.upstreams.<name> */
};

/* struct config_choice is one accepted string of an CONFIG_KEY_ENUM key. */
struct config_choice {
    const char *name; /* as written in the file */
    uint64_t value;   /* as stored in the field */
};

/* struct config_key is one scalar setting. */
struct config_key {
    enum config_scope scope;
    const char *object; /* member of the scope's object that holds the key ("limits",
                           "tls"), or NULL: the scope's object itself */
    const char *name;   /* the key */
    enum config_key_type type;
    size_t offset;     /* of the field in the scope's struct */
    size_t size;       /* of the field: 1, 2, 4 or 8 bytes, read and written unsigned */
    uint64_t min, max; /* accepted range (COUNT, SIZE, DURATION: in the field's unit) */
    uint64_t def;      /* stored when the key is absent or null */
    const struct config_choice *choices; /* ENUM: terminated by a NULL name */
    const char *zero; /* what 0 means ("unlimited"), shown by the summary; or NULL */
    const char *doc;  /* one line, the description certgate.json(5) gives */
};

/* config_keys is the table, in the order `certgate check` prints it; config_num_keys
 * is its length. */
extern const struct config_key config_keys[];
extern const size_t config_num_keys;

/* config_key_get returns the value of |k|'s field in |base|, a struct of |k|'s scope. */
uint64_t config_key_get(const struct config_key *k, const void *base);

/* config_key_set stores |value| (within the field's range) in |k|'s field of |base|. */
void config_key_set(const struct config_key *k, void *base, uint64_t value);

/* config_keys_set_defaults stores the default of every key of |scope| in |base|. */
void config_keys_set_defaults(enum config_scope scope, void *base);

/* config_key_format writes |value| the way a file would spell it, without JSON quotes:
 * "10000", "8KiB", "5m", "250ms", "0", "true", "info" (a value that is no choice of an
 * ENUM key prints as "?"). Returns |buf|. */
const char *config_key_format(const struct config_key *k, uint64_t value, char *buf, size_t len);

/* config_key_section writes where |k| lives, as docs/configuration.md titles it:
 * "limits", "log", "listeners[]", "listeners[].tls", "upstreams.<name>", or "" for a
 * top-level key. Returns |buf|. */
const char *config_key_section(const struct config_key *k, char *buf, size_t len);

#endif
