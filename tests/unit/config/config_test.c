/* Tests of config/config.c and the section parsers beside it: the certgate.json model
 * and every validation error (with the JSON path it names); the scalar keys of the key
 * table are tested one by one in config_keys_test.c. JSON in this file is written with
 * single quotes for readability; doc() turns them into double quotes. */
#include "config/config.h"

#include <arpa/inet.h>
#include "check_main.h"
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The repository root: CG_TEST_DATA_DIR is "<root>/tests/data", which may not exist
 * yet, so "<data>/../.." would not resolve. */
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

/* Building blocks of a minimal valid document. */
#define UPSTREAMS "'upstreams':{'db':{'servers':['127.0.0.1:8080']}}"
#define TLS "'tls':{'certificates':[{'cert':'c.pem','key':'k.pem'}]}"
#define LISTENER_AT(name, addr, extra)                                                             \
    "{'name':'" name "','listen':['" addr "']," TLS ",'upstream':'db'" extra "}"
#define LISTENER(extra) LISTENER_AT("a", "127.0.0.1:8443", extra)
/* DOC(listener_extra, top_extra): a valid document with additions. */
#define DOC(lextra, textra) "{'listeners':[" LISTENER(lextra) "]," UPSTREAMS textra "}"

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
    ck_assert_ptr_nonnull(cfg);
    return cfg;
}

/* expect_err_at asserts that loading |text| fails with a message containing |want|. */
static void expect_err_at(const char *text, const char *want, int line)
{
    struct config *cfg = NULL;
    struct cg_errbuf err = {{0}};
    int rc = load(text, &cfg, &err);
    ck_assert_msg(rc == CG_ERR_INVALID, "line %d: expected an error containing '%s', got rc %d",
                  line, want, rc);
    ck_assert_ptr_null(cfg);
    ck_assert_msg(strstr(err.msg, want) != NULL, "line %d: '%s' does not contain '%s'", line,
                  err.msg, want);
    config_free(cfg);
}
#define expect_err(text, want) expect_err_at((text), (want), __LINE__)

static uint16_t port_of(const struct config_address *a)
{
    if (a->addr.ss_family == AF_INET) {
        return ntohs(((const struct sockaddr_in *)&a->addr)->sin_port);
    }
    return ntohs(((const struct sockaddr_in6 *)&a->addr)->sin6_port);
}

START_TEST(test_minimal_defaults)
{
    struct config *cfg = load_ok(DOC("", ""));
    ck_assert_str_eq(cfg->source, "certgate.json");
    ck_assert(cfg->workers_auto);
    ck_assert_uint_ge(cfg->workers, 1);
    ck_assert_uint_le(cfg->workers, CONFIG_MAX_WORKERS);
    ck_assert_ptr_null(cfg->state_dir);
    ck_assert_ptr_null(cfg->log.access_log);
    ck_assert(!cfg->admin.enabled);

    ck_assert_uint_eq(cfg->num_listeners, 1);
    const struct config_listener *l = &cfg->listeners[0];
    ck_assert_str_eq(l->name, "a");
    ck_assert_uint_eq(l->num_addresses, 1);
    ck_assert_str_eq(l->addresses[0].text, "127.0.0.1:8443");
    ck_assert_int_eq(l->addresses[0].addr.ss_family, AF_INET);
    ck_assert_uint_eq(l->addresses[0].addr_len, sizeof(struct sockaddr_in));
    ck_assert_uint_eq(port_of(&l->addresses[0]), 8443);
    ck_assert_uint_eq(l->tls.num_certificates, 1);
    ck_assert_str_eq(l->tls.certificates[0].cert, "/etc/certgate/c.pem");
    ck_assert_str_eq(l->tls.certificates[0].key, "/etc/certgate/k.pem");
    ck_assert_ptr_null(l->tls.certificates[0].ocsp);
    ck_assert_ptr_null(l->tls.client_ca);
    ck_assert_ptr_null(l->tls.crl);
    ck_assert_uint_eq(l->alpn, CONFIG_ALPN_H2 | CONFIG_ALPN_HTTP11);
    ck_assert_ptr_null(l->policy);
    ck_assert_ptr_eq(l->upstream, &cfg->upstreams[0]);
    ck_assert_uint_eq(l->upstream_index, 0);
    ck_assert_uint_eq(l->proxy_protocol.num_from, 0);

    ck_assert_uint_eq(cfg->num_upstreams, 1);
    const struct config_upstream *up = &cfg->upstreams[0];
    ck_assert_str_eq(up->name, "db");
    ck_assert(!up->tls.enabled);
    ck_assert_uint_eq(up->num_servers, 1);
    ck_assert_str_eq(up->servers[0].text, "127.0.0.1:8080");
    ck_assert_uint_eq(port_of(&up->servers[0]), 8080);

    /* Limits, timeouts and the other scalar keys: tests/unit/config/config_keys_test.c
     * checks every default of the key table. */
    config_free(cfg);
}
END_TEST

static const char full_doc[] =
    "{ 'workers': 3, 'state_dir': 'state', "
    "  'log': {'level': 'debug', 'access_log': 'logs/access.log'},"
    "  'listeners': ["
    "   {'name': 'edge', 'listen': ['0.0.0.0:443', '[::]:443'],"
    "    'tls': {'certificates': [{'cert': 'pki/a.crt', 'key': 'pki/a.key', 'ocsp': 'a.ocsp'},"
    "                             {'cert': '/abs/b.crt', 'key': './pki/b.key'}],"
    "            'min_version': '1.3', 'client_ca': 'pki/ca.crt', 'crl': 'pki/ca.crl',"
    "            'strict_sni': true, 'session_tickets': false},"
    "    'alpn': ['http/1.1'], 'policy': 'policy.json', 'upstream': 'grpc',"
    "    'proxy_protocol': {'from': ['10.0.0.0/8', 'fd00::/8', '192.168.1.1']}},"
    "   {'name': 'local', 'listen': ['127.0.0.1:8443', '[::1]:8443'],"
    "    'tls': {'certificates': [{'cert': 'c', 'key': 'k'}], 'client_ca': null, 'crl': null},"
    "    'alpn': ['h2'], 'policy': null, 'upstream': 'db'}"
    "  ],"
    "  'upstreams': {"
    "    'db': {'servers': ['127.0.0.1:8080', '[::1]:8081'], 'protocol': 'http/1.1',"
    "           'tls': {'ca': 'up/ca.crt'}},"
    "    'grpc': {'servers': ['10.1.2.3:2379'], 'protocol': 'h2',"
    "             'tls': {'ca': 'up/ca.crt', 'cert': 'up/c.crt', 'key': 'up/c.key',"
    "                     'sni': 'etcd.internal'}},"
    "    'plain': {'servers': ['10.1.2.4:2379'], 'protocol': 'h2c', 'tls': null}"
    "  },"
    "  'admin': {'listen': '127.0.0.1:9443'},"
    "  'limits': {'max_connections': 500, 'max_request_line': '4KiB',"
    "             'max_header_bytes': '32k', 'max_headers': 50, 'max_body': '1MiB',"
    "             'buffer_high_water': 65536, 'h2_max_concurrent_streams': 250,"
    "             'h2_max_header_list': '32KiB', 'h2_max_continuations': 4,"
    "             'h2_reset_burst': 200, 'h2_reset_rate': 10, 'upstream_pool_max_idle': 0,"
    "             'h2_max_no_progress_frames': 50},"
    "  'timeouts': {'tls_handshake': '5s', 'request_header': '500ms',"
    "               'client_body_idle': 1500, 'keepalive_idle': '2m',"
    "               'upstream_connect': '1s', 'upstream_response': '1h',"
    "               'upstream_idle': '90s', 'upstream_down': '3s', 'drain': 0,"
    "               'h2_idle': '10m'}"
    "}";

START_TEST(test_full)
{
    struct config *cfg = load_ok(full_doc);
    ck_assert_uint_eq(cfg->workers, 3);
    ck_assert(!cfg->workers_auto);
    ck_assert_str_eq(cfg->state_dir, "/etc/certgate/state");
    ck_assert_int_eq(cfg->log.level, CG_LOG_DEBUG);
    ck_assert_str_eq(cfg->log.access_log, "/etc/certgate/logs/access.log");

    ck_assert_uint_eq(cfg->num_listeners, 2);
    const struct config_listener *l = &cfg->listeners[0];
    ck_assert_str_eq(l->name, "edge");
    ck_assert_uint_eq(l->num_addresses, 2);
    ck_assert_int_eq(l->addresses[0].addr.ss_family, AF_INET);
    ck_assert_int_eq(l->addresses[1].addr.ss_family, AF_INET6);
    ck_assert_uint_eq(l->addresses[1].addr_len, sizeof(struct sockaddr_in6));
    ck_assert_uint_eq(port_of(&l->addresses[1]), 443);
    ck_assert_uint_eq(l->tls.num_certificates, 2);
    ck_assert_str_eq(l->tls.certificates[0].cert, "/etc/certgate/pki/a.crt");
    ck_assert_str_eq(l->tls.certificates[0].key, "/etc/certgate/pki/a.key");
    ck_assert_str_eq(l->tls.certificates[0].ocsp, "/etc/certgate/a.ocsp");
    ck_assert_str_eq(l->tls.certificates[1].cert, "/abs/b.crt");
    ck_assert_str_eq(l->tls.certificates[1].key, "/etc/certgate/pki/b.key");
    ck_assert_ptr_null(l->tls.certificates[1].ocsp);
    ck_assert_int_eq(l->tls.min_version, CONFIG_TLS_1_3);
    ck_assert_int_eq(l->tls.min_version, 0x0304);
    ck_assert_str_eq(l->tls.client_ca, "/etc/certgate/pki/ca.crt");
    ck_assert_str_eq(l->tls.crl, "/etc/certgate/pki/ca.crl");
    ck_assert(l->tls.strict_sni);
    ck_assert(!l->tls.session_tickets);
    ck_assert_uint_eq(l->alpn, CONFIG_ALPN_HTTP11);
    ck_assert_str_eq(l->policy, "/etc/certgate/policy.json");
    ck_assert_str_eq(l->upstream->name, "grpc");
    ck_assert_uint_eq(l->upstream_index, 1);
    ck_assert_uint_eq(l->proxy_protocol.num_from, 3);
    ck_assert_str_eq(l->proxy_protocol.from[0], "10.0.0.0/8");
    ck_assert_str_eq(l->proxy_protocol.from[1], "fd00::/8");
    ck_assert_str_eq(l->proxy_protocol.from[2], "192.168.1.1");

    l = &cfg->listeners[1];
    ck_assert_str_eq(l->name, "local");
    ck_assert_uint_eq(l->num_addresses, 2);
    ck_assert_str_eq(l->addresses[1].text, "[::1]:8443");
    ck_assert_uint_eq(l->alpn, CONFIG_ALPN_H2);
    ck_assert_ptr_null(l->policy);
    ck_assert_ptr_null(l->tls.client_ca);
    ck_assert_ptr_eq(l->upstream, config_find_upstream(cfg, "db"));

    ck_assert_uint_eq(cfg->num_upstreams, 3);
    const struct config_upstream *up = &cfg->upstreams[0];
    ck_assert_str_eq(up->name, "db");
    ck_assert_uint_eq(up->num_servers, 2);
    ck_assert_int_eq(up->servers[1].addr.ss_family, AF_INET6);
    ck_assert_uint_eq(port_of(&up->servers[1]), 8081);
    ck_assert_int_eq(up->protocol, CONFIG_UPSTREAM_HTTP11);
    ck_assert(up->tls.enabled);
    ck_assert_str_eq(up->tls.ca, "/etc/certgate/up/ca.crt");
    ck_assert_ptr_null(up->tls.cert);
    ck_assert_ptr_null(up->tls.key);
    ck_assert_ptr_null(up->tls.sni);
    up = &cfg->upstreams[1];
    ck_assert_str_eq(up->name, "grpc");
    ck_assert_int_eq(up->protocol, CONFIG_UPSTREAM_H2);
    ck_assert_str_eq(up->tls.cert, "/etc/certgate/up/c.crt");
    ck_assert_str_eq(up->tls.key, "/etc/certgate/up/c.key");
    ck_assert_str_eq(up->tls.sni, "etcd.internal");
    up = &cfg->upstreams[2];
    ck_assert_int_eq(up->protocol, CONFIG_UPSTREAM_H2C);
    ck_assert(!up->tls.enabled);
    ck_assert_ptr_null(config_find_upstream(cfg, "nope"));

    ck_assert(cfg->admin.enabled);
    ck_assert_str_eq(cfg->admin.address.text, "127.0.0.1:9443");
    ck_assert_uint_eq(port_of(&cfg->admin.address), 9443);
    ck_assert_uint_eq(cfg->admin.listener_index, 0); /* default: the first listener */

    const struct config_limits *lim = &cfg->limits;
    ck_assert_uint_eq(lim->max_connections, 500);
    ck_assert_uint_eq(lim->max_request_line, 4096);
    ck_assert_uint_eq(lim->max_header_bytes, 32768);
    ck_assert_uint_eq(lim->max_headers, 50);
    ck_assert_uint_eq(lim->max_body, 1024 * 1024);
    ck_assert_uint_eq(lim->buffer_high_water, 65536);
    ck_assert_uint_eq(lim->h2_max_concurrent_streams, 250);
    ck_assert_uint_eq(lim->h2_max_header_list, 32768);
    ck_assert_uint_eq(lim->h2_max_continuations, 4);
    ck_assert_uint_eq(lim->h2_reset_burst, 200);
    ck_assert_uint_eq(lim->h2_reset_rate, 10);
    ck_assert_uint_eq(lim->h2_max_no_progress_frames, 50);
    ck_assert_uint_eq(lim->upstream_pool_max_idle, 0);

    const struct config_timeouts *t = &cfg->timeouts;
    ck_assert_uint_eq(t->tls_handshake, 5000);
    ck_assert_uint_eq(t->request_header, 500);
    ck_assert_uint_eq(t->client_body_idle, 1500);
    ck_assert_uint_eq(t->keepalive_idle, 120000);
    ck_assert_uint_eq(t->upstream_connect, 1000);
    ck_assert_uint_eq(t->upstream_response, 3600000);
    ck_assert_uint_eq(t->upstream_idle, 90000);
    ck_assert_uint_eq(t->upstream_down, 3000);
    ck_assert_uint_eq(t->drain, 0);
    ck_assert_uint_eq(t->h2_idle, 600000);

    /* The summary names every listener, address and upstream. */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    config_print_summary(cfg, f);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(buf, "3 workers"));
    ck_assert_ptr_nonnull(strstr(buf, "listener edge: 0.0.0.0:443 [::]:443 -> upstream grpc"));
    ck_assert_ptr_nonnull(strstr(buf, "upstream grpc: 10.1.2.3:2379\n  protocol h2, "
                                      "balance round_robin, resolve_interval 5s,"));
    ck_assert_ptr_nonnull(strstr(buf, "  health_check off (passive only)\n"
                                      "  tls: ca /etc/certgate/up/ca.crt, client cert "
                                      "/etc/certgate/up/c.crt, sni etcd.internal\n"));
    ck_assert_ptr_nonnull(strstr(buf, "  tls.min_version 1.3, tls.strict_sni true, "
                                      "tls.session_tickets false"));
    ck_assert_ptr_nonnull(strstr(buf, "max_body 1MiB"));
    ck_assert_ptr_nonnull(strstr(buf, "drain 0 (close at once)"));
    ck_assert_ptr_nonnull(strstr(buf, "admin 127.0.0.1:9443 (listener edge)"));
    ck_assert_ptr_nonnull(strstr(buf, "max_header_bytes 32KiB"));
    ck_assert_ptr_nonnull(strstr(buf, "request_header 500ms"));
    free(buf);
    config_free(cfg);
}
END_TEST

START_TEST(test_wildcard_and_misc_values)
{
    struct config *cfg =
        load_ok("{'workers': 0, 'log': {'access_log': '-', 'level': 'warn'},"
                " 'listeners':[" LISTENER_AT("w", "*:8443", "") "]," UPSTREAMS "}");
    const struct config_listener *l = &cfg->listeners[0];
    ck_assert_uint_eq(l->num_addresses, 2);
    ck_assert_int_eq(l->addresses[0].addr.ss_family, AF_INET);
    ck_assert_int_eq(l->addresses[1].addr.ss_family, AF_INET6);
    ck_assert_str_eq(l->addresses[0].text, "*:8443");
    ck_assert_str_eq(l->addresses[1].text, "*:8443");
    ck_assert_uint_eq(port_of(&l->addresses[1]), 8443);
    ck_assert_str_eq(cfg->log.access_log, "-");
    ck_assert_int_eq(cfg->log.level, CG_LOG_WARN);
    ck_assert(cfg->workers_auto);
    config_free(cfg);

    /* A specific address on another port, and v4/v6 wildcards side by side. */
    cfg = load_ok("{'listeners':[" LISTENER_AT("a", "0.0.0.0:1", "") "," LISTENER_AT(
        "b", "[::]:1", "") "," LISTENER_AT("c", "127.0.0.1:2", "") "]," UPSTREAMS "}");
    ck_assert_uint_eq(cfg->num_listeners, 3);
    config_free(cfg);
}
END_TEST

START_TEST(test_example_file)
{
    struct config *cfg = NULL;
    struct cg_errbuf err = {{0}};
    int rc = config_load_file(repo_path("conf/certgate.example.json"), &cfg, &err);
    ck_assert_msg(rc == 0, "%s", err.msg);
    ck_assert_uint_eq(cfg->num_listeners, 1);
    ck_assert_str_eq(cfg->listeners[0].addresses[0].text, "127.0.0.1:8443");
    ck_assert_str_eq(cfg->upstreams[0].servers[0].text, "127.0.0.1:8080");
    const char *policy = cfg->listeners[0].policy;
    const char *want = "/conf/policies/ravendb.json";
    ck_assert(policy[0] == '/');
    ck_assert(strlen(policy) > strlen(want));
    ck_assert_str_eq(policy + strlen(policy) - strlen(want), want);
    config_free(cfg);

    /* A relative file name: the source and the paths inside become absolute. */
    ck_assert_int_eq(chdir(repo_path(".")), 0);
    rc = config_load_file("conf/certgate.example.json", &cfg, &err);
    ck_assert_msg(rc == 0, "%s", err.msg);
    ck_assert(cfg->source[0] == '/');
    ck_assert_ptr_nonnull(strstr(cfg->source, "/conf/certgate.example.json"));
    ck_assert(cfg->listeners[0].policy[0] == '/');
    ck_assert_ptr_nonnull(strstr(cfg->listeners[0].policy, "/conf/policies/ravendb.json"));
    ck_assert_ptr_null(strstr(cfg->listeners[0].policy, "/./"));
    config_free(cfg);
}
END_TEST

START_TEST(test_file_errors)
{
    struct config *cfg = NULL;
    struct cg_errbuf err = {{0}};
    ck_assert_int_eq(config_load_file("/nonexistent/certgate.json", &cfg, &err), CG_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent/certgate.json"));
    ck_assert_ptr_null(cfg);

    char path[] = "/tmp/config_test_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    const char bad[] = "{\n  \"workers\": 1,\n  \"log\": }\n";
    ck_assert_int_eq(write(fd, bad, sizeof(bad) - 1), (int)sizeof(bad) - 1);
    close(fd);
    struct cg_errbuf err2 = {{0}};
    ck_assert_int_eq(config_load_file(path, &cfg, &err2), CG_ERR_INVALID);
    char want[64];
    snprintf(want, sizeof(want), "%s:3:", path);
    ck_assert_msg(strstr(err2.msg, want) == err2.msg, "%s", err2.msg);
    unlink(path);
    config_free(NULL);
}
END_TEST

START_TEST(test_syntax_and_exact_message)
{
    expect_err("{'workers': 1,", "certgate.json:1:");
    expect_err("{'workers': 1, 'workers': 2}", "certgate.json:1:");
    expect_err("[]", "certgate.json: $: expected an object");
    expect_err("", "certgate.json:");
}
END_TEST

START_TEST(test_unknown_keys)
{
    expect_err(DOC("", ",'bogus':1"), "certgate.json: $.bogus: unknown key \"bogus\"");
    expect_err(DOC(",'bogus':1", ""), "$.listeners[0].bogus: unknown key");
    expect_err("{'listeners':[{'name':'a','listen':['127.0.0.1:1'],'upstream':'db',"
               "'tls':{'certificates':[{'cert':'c','key':'k'}],'bogus':1}}]," UPSTREAMS "}",
               "$.listeners[0].tls.bogus: unknown key");
    expect_err("{'listeners':[{'name':'a','listen':['127.0.0.1:1'],'upstream':'db',"
               "'tls':{'certificates':[{'cert':'c','key':'k','bogus':1}]}}]," UPSTREAMS "}",
               "$.listeners[0].tls.certificates[0].bogus: unknown key");
    expect_err(DOC(",'proxy_protocol':{'from':['10.0.0.0/8'],'bogus':1}", ""),
               "$.listeners[0].proxy_protocol.bogus: unknown key");
    expect_err(
        "{'listeners':[" LISTENER("") "],"
                                      "'upstreams':{'db':{'servers':['127.0.0.1:1'],'bogus':1}}}",
        "$.upstreams.db.bogus: unknown key");
    expect_err("{'listeners':[" LISTENER(
                   "") "],"
                       "'upstreams':{'db':{'servers':['127.0.0.1:1'],'tls':{'ca':'x','bogus':1}}}}",
               "$.upstreams.db.tls.bogus: unknown key");
    expect_err(DOC("", ",'log':{'bogus':1}"), "$.log.bogus: unknown key");
    expect_err(DOC("", ",'admin':{'bogus':1}"), "$.admin.bogus: unknown key");
    expect_err(DOC("", ",'limits':{'max_header':1}"), "$.limits.max_header: unknown key");
    expect_err(DOC("", ",'timeouts':{'idle':1}"), "$.timeouts.idle: unknown key");
}
END_TEST

START_TEST(test_types_and_ranges)
{
    expect_err(DOC("", ",'workers':'x'"), "$.workers: expected an integer from 0 to 256");
    expect_err(DOC("", ",'workers':257"), "$.workers: expected an integer from 0 to 256");
    expect_err(DOC("", ",'workers':-1"), "$.workers: expected an integer");
    expect_err(DOC("", ",'state_dir':5"), "$.state_dir: expected a string");
    expect_err(DOC("", ",'state_dir':''"), "$.state_dir: expected a non-empty file path");
    expect_err(DOC("", ",'log':{'level':'verbose'}"),
               "$.log.level: expected \"error\", \"warn\", \"info\" (the default) or \"debug\"");
    expect_err(DOC("", ",'log':[]"), "$.log: expected an object");
    expect_err(DOC(",'name':5", ""), "certgate.json:1:"); /* duplicate key "name" */
    expect_err(DOC(",'policy':true", ""), "$.listeners[0].policy: expected a string");
    expect_err(DOC(",'alpn':'h2'", ""), "$.listeners[0].alpn: expected an array");
    expect_err("{'listeners':[{'name':'a','listen':['127.0.0.1:1'],'upstream':'db',"
               "'tls':{'certificates':[{'cert':'c','key':'k'}],'strict_sni':'yes'}}]," UPSTREAMS
               "}",
               "$.listeners[0].tls.strict_sni: expected true or false");
    expect_err("{'listeners':{}," UPSTREAMS "}", "$.listeners: expected an array");
    expect_err("{'listeners':[5]," UPSTREAMS "}", "$.listeners[0]: expected an object");
    expect_err(DOC("", ",'admin':{'listen':'*:9443'}"), "$.admin.listen: expected");
    expect_err(DOC("", ",'admin':{'listen':'127.0.0.1:8443'}"),
               "$.admin.listen: address \"127.0.0.1:8443\" overlaps \"127.0.0.1:8443\" of "
               "listener \"a\"");
}
END_TEST

/* "admin.listener" names the proxy listener whose certificates and policy the admin API
 * uses. */
START_TEST(test_admin_listener)
{
    struct config *cfg = load_ok(
        "{'listeners':[" LISTENER_AT("a", "127.0.0.1:1", "") "," LISTENER_AT(
            "b", "127.0.0.1:2", "") "]," UPSTREAMS
        ",'admin':{'listen':'127.0.0.1:9443','listener':'b'}}");
    ck_assert(cfg->admin.enabled);
    ck_assert_uint_eq(cfg->admin.listener_index, 1);
    config_free(cfg);
    cfg = load_ok(DOC("", ",'admin':{'listen':'[::1]:9443','listener':null}"));
    ck_assert_uint_eq(cfg->admin.listener_index, 0);
    config_free(cfg);
    expect_err(DOC("", ",'admin':{'listen':'127.0.0.1:9443','listener':'nope'}"),
               "certgate.json: $.admin.listener: no listener is named \"nope\"");
    expect_err(DOC("", ",'admin':{'listen':'127.0.0.1:9443','listener':1}"),
               "$.admin.listener: expected a string");
    expect_err(DOC("", ",'admin':{'listen':'127.0.0.1:9443','Listener':'a'}"),
               "$.admin.Listener: unknown key");
}
END_TEST

START_TEST(test_listener_errors)
{
    expect_err("{" UPSTREAMS "}", "certgate.json: $.listeners: required");
    expect_err("{'listeners':[]," UPSTREAMS "}", "$.listeners: expected at least one");
    expect_err("{'listeners':[" LISTENER("") "," LISTENER_AT("a", "127.0.0.1:2", "") "]," UPSTREAMS
                                                                                     "}",
               "$.listeners[1].name: duplicate listener name \"a\"");
    expect_err("{'listeners':[{'listen':['127.0.0.1:1']," TLS ",'upstream':'db'}]," UPSTREAMS "}",
               "$.listeners[0].name: required");
    expect_err("{'listeners':[" LISTENER_AT("a b", "127.0.0.1:1", "") "]," UPSTREAMS "}",
               "$.listeners[0].name: expected 1-64 characters");
    expect_err("{'listeners':[{'name':'a','listen':[]," TLS ",'upstream':'db'}]," UPSTREAMS "}",
               "$.listeners[0].listen: expected at least one");
    expect_err("{'listeners':[{'name':'a'," TLS ",'upstream':'db'}]," UPSTREAMS "}",
               "$.listeners[0].listen: required");
    expect_err("{'listeners':[{'name':'a','listen':['127.0.0.1:1'],'upstream':'db'}]," UPSTREAMS
               "}",
               "$.listeners[0].tls: required");
    expect_err("{'listeners':[{'name':'a','listen':['127.0.0.1:1'],'upstream':'db',"
               "'tls':{'certificates':[]}}]," UPSTREAMS "}",
               "$.listeners[0].tls.certificates: expected at least one");
    expect_err("{'listeners':[{'name':'a','listen':['127.0.0.1:1'],'upstream':'db',"
               "'tls':{}}]," UPSTREAMS "}",
               "$.listeners[0].tls.certificates: required");
    expect_err("{'listeners':[{'name':'a','listen':['127.0.0.1:1'],'upstream':'db',"
               "'tls':{'certificates':[{'cert':'c'}]}}]," UPSTREAMS "}",
               "$.listeners[0].tls.certificates[0].key: required");
    expect_err("{'listeners':[{'name':'a','listen':['127.0.0.1:1'],'upstream':'db',"
               "'tls':{'certificates':[{'cert':'c','key':'k'}],'min_version':'1.1'}}]," UPSTREAMS
               "}",
               "certgate.json: $.listeners[0].tls.min_version: expected \"1.2\" (the default) or "
               "\"1.3\"");
    expect_err("{'listeners':[{'name':'a','listen':['127.0.0.1:1'],'upstream':'db',"
               "'tls':{'certificates':[{'cert':'c','key':'k'}],'crl':'x.crl'}}]," UPSTREAMS "}",
               "$.listeners[0].tls.crl: requires client_ca");
    expect_err(DOC(",'alpn':['h2','spdy/3']", ""),
               "$.listeners[0].alpn[1]: expected \"h2\" or \"http/1.1\"");
    expect_err(DOC(",'alpn':[]", ""), "$.listeners[0].alpn: expected at least one");
    expect_err(DOC(",'alpn':['h2','h2']", ""), "$.listeners[0].alpn[1]: duplicate protocol");
    expect_err(DOC(",'alpn':[2]", ""), "$.listeners[0].alpn[0]: expected \"h2\"");
    expect_err("{'listeners':[{'name':'a','listen':['127.0.0.1:1']," TLS "}]," UPSTREAMS "}",
               "$.listeners[0].upstream: required");
    expect_err("{'listeners':[{'name':'a','listen':['127.0.0.1:1']," TLS
               ",'upstream':'nope'}]," UPSTREAMS "}",
               "certgate.json: $.listeners[0].upstream: unknown upstream \"nope\"");
    expect_err(DOC(",'proxy_protocol':{'from':[]}", ""),
               "$.listeners[0].proxy_protocol.from: expected at least one");
    expect_err(DOC(",'proxy_protocol':{}", ""), "$.listeners[0].proxy_protocol.from: required");
    expect_err(DOC(",'proxy_protocol':{'from':['10.0.0.0/33']}", ""),
               "$.listeners[0].proxy_protocol.from[0]: expected an address or CIDR");
    expect_err(DOC(",'proxy_protocol':{'from':['10.0.0.0/8','fd00::/129']}", ""),
               "$.listeners[0].proxy_protocol.from[1]: expected");
    expect_err(DOC(",'proxy_protocol':{'from':['example.com/8']}", ""),
               "$.listeners[0].proxy_protocol.from[0]: expected");
    expect_err(DOC(",'proxy_protocol':{'from':['10.0.0.0/']}", ""),
               "$.listeners[0].proxy_protocol.from[0]: expected");
}
END_TEST

START_TEST(test_listen_addresses)
{
    static const char *const bad[] = {
        "localhost:8443", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1", "[::1]8443",
        "::1:8443",       "[::1]:",      "127.0.0.1:+80",   "1.2.3:80",  "127.0.0.1:8o",
        "[127.0.0.1]:80", "*:0",         "[]:80",           ":80",       "127.0.0.1:080000",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[1024];
        snprintf(text, sizeof(text), "{'listeners':[" LISTENER_AT("a", "%s", "") "]," UPSTREAMS "}",
                 bad[i]);
        char want[256];
        snprintf(want, sizeof(want),
                 "$.listeners[0].listen[0]: expected \"IPv4:port\", "
                 "\"[IPv6]:port\" or \"*:port\" (numeric, port 1-65535), "
                 "got \"%s\"",
                 bad[i]);
        expect_err(text, want);
    }
    expect_err("{'listeners':[{'name':'a','listen':['127.0.0.1:1', 5]," TLS
               ",'upstream':'db'}]," UPSTREAMS "}",
               "$.listeners[0].listen[1]: expected a non-empty string");

    /* Duplicates and overlaps, within and across listeners. */
    expect_err("{'listeners':[" LISTENER_AT("a", "127.0.0.1:8443", "") "," LISTENER_AT(
                   "b", "127.0.0.1:8443", "") "]," UPSTREAMS "}",
               "$.listeners[1].listen[0]: address \"127.0.0.1:8443\" overlaps "
               "\"127.0.0.1:8443\" of listener \"a\"");
    expect_err("{'listeners':[{'name':'a','listen':['[::1]:1','[0:0::1]:1']," TLS
               ",'upstream':'db'}]," UPSTREAMS "}",
               "$.listeners[0].listen[1]: address \"[0:0::1]:1\" overlaps \"[::1]:1\" of "
               "listener \"a\"");
    expect_err("{'listeners':[" LISTENER_AT("a", "0.0.0.0:8443", "") "," LISTENER_AT(
                   "b", "127.0.0.1:8443", "") "]," UPSTREAMS "}",
               "$.listeners[1].listen[0]: address \"127.0.0.1:8443\" overlaps \"0.0.0.0:8443\"");
    expect_err("{'listeners':[" LISTENER_AT("a", "[::1]:8443", "") "," LISTENER_AT(
                   "b", "*:8443", "") "]," UPSTREAMS "}",
               "$.listeners[1].listen[0]: address \"*:8443\" overlaps \"[::1]:8443\"");
}
END_TEST

#define UP_DOC(up) "{'listeners':[" LISTENER("") "],'upstreams':{'db':" up "}}"

START_TEST(test_upstream_errors)
{
    expect_err("{'listeners':[" LISTENER("") "]}", "certgate.json: $.upstreams: required");
    expect_err("{'listeners':[" LISTENER("") "],'upstreams':{}}",
               "$.upstreams: expected at least one upstream");
    expect_err("{'listeners':[" LISTENER("") "],'upstreams':[]}",
               "$.upstreams: expected an object");
    expect_err("{'listeners':[" LISTENER("") "],'upstreams':{'a/b':{'servers':['127.0.0.1:1']}}}",
               "$.upstreams: invalid upstream name \"a/b\"");
    expect_err(UP_DOC("5"), "$.upstreams.db: expected an object");
    expect_err(UP_DOC("{}"), "$.upstreams.db.servers: required");
    expect_err(UP_DOC("{'servers':[]}"), "$.upstreams.db.servers: expected at least one");
    expect_err(UP_DOC("{'servers':['db.local']}"),
               "$.upstreams.db.servers[0]: expected \"IPv4:port\", \"[IPv6]:port\" or "
               "\"host.name:port\" (port 1-65535), got \"db.local\"");
    expect_err(UP_DOC("{'servers':['127.0.0.1:1','*:80']}"), "$.upstreams.db.servers[1]: expected");
    expect_err(UP_DOC("{'servers':['0.0.0.0:80']}"),
               "$.upstreams.db.servers[0]: \"0.0.0.0:80\" is a wildcard");
    expect_err(UP_DOC("{'servers':['127.0.0.1:1'],'protocol':'http/2'}"),
               "$.upstreams.db.protocol: expected \"http/1.1\" (the default), \"h2c\" or "
               "\"h2\"");
    expect_err(UP_DOC("{'servers':['127.0.0.1:1'],'protocol':'h2'}"),
               "certgate.json: $.upstreams.db.tls: required when protocol is \"h2\"");
    expect_err(UP_DOC("{'servers':['127.0.0.1:1'],'protocol':'h2','tls':null}"),
               "$.upstreams.db.tls: required when protocol is \"h2\"");
    expect_err(UP_DOC("{'servers':['127.0.0.1:1'],'protocol':'h2c','tls':{'ca':'ca'}}"),
               "$.upstreams.db.tls: not allowed with protocol \"h2c\"");
    expect_err(UP_DOC("{'servers':['127.0.0.1:1'],'protocol':'h2','tls':{}}"),
               "$.upstreams.db.tls.ca: required");
    expect_err(UP_DOC("{'servers':['127.0.0.1:1'],'protocol':'h2','tls':{'ca':'a','cert':'c'}}"),
               "$.upstreams.db.tls.key: required when cert is given");
    expect_err(UP_DOC("{'servers':['127.0.0.1:1'],'protocol':'h2','tls':{'ca':'a','key':'k'}}"),
               "$.upstreams.db.tls.cert: required when key is given");
    expect_err(UP_DOC("{'servers':['127.0.0.1:1'],'tls':{'ca':'a','sni':'10.0.0.1'}}"),
               "$.upstreams.db.tls.sni: expected a DNS name");
    expect_err(UP_DOC("{'servers':['127.0.0.1:1'],'tls':{'ca':'a','sni':'a..b'}}"),
               "$.upstreams.db.tls.sni: expected a DNS name");
    /* The one host-name rule (common/hostname.h): no trailing dot or '-', no IPv4 look-
     * alike; '_' is allowed as in the names certgate issues certificates for. */
    expect_err(UP_DOC("{'servers':['127.0.0.1:1'],'tls':{'ca':'a','sni':'db.example.'}}"),
               "$.upstreams.db.tls.sni: expected a DNS name");
    expect_err(UP_DOC("{'servers':['127.0.0.1:1'],'tls':{'ca':'a','sni':'db-.example'}}"),
               "$.upstreams.db.tls.sni: expected a DNS name");
    expect_err(UP_DOC("{'servers':['127.0.0.1:1'],'tls':{'ca':'a','sni':'10.0.0.300'}}"),
               "$.upstreams.db.tls.sni: expected a DNS name");
    expect_err(UP_DOC("{'servers':['127.0.0.1:1'],'tls':5}"),
               "$.upstreams.db.tls: expected an object");
}
END_TEST

/* Servers by name, balance, resolve_interval, health_check and resolvers. */
START_TEST(test_upstream_names)
{
    struct config *cfg = load_ok(UP_DOC("{'servers':['127.0.0.1:1','db.test:8080','[::1]:2',"
                                        "'Db_2.example.com:65535']}"));
    const struct config_upstream *up = &cfg->upstreams[0];
    ck_assert_uint_eq(up->num_servers, 2);
    ck_assert_uint_eq(up->num_hosts, 2);
    ck_assert_str_eq(up->hosts[0].name, "db.test");
    ck_assert_uint_eq(up->hosts[0].port, 8080);
    ck_assert_str_eq(up->hosts[0].text, "db.test:8080");
    ck_assert_str_eq(up->hosts[1].name, "Db_2.example.com");
    ck_assert_uint_eq(up->hosts[1].port, 65535);
    /* Defaults. */
    ck_assert_uint_eq(up->balance, CONFIG_BALANCE_ROUND_ROBIN);
    ck_assert_uint_eq(up->resolve_interval, 5000);
    ck_assert(!up->health.enabled);
    ck_assert_uint_eq(cfg->num_resolvers, 0);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    config_print_summary(cfg, f);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(buf, "upstream db: 127.0.0.1:1 [::1]:2 db.test:8080 (resolved "
                                      "at run time)"));
    free(buf);
    config_free(cfg);

    expect_err(UP_DOC("{'servers':['db.test:0']}"), "$.upstreams.db.servers[0]: expected");
    expect_err(UP_DOC("{'servers':['db.test:65536']}"), "$.upstreams.db.servers[0]: expected");
    expect_err(UP_DOC("{'servers':['db.test:']}"), "$.upstreams.db.servers[0]: expected");
    expect_err(UP_DOC("{'servers':['db.test.:80']}"), "$.upstreams.db.servers[0]: expected");
    expect_err(UP_DOC("{'servers':['10.0.0.300:80']}"), "$.upstreams.db.servers[0]: expected");
    expect_err(UP_DOC("{'servers':['::1:80']}"), "$.upstreams.db.servers[0]: expected");
    expect_err(UP_DOC("{'servers':['db test:80']}"), "$.upstreams.db.servers[0]: expected");
    expect_err(UP_DOC("{'servers':['db.test:8x']}"), "$.upstreams.db.servers[0]: expected");

    cfg = load_ok(UP_DOC("{'servers':['db.test:1'],'balance':'least_requests',"
                         "'resolve_interval':'250ms'}"));
    ck_assert_uint_eq(cfg->upstreams[0].balance, CONFIG_BALANCE_LEAST_REQUESTS);
    ck_assert_uint_eq(cfg->upstreams[0].resolve_interval, 250);
    config_free(cfg);
    expect_err(UP_DOC("{'servers':['db.test:1'],'balance':'random'}"),
               "$.upstreams.db.balance: expected \"round_robin\" (the default) or "
               "\"least_requests\"");
    expect_err(UP_DOC("{'servers':['db.test:1'],'resolve_interval':'50ms'}"),
               "$.upstreams.db.resolve_interval:");

    /* health_check: defaults, values, refusals naming the path. */
    cfg = load_ok(UP_DOC("{'servers':['127.0.0.1:1'],'health_check':{}}"));
    const struct config_health_check *hc = &cfg->upstreams[0].health;
    ck_assert(hc->enabled);
    ck_assert_str_eq(hc->path, "/health");
    ck_assert_uint_eq(hc->interval, 2000);
    ck_assert_uint_eq(hc->timeout, 1000);
    ck_assert_uint_eq(hc->rise, 2);
    ck_assert_uint_eq(hc->fall, 2);
    ck_assert_uint_eq(hc->num_expect, 1);
    ck_assert_int_eq(hc->expect[0], 200);
    config_free(cfg);
    cfg = load_ok(UP_DOC("{'servers':['127.0.0.1:1'],'health_check':{'path':'/ping?deep=1',"
                         "'interval':'500ms','timeout':'500ms','rise':1,'fall':5,"
                         "'expect':[200,204]}}"));
    hc = &cfg->upstreams[0].health;
    ck_assert_str_eq(hc->path, "/ping?deep=1");
    ck_assert_uint_eq(hc->interval, 500);
    ck_assert_uint_eq(hc->timeout, 500);
    ck_assert_uint_eq(hc->rise, 1);
    ck_assert_uint_eq(hc->fall, 5);
    ck_assert_uint_eq(hc->num_expect, 2);
    ck_assert_int_eq(hc->expect[1], 204);
    config_free(cfg);
    cfg = load_ok(UP_DOC("{'servers':['127.0.0.1:1'],'health_check':null}"));
    ck_assert(!cfg->upstreams[0].health.enabled);
    config_free(cfg);
#define HC(x) UP_DOC("{'servers':['127.0.0.1:1'],'health_check':" x "}")
    expect_err(HC("5"), "$.upstreams.db.health_check: expected an object");
    expect_err(HC("{'path':'health'}"), "$.upstreams.db.health_check.path: expected a request");
    expect_err(HC("{'path':'/a b'}"), "$.upstreams.db.health_check.path: expected a request");
    expect_err(HC("{'path':5}"), "$.upstreams.db.health_check.path:");
    expect_err(HC("{'interval':'1s','timeout':'2s'}"),
               "$.upstreams.db.health_check.timeout: must not exceed interval (1000 ms)");
    expect_err(HC("{'interval':'10ms'}"), "$.upstreams.db.health_check.interval:");
    expect_err(HC("{'rise':0}"), "$.upstreams.db.health_check.rise:");
    expect_err(HC("{'fall':101}"), "$.upstreams.db.health_check.fall:");
    expect_err(HC("{'expect':[]}"), "$.upstreams.db.health_check.expect: expected at least one");
    expect_err(HC("{'expect':[200,99]}"),
               "$.upstreams.db.health_check.expect[1]: expected an HTTP status from 200 to 599");
    expect_err(HC("{'expect':['200']}"), "$.upstreams.db.health_check.expect[0]: expected");
    expect_err(HC("{'intervall':'1s'}"), "$.upstreams.db.health_check.intervall: unknown key");
#undef HC

    /* resolvers */
    cfg = load_ok("{'listeners':[" LISTENER("") "],'upstreams':{'db':{'servers':['db.test:1']}},"
                  "'resolvers':['127.0.0.1:5353','[::1]:53']}");
    ck_assert_uint_eq(cfg->num_resolvers, 2);
    ck_assert_str_eq(cfg->resolvers[1].text, "[::1]:53");
    config_free(cfg);
#define RES(x) "{'listeners':[" LISTENER("") "],'upstreams':{'db':{'servers':['db.test:1']}}," \
               "'resolvers':" x "}"
    expect_err(RES("'127.0.0.1:53'"), "$.resolvers: expected an array");
    expect_err(RES("[]"), "$.resolvers: expected at least one");
    expect_err(RES("['127.0.0.1']"),
               "$.resolvers[0]: expected \"IPv4:port\" or \"[IPv6]:port\" of a DNS server");
    expect_err(RES("['127.0.0.1:53','dns.test:53']"), "$.resolvers[1]: expected");
    expect_err(RES("['0.0.0.0:53']"), "$.resolvers[0]: expected");
#undef RES
}
END_TEST

START_TEST(test_limits_and_timeouts)
{
    struct config *cfg = load_ok(DOC("", ",'limits':{'max_header_bytes':'16KiB',"
                                         "'max_request_line':'1k','buffer_high_water':'1MiB'},"
                                         "'timeouts':{'request_header':'30s',"
                                         "'upstream_connect':'500ms','keepalive_idle':2500,"
                                         "'drain':'0s','h2_idle':'1h'}"));
    ck_assert_uint_eq(cfg->limits.max_header_bytes, 16384);
    ck_assert_uint_eq(cfg->limits.max_request_line, 1024);
    ck_assert_uint_eq(cfg->limits.buffer_high_water, 1024 * 1024);
    ck_assert_uint_eq(cfg->timeouts.request_header, 30000);
    ck_assert_uint_eq(cfg->timeouts.upstream_connect, 500);
    ck_assert_uint_eq(cfg->timeouts.keepalive_idle, 2500);
    ck_assert_uint_eq(cfg->timeouts.drain, 0);
    ck_assert_uint_eq(cfg->timeouts.h2_idle, 3600000);
    /* Untouched fields keep their defaults. */
    ck_assert_uint_eq(cfg->timeouts.tls_handshake, 10000);
    ck_assert_uint_eq(cfg->limits.max_headers, 100);
    config_free(cfg);

    expect_err(DOC("", ",'limits':{'max_connections':0}"),
               "$.limits.max_connections: expected an integer from 1 to 1000000");
    expect_err(DOC("", ",'limits':{'max_headers':'100'}"), "$.limits.max_headers: expected");
    expect_err(DOC("", ",'limits':{'max_header_bytes':'16 KiB'}"),
               "$.limits.max_header_bytes: expected a size");
    expect_err(DOC("", ",'limits':{'max_header_bytes':'2MiB'}"),
               "$.limits.max_header_bytes: expected a size");
    expect_err(DOC("", ",'limits':{'max_request_line':'32KiB'}"),
               "$.limits.max_request_line: must not exceed max_header_bytes (16384)");
    expect_err(DOC("", ",'limits':{'buffer_high_water':1}"),
               "$.limits.buffer_high_water: expected a size");
    expect_err(DOC("", ",'limits':{'h2_reset_rate':0}"), "$.limits.h2_reset_rate: expected");
    expect_err(DOC("", ",'limits':{'h2_max_no_progress_frames':0}"),
               "$.limits.h2_max_no_progress_frames: expected");
    expect_err(DOC("", ",'limits':5"), "$.limits: expected an object");
    expect_err(DOC("", ",'timeouts':{'request_header':0}"),
               "$.timeouts.request_header: must be at least 1ms");
    expect_err(DOC("", ",'timeouts':{'request_header':'10x'}"),
               "$.timeouts.request_header: expected a duration");
    expect_err(DOC("", ",'timeouts':{'drain':'25h'}"), "$.timeouts.drain: expected a duration");
    expect_err(DOC("", ",'timeouts':{'h2_idle':-5}"), "$.timeouts.h2_idle: expected a duration");
    expect_err(DOC("", ",'timeouts':{'h2_idle':1.5}"), "$.timeouts.h2_idle: expected a duration");
}
END_TEST

START_TEST(test_protocol_str)
{
    ck_assert_str_eq(config_upstream_protocol_str(CONFIG_UPSTREAM_HTTP11), "http/1.1");
    ck_assert_str_eq(config_upstream_protocol_str(CONFIG_UPSTREAM_H2C), "h2c");
    ck_assert_str_eq(config_upstream_protocol_str(CONFIG_UPSTREAM_H2), "h2");
}
END_TEST

START_TEST(test_request_options)
{
    /* Defaults: drop fields with '_', refuse ';' and %25 in paths. */
    struct config *cfg = load_ok(DOC("", ""));
    const struct config_listener_requests *r = &cfg->listeners[0].requests;
    ck_assert(!r->keep_underscore_headers);
    ck_assert(!r->allow_path_semicolons);
    ck_assert(!r->allow_path_encoded_percent);
    config_free(cfg);

    cfg = load_ok(DOC(",'underscores_in_headers':'drop','path_semicolons':'reject',"
                      "'path_encoded_percent':'reject'",
                      ""));
    r = &cfg->listeners[0].requests;
    ck_assert(!r->keep_underscore_headers && !r->allow_path_semicolons &&
              !r->allow_path_encoded_percent);
    config_free(cfg);

    cfg = load_ok(DOC(",'underscores_in_headers':'keep'", ""));
    r = &cfg->listeners[0].requests;
    ck_assert(r->keep_underscore_headers && !r->allow_path_semicolons &&
              !r->allow_path_encoded_percent);
    config_free(cfg);

    cfg = load_ok(DOC(",'path_semicolons':'allow','path_encoded_percent':'allow'", ""));
    r = &cfg->listeners[0].requests;
    ck_assert(!r->keep_underscore_headers && r->allow_path_semicolons &&
              r->allow_path_encoded_percent);
    char *summary = NULL;
    size_t summary_len = 0;
    FILE *f = open_memstream(&summary, &summary_len);
    config_print_summary(cfg, f);
    fclose(f);
    ck_assert_msg(strstr(summary, "underscores_in_headers drop, path_semicolons allow,"),
                  "%s", summary);
    ck_assert_msg(strstr(summary, "path_encoded_percent allow\n"),
                  "%s", summary);
    free(summary);
    config_free(cfg);

    expect_err(DOC(",'underscores_in_headers':'on'", ""),
               "certgate.json: $.listeners[0].underscores_in_headers: expected \"drop\" (the "
               "default) or \"keep\"");
    expect_err(DOC(",'underscores_in_headers':true", ""),
               "$.listeners[0].underscores_in_headers: expected a string");
    expect_err(DOC(",'path_semicolons':'Allow'", ""),
               "$.listeners[0].path_semicolons: expected \"reject\" (the default) or \"allow\"");
    expect_err(DOC(",'path_encoded_percent':'yes'", ""),
               "$.listeners[0].path_encoded_percent: expected \"reject\" (the default) or "
               "\"allow\"");
}
END_TEST

Suite *cg_test_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_minimal_defaults);
    tcase_add_test(tc, test_full);
    tcase_add_test(tc, test_wildcard_and_misc_values);
    tcase_add_test(tc, test_example_file);
    tcase_add_test(tc, test_file_errors);
    tcase_add_test(tc, test_syntax_and_exact_message);
    tcase_add_test(tc, test_unknown_keys);
    tcase_add_test(tc, test_types_and_ranges);
    tcase_add_test(tc, test_admin_listener);
    tcase_add_test(tc, test_listener_errors);
    tcase_add_test(tc, test_listen_addresses);
    tcase_add_test(tc, test_upstream_errors);
    tcase_add_test(tc, test_upstream_names);
    tcase_add_test(tc, test_limits_and_timeouts);
    tcase_add_test(tc, test_protocol_str);
    tcase_add_test(tc, test_request_options);
    suite_add_tcase(s, tc);
    return s;
}
