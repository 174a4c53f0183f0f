/* Tests of config/config_diff.c: what a reload would change between two configurations,
 * and which changes need a restart. JSON is written with single quotes; doc() turns them
 * into double quotes. */
#include "config/config_diff.h"

#include "check_main.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UPSTREAMS "'upstreams':{'db':{'servers':['127.0.0.1:8080']},'b':{'servers':['127.0.0.1:8081']}}"
#define TLS "'tls':{'certificates':[{'cert':'c.pem','key':'k.pem'}]}"
#define LISTENER(name, addr, extra)                                                                \
    "{'name':'" name "','listen':['" addr "']," TLS ",'upstream':'db'" extra "}"
#define BASE_LISTENERS LISTENER("a", "127.0.0.1:8443", "")
#define DOCW(workers, listeners, extra)                                                            \
    "{'workers':" workers ",'listeners':[" listeners "]," UPSTREAMS extra "}"
#define DOC(listeners, extra) DOCW("2", listeners, extra)

static struct config *load_ok(const char *text)
{
    char *d = strdup(text);
    for (char *p = d; *p != '\0'; p++) {
        if (*p == '\'') {
            *p = '"';
        }
    }
    struct config *cfg = NULL;
    struct cg_errbuf err = {{0}};
    int rc = config_load_string("certgate.json", d, strlen(d), "/etc/certgate", &cfg, &err);
    free(d);
    ck_assert_msg(rc == 0, "unexpected error: %s", err.msg);
    return cfg;
}

/* diff_lines computes the diff from |a| to |b| and returns its printed lines joined by
 * '\n' (static storage). */
static const char *diff_lines(const char *a, const char *b, size_t *out_num, size_t *out_restart)
{
    static char buf[8192];
    struct config *ca = load_ok(a);
    struct config *cb = load_ok(b);
    struct config_diff d = {0};
    config_diff_compute(ca, cb, &d);
    buf[0] = '\0';
    for (size_t i = 0; i < d.num_changes; i++) {
        char line[1024];
        strcat(buf, config_change_format(&d.changes[i], line, sizeof(line)));
        strcat(buf, "\n");
    }
    *out_num = d.num_changes;
    *out_restart = config_diff_num_restart(&d);
    config_diff_cleanup(&d);
    ck_assert_uint_eq(d.num_changes, 0);
    config_free(ca);
    config_free(cb);
    return buf;
}

#define expect_diff(a, b, want, num, restart)                                                      \
    do {                                                                                           \
        size_t n_, r_;                                                                             \
        const char *got_ = diff_lines((a), (b), &n_, &r_);                                         \
        ck_assert_str_eq(got_, (want));                                                            \
        ck_assert_uint_eq(n_, (num));                                                              \
        ck_assert_uint_eq(r_, (restart));                                                          \
    } while (0)

START_TEST(test_identical)
{
    expect_diff(DOC(BASE_LISTENERS, ""), DOC(BASE_LISTENERS, ""), "", 0, 0);
    /* Spelling does not matter, the value does: "8KiB" is 8192. */
    expect_diff(DOC(BASE_LISTENERS, ",'limits':{'max_request_line':8192}"),
                DOC(BASE_LISTENERS, ",'limits':{'max_request_line':'8KiB'}"), "", 0, 0);
}
END_TEST

START_TEST(test_scalars)
{
    expect_diff(DOC(BASE_LISTENERS, ",'limits':{'max_headers':100}"),
                DOC(BASE_LISTENERS, ",'limits':{'max_headers':50},'timeouts':{'drain':'5s'}"),
                "changed: limits.max_headers 100 -> 50\n"
                "changed: timeouts.drain 30s -> 5s\n",
                2, 0);
    expect_diff(DOC(BASE_LISTENERS, ""), DOCW("4", BASE_LISTENERS, ""),
                "changed: workers 2 -> 4 (restart needed)\n", 1, 1);
}
END_TEST

START_TEST(test_restart_items)
{
    expect_diff(DOC(BASE_LISTENERS, ""),
                DOC(BASE_LISTENERS, ",'state_dir':'/var/lib/cg','status':{'listen':'127.0.0.1:9"
                                    "100'},'log':{'access_log':'-'}"),
                "changed: state_dir null -> /var/lib/cg (restart needed)\n"
                "changed: log.access_log null -> - (restart needed)\n"
                "changed: status.listen null -> 127.0.0.1:9100 (restart needed)\n",
                3, 3);
    expect_diff(DOC(BASE_LISTENERS, ",'admin':{'listen':'127.0.0.1:9000'}"),
                DOC(BASE_LISTENERS, ",'admin':{'listen':'127.0.0.1:9001'}"),
                "changed: admin.listen 127.0.0.1:9000 -> 127.0.0.1:9001 (restart needed)\n", 1,
                1);
}
END_TEST

START_TEST(test_listeners)
{
    expect_diff(DOC(BASE_LISTENERS, ""),
                DOC(BASE_LISTENERS "," LISTENER("b", "127.0.0.1:9443", ""), ""),
                "added: listeners.b\n", 1, 0);
    expect_diff(DOC(BASE_LISTENERS "," LISTENER("b", "127.0.0.1:9443", ""), ""),
                DOC(BASE_LISTENERS, ""), "removed: listeners.b\n", 1, 0);
    /* A rename is a removal and an addition, even on the same address. */
    expect_diff(DOC(BASE_LISTENERS, ""), DOC(LISTENER("c", "127.0.0.1:8443", ""), ""),
                "removed: listeners.a\nadded: listeners.c\n", 2, 0);
    expect_diff(DOC(BASE_LISTENERS, ""),
                DOC(LISTENER("a", "127.0.0.1:8444",
                             ",'alpn':['h2'],'policy':'p.json','path_semicolons':'allow'"),
                    ""),
                "changed: listeners.a.listen [127.0.0.1:8443] -> [127.0.0.1:8444]\n"
                "changed: listeners.a.alpn [h2, http/1.1] -> [h2]\n"
                "changed: listeners.a.policy null -> /etc/certgate/p.json\n"
                "changed: listeners.a.path_semicolons reject -> allow\n",
                4, 0);
    expect_diff(DOC(BASE_LISTENERS, ""),
                DOC("{'name':'a','listen':['127.0.0.1:8443'],'tls':{'certificates':[{'cert':'c2."
                    "pem','key':'k.pem'}],'min_version':'1.3'},'upstream':'b'}",
                    ""),
                "changed: listeners.a.tls.certificates [/etc/certgate/c.pem + "
                "/etc/certgate/k.pem] -> [/etc/certgate/c2.pem + /etc/certgate/k.pem]\n"
                "changed: listeners.a.upstream db -> b\n"
                "changed: listeners.a.tls.min_version 1.2 -> 1.3\n",
                3, 0);
}
END_TEST

#define HOST(names, up, extra) "{'names':[" names "],'upstream':'" up "','policy':'p.json'" extra "}"

START_TEST(test_hosts)
{
    expect_diff(DOC(LISTENER("a", "127.0.0.1:8443", ",'hosts':[" HOST("'x.example'", "db", "") "]"),
                    ""),
                DOC(LISTENER("a", "127.0.0.1:8443",
                             ",'hosts':[" HOST("'x.example','y.example'", "b",
                                               ",'paths':[{'prefix':'/in/','upstream':'db'}]") ","
                             HOST("'z.example'", "db", "") "]"),
                    ""),
                "changed: listeners.a.hosts.x.example.names [x.example] -> [x.example, "
                "y.example]\n"
                "changed: listeners.a.hosts.x.example.upstream db -> b\n"
                "changed: listeners.a.hosts.x.example.paths [] -> [/in/ -> db]\n"
                "added: listeners.a.hosts.z.example\n",
                4, 0);
}
END_TEST

START_TEST(test_upstreams)
{
    expect_diff(DOC(BASE_LISTENERS, ""),
                "{'workers':2,'listeners':[" BASE_LISTENERS "],'upstreams':{'db':{'servers':["
                "'127.0.0.1:8080','127.0.0.1:8082'],'protocol':'h2c'},'c':{'servers':['[::1]:1']}}}",
                "changed: upstreams.db.servers [127.0.0.1:8080] -> [127.0.0.1:8080, "
                "127.0.0.1:8082]\n"
                "changed: upstreams.db.protocol http/1.1 -> h2c\n"
                "removed: upstreams.b\n"
                "added: upstreams.c\n",
                4, 0);
}
END_TEST

START_TEST(test_long_values_cut)
{
    /* Forty servers do not make a line of a kilobyte. */
    char servers[4096] = "";
    for (int i = 0; i < 40; i++) {
        char one[32];
        snprintf(one, sizeof(one), "%s'127.0.0.1:%d'", i ? "," : "", 10000 + i);
        strcat(servers, one);
    }
    char b[8192];
    snprintf(b, sizeof(b),
             "{'workers':2,'listeners':[" BASE_LISTENERS "],'upstreams':{'db':{'servers':[%s]},"
             "'b':{'servers':['127.0.0.1:8081']}}}",
             servers);
    size_t n, r;
    const char *got = diff_lines(DOC(BASE_LISTENERS, ""), b, &n, &r);
    ck_assert_uint_eq(n, 1);
    ck_assert_ptr_nonnull(strstr(got, "...\n"));
    ck_assert_uint_lt(strlen(got), 300);
}
END_TEST

START_TEST(test_print)
{
    struct config_diff d = {0};
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    config_diff_print(&d, "  ", f);
    fclose(f);
    ck_assert_str_eq(buf, "  no change\n");
    free(buf);
}
END_TEST

Suite *cg_test_suite(void)
{
    Suite *s = suite_create("config_diff");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_identical);
    tcase_add_test(tc, test_scalars);
    tcase_add_test(tc, test_restart_items);
    tcase_add_test(tc, test_listeners);
    tcase_add_test(tc, test_hosts);
    tcase_add_test(tc, test_upstreams);
    tcase_add_test(tc, test_long_values_cut);
    tcase_add_test(tc, test_print);
    suite_add_tcase(s, tc);
    return s;
}
