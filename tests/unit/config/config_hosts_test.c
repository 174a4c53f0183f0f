/* Tests of config/config_hosts.c: listeners[].hosts (names, upstream, policy,
 * certificates, paths), every validation error with the JSON path it names, the
 * listener's optional default, admin.host, and the name lookup (exact before wildcard,
 * a wildcard covers exactly one label, letter case ignored, ports and IP literals select
 * nothing). JSON is written with single quotes; doc() makes them double. */
#include "config/config.h"

#include "check_main.h"
#include "common/hostname.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UPSTREAMS                                                                                  \
    "'upstreams':{'a':{'servers':['127.0.0.1:8081']},'b':{'servers':['127.0.0.1:8082']},"          \
    "'c':{'servers':['127.0.0.1:8083']}}"
#define TLS "'tls':{'certificates':[{'cert':'c.pem','key':'k.pem'}]}"
#define HOST_A                                                                                     \
    "{'names':['db1.example.com','DB1.alt.example.com'],'upstream':'a','policy':'pa.json'}"
#define HOST_W "{'names':['*.eu.example.com'],'upstream':'b','policy':'pb.json'}"
/* DOC(listener keys after "tls", hosts): one listener on 127.0.0.1:8443. */
#define DOC(lextra, hosts)                                                                         \
    "{'listeners':[{'name':'l','listen':['127.0.0.1:8443']," TLS lextra ",'hosts':[" hosts         \
    "]}]," UPSTREAMS "}"

static char *doc(const char *s)
{
    char *d = strdup(s);
    for (char *p = d; *p != '\0'; p++) {
        if (*p == '\'') {
            *p = '"';
        }
    }
    return d;
}

static int load(const char *text, struct config **out, struct cg_errbuf *err)
{
    char *d = doc(text);
    int rc = config_load_string("certgate.json", d, strlen(d), "/etc/certgate", out, err);
    free(d);
    return rc;
}

static struct config *load_ok(const char *text)
{
    struct config *cfg = NULL;
    struct cg_errbuf err = {{0}};
    int rc = load(text, &cfg, &err);
    ck_assert_msg(rc == 0, "unexpected error: %s", err.msg);
    return cfg;
}

static void expect_err_at(const char *text, const char *want, int line)
{
    struct config *cfg = NULL;
    struct cg_errbuf err = {{0}};
    int rc = load(text, &cfg, &err);
    ck_assert_msg(rc == CG_ERR_INVALID, "line %d: expected an error containing '%s', got rc %d",
                  line, want, rc);
    ck_assert_msg(strstr(err.msg, want) != NULL, "line %d: '%s' does not contain '%s'", line,
                  err.msg, want);
    config_free(cfg);
}
#define expect_err(text, want) expect_err_at(text, want, __LINE__)

static const char *find(const struct config_listener *l, const char *name)
{
    const struct config_host *h = config_host_names_find(&l->host_names, cg_str_from_cstr(name));
    return h != NULL ? h->name : NULL;
}

START_TEST(test_hosts_parsed)
{
    struct config *cfg = load_ok(
        DOC(",'upstream':'c','policy':'p.json'", HOST_A
            ",{'names':['*.eu.example.com','x.example.com'],'upstream':'b','policy':'/abs/pb.json',"
            "'certificates':[{'cert':'hc.pem','key':'hk.pem','ocsp':'o.der'}],"
            "'paths':[{'prefix':'/ingest/','upstream':'c'},{'prefix':'/ingest/raw','upstream':'a'},"
            "{'prefix':'/','upstream':'a'}]}"));
    const struct config_listener *l = &cfg->listeners[0];
    ck_assert_uint_eq(l->num_hosts, 2);
    ck_assert_ptr_nonnull(l->upstream);
    ck_assert_str_eq(l->upstream->name, "c");
    const struct config_host *a = &l->hosts[0], *b = &l->hosts[1];
    ck_assert_uint_eq(a->index, 0);
    ck_assert_uint_eq(b->index, 1);
    /* Names are kept in lower case; the first one names the entry. */
    ck_assert_str_eq(a->name, "db1.example.com");
    ck_assert_uint_eq(a->num_names, 2);
    ck_assert_str_eq(a->names[1], "db1.alt.example.com");
    ck_assert_str_eq(a->upstream->name, "a");
    ck_assert_uint_eq(a->upstream_index, 0);
    ck_assert_str_eq(a->policy, "/etc/certgate/pa.json");
    ck_assert_uint_eq(a->num_certificates, 0);
    ck_assert_uint_eq(a->num_paths, 0);
    ck_assert_str_eq(b->name, "*.eu.example.com");
    ck_assert_str_eq(b->policy, "/abs/pb.json");
    ck_assert_uint_eq(b->num_certificates, 1);
    ck_assert_str_eq(b->certificates[0].cert, "/etc/certgate/hc.pem");
    ck_assert_str_eq(b->certificates[0].key, "/etc/certgate/hk.pem");
    ck_assert_str_eq(b->certificates[0].ocsp, "/etc/certgate/o.der");
    /* Paths are kept longest prefix first. */
    ck_assert_uint_eq(b->num_paths, 3);
    ck_assert_str_eq(b->paths[0].prefix, "/ingest/raw");
    ck_assert_str_eq(b->paths[0].upstream->name, "a");
    ck_assert_str_eq(b->paths[1].prefix, "/ingest/");
    ck_assert_uint_eq(b->paths[1].prefix_len, 8);
    ck_assert_uint_eq(b->paths[1].upstream_index, 2);
    ck_assert_str_eq(b->paths[2].prefix, "/");
    config_free(cfg);
}
END_TEST

START_TEST(test_lookup)
{
    struct config *cfg = load_ok(DOC(
        "", HOST_A "," HOST_W ",{'names':['a.eu.example.com'],'upstream':'c','policy':'pc.json'}"));
    const struct config_listener *l = &cfg->listeners[0];
    ck_assert_str_eq(find(l, "db1.example.com"), "db1.example.com");
    ck_assert_str_eq(find(l, "DB1.Example.COM"), "db1.example.com");
    ck_assert_str_eq(find(l, "db1.alt.example.com"), "db1.example.com");
    /* Exact before wildcard, whatever the order in the file. */
    ck_assert_str_eq(find(l, "a.eu.example.com"), "a.eu.example.com");
    ck_assert_str_eq(find(l, "b.eu.example.com"), "*.eu.example.com");
    ck_assert_str_eq(find(l, "B.EU.example.com"), "*.eu.example.com");
    /* A wildcard covers exactly one label. */
    ck_assert_ptr_null(find(l, "eu.example.com"));
    ck_assert_ptr_null(find(l, "x.b.eu.example.com"));
    /* Not host names: nothing. */
    static const char *const none[] = {"",
                                       "db1.example.com:8443",
                                       "db1.example.com.",
                                       "127.0.0.1",
                                       "[::1]",
                                       "*.eu.example.com",
                                       "db1.example.com\n",
                                       "example.com",
                                       "db2.example.com"};
    for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
        ck_assert_msg(find(l, none[i]) == NULL, "%s", none[i]);
    }
    /* A name as long as a host name can be still works (no buffer at its limit). */
    char longname[CG_HOSTNAME_MAX + 1];
    memset(longname, 'a', sizeof(longname));
    for (size_t i = 60; i < CG_HOSTNAME_MAX; i += 61) {
        longname[i] = '.';
    }
    longname[CG_HOSTNAME_MAX] = '\0';
    ck_assert_ptr_null(find(l, longname));
    config_free(cfg);
}
END_TEST

START_TEST(test_default_optional_with_hosts)
{
    /* With hosts, the listener's own upstream and policy may be left out: no default. */
    struct config *cfg = load_ok(DOC("", HOST_A));
    ck_assert_ptr_null(cfg->listeners[0].upstream);
    ck_assert_ptr_null(cfg->listeners[0].policy);
    config_free(cfg);
    /* Without hosts the upstream stays required; a policy needs an upstream. */
    expect_err("{'listeners':[{'name':'l','listen':['127.0.0.1:8443']," TLS "}]," UPSTREAMS "}",
               "$.listeners[0].upstream: required: the name of an upstream");
    expect_err(DOC(",'policy':'p.json'", HOST_A),
               "$.listeners[0].upstream: required with \"policy\"");
    /* An empty hosts list is no hosts. */
    expect_err("{'listeners':[{'name':'l','listen':['127.0.0.1:8443']," TLS
               ",'hosts':[]}]," UPSTREAMS "}",
               "$.listeners[0].upstream: required");
}
END_TEST

START_TEST(test_host_errors)
{
    expect_err(DOC("", "{'upstream':'a','policy':'p'}"),
               "$.listeners[0].hosts[0].names: required: host names");
    expect_err(DOC("", "{'names':[],'upstream':'a','policy':'p'}"),
               "$.listeners[0].hosts[0].names: expected at least one of host names");
    static const char *const bad_names[] = {"db.example.com:8443",
                                            "127.0.0.1",
                                            "db.example.com.",
                                            "*.*.example.com",
                                            "db*.example.com",
                                            "*",
                                            "a..b",
                                            "-a.example.com",
                                            "[::1]"};
    for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
        char text[1024];
        snprintf(text, sizeof(text),
                 DOC("", "{'names':['ok.example.com','%s'],'upstream':'a','policy':'p'}"),
                 bad_names[i]);
        expect_err(text, "$.listeners[0].hosts[0].names[1]: expected a host name");
    }
    expect_err(DOC("", "{'names':[1],'upstream':'a','policy':'p'}"),
               "$.listeners[0].hosts[0].names[0]: expected a non-empty string");
    /* Unique across the listener's hosts, whatever the letter case. */
    expect_err(
        DOC("", HOST_A ",{'names':['x.example.com','db1.EXAMPLE.com'],'upstream':'b',"
                       "'policy':'p'}"),
        "$.listeners[0].hosts[1].names[1]: \"db1.example.com\" is already a name of hosts[0]");
    expect_err(
        DOC("", HOST_W "," HOST_W),
        "$.listeners[0].hosts[1].names[0]: \"*.eu.example.com\" is already a name of hosts[0]");
    expect_err(DOC("", "{'names':['a.example.com','A.example.com'],'upstream':'a','policy':'p'}"),
               "$.listeners[0].hosts[0].names[1]: duplicate name \"a.example.com\"");
    expect_err(DOC("", "{'names':['a.example.com'],'policy':'p'}"),
               "$.listeners[0].hosts[0].upstream: required: the name of an upstream");
    expect_err(DOC("", "{'names':['a.example.com'],'upstream':'nope','policy':'p'}"),
               "$.listeners[0].hosts[0].upstream: unknown upstream \"nope\"");
    expect_err(DOC("", "{'names':['a.example.com'],'upstream':'a'}"),
               "$.listeners[0].hosts[0].policy: required: a file path");
    expect_err(DOC("", "{'names':['a.example.com'],'upstream':'a','policy':'p','certificates':[]}"),
               "$.listeners[0].hosts[0].certificates: expected at least one");
    expect_err(DOC("", "{'names':['a.example.com'],'upstream':'a','policy':'p',"
                       "'certificates':[{'cert':'c.pem'}]}"),
               "$.listeners[0].hosts[0].certificates[0].key: required: a file path");
    expect_err(DOC("", "{'names':['a.example.com'],'upstream':'a','policy':'p','strict_sni':true}"),
               "$.listeners[0].hosts[0].strict_sni: unknown key");
    expect_err(DOC("", "5"), "$.listeners[0].hosts[0]");
    expect_err("{'listeners':[{'name':'l','listen':['127.0.0.1:8443']," TLS ",'upstream':'a',"
               "'hosts':{}}]," UPSTREAMS "}",
               "$.listeners[0].hosts: expected an array of host objects");
}
END_TEST

#define HOST_PATHS(paths)                                                                          \
    "{'names':['a.example.com'],'upstream':'a','policy':'p','paths':[" paths "]}"

START_TEST(test_path_errors)
{
    static const char *const bad[] = {"ingest/", "",       "/a//b", "/a/../b", "/a/./b", "/%7Euser",
                                      "/a%3bb",  "/q?x=1", "/a b",  "/a\\\\b", "/%2F"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[1024];
        snprintf(text, sizeof(text), DOC("", HOST_PATHS("{'prefix':'%s','upstream':'b'}")), bad[i]);
        expect_err(text, "$.listeners[0].hosts[0].paths[0].prefix: expected a normalized path");
    }
    /* Accepted: what normalization leaves unchanged. */
    struct config *cfg = load_ok(DOC("", HOST_PATHS("{'prefix':'/~user/a%3Bb','upstream':'b'},"
                                                    "{'prefix':'/ingest','upstream':'b'}")));
    config_free(cfg);
    expect_err(DOC("", HOST_PATHS("{'upstream':'b'}")),
               "$.listeners[0].hosts[0].paths[0].prefix: required");
    expect_err(DOC("", HOST_PATHS("{'prefix':'/x/'}")),
               "$.listeners[0].hosts[0].paths[0].upstream: required");
    expect_err(DOC("", HOST_PATHS("{'prefix':'/x/','upstream':'zz'}")),
               "$.listeners[0].hosts[0].paths[0].upstream: unknown upstream \"zz\"");
    expect_err(
        DOC("", HOST_PATHS("{'prefix':'/x/','upstream':'b'},{'prefix':'/x/','upstream':'c'}")),
        "$.listeners[0].hosts[0].paths[1].prefix: duplicate prefix \"/x/\"");
    expect_err(DOC("", HOST_PATHS("{'prefix':'/x/','upstream':'b','methods':['GET']}")),
               "$.listeners[0].hosts[0].paths[0].methods: unknown key");
}
END_TEST

START_TEST(test_admin_host)
{
    struct config *cfg = load_ok("{'listeners':[{'name':'l','listen':['127.0.0.1:8443']," TLS
                                 ",'hosts':[" HOST_A "," HOST_W "]}]," UPSTREAMS
                                 ",'admin':{'listen':'127.0.0.1:9443','host':'x.EU.example.com'}}");
    ck_assert_ptr_nonnull(cfg->admin.host);
    ck_assert_str_eq(cfg->admin.host->name, "*.eu.example.com");
    config_free(cfg);
    cfg = load_ok(DOC("", HOST_A));
    ck_assert_ptr_null(cfg->admin.host);
    config_free(cfg);
    expect_err("{'listeners':[{'name':'l','listen':['127.0.0.1:8443']," TLS ",'hosts':[" HOST_A
               "]}]," UPSTREAMS ",'admin':{'listen':'127.0.0.1:9443','host':'db2.example.com'}}",
               "$.admin.host: no host entry of listener \"l\" has the name \"db2.example.com\"");
}
END_TEST

/* The repository root: CG_TEST_DATA_DIR is "<root>/tests/data". */
static const char *repo_path(const char *rel)
{
    static char buf[4096];
    const char *data = CG_TEST_DATA_DIR;
    size_t len = strlen(data) - strlen("/tests/data");
    snprintf(buf, sizeof(buf), "%.*s/%s", (int)len, data, rel);
    return buf;
}

START_TEST(test_edge_example)
{
    /* conf/certgate.edge.example.json: an edge gateway with three databases by name. */
    struct config *cfg = NULL;
    struct cg_errbuf err = {{0}};
    ck_assert_msg(config_load_file(repo_path("conf/certgate.edge.example.json"), &cfg, &err) ==
                      CG_OK,
                  "%s", err.msg);
    const struct config_listener *l = &cfg->listeners[0];
    ck_assert_ptr_null(l->upstream);
    ck_assert(l->tls.strict_sni);
    ck_assert_uint_eq(l->num_hosts, 3);
    ck_assert_str_eq(find(l, "a.ravendb.example.com"), "ravendb.example.com");
    ck_assert_str_eq(find(l, "etcd.example.com"), "etcd.example.com");
    ck_assert_str_eq(l->hosts[1].upstream->name, "etcd");
    ck_assert_uint_eq(l->hosts[1].num_certificates, 1);
    ck_assert_str_eq(l->hosts[2].paths[0].upstream->name, "influxdb-relay");
    ck_assert_ptr_eq(cfg->admin.host, &l->hosts[0]);
    config_free(cfg);
}
END_TEST

Suite *cg_test_suite(void)
{
    Suite *s = suite_create("config_hosts");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_hosts_parsed);
    tcase_add_test(tc, test_lookup);
    tcase_add_test(tc, test_default_optional_with_hosts);
    tcase_add_test(tc, test_host_errors);
    tcase_add_test(tc, test_path_errors);
    tcase_add_test(tc, test_admin_host);
    tcase_add_test(tc, test_edge_example);
    suite_add_tcase(s, tc);
    return s;
}
