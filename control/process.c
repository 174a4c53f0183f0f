#include "control/process.h"
#include "proxy/core/runtime.h"

#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "common/bug.h"
#include "common/log.h"
#include "common/mem.h"
#include "control/admin/admin_server.h"
#include "control/listen.h"
#include "control/reload.h"
#include "control/renewer.h"
#include "control/sd_notify.h"
#include "policy/policy.h"
#include "proxy/core/access_log.h"
#include "proxy/core/worker.h"
#include "proxy/protocols.h"
#include "proxy/tls/tls_client.h"
#include "proxy/tls/tls_server.h"

#include <openssl/rand.h>

static int setup_listeners(struct runtime *rt, struct cg_errbuf *err)
{
    const struct config *cfg = rt->cfg;
    rt->listeners = cg_xcalloc(cfg->num_listeners, sizeof(*rt->listeners));
    for (size_t i = 0; i < cfg->num_listeners; i++) {
        const struct config_listener *l = &cfg->listeners[i];
        struct listener_rt *lrt = &rt->listeners[i];
        lrt->cfg = l;
        lrt->index = i;
        proxy_protocols_listener(l, lrt);
        for (size_t k = 0; k < l->proxy_protocol.num_from; k++) {
            int prc = ipset_add(&lrt->proxy_from, l->proxy_protocol.from[k], err);
            if (prc != CG_OK) {
                return prc;
            }
        }
        ipset_finish(&lrt->proxy_from);
        struct tls_cert_set *certs;
        int rc = tls_cert_set_load(&l->tls, &certs, err);
        if (rc != CG_OK) {
            return rc;
        }
        rc = tls_server_new(l, certs, &lrt->tls, err);
        tls_cert_set_unref(certs);
        if (rc != CG_OK) {
            return rc;
        }
        if (l->policy == NULL) {
            CG_LOG_WARN("listener %s has no policy: every request is denied", l->name);
        } else if ((rc = reload_load_policy(rt, i, err)) != CG_OK) {
            return rc;
        }
    }
    return CG_OK;
}

/* setup_upstreams loads the TLS client of every upstream with "tls" once, for all
 * workers: a file that does not load stops the start with one line naming it. */
static int setup_upstreams(struct runtime *rt, struct cg_errbuf *err)
{
    const struct config *cfg = rt->cfg;
    rt->upstream_tls = cg_xcalloc(cfg->num_upstreams ? cfg->num_upstreams : 1,
                                  sizeof(*rt->upstream_tls));
    for (size_t i = 0; i < cfg->num_upstreams; i++) {
        int rc = proxy_protocols_upstream_tls(&cfg->upstreams[i], &rt->upstream_tls[i], err);
        if (rc != CG_OK) {
            return rc;
        }
    }
    return CG_OK;
}

/* bind_all claims every listen address and opens every listening socket (the workers'
 * SO_REUSEPORT sockets, one per worker per address, and the admin API's) on the main
 * thread before anything starts: an address in use, or held by another process, is one
 * clear error and the process exits without having served anyone. */
static int bind_all(struct runtime *rt, int *fds, size_t *owners, size_t num_addrs,
                    struct cg_errbuf *err)
{
    const struct config *cfg = rt->cfg;
    rt->claims = cg_xcalloc(num_addrs ? num_addrs : 1, sizeof(int));
    for (size_t i = 0, n = 0; i < cfg->num_listeners; i++) {
        for (size_t j = 0; j < cfg->listeners[i].num_addresses; j++) {
            int rc = listen_claim(&cfg->listeners[i].addresses[j], &rt->claims[n], err);
            if (rc != CG_OK) {
                return rc;
            }
            rt->num_claims = ++n;
        }
    }
    if (cfg->admin.enabled) {
        int rc =
            listen_socket_open(&cfg->admin.address, false, "admin listen", &rt->admin_fd, err);
        if (rc != CG_OK) {
            return rc;
        }
    }
    for (unsigned w = 0; w < rt->num_workers; w++) {
        for (size_t i = 0, n = 0; i < cfg->num_listeners; i++) {
            for (size_t j = 0; j < cfg->listeners[i].num_addresses; j++, n++) {
                size_t k = w * num_addrs + n;
                int rc = listen_socket_open(&cfg->listeners[i].addresses[j], true, "listen",
                                            &fds[k], err);
                if (rc != CG_OK) {
                    return rc;
                }
                owners[k] = i;
            }
        }
    }
    return CG_OK;
}

static int start_workers(struct runtime *rt, struct cg_errbuf *err)
{
    const struct config *cfg = rt->cfg;
    size_t num_addrs = 0;
    for (size_t i = 0; i < cfg->num_listeners; i++) {
        num_addrs += cfg->listeners[i].num_addresses;
    }
    rt->num_workers = cfg->workers;
    rt->workers = cg_xcalloc(rt->num_workers, sizeof(*rt->workers));
    size_t num_fds = (size_t)rt->num_workers * num_addrs;
    int *fds = cg_xcalloc(num_fds ? num_fds : 1, sizeof(int));
    size_t *owners = cg_xcalloc(num_fds ? num_fds : 1, sizeof(size_t));
    for (size_t k = 0; k < num_fds; k++) {
        fds[k] = -1;
    }
    int rc = bind_all(rt, fds, owners, num_addrs, err);
    if (rc != CG_OK) {
        for (size_t k = 0; k < num_fds; k++) {
            if (fds[k] >= 0) {
                close(fds[k]);
            }
        }
        goto out;
    }
    for (unsigned w = 0; w < rt->num_workers; w++) {
        rt->workers[w] = worker_new(rt, w, fds + (size_t)w * num_addrs,
                                     owners + (size_t)w * num_addrs, num_addrs);
    }
    /* Workers never see signals: the main thread handles them. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    for (unsigned w = 0; w < rt->num_workers; w++) {
        if (worker_start(rt->workers[w]) != CG_OK) {
            rc = cg_errf(err, CG_ERR_IO, "cannot start worker thread %u", w);
            break;
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
out:
    free(fds);
    free(owners);
    return rc;
}

struct main_loop {
    struct runtime *rt;
    struct event_base *base;
    struct reloader *reloader;
    bool stopping;
};

static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
    struct main_loop *m = arg;
    if (m->stopping) {
        CG_LOG_WARN("second %s: exiting without waiting for the drain",
                    sig == SIGINT ? "SIGINT" : "SIGTERM");
        _exit(1);
    }
    m->stopping = true;
    cg_sd_notify_stopping();
    CG_LOG_INFO("%s: draining (up to %llu ms)", sig == SIGINT ? "SIGINT" : "SIGTERM",
                (unsigned long long)m->rt->cfg->timeouts.drain);
    for (unsigned i = 0; i < m->rt->num_workers; i++) {
        worker_post(m->rt->workers[i], worker_begin_drain, NULL);
    }
    event_base_loopexit(m->base, NULL);
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
    struct main_loop *m = arg;
    CG_LOG_INFO("SIGHUP: reloading policies and certificates, reopening the access log");
    cg_sd_notify_reloading();
    reloader_reload(m->reloader, true);
    if (m->rt->access_log != NULL) {
        access_log_reopen(m->rt->access_log);
    }
    cg_sd_notify_ready();
}

static void on_usr1(evutil_socket_t sig, short what, void *arg)
{
    struct main_loop *m = arg;
    if (m->rt->access_log != NULL) {
        CG_LOG_INFO("SIGUSR1: reopening the access log");
        access_log_reopen(m->rt->access_log);
    }
}

/* ignore_unused_signals sets SIG_IGN for the signals whose default action would end the
 * process although certgate has no use for them (docs/operations.md, "Signals"): a
 * logrotate script written for another daemon, a stray kill or a file-size limit must
 * not take the gateway down. SIGUSR2 is kept free for a binary upgrade hand-over. */
static void ignore_unused_signals(void)
{
    static const int sigs[] = {SIGPIPE, SIGUSR2, SIGALRM, SIGIO, SIGPWR, SIGXFSZ};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        signal(sigs[i], SIG_IGN);
    }
}

static void runtime_free(struct runtime *rt)
{
    if (rt->listeners != NULL) {
        for (size_t i = 0; i < rt->cfg->num_listeners; i++) {
            tls_server_free(rt->listeners[i].tls);
            policy_unref(rt->listeners[i].policy);
            ipset_cleanup(&rt->listeners[i].proxy_from);
        }
    }
    free(rt->listeners);
    if (rt->upstream_tls != NULL) {
        for (size_t i = 0; i < rt->cfg->num_upstreams; i++) {
            tls_client_free(rt->upstream_tls[i]);
        }
    }
    free(rt->upstream_tls);
    free(rt->workers);
    for (size_t i = 0; i < rt->num_claims; i++) {
        close(rt->claims[i]);
    }
    free(rt->claims);
    if (rt->admin_fd >= 0) {
        close(rt->admin_fd);
    }
    access_log_close(rt->access_log);
    config_free(rt->cfg);
    free(rt);
}

int process_run(struct config *cfg)
{
    struct cg_errbuf err = {0};
    evthread_use_pthreads();
    ignore_unused_signals();
    cg_log_set_level(cfg->log.level);
    /* A worker's buffers come and go by the 100 KiB during a bulk transfer; with
     * glibc's default 128 KiB trim threshold each free at the top of the worker's
     * heap went back to the kernel (madvise) and the next allocation faulted the
     * pages in again: a third of the CPU per bulk byte. Keep up to 8 MiB. */
    mallopt(M_TRIM_THRESHOLD, 8 << 20);

    /* Hold the signals we handle until their handlers exist: listeners accept before
     * the main loop is set up, and a SIGHUP in between would kill the process. */
    sigset_t handled;
    sigemptyset(&handled);
    sigaddset(&handled, SIGHUP);
    sigaddset(&handled, SIGTERM);
    sigaddset(&handled, SIGINT);
    sigaddset(&handled, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &handled, NULL);

    struct runtime *rt = cg_xcalloc(1, sizeof(*rt));
    proxy_protocols_runtime(rt);
    rt->cfg = cfg;
    rt->start_time = (uint64_t)time(NULL);
    rt->admin_fd = -1;
    RAND_bytes((uint8_t *)&rt->instance_id, sizeof(rt->instance_id));
    atomic_init(&rt->connections, 0);

    /* The reloader notes the policy and certificate files before they are loaded and
     * watches them before the first connection: a change made while we start up (a
     * deployment writing the policy right after launching us) is reloaded, not missed. */
    struct main_loop m = {.rt = rt, .base = event_base_new()};
    CG_BUG_ON(m.base == NULL);
    reloader_new(rt, m.base, &m.reloader, &err);

    int rc = setup_listeners(rt, &err);
    if (rc == CG_OK) {
        rc = setup_upstreams(rt, &err);
    }
    if (rc == CG_OK && cfg->log.access_log != NULL) {
        rc = access_log_open(cfg->log.access_log, cfg->workers, &rt->access_log, &err);
    }
    if (rc == CG_OK) {
        reloader_start(m.reloader);
        rc = start_workers(rt, &err);
    }
    if (rc != CG_OK) {
        fprintf(stderr, "certgate: %s\n", err.msg);
        for (unsigned i = 0; i < rt->num_workers && rt->workers[i] != NULL; i++) {
            worker_post(rt->workers[i], worker_begin_drain, NULL);
        }
        reloader_free(m.reloader);
        event_base_free(m.base);
        runtime_free(rt);
        return 1;
    }

    struct event *ev_term = evsignal_new(m.base, SIGTERM, on_stop_signal, &m);
    struct event *ev_int = evsignal_new(m.base, SIGINT, on_stop_signal, &m);
    struct event *ev_hup = evsignal_new(m.base, SIGHUP, on_hup, &m);
    struct event *ev_usr1 = evsignal_new(m.base, SIGUSR1, on_usr1, &m);
    event_add(ev_term, NULL);
    event_add(ev_int, NULL);
    event_add(ev_hup, NULL);
    event_add(ev_usr1, NULL);
    pthread_sigmask(SIG_UNBLOCK, &handled, NULL);
    struct renewer *renewer = renewer_new(rt, m.base, m.reloader);
    /* The admin API runs on this (main) loop: its operations write files and publish. */
    struct admin_server *admin = NULL;
    int status = 0;
    int admin_fd = rt->admin_fd;
    rt->admin_fd = -1; /* admin_server_new takes it, whatever happens */
    if (cfg->admin.enabled &&
        admin_server_new(rt, m.base, m.reloader, admin_fd, &admin, &err) != CG_OK) {
        fprintf(stderr, "certgate: %s\n", err.msg);
        status = 1;
        m.stopping = true;
        for (unsigned i = 0; i < rt->num_workers; i++) {
            worker_post(rt->workers[i], worker_begin_drain, NULL);
        }
    }
    for (size_t i = 0; i < cfg->num_listeners && status == 0; i++) {
        for (size_t j = 0; j < cfg->listeners[i].num_addresses; j++) {
            CG_LOG_INFO("listener %s on %s -> upstream %s (%u workers)", cfg->listeners[i].name,
                        cfg->listeners[i].addresses[j].text, cfg->listeners[i].upstream->name,
                        cfg->workers);
        }
    }
    if (status == 0) {
        cg_sd_notify_ready();
        event_base_dispatch(m.base);
    }
    admin_server_free(admin);

    /* Stop signal received: workers are draining; keep SIGTERM handled meanwhile so a
     * second one forces the exit. */
    for (unsigned i = 0; i < rt->num_workers; i++) {
        worker_join(rt->workers[i]);
    }
    CG_LOG_INFO("stopped");
    event_free(ev_term);
    event_free(ev_int);
    event_free(ev_hup);
    event_free(ev_usr1);
    renewer_free(renewer);
    reloader_free(m.reloader);
    event_base_free(m.base);
    runtime_free(rt);
    return status;
}

int process_check(const struct config *cfg)
{
    int status = 0;
    config_print_summary(cfg, stdout);
    for (size_t i = 0; i < cfg->num_listeners; i++) {
        const struct config_listener *l = &cfg->listeners[i];
        struct cg_errbuf err = {0};
        struct tls_cert_set *certs = NULL;
        struct tls_server *tls = NULL;
        printf("listener %s:\n", l->name);
        if (tls_cert_set_load(&l->tls, &certs, &err) != CG_OK ||
            tls_server_new(l, certs, &tls, &err) != CG_OK) {
            fprintf(stderr, "certgate: %s\n", err.msg);
            status = 1;
        } else {
            tls_cert_set_describe(certs, stdout);
        }
        if (l->policy != NULL) {
            struct policy_load_opts opts = {.client_ca = l->tls.client_ca != NULL};
            struct policy *p = NULL;
            struct cg_errbuf perr = {0};
            if (policy_load_file(l->policy, &opts, &p, &perr) != CG_OK) {
                fprintf(stderr, "certgate: %s\n", perr.msg);
                status = 1;
            } else {
                printf("  policy %s: %zu certificates, %zu routes\n", l->policy,
                       policy_num_certificates(p), policy_num_routes(p));
                policy_free(p);
            }
        } else {
            printf("  policy: none (every request is denied)\n");
        }
        tls_server_free(tls);
        tls_cert_set_unref(certs);
    }
    for (size_t i = 0; i < cfg->num_upstreams; i++) {
        struct cg_errbuf err = {0};
        struct tls_client *cl = NULL;
        if (proxy_protocols_upstream_tls(&cfg->upstreams[i], &cl, &err) != CG_OK) {
            fprintf(stderr, "certgate: %s\n", err.msg);
            status = 1;
        }
        tls_client_free(cl);
    }
    return status;
}
