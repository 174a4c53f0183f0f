/* Server sets (proxy/upstream/upstream_set.c): building a set from the previous one
 * keeps the server objects of addresses that stay (their health and counters), and a
 * worker's pool follows a new set (proxy/upstream/upstream_targets.c): targets matched
 * by server, retired ones never picked, round robin and least_requests. */
#include "proxy/upstream/upstream_set.h"

#include "check_main.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/counter.h"
#include "proxy/upstream/upstream_pool.h"

static struct config_address addr(const char *ip, unsigned port, const char *text)
{
    struct config_address a = {0};
    a.text = (char *)text;
    if (strchr(ip, ':') != NULL) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a.addr;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        ck_assert_int_eq(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
        a.addr_len = sizeof(*s6);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&a.addr;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        ck_assert_int_eq(inet_pton(AF_INET, ip, &s4->sin_addr), 1);
        a.addr_len = sizeof(*s4);
    }
    return a;
}

START_TEST(test_build_sorts_and_dedupes)
{
    struct config_address in[] = {
        addr("::1", 80, "[::1]:80"),           addr("127.0.0.3", 80, "127.0.0.3:80"),
        addr("127.0.0.2", 81, "127.0.0.2:81"), addr("127.0.0.3", 80, "dup"),
        addr("127.0.0.2", 80, "127.0.0.2:80"),
    };
    struct upstream_set *s = upstream_set_new(NULL, in, 5, false, 2);
    ck_assert_uint_eq(s->num_servers, 4);
    ck_assert_str_eq(s->servers[0]->addr.text, "127.0.0.2:80");
    ck_assert_str_eq(s->servers[1]->addr.text, "127.0.0.2:81");
    ck_assert_str_eq(s->servers[2]->addr.text, "127.0.0.3:80");
    ck_assert_str_eq(s->servers[3]->addr.text, "[::1]:80");
    ck_assert_ptr_null(s->servers[0]->tls_sessions);
    ck_assert_uint_eq(s->servers[0]->num_workers, 2);
    /* The same addresses in another order: the same servers. */
    struct config_address again[] = {in[4], in[0], in[2], in[1]};
    struct upstream_set *t = upstream_set_new(s, again, 4, false, 2);
    ck_assert(upstream_set_same(s, t));
    upstream_set_unref(t);
    struct upstream_set *empty = upstream_set_new(s, NULL, 0, false, 2);
    ck_assert_uint_eq(empty->num_servers, 0);
    ck_assert(!upstream_set_same(s, empty));
    upstream_set_unref(empty);
    upstream_set_unref(s);
}
END_TEST

START_TEST(test_diff_keeps_state_of_servers_that_stay)
{
    struct config_address a = addr("127.0.0.2", 8080, "a"), b = addr("127.0.0.3", 8080, "b"),
                          c = addr("127.0.0.4", 8080, "c");
    struct config_address first[] = {a, b};
    struct upstream_set *s1 = upstream_set_new(NULL, first, 2, true, 1);
    ck_assert_ptr_nonnull(s1->servers[0]->tls_sessions);
    struct upstream_server *kept = s1->servers[1]; /* b */
    cg_counter_add(&kept->counters[0].connect_errors, 3);
    atomic_store(&kept->health_down, true);
    struct config_address second[] = {c, b};
    struct upstream_set *s2 = upstream_set_new(s1, second, 2, true, 1);
    ck_assert_uint_eq(s2->num_servers, 2);
    ck_assert_ptr_eq(s2->servers[0], kept);                      /* b sorts before c */
    ck_assert_int_eq(upstream_set_find(s2, s1->servers[0]), -1); /* a left */
    ck_assert_int_eq(upstream_set_find(s2, kept), 0);
    ck_assert_str_eq(s2->servers[1]->addr.text, "c");
    struct upstream_server_report r;
    upstream_server_report(kept, 0, &r);
    ck_assert_uint_eq(r.connect_errors, 3);
    ck_assert(r.health_down);
    ck_assert(!r.up);
    upstream_server_report(s2->servers[1], 0, &r);
    ck_assert(r.up && r.connect_errors == 0);
    /* The old set's end leaves the kept server to the new one. */
    upstream_set_unref(s1);
    ck_assert_uint_eq(atomic_load(&kept->refs), 1);
    upstream_set_unref(s2);
}
END_TEST

/* ---- a worker's pool following sets ---------------------------------------------- */

struct pool_fixture {
    struct event_base *base;
    struct config *cfg;
    struct upstream_pool *pool;
};

static void pool_setup(struct pool_fixture *f, const char *balance, struct upstream_set *set)
{
    f->base = event_base_new();
    char json[512];
    int n = snprintf(json, sizeof(json),
                     "{\"listeners\":[{\"name\":\"a\",\"listen\":[\"127.0.0.1:8443\"],"
                     "\"tls\":{\"certificates\":[{\"cert\":\"c.pem\",\"key\":\"k.pem\"}]},"
                     "\"upstream\":\"db\"}],"
                     "\"upstreams\":{\"db\":{\"servers\":[\"db.test:1\"],\"balance\":\"%s\"}}}",
                     balance);
    struct cg_errbuf err = {{0}};
    ck_assert_msg(config_load_string("t.json", json, (size_t)n, "/", &f->cfg, &err) == 0, "%s",
                  err.msg);
    f->pool = upstream_pool_new(f->base, &f->cfg->upstreams[0], f->cfg, NULL, set, 0);
}

static void pool_teardown(struct pool_fixture *f)
{
    upstream_pool_free(f->pool);
    config_free(f->cfg);
    event_base_free(f->base);
}

static const char *pick_text(struct upstream_pool *pool)
{
    struct upstream_target *t = upstream_pool_pick(pool);
    return t == NULL ? "none" : upstream_target_server(t)->addr.text;
}

static int retired_seen;

static void on_retire(void *arg, struct upstream_target *t)
{
    retired_seen++;
    ck_assert(upstream_target_retired(t));
}

START_TEST(test_pool_follows_sets)
{
    struct config_address a = addr("127.0.0.2", 1, "a"), b = addr("127.0.0.3", 1, "b"),
                          c = addr("127.0.0.4", 1, "c");
    struct upstream_set *empty = upstream_set_new(NULL, NULL, 0, false, 1);
    struct pool_fixture f;
    pool_setup(&f, "round_robin", empty);
    upstream_pool_on_retire(f.pool, on_retire, NULL);
    /* Unresolved: nothing to pick, and the 503 says why. */
    ck_assert_str_eq(pick_text(f.pool), "none");
    ck_assert_int_eq(upstream_pool_unavailable(f.pool), CG_REASON_UPSTREAM_UNRESOLVED);
    struct config_address ab[] = {a, b};
    struct upstream_set *s1 = upstream_set_new(empty, ab, 2, false, 1);
    upstream_pool_set_servers(f.pool, s1);
    ck_assert_str_eq(pick_text(f.pool), "a");
    ck_assert_str_eq(pick_text(f.pool), "b");
    ck_assert_str_eq(pick_text(f.pool), "a");
    /* A session holds b; b leaves: retired, never picked, alive while held. */
    struct upstream_target *tb = NULL;
    while (tb == NULL || strcmp(upstream_target_server(tb)->addr.text, "b") != 0) {
        tb = upstream_pool_pick(f.pool);
    }
    upstream_target_hold(tb);
    struct config_address ac[] = {a, c};
    struct upstream_set *s2 = upstream_set_new(s1, ac, 2, false, 1);
    retired_seen = 0;
    upstream_pool_set_servers(f.pool, s2);
    ck_assert_int_eq(retired_seen, 1);
    ck_assert(upstream_target_retired(tb));
    for (int i = 0; i < 4; i++) {
        ck_assert_str_ne(pick_text(f.pool), "b");
    }
    upstream_target_drop(tb); /* freed now */
    /* Health: a server down by its checks is skipped; none usable is no_healthy_server. */
    atomic_store(&s2->servers[0]->health_down, true);
    for (int i = 0; i < 3; i++) {
        ck_assert_str_eq(pick_text(f.pool), "c");
    }
    atomic_store(&s2->servers[1]->health_down, true);
    ck_assert_str_eq(pick_text(f.pool), "none");
    ck_assert_int_eq(upstream_pool_unavailable(f.pool), CG_REASON_NO_HEALTHY_SERVER);
    pool_teardown(&f);
    upstream_set_unref(empty);
    upstream_set_unref(s1);
    upstream_set_unref(s2);
}
END_TEST

START_TEST(test_least_requests)
{
    struct config_address abc[] = {addr("127.0.0.2", 1, "a"), addr("127.0.0.3", 1, "b"),
                                   addr("127.0.0.4", 1, "c")};
    struct upstream_set *s = upstream_set_new(NULL, abc, 3, false, 1);
    struct pool_fixture f;
    pool_setup(&f, "least_requests", s);
    /* Ties go in turn. */
    struct upstream_target *t[3];
    for (int i = 0; i < 3; i++) {
        t[i] = upstream_pool_pick(f.pool);
        upstream_target_begin_request(t[i]);
    }
    ck_assert_str_eq(upstream_target_server(t[0])->addr.text, "a");
    ck_assert_str_eq(upstream_target_server(t[1])->addr.text, "b");
    ck_assert_str_eq(upstream_target_server(t[2])->addr.text, "c");
    /* a holds 5 more (a slow server): the others get the next requests. */
    for (int i = 0; i < 5; i++) {
        upstream_target_begin_request(t[0]);
    }
    for (int i = 0; i < 8; i++) {
        struct upstream_target *x = upstream_pool_pick(f.pool);
        ck_assert_str_ne(upstream_target_server(x)->addr.text, "a");
        upstream_target_begin_request(x);
    }
    /* b and c now hold 5 each, a 6: b or c. Ending a's requests brings it back. */
    for (int i = 0; i < 6; i++) {
        upstream_target_end_request(t[0]);
    }
    ck_assert_str_eq(pick_text(f.pool), "a");
    /* Clean up the counts the pool checks when it is freed. */
    for (int i = 1; i < 3; i++) {
        for (int k = 0; k < 5; k++) {
            upstream_target_end_request(t[i]);
        }
    }
    pool_teardown(&f);
    upstream_set_unref(s);
}
END_TEST

Suite *cg_test_suite(void)
{
    Suite *s = suite_create("upstream_set");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_build_sorts_and_dedupes);
    tcase_add_test(tc, test_diff_keeps_state_of_servers_that_stay);
    tcase_add_test(tc, test_pool_follows_sets);
    tcase_add_test(tc, test_least_requests);
    suite_add_tcase(s, tc);
    return s;
}
