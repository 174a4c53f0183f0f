/* Tests of proxy/core/host_table.c: which host entry a server name picks (exact name,
 * then wildcard, then the listener's default, or none), when a request's authority
 * names another virtual host than its connection's (the 421 rule, IP literals and ports
 * included), the policy slots the entries take, and routing by path prefix (longest
 * first, on segment boundaries, letter case as the policy compares routes). */
#include "proxy/core/host_table.h"

#include "check_main.h"
#include <stdlib.h>
#include <string.h>

#define UPSTREAMS                                                                                  \
    "'upstreams':{'a':{'servers':['127.0.0.1:8081']},'b':{'servers':['127.0.0.1:8082']},"          \
    "'c':{'servers':['127.0.0.1:8083']},'d':{'servers':['127.0.0.1:8084']}}"
#define HOSTS                                                                                      \
    "'hosts':[{'names':['db1.example.com','db1.alt.example.com'],'upstream':'a','policy':'pa'},"   \
    "{'names':['*.eu.example.com'],'upstream':'b','policy':'pb','paths':["                         \
    "{'prefix':'/ingest/','upstream':'c'},{'prefix':'/ingest/raw','upstream':'d'},"                \
    "{'prefix':'/API','upstream':'d'}]},"                                                          \
    "{'names':['a.eu.example.com'],'upstream':'c','policy':'pc'}]"
#define LISTENER(extra)                                                                            \
    "{'listeners':[{'name':'l','listen':['127.0.0.1:8443'],'tls':{'certificates':[{'cert':'c',"    \
    "'key':'k'}]}," HOSTS extra "}]," UPSTREAMS "}"

static struct config *load(const char *text)
{
    char *d = strdup(text);
    for (char *p = d; *p != '\0'; p++) {
        if (*p == '\'') {
            *p = '"';
        }
    }
    struct config *cfg = NULL;
    struct cg_errbuf err = {{0}};
    int rc = config_load_string("t.json", d, strlen(d), "/etc", &cfg, &err);
    free(d);
    ck_assert_msg(rc == 0, "%s", err.msg);
    return cfg;
}

static const char *entry_name(const struct host_entry *e)
{
    return e == NULL ? "(none)" : e->name[0] ? e->name : "(default)";
}

START_TEST(test_entries_and_slots)
{
    struct config *cfg = load(LISTENER(",'upstream':'d','policy':'p'"));
    struct host_table *t = host_table_new(&cfg->listeners[0], 7);
    ck_assert_uint_eq(t->num_entries, 4);
    for (size_t i = 0; i < 3; i++) {
        ck_assert_uint_eq(t->entries[i].policy_slot, 7 + i);
        ck_assert_ptr_eq(t->entries[i].cfg, &cfg->listeners[0].hosts[i]);
    }
    ck_assert_str_eq(t->entries[0].name, "db1.example.com");
    ck_assert_str_eq(t->entries[0].policy_file, "/etc/pa");
    ck_assert_ptr_eq(t->def, &t->entries[3]);
    ck_assert_uint_eq(t->def->policy_slot, 10);
    ck_assert_str_eq(t->def->name, "");
    ck_assert_str_eq(t->def->policy_file, "/etc/p");
    ck_assert_uint_eq(t->def->upstream_index, 3);
    /* References: the table lives until the last one goes. */
    ck_assert_ptr_eq(host_table_ref(t), t);
    host_table_unref(t);
    host_table_unref(t);
    host_table_unref(NULL);
    config_free(cfg);

    /* Without a default. */
    cfg = load(LISTENER(""));
    t = host_table_new(&cfg->listeners[0], 0);
    ck_assert_uint_eq(t->num_entries, 3);
    ck_assert_ptr_null(t->def);
    host_table_unref(t);
    config_free(cfg);
}
END_TEST

START_TEST(test_for_sni)
{
    struct config *cfg = load(LISTENER(",'upstream':'d'"));
    struct host_table *t = host_table_new(&cfg->listeners[0], 0);
    ck_assert_str_eq(entry_name(host_table_for_sni(t, "db1.example.com")), "db1.example.com");
    ck_assert_str_eq(entry_name(host_table_for_sni(t, "db1.alt.example.com")), "db1.example.com");
    ck_assert_str_eq(entry_name(host_table_for_sni(t, "a.eu.example.com")), "a.eu.example.com");
    ck_assert_str_eq(entry_name(host_table_for_sni(t, "b.eu.example.com")), "*.eu.example.com");
    ck_assert_str_eq(entry_name(host_table_for_sni(t, "x.b.eu.example.com")), "(default)");
    ck_assert_str_eq(entry_name(host_table_for_sni(t, "other.example.com")), "(default)");
    ck_assert_str_eq(entry_name(host_table_for_sni(t, "")), "(default)");
    host_table_unref(t);
    config_free(cfg);

    cfg = load(LISTENER(""));
    t = host_table_new(&cfg->listeners[0], 0);
    ck_assert_str_eq(entry_name(host_table_for_sni(t, "db1.example.com")), "db1.example.com");
    ck_assert_ptr_null(host_table_for_sni(t, "other.example.com"));
    ck_assert_ptr_null(host_table_for_sni(t, ""));
    host_table_unref(t);
    config_free(cfg);
}
END_TEST

static bool misdirected(const struct host_table *t, const char *sni, const char *authority)
{
    return host_table_misdirected(t, host_table_for_sni(t, sni), cg_str_from_cstr(authority));
}

START_TEST(test_misdirected)
{
    struct config *cfg = load(LISTENER(",'upstream':'d'"));
    struct host_table *t = host_table_new(&cfg->listeners[0], 0);
    /* A host entry: any of its names, with or without port, case, one trailing dot. */
    static const char *const same[] = {"db1.example.com", "DB1.Example.com:8443",
                                       "db1.example.com.", "db1.alt.example.com:443", ""};
    for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
        ck_assert_msg(!misdirected(t, "db1.example.com", same[i]), "%s", same[i]);
    }
    /* Another entry's name, a name no entry has, an IP literal (also the listener's own
     * address), a malformed authority: another virtual host. */
    static const char *const other[] = {
        "b.eu.example.com", "a.eu.example.com", "unknown.example.com", "127.0.0.1:8443",
        "127.0.0.1",        "[::1]:8443",       "db1.example.com..",   "db1.example.com@evil"};
    for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
        ck_assert_msg(misdirected(t, "db1.example.com", other[i]), "%s", other[i]);
    }
    /* A wildcard entry: every name it covers is the same entry, but not an exact name
     * that another entry has. */
    ck_assert(!misdirected(t, "b.eu.example.com", "c.eu.example.com"));
    ck_assert(misdirected(t, "b.eu.example.com", "a.eu.example.com"));
    ck_assert(misdirected(t, "a.eu.example.com", "b.eu.example.com"));
    /* The default (no SNI, or a name no entry has): misdirected only when the authority
     * names a host entry; whether it equals the SNI is the policy's check. */
    ck_assert(misdirected(t, "", "db1.example.com"));
    ck_assert(misdirected(t, "other.example.com", "x.eu.example.com:8443"));
    ck_assert(!misdirected(t, "", "127.0.0.1:8443"));
    ck_assert(!misdirected(t, "", "other.example.com"));
    ck_assert(!misdirected(t, "other.example.com", "other.example.com"));
    host_table_unref(t);
    config_free(cfg);

    /* A listener without hosts leaves Host to the policy. */
    cfg = load("{'listeners':[{'name':'l','listen':['127.0.0.1:8443'],'tls':{'certificates':["
               "{'cert':'c','key':'k'}]},'upstream':'a'}]," UPSTREAMS "}");
    t = host_table_new(&cfg->listeners[0], 0);
    ck_assert_uint_eq(t->num_entries, 1);
    ck_assert(!misdirected(t, "db.example.com", "anything.example.com"));
    host_table_unref(t);
    config_free(cfg);
}
END_TEST

static const struct config *route_cfg;

/* route names the upstream a request of the connection with server name |sni| goes to. */
static const char *route(const struct host_table *t, const char *sni, const char *path, bool cs)
{
    const struct host_entry *e = host_table_for_sni(t, sni);
    ck_assert_ptr_nonnull(e);
    return route_cfg->upstreams[host_entry_upstream(e, cg_str_from_cstr(path), cs)].name;
}

START_TEST(test_paths)
{
    struct config *cfg = load(LISTENER(",'upstream':'d'"));
    struct host_table *t = host_table_new(&cfg->listeners[0], 0);
    route_cfg = cfg;
    const char *sni = "x.eu.example.com";
    /* "/ingest/" (ends in '/'): what starts with it. */
    ck_assert_str_eq(route(t, sni, "/ingest/x", false), "c");
    ck_assert_str_eq(route(t, sni, "/ingest/", false), "c");
    ck_assert_str_eq(route(t, sni, "/ingest/x/y", false), "c");
    ck_assert_str_eq(route(t, sni, "/ingest", false), "b");
    ck_assert_str_eq(route(t, sni, "/ingestion/x", false), "b");
    /* "/ingest/raw" (no '/'): itself and below it, not "/ingest/rawer"; longest wins. */
    ck_assert_str_eq(route(t, sni, "/ingest/raw", false), "d");
    ck_assert_str_eq(route(t, sni, "/ingest/raw/1", false), "d");
    ck_assert_str_eq(route(t, sni, "/ingest/rawer", false), "c");
    /* Letter case as the policy's routes: by default not. */
    ck_assert_str_eq(route(t, sni, "/INGEST/x", false), "c");
    ck_assert_str_eq(route(t, sni, "/INGEST/x", true), "b");
    ck_assert_str_eq(route(t, sni, "/api/v1", false), "d");
    ck_assert_str_eq(route(t, sni, "/api/v1", true), "b");
    ck_assert_str_eq(route(t, sni, "/API/v1", true), "d");
    ck_assert_str_eq(route(t, sni, "/", false), "b");
    /* Entries without paths, and the default, use their own upstream. */
    ck_assert_str_eq(route(t, "db1.example.com", "/ingest/x", false), "a");
    ck_assert_str_eq(route(t, "elsewhere.example.com", "/ingest/x", false), "d");
    host_table_unref(t);
    config_free(cfg);
}
END_TEST

Suite *cg_test_suite(void)
{
    Suite *s = suite_create("host_table");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_entries_and_slots);
    tcase_add_test(tc, test_for_sni);
    tcase_add_test(tc, test_misdirected);
    tcase_add_test(tc, test_paths);
    suite_add_tcase(s, tc);
    return s;
}
