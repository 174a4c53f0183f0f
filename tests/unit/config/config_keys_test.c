/* Tests of config/config_keys.c, the table of scalar keys, and of everything that
 * follows it. For every key of the table: the default is applied, the minimum and the
 * maximum load (as numbers and as the strings the summary prints), a value out of range
 * or of another type is refused with the key's JSON path, null means the default, the
 * summary prints it, and docs/configuration.md, certgate.json(5) and
 * conf/certgate.example.json state its default, so the docs cannot drift from the code. */
#include "config/config_keys.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "config/config.h"

/* A minimal valid document: one listener "a", one upstream "db". */
static const char base_doc[] =
    "{\"listeners\":[{\"name\":\"a\",\"listen\":[\"127.0.0.1:8443\"],"
    "\"tls\":{\"certificates\":[{\"cert\":\"c.pem\",\"key\":\"k.pem\"}]},\"upstream\":\"db\"}],"
    "\"upstreams\":{\"db\":{\"servers\":[\"127.0.0.1:8080\"]}}}";

/* The repository root: CG_TEST_DATA_DIR is "<root>/tests/data". */
static const char *repo_path(const char *rel)
{
    static char buf[4096];
    const char *data = CG_TEST_DATA_DIR;
    size_t len = strlen(data);
    const char *suffix = "/tests/data";
    if (len >= strlen(suffix) && strcmp(data + len - strlen(suffix), suffix) == 0) {
        len -= strlen(suffix);
    }
    snprintf(buf, sizeof(buf), "%.*s/%s", (int)len, data, rel);
    return buf;
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
        fwrite(buf, 1, n, m);
    }
    fclose(m);
    fclose(f);
    return text;
}

static json_t *new_doc(void)
{
    json_error_t e;
    json_t *doc = json_loads(base_doc, 0, &e);
    ck_assert_ptr_nonnull(doc);
    return doc;
}

static const char *const scope_paths[] = {
    [CONFIG_SCOPE_ROOT] = "$",
    [CONFIG_SCOPE_LISTENER] = "$.listeners[0]",
    [CONFIG_SCOPE_UPSTREAM] = "$.upstreams.db",
};

/* scope_object returns the object of |scope| in |doc| (the first listener, upstream
 * "db"). */
static json_t *scope_object(json_t *doc, enum config_scope scope)
{
    switch (scope) {
    case CONFIG_SCOPE_ROOT:
        return doc;
    case CONFIG_SCOPE_LISTENER:
        return json_array_get(json_object_get(doc, "listeners"), 0);
    case CONFIG_SCOPE_UPSTREAM:
        return json_object_get(json_object_get(doc, "upstreams"), "db");
    }
    return NULL;
}

/* key_path writes the JSON path of |k| in the documents of this file. */
static const char *key_path(const struct config_key *k, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s%s.%s", scope_paths[k->scope], k->object ? "." : "",
             k->object ? k->object : "", k->name);
    return buf;
}

/* set_key stores |value| (taking it over) as |k| in |doc|, creating the object that
 * holds it. */
static void set_key(json_t *doc, const struct config_key *k, json_t *value)
{
    json_t *o = scope_object(doc, k->scope);
    if (k->object != NULL) {
        json_t *sub = json_object_get(o, k->object);
        if (sub == NULL) {
            sub = json_object();
            json_object_set_new(o, k->object, sub);
        }
        o = sub;
    }
    json_object_set_new(o, k->name, value);
}

/* satisfy adds what the loader's rules between keys require: an "h2" upstream needs
 * "tls". */
static void satisfy(json_t *doc)
{
    json_t *up = scope_object(doc, CONFIG_SCOPE_UPSTREAM);
    const char *protocol = json_string_value(json_object_get(up, "protocol"));
    if (protocol != NULL && strcmp(protocol, "h2") == 0 && json_object_get(up, "tls") == NULL) {
        json_t *tls = json_object();
        json_object_set_new(tls, "ca", json_string("ca.pem"));
        json_object_set_new(up, "tls", tls);
    }
}

/* load loads |doc| as "certgate.json"; it returns the config or NULL with |err| set. */
static struct config *load(json_t *doc, struct cg_errbuf *err)
{
    satisfy(doc);
    char *text = json_dumps(doc, JSON_COMPACT);
    struct config *cfg = NULL;
    int rc = config_load_string("certgate.json", text, strlen(text), "/etc/certgate", &cfg, err);
    free(text);
    ck_assert_int_eq(rc == CG_OK, cfg != NULL);
    return cfg;
}

static struct config *load_ok(json_t *doc)
{
    struct cg_errbuf err = {{0}};
    struct config *cfg = load(doc, &err);
    ck_assert_msg(cfg != NULL, "unexpected error: %s", err.msg);
    return cfg;
}

/* expect_refused asserts that |doc| with |k| set to |value| fails, naming |k|'s path;
 * it returns nothing but checks that the message contains |want| too when given. */
static void expect_refused(const struct config_key *k, json_t *value, const char *want)
{
    char path[128];
    char prefix[160];
    struct cg_errbuf err = {{0}};
    json_t *doc = new_doc();
    char *shown = json_dumps(value, JSON_ENCODE_ANY);
    set_key(doc, k, value);
    struct config *cfg = load(doc, &err);
    snprintf(prefix, sizeof(prefix), "certgate.json: %s: ", key_path(k, path, sizeof(path)));
    ck_assert_msg(cfg == NULL, "%s = %s was accepted", path, shown);
    ck_assert_msg(strncmp(err.msg, prefix, strlen(prefix)) == 0, "%s = %s: '%s' names another path",
                  path, shown, err.msg);
    ck_assert_msg(want == NULL || strstr(err.msg, want) != NULL, "%s = %s: '%s' lacks '%s'", path,
                  shown, err.msg, want);
    free(shown);
    json_decref(doc);
}

static const void *base_of(const struct config *cfg, const struct config_key *k)
{
    switch (k->scope) {
    case CONFIG_SCOPE_ROOT:
        return cfg;
    case CONFIG_SCOPE_LISTENER:
        return &cfg->listeners[0];
    case CONFIG_SCOPE_UPSTREAM:
        return &cfg->upstreams[0];
    }
    return NULL;
}

/* value_of returns |k| as the file set it: "workers": 0 is stored resolved to the CPU
 * count (workers_auto). */
static uint64_t value_of(const struct config *cfg, const struct config_key *k)
{
    if (k->scope == CONFIG_SCOPE_ROOT && k->offset == offsetof(struct config, workers)) {
        return cfg->workers_auto ? 0 : cfg->workers;
    }
    return config_key_get(k, base_of(cfg, k));
}

static bool numeric(const struct config_key *k)
{
    return k->type == CONFIG_KEY_COUNT || k->type == CONFIG_KEY_SIZE ||
           k->type == CONFIG_KEY_DURATION;
}

/* number returns |v| as JSON: an integer, or a string of digits past json_int_t. */
static json_t *number(uint64_t v)
{
    if (v <= INT64_MAX) {
        return json_integer((json_int_t)v);
    }
    char s[32];
    snprintf(s, sizeof(s), "%llu", (unsigned long long)v);
    return json_string(s);
}

/* ---- the table itself ------------------------------------------------------------- */

static size_t scope_size(enum config_scope scope)
{
    switch (scope) {
    case CONFIG_SCOPE_ROOT:
        return sizeof(struct config);
    case CONFIG_SCOPE_LISTENER:
        return sizeof(struct config_listener);
    case CONFIG_SCOPE_UPSTREAM:
        return sizeof(struct config_upstream);
    }
    return 0;
}

START_TEST(test_table_is_consistent)
{
    ck_assert_uint_gt(config_num_keys, 30);
    for (size_t i = 0; i < config_num_keys; i++) {
        const struct config_key *k = &config_keys[i];
        char path[128];
        key_path(k, path, sizeof(path));
        ck_assert_msg(k->name[0] != '\0', "key %zu has no name", i);
        for (const char *c = k->name; *c != '\0'; c++) {
            ck_assert_msg(islower((unsigned char)*c) || isdigit((unsigned char)*c) || *c == '_',
                          "%s: not a lower_snake_case name", path);
        }
        /* One line of certgate.json(5). */
        size_t doc_len = strlen(k->doc);
        ck_assert_msg(doc_len > 10 && doc_len <= 80 && k->doc[doc_len - 1] == '.',
                      "%s: doc must be one sentence of at most 80 characters", path);
        ck_assert_msg(k->size == 1 || k->size == 2 || k->size == 4 || k->size == 8,
                      "%s: field size %zu", path, k->size);
        ck_assert_msg(k->offset + k->size <= scope_size(k->scope), "%s: field outside its struct",
                      path);
        uint64_t field_max = k->size == 8 ? UINT64_MAX : (1ull << (8 * k->size)) - 1;
        switch (k->type) {
        case CONFIG_KEY_COUNT:
        case CONFIG_KEY_SIZE:
        case CONFIG_KEY_DURATION:
            ck_assert_msg(k->min <= k->def && k->def <= k->max, "%s: default out of range", path);
            ck_assert_msg(k->max <= field_max, "%s: max does not fit the field", path);
            ck_assert_msg(k->choices == NULL, "%s: choices on a number", path);
            break;
        case CONFIG_KEY_BOOL:
            ck_assert_msg(k->def <= 1 && k->size == sizeof(bool), "%s: not a bool", path);
            break;
        case CONFIG_KEY_ENUM: {
            bool has_def = false;
            size_t n = 0;
            for (const struct config_choice *c = k->choices; c->name != NULL; c++, n++) {
                has_def |= c->value == k->def;
                ck_assert_msg(c->value <= field_max, "%s: \"%s\" does not fit", path, c->name);
            }
            ck_assert_msg(n >= 2 && has_def, "%s: default is not one of >= 2 choices", path);
            break;
        }
        }
        for (size_t j = 0; j < i; j++) {
            const struct config_key *o = &config_keys[j];
            if (o->scope != k->scope) {
                continue;
            }
            bool same_object =
                (o->object == NULL && k->object == NULL) ||
                (o->object != NULL && k->object != NULL && strcmp(o->object, k->object) == 0);
            ck_assert_msg(!same_object || strcmp(o->name, k->name) != 0, "%s: twice", path);
            ck_assert_msg(o->offset + o->size <= k->offset || k->offset + k->size <= o->offset,
                          "%s: same field as %s", path, o->name);
        }
    }
}
END_TEST

START_TEST(test_format_and_section)
{
    const struct config_key size = {.type = CONFIG_KEY_SIZE};
    const struct config_key ms = {.type = CONFIG_KEY_DURATION};
    const struct config_key flag = {.type = CONFIG_KEY_BOOL};
    char b[32];
    ck_assert_str_eq(config_key_format(&size, 0, b, sizeof(b)), "0");
    ck_assert_str_eq(config_key_format(&size, 1000, b, sizeof(b)), "1000");
    ck_assert_str_eq(config_key_format(&size, 8192, b, sizeof(b)), "8KiB");
    ck_assert_str_eq(config_key_format(&size, 1536 * 1024, b, sizeof(b)), "1536KiB");
    ck_assert_str_eq(config_key_format(&size, 64ull << 20, b, sizeof(b)), "64MiB");
    ck_assert_str_eq(config_key_format(&size, 2ull << 30, b, sizeof(b)), "2GiB");
    ck_assert_str_eq(config_key_format(&ms, 0, b, sizeof(b)), "0");
    ck_assert_str_eq(config_key_format(&ms, 1, b, sizeof(b)), "1ms");
    ck_assert_str_eq(config_key_format(&ms, 1500, b, sizeof(b)), "1500ms");
    ck_assert_str_eq(config_key_format(&ms, 90000, b, sizeof(b)), "90s");
    ck_assert_str_eq(config_key_format(&ms, 300000, b, sizeof(b)), "5m");
    ck_assert_str_eq(config_key_format(&ms, 24 * 3600000ull, b, sizeof(b)), "24h");
    ck_assert_str_eq(config_key_format(&flag, 1, b, sizeof(b)), "true");

    bool seen_tls = false;
    for (size_t i = 0; i < config_num_keys; i++) {
        const struct config_key *k = &config_keys[i];
        config_key_section(k, b, sizeof(b));
        if (k->scope == CONFIG_SCOPE_LISTENER && k->object != NULL) {
            ck_assert_str_eq(b, "listeners[].tls");
            seen_tls = true;
        } else if (k->scope == CONFIG_SCOPE_UPSTREAM && k->object == NULL) {
            ck_assert_str_eq(b, "upstreams.<name>");
        } else if (k->scope == CONFIG_SCOPE_ROOT && k->object == NULL) {
            ck_assert_str_eq(b, "");
        }
        /* An ENUM value that is no choice is shown, not invented. */
        if (k->type == CONFIG_KEY_ENUM) {
            ck_assert_str_eq(config_key_format(k, 12345, b, sizeof(b)), "?");
        }
    }
    ck_assert(seen_tls);
}
END_TEST

/* ---- the loader and the summary, key by key --------------------------------------- */

START_TEST(test_defaults_applied_and_printed)
{
    json_t *doc = new_doc();
    struct config *cfg = load_ok(doc);
    char *summary = NULL;
    size_t summary_len = 0;
    FILE *f = open_memstream(&summary, &summary_len);
    config_print_summary(cfg, f);
    fclose(f);
    for (size_t i = 0; i < config_num_keys; i++) {
        const struct config_key *k = &config_keys[i];
        char path[128];
        char value[32];
        char item[160];
        key_path(k, path, sizeof(path));
        ck_assert_msg(value_of(cfg, k) == k->def, "%s: %llu, not the default %llu", path,
                      (unsigned long long)value_of(cfg, k), (unsigned long long)k->def);
        if (k->scope == CONFIG_SCOPE_ROOT && k->object == NULL) {
            continue; /* "workers": the summary says "N workers (one per core)" */
        }
        bool prefix = k->scope != CONFIG_SCOPE_ROOT && k->object != NULL;
        snprintf(item, sizeof(item), "%s%s%s %s", prefix ? k->object : "", prefix ? "." : "",
                 k->name, config_key_format(k, k->def, value, sizeof(value)));
        ck_assert_msg(strstr(summary, item) != NULL, "%s: '%s' not in the summary:\n%s", path, item,
                      summary);
    }
    ck_assert_ptr_nonnull(strstr(summary, "(one per core)"));
    ck_assert_ptr_nonnull(strstr(summary, "max_body 0 (unlimited)"));
    free(summary);
    config_free(cfg);
    json_decref(doc);
}
END_TEST

/* check_all_at sets every number to min (|at_max| false) or max, as JSON numbers or as
 * the strings config_key_format gives (sizes and durations), and checks every value. */
static void check_all_at(bool at_max, bool as_strings)
{
    json_t *doc = new_doc();
    for (size_t i = 0; i < config_num_keys; i++) {
        const struct config_key *k = &config_keys[i];
        uint64_t v = at_max ? k->max : k->min;
        char s[32];
        if (!numeric(k)) {
            continue;
        }
        if (as_strings && k->type != CONFIG_KEY_COUNT) {
            set_key(doc, k, json_string(config_key_format(k, v, s, sizeof(s))));
        } else {
            set_key(doc, k, number(v));
        }
    }
    struct config *cfg = load_ok(doc);
    for (size_t i = 0; i < config_num_keys; i++) {
        const struct config_key *k = &config_keys[i];
        char path[128];
        if (numeric(k)) {
            uint64_t want = at_max ? k->max : k->min;
            ck_assert_msg(value_of(cfg, k) == want, "%s: %llu, set to %llu",
                          key_path(k, path, sizeof(path)), (unsigned long long)value_of(cfg, k),
                          (unsigned long long)want);
        }
    }
    config_free(cfg);
    json_decref(doc);
}

START_TEST(test_min_and_max_accepted)
{
    check_all_at(false, false);
    check_all_at(true, false);
    check_all_at(false, true);
    check_all_at(true, true);
}
END_TEST

START_TEST(test_every_choice_accepted)
{
    for (size_t i = 0; i < config_num_keys; i++) {
        const struct config_key *k = &config_keys[i];
        static const struct config_choice bools[] = {{"false", 0}, {"true", 1}, {NULL, 0}};
        const struct config_choice *choices = k->type == CONFIG_KEY_BOOL ? bools : k->choices;
        if (numeric(k)) {
            continue;
        }
        for (const struct config_choice *c = choices; c->name != NULL; c++) {
            char path[128];
            json_t *doc = new_doc();
            set_key(doc, k,
                    k->type == CONFIG_KEY_BOOL ? json_boolean(c->value) : json_string(c->name));
            struct config *cfg = load_ok(doc);
            ck_assert_msg(value_of(cfg, k) == c->value, "%s = %s: stored %llu",
                          key_path(k, path, sizeof(path)), c->name,
                          (unsigned long long)value_of(cfg, k));
            config_free(cfg);
            json_decref(doc);
        }
    }
}
END_TEST

START_TEST(test_null_is_the_default)
{
    for (size_t i = 0; i < config_num_keys; i++) {
        const struct config_key *k = &config_keys[i];
        char path[128];
        json_t *doc = new_doc();
        set_key(doc, k, json_null());
        struct config *cfg = load_ok(doc);
        ck_assert_msg(value_of(cfg, k) == k->def, "%s: null is not the default",
                      key_path(k, path, sizeof(path)));
        config_free(cfg);
        json_decref(doc);
    }
}
END_TEST

START_TEST(test_out_of_range_refused)
{
    for (size_t i = 0; i < config_num_keys; i++) {
        const struct config_key *k = &config_keys[i];
        char min[32];
        char want[64];
        if (!numeric(k)) {
            continue;
        }
        if (k->min > 0) {
            /* Durations read as such first: a value under the minimum says which. */
            snprintf(want, sizeof(want), "must be at least %s",
                     config_key_format(k, k->min, min, sizeof(min)));
            expect_refused(k, number(k->min - 1),
                           k->type == CONFIG_KEY_DURATION ? want : "expected");
        }
        expect_refused(k, json_integer(-1), "expected");
        expect_refused(k, number(k->max + 1), "expected");
    }
}
END_TEST

START_TEST(test_wrong_type_refused)
{
    for (size_t i = 0; i < config_num_keys; i++) {
        const struct config_key *k = &config_keys[i];
        char want[64];
        switch (k->type) {
        case CONFIG_KEY_COUNT:
            expect_refused(k, json_string("1"), "expected an integer");
            expect_refused(k, json_real(1.5), "expected an integer");
            expect_refused(k, json_true(), "expected an integer");
            break;
        case CONFIG_KEY_SIZE:
            expect_refused(k, json_string("8 KiB"), "expected a size");
            expect_refused(k, json_string("1.5MiB"), "expected a size");
            expect_refused(k, json_true(), "expected a size");
            break;
        case CONFIG_KEY_DURATION:
            expect_refused(k, json_string("10x"), "expected a duration");
            expect_refused(k, json_string("1.5s"), "expected a duration");
            expect_refused(k, json_real(1.5), "expected a duration");
            expect_refused(k, json_array(), "expected a duration");
            break;
        case CONFIG_KEY_BOOL:
            expect_refused(k, json_string("true"), "expected true or false");
            expect_refused(k, json_integer(1), "expected true or false");
            break;
        case CONFIG_KEY_ENUM:
            expect_refused(k, json_integer(1), "expected a string");
            expect_refused(k, json_true(), "expected a string");
            snprintf(want, sizeof(want), "expected \"%s\"", k->choices[0].name);
            expect_refused(k, json_string("bogus"), want);
            /* Choices are exact: no case folding. */
            char upper[32];
            snprintf(upper, sizeof(upper), "%s", k->choices[0].name);
            upper[0] = (char)toupper((unsigned char)upper[0]);
            if (strcmp(upper, k->choices[0].name) != 0) {
                expect_refused(k, json_string(upper), want);
            }
            break;
        }
    }
}
END_TEST

/* Every key of an object is a key of the table or of its section parser: a misspelt
 * one is refused with its path. */
START_TEST(test_misspelt_key_refused)
{
    for (size_t i = 0; i < config_num_keys; i++) {
        const struct config_key k0 = config_keys[i];
        char name[96];
        char want[160];
        snprintf(name, sizeof(name), "%ss", k0.name);
        struct config_key k = k0;
        k.name = name;
        snprintf(want, sizeof(want), "unknown key \"%s\"", name);
        expect_refused(&k, json_true(), want);
    }
}
END_TEST

/* ---- the documents that state the defaults ---------------------------------------- */

/* doc_default writes |k|'s default as the docs show it: strings in JSON quotes. */
static const char *doc_default(const struct config_key *k, char *buf, size_t len)
{
    char v[32];
    config_key_format(k, k->def, v, sizeof(v));
    snprintf(buf, len, k->type == CONFIG_KEY_ENUM ? "\"%s\"" : "%s", v);
    return buf;
}

/* split_row splits the markdown table row |line| into trimmed cells (at most |max|);
 * it returns their number. The cells point into |line|, which it modifies. */
static size_t split_row(char *line, char **cells, size_t max)
{
    size_t n = 0;
    char *p = line + 1; /* after the leading '|' */
    while (n < max && *p != '\0') {
        char *end = strchr(p, '|');
        if (end == NULL) {
            break;
        }
        *end = '\0';
        while (*p == ' ') {
            p++;
        }
        char *e = end;
        while (e > p && e[-1] == ' ') {
            *--e = '\0';
        }
        cells[n++] = p;
        p = end + 1;
    }
    return n;
}

/* md_default finds, in |text| (docs/configuration.md), the table under the heading of
 * |k|'s section and returns in |out| the "default" cell of the row of |k|. */
static bool md_default(const char *text, const struct config_key *k, char *out, size_t out_len)
{
    char section[64];
    char heading[80];
    config_key_section(k, section, sizeof(section));
    if (section[0] == '\0') {
        snprintf(heading, sizeof(heading), "Top level");
    } else {
        snprintf(heading, sizeof(heading), "`%s`", section);
    }
    char *copy = strdup(text);
    char *save = NULL;
    bool in_section = false;
    long default_col = -1;
    bool found = false;
    for (char *line = strtok_r(copy, "\n", &save); line != NULL && !found;
         line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#') {
            const char *h = line;
            while (*h == '#' || *h == ' ') {
                h++;
            }
            in_section = strcmp(h, heading) == 0;
            default_col = -1;
            continue;
        }
        if (!in_section || line[0] != '|') {
            continue;
        }
        char *cells[16];
        size_t n = split_row(line, cells, 16);
        if (default_col < 0) {
            for (size_t i = 0; i < n; i++) {
                if (strcmp(cells[i], "default") == 0) {
                    default_col = (long)i;
                }
            }
            continue;
        }
        char name[96];
        snprintf(name, sizeof(name), "`%s`", k->name);
        if (n > (size_t)default_col && strcmp(cells[0], name) == 0) {
            snprintf(out, out_len, "%s", cells[default_col]);
            found = true;
        }
    }
    free(copy);
    return found;
}

START_TEST(test_configuration_md_states_every_default)
{
    char *text = read_text(repo_path("docs/configuration.md"));
    for (size_t i = 0; i < config_num_keys; i++) {
        const struct config_key *k = &config_keys[i];
        char path[128];
        char cell[256];
        char def[64];
        char want[80];
        key_path(k, path, sizeof(path));
        ck_assert_msg(md_default(text, k, cell, sizeof(cell)),
                      "docs/configuration.md has no row for %s under its section", path);
        snprintf(want, sizeof(want), "`%s`", doc_default(k, def, sizeof(def)));
        ck_assert_msg(strcmp(cell, want) == 0,
                      "docs/configuration.md: %s: default %s, the code says %s", path, cell, want);
    }
    free(text);
}
END_TEST

/* roff_plain turns a man page line into its text: ".B a b" is "a b", ".BR a b" is "ab",
 * quotes group, \(dq is '"', \- is '-', font changes vanish. */
static void roff_plain(const char *line, char *out, size_t out_len)
{
    size_t n = 0;
    bool join = false;
    if (strncmp(line, ".BR ", 4) == 0 || strncmp(line, ".RB ", 4) == 0) {
        line += 4;
        join = true;
    } else if (strncmp(line, ".B ", 3) == 0) {
        line += 3;
    }
    bool quoted = false;
    for (const char *p = line; *p != '\0' && n + 1 < out_len; p++) {
        if (*p == '"') {
            quoted = !quoted;
        } else if (*p == ' ' && join && !quoted) {
            continue;
        } else if (strncmp(p, "\\(dq", 4) == 0) {
            out[n++] = '"';
            p += 3;
        } else if (strncmp(p, "\\(en", 4) == 0) {
            out[n++] = '-';
            p += 3;
        } else if (strncmp(p, "\\-", 2) == 0) {
            out[n++] = '-';
            p += 1;
        } else if (strncmp(p, "\\f", 2) == 0 && p[2] != '\0') {
            p += 2;
        } else {
            out[n++] = *p;
        }
    }
    out[n] = '\0';
}

/* word_at reports whether |name| starts at |p| in |s| as a whole key name. */
static bool word_at(const char *s, const char *p, const char *name)
{
    char before = p == s ? ' ' : p[-1];
    char after = p[strlen(name)];
    return (before == ' ' || before == '.') && !isalnum((unsigned char)after) && after != '_';
}

START_TEST(test_man_page_states_every_default)
{
    char *text = read_text(repo_path("docs/man/certgate.json.5"));
    for (size_t i = 0; i < config_num_keys; i++) {
        const struct config_key *k = &config_keys[i];
        char path[128];
        char def[64];
        char bracket[80], word[80];
        key_path(k, path, sizeof(path));
        doc_default(k, def, sizeof(def));
        snprintf(bracket, sizeof(bracket), "[%s]", def);
        snprintf(word, sizeof(word), "default %s", def);
        bool found = false;
        /* A ".TP" entry: its first line names the key and its default, the next one
         * starts with the table's doc line. */
        char *copy = strdup(text);
        char *save = NULL;
        char *prev = NULL;
        char *head = NULL;
        for (char *line = strtok_r(copy, "\n", &save); line != NULL && !found;
             line = strtok_r(NULL, "\n", &save)) {
            if (head != NULL) {
                char plain[512];
                roff_plain(line, plain, sizeof(plain));
                ck_assert_msg(strncmp(plain, k->doc, strlen(k->doc)) == 0,
                              "certgate.json(5): %s: '%s' does not start with '%s'", path, plain,
                              k->doc);
                found = true;
            } else if (prev != NULL && strcmp(prev, ".TP") == 0) {
                char plain[512];
                roff_plain(line, plain, sizeof(plain));
                const char *p = strstr(plain, k->name);
                if (p != NULL && word_at(plain, p, k->name)) {
                    const char *d = strstr(plain, bracket);
                    const char *w = strstr(plain, word);
                    ck_assert_msg(d != NULL ||
                                      (w != NULL && !isalnum((unsigned char)w[strlen(word)])),
                                  "certgate.json(5): %s: '%s' does not say [%s]", path, plain, def);
                    head = line;
                }
            }
            prev = line;
        }
        free(copy);
        ck_assert_msg(found, "certgate.json(5) has no entry for %s", path);
    }
    free(text);
}
END_TEST

/* conf/certgate.example.json documents every key by example, at its default. */
START_TEST(test_example_spells_every_default)
{
    json_error_t e;
    json_t *doc = json_load_file(repo_path("conf/certgate.example.json"), 0, &e);
    ck_assert_msg(doc != NULL, "%s", e.text);
    struct config *cfg = NULL;
    struct cg_errbuf err = {{0}};
    ck_assert_msg(config_load_file(repo_path("conf/certgate.example.json"), &cfg, &err) == CG_OK,
                  "%s", err.msg);
    json_t *upstreams = json_object_get(doc, "upstreams");
    for (size_t i = 0; i < config_num_keys; i++) {
        const struct config_key *k = &config_keys[i];
        char path[128];
        key_path(k, path, sizeof(path));
        /* The example's first listener and upstream, whatever their names. */
        json_t *o = k->scope == CONFIG_SCOPE_ROOT ? doc
                    : k->scope == CONFIG_SCOPE_LISTENER
                        ? json_array_get(json_object_get(doc, "listeners"), 0)
                        : json_object_iter_value(json_object_iter(upstreams));
        if (k->object != NULL) {
            o = json_object_get(o, k->object);
        }
        ck_assert_msg(json_object_get(o, k->name) != NULL, "the example lacks %s", path);
        ck_assert_msg(value_of(cfg, k) == k->def, "the example sets %s to %llu, not its default",
                      path, (unsigned long long)value_of(cfg, k));
    }
    config_free(cfg);
    json_decref(doc);
}
END_TEST

Suite *cg_test_suite(void)
{
    Suite *s = suite_create("config_keys");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_table_is_consistent);
    tcase_add_test(tc, test_format_and_section);
    tcase_add_test(tc, test_defaults_applied_and_printed);
    tcase_add_test(tc, test_min_and_max_accepted);
    tcase_add_test(tc, test_every_choice_accepted);
    tcase_add_test(tc, test_null_is_the_default);
    tcase_add_test(tc, test_out_of_range_refused);
    tcase_add_test(tc, test_wrong_type_refused);
    tcase_add_test(tc, test_misspelt_key_refused);
    tcase_add_test(tc, test_configuration_md_states_every_default);
    tcase_add_test(tc, test_man_page_states_every_default);
    tcase_add_test(tc, test_example_spells_every_default);
    suite_add_tcase(s, tc);
    return s;
}
