/* Tests of proxy/core/snapshot.c and the worker's side of it (proxy/core/worker.c): a
 * snapshot is freed by its last reference; a worker holds one reference per snapshot it
 * keeps state for; installing a new snapshot leaves the old one to the connections that
 * belong to it and frees the worker's state of it when the last one ends (the sanitizer
 * build checks that nothing leaks); a policy sent for a snapshot the worker has freed
 * is dropped, not leaked. */
#include "proxy/core/snapshot.h"

#include "check_main.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"
#include "proxy/core/host_table.h"
#include "proxy/core/metrics.h"
#include "proxy/core/runtime.h"
#include "proxy/core/worker.h"
#include "proxy/upstream/upstream_set.h"

/* config_with returns a configuration with a listener for each of the |n| names of
 * |names| (on ports 8443, 8444, ...), each with a policy. */
static struct config *config_with(const char *names[], size_t n)
{
    char json[4096];
    size_t len = (size_t)snprintf(json, sizeof(json), "{\"listeners\":[");
    for (size_t i = 0; i < n; i++) {
        len += (size_t)snprintf(json + len, sizeof(json) - len,
                                "%s{\"name\":\"%s\",\"listen\":[\"127.0.0.1:%zu\"],"
                                "\"tls\":{\"certificates\":[{\"cert\":\"c.pem\",\"key\":\"k.pem\"}]},"
                                "\"policy\":\"p.json\",\"upstream\":\"db\"}",
                                i ? "," : "", names[i], 8443 + i);
    }
    len += (size_t)snprintf(json + len, sizeof(json) - len,
                            "],\"upstreams\":{\"db\":{\"servers\":[\"127.0.0.1:8080\"]}}}");
    struct config *cfg = NULL;
    struct cg_errbuf err = {{0}};
    ck_assert_msg(config_load_string("t.json", json, len, "/etc", &cfg, &err) == 0, "%s", err.msg);
    return cfg;
}

/* with_sets gives |s| a set of the literal servers of each upstream, as the main thread
 * does before publishing it (control/upstream_sets.c). */
static struct snapshot *with_sets(struct snapshot *s)
{
    for (size_t i = 0; i < s->cfg->num_upstreams; i++) {
        const struct config_upstream *up = &s->cfg->upstreams[i];
        struct upstream_set *set = upstream_set_new(NULL, up->servers, up->num_servers, false, 1);
        snapshot_take_upstream_sets(s, &set);
        upstream_set_unref(set);
    }
    return s;
}

static struct policy *a_policy(void)
{
    static const char doc[] = "{\"allow_ips\":[\"127.0.0.1\"],\"routes\":[{\"path\":\"/*\","
                              "\"require\":\"Public\"}],\"certificates\":[]}";
    struct policy_load_opts opts = {0};
    struct policy *p = NULL;
    struct cg_errbuf err = {{0}};
    ck_assert_msg(policy_load_json("p.json", doc, strlen(doc), &opts, &p, &err) == 0, "%s",
                  err.msg);
    return p;
}

static int refs(struct snapshot *s)
{
    return atomic_load(&s->refs);
}

START_TEST(test_snapshot_slots_and_refs)
{
    const char *names[] = {"a", "b"};
    struct snapshot *s = snapshot_new(config_with(names, 2), 7);
    ck_assert_uint_eq(s->generation, 7);
    ck_assert_uint_eq(s->num_policy_slots, 2);
    ck_assert_uint_eq(s->policy_slots[1].listener, 1);
    ck_assert_str_eq(s->policy_slots[1].file, "/etc/p.json");
    ck_assert_ptr_eq(snapshot_find_listener(s, "b"), &s->listeners[1]);
    ck_assert_ptr_null(snapshot_find_listener(s, "c"));
    ck_assert_int_eq(refs(s), 1);
    ck_assert_ptr_eq(snapshot_ref(s), s);
    ck_assert_int_eq(refs(s), 2);
    s->policy_slots[0].policy = a_policy(); /* freed with the snapshot */
    snapshot_unref(s);
    ck_assert_int_eq(refs(s), 1);
    snapshot_unref(s);
    snapshot_unref(NULL);
}
END_TEST

/* run_loop runs |w|'s pending events (the retire event) without blocking. */
static void run_loop(struct worker *w)
{
    event_base_loop(w->base, EVLOOP_NONBLOCK);
}

START_TEST(test_worker_retires_a_snapshot_with_its_last_connection)
{
    struct runtime rt = {0};
    const char *one[] = {"a"};
    const char *two[] = {"a", "b"};
    struct snapshot *s1 = with_sets(snapshot_new(config_with(one, 1), 1));
    s1->policy_slots[0].policy = a_policy();
    struct worker *w = worker_new(&rt, s1, 0, NULL, NULL, 0);
    ck_assert_int_eq(refs(s1), 2);
    ck_assert_uint_eq(w->metrics->num_listeners, 1);
    struct worker_snapshot *ws1 = w->cur;
    ck_assert_ptr_nonnull(ws1->policies[0]);
    worker_conn_opened(ws1); /* a connection of generation 1 stays open */

    struct snapshot *s2 = with_sets(snapshot_new(config_with(two, 2), 2));
    s2->listeners[1].metrics_index = 1;
    s2->num_metrics = 2;
    worker_install(w, worker_install_msg_new(s2, NULL, NULL, 0));
    ck_assert_ptr_eq(w->cur->snap, s2);
    ck_assert_int_eq(refs(s2), 2);
    ck_assert_uint_eq(w->metrics->num_listeners, 2);
    ck_assert_ptr_eq(w->retiring, ws1);
    run_loop(w);
    ck_assert_ptr_eq(w->retiring, ws1); /* its connection holds it */
    ck_assert_int_eq(refs(s1), 2);

    /* A policy change still reaches the old snapshot while it is in use. */
    struct policy *p = a_policy();
    worker_set_policy(w, worker_policy_msg_new(s1, 0, p));
    ck_assert_ptr_eq(ws1->policies[0], p);

    worker_conn_closed(ws1);
    run_loop(w);
    ck_assert_ptr_null(w->retiring);
    ck_assert_int_eq(refs(s1), 1);
    /* Sent before the worker let go of it: dropped. */
    worker_set_policy(w, worker_policy_msg_new(s1, 0, p));
    policy_unref(p);
    snapshot_unref(s1);

    /* No connection on the current snapshot: replaced and freed at once. */
    struct snapshot *s3 = with_sets(snapshot_new(config_with(one, 1), 3));
    worker_install(w, worker_install_msg_new(s3, NULL, NULL, 0));
    run_loop(w);
    ck_assert_ptr_null(w->retiring);
    ck_assert_int_eq(refs(s2), 1);
    snapshot_unref(s2);

    ck_assert_int_eq(worker_start(w), 0);
    worker_post(w, worker_begin_drain, NULL);
    worker_join(w);
    ck_assert_int_eq(refs(s3), 2); /* joined: its state stays readable until worker_free */
    worker_free(w);
    ck_assert_int_eq(refs(s3), 1);
    snapshot_unref(s3);
}
END_TEST

Suite *cg_test_suite(void)
{
    Suite *s = suite_create("snapshot");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_snapshot_slots_and_refs);
    tcase_add_test(tc, test_worker_retires_a_snapshot_with_its_last_connection);
    suite_add_tcase(s, tc);
    return s;
}
