#include "proxy/server.h"

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
#include "common/sd_notify.h"
#include "policy/policy.h"
#include "proxy/access_log.h"
#include "proxy/admin.h"
#include "proxy/listen.h"
#include "proxy/reload.h"
#include "proxy/renew.h"
#include "proxy/tls_server.h"
#include "proxy/worker.h"

#include <openssl/rand.h>

static int setup_listeners(struct server *srv, struct cg_errbuf *err)
{
    const struct config *cfg = srv->cfg;
    srv->listeners = cg_xcalloc(cfg->num_listeners, sizeof(*srv->listeners));
    for (size_t i = 0; i < cfg->num_listeners; i++) {
        const struct config_listener *l = &cfg->listeners[i];
        struct listener_rt *rt = &srv->listeners[i];
        rt->cfg = l;
        rt->index = i;
        for (size_t k = 0; k < l->proxy_protocol.num_from; k++) {
            int prc = ipset_add(&rt->proxy_from, l->proxy_protocol.from[k], err);
            if (prc != CG_OK) {
                return prc;
            }
        }
        ipset_finish(&rt->proxy_from);
        struct tls_cert_set *certs;
        int rc = tls_cert_set_load(&l->tls, &certs, err);
        if (rc != CG_OK) {
            return rc;
        }
        rc = tls_server_new(l, certs, &rt->tls, err);
        tls_cert_set_unref(certs);
        if (rc != CG_OK) {
            return rc;
        }
        if (l->policy == NULL) {
            CG_LOG_WARN("listener %s has no policy: every request is denied", l->name);
        } else if ((rc = server_load_policy(srv, i, err)) != CG_OK) {
            return rc;
        }
    }
    return CG_OK;
}

/* bind_all claims every listen address and opens every listening socket (the workers'
 * SO_REUSEPORT sockets, one per worker per address, and the admin API's) on the main
 * thread before anything starts: an address in use, or held by another process, is one
 * clear error and the process exits without having served anyone. */
static int bind_all(struct server *srv, int *fds, size_t *owners, size_t num_addrs,
                    struct cg_errbuf *err)
{
    const struct config *cfg = srv->cfg;
    srv->claims = cg_xcalloc(num_addrs ? num_addrs : 1, sizeof(int));
    for (size_t i = 0, n = 0; i < cfg->num_listeners; i++) {
        for (size_t j = 0; j < cfg->listeners[i].num_addresses; j++) {
            int rc = listen_claim(&cfg->listeners[i].addresses[j], &srv->claims[n], err);
            if (rc != CG_OK) {
                return rc;
            }
            srv->num_claims = ++n;
        }
    }
    if (cfg->admin.enabled) {
        int rc =
            listen_socket_open(&cfg->admin.address, false, "admin listen", &srv->admin_fd, err);
        if (rc != CG_OK) {
            return rc;
        }
    }
    for (unsigned w = 0; w < srv->num_workers; w++) {
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

static int start_workers(struct server *srv, struct cg_errbuf *err)
{
    const struct config *cfg = srv->cfg;
    size_t num_addrs = 0;
    for (size_t i = 0; i < cfg->num_listeners; i++) {
        num_addrs += cfg->listeners[i].num_addresses;
    }
    srv->num_workers = cfg->workers;
    srv->workers = cg_xcalloc(srv->num_workers, sizeof(*srv->workers));
    size_t num_fds = (size_t)srv->num_workers * num_addrs;
    int *fds = cg_xcalloc(num_fds ? num_fds : 1, sizeof(int));
    size_t *owners = cg_xcalloc(num_fds ? num_fds : 1, sizeof(size_t));
    for (size_t k = 0; k < num_fds; k++) {
        fds[k] = -1;
    }
    int rc = bind_all(srv, fds, owners, num_addrs, err);
    if (rc != CG_OK) {
        for (size_t k = 0; k < num_fds; k++) {
            if (fds[k] >= 0) {
                close(fds[k]);
            }
        }
        goto out;
    }
    for (unsigned w = 0; w < srv->num_workers; w++) {
        srv->workers[w] = worker_new(srv, w, fds + (size_t)w * num_addrs,
                                     owners + (size_t)w * num_addrs, num_addrs);
    }
    /* Workers never see signals: the main thread handles them. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    for (unsigned w = 0; w < srv->num_workers; w++) {
        if (worker_start(srv->workers[w]) != CG_OK) {
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
    struct server *srv;
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
                (unsigned long long)m->srv->cfg->timeouts.drain);
    for (unsigned i = 0; i < m->srv->num_workers; i++) {
        worker_post(m->srv->workers[i], worker_begin_drain, NULL);
    }
    event_base_loopexit(m->base, NULL);
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
    struct main_loop *m = arg;
    CG_LOG_INFO("SIGHUP: reloading policies and certificates, reopening the access log");
    cg_sd_notify_reloading();
    reloader_reload(m->reloader, true);
    if (m->srv->access_log != NULL) {
        access_log_reopen(m->srv->access_log);
    }
    cg_sd_notify_ready();
}

static void on_usr1(evutil_socket_t sig, short what, void *arg)
{
    struct main_loop *m = arg;
    if (m->srv->access_log != NULL) {
        CG_LOG_INFO("SIGUSR1: reopening the access log");
        access_log_reopen(m->srv->access_log);
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

static void server_free(struct server *srv)
{
    if (srv->listeners != NULL) {
        for (size_t i = 0; i < srv->cfg->num_listeners; i++) {
            tls_server_free(srv->listeners[i].tls);
            policy_unref(srv->listeners[i].policy);
            ipset_cleanup(&srv->listeners[i].proxy_from);
        }
    }
    free(srv->listeners);
    free(srv->workers);
    for (size_t i = 0; i < srv->num_claims; i++) {
        close(srv->claims[i]);
    }
    free(srv->claims);
    if (srv->admin_fd >= 0) {
        close(srv->admin_fd);
    }
    access_log_close(srv->access_log);
    config_free(srv->cfg);
    free(srv);
}

int server_run(struct config *cfg)
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

    struct server *srv = cg_xcalloc(1, sizeof(*srv));
    srv->cfg = cfg;
    srv->start_time = (uint64_t)time(NULL);
    srv->admin_fd = -1;
    RAND_bytes((uint8_t *)&srv->instance_id, sizeof(srv->instance_id));
    atomic_init(&srv->connections, 0);

    /* The reloader notes the policy and certificate files before they are loaded and
     * watches them before the first connection: a change made while we start up (a
     * deployment writing the policy right after launching us) is reloaded, not missed. */
    struct main_loop m = {.srv = srv, .base = event_base_new()};
    CG_BUG_ON(m.base == NULL);
    reloader_new(srv, m.base, &m.reloader, &err);

    int rc = setup_listeners(srv, &err);
    if (rc == CG_OK && cfg->log.access_log != NULL) {
        rc = access_log_open(cfg->log.access_log, cfg->workers, &srv->access_log, &err);
    }
    if (rc == CG_OK) {
        reloader_start(m.reloader);
        rc = start_workers(srv, &err);
    }
    if (rc != CG_OK) {
        fprintf(stderr, "certgate: %s\n", err.msg);
        for (unsigned i = 0; i < srv->num_workers && srv->workers[i] != NULL; i++) {
            worker_post(srv->workers[i], worker_begin_drain, NULL);
        }
        reloader_free(m.reloader);
        event_base_free(m.base);
        server_free(srv);
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
    struct renewer *renewer = renewer_new(srv, m.base, m.reloader);
    /* The admin API runs on this (main) loop: its operations write files and publish. */
    struct admin_server *admin = NULL;
    int status = 0;
    int admin_fd = srv->admin_fd;
    srv->admin_fd = -1; /* admin_server_new takes it, whatever happens */
    if (cfg->admin.enabled &&
        admin_server_new(srv, m.base, m.reloader, admin_fd, &admin, &err) != CG_OK) {
        fprintf(stderr, "certgate: %s\n", err.msg);
        status = 1;
        m.stopping = true;
        for (unsigned i = 0; i < srv->num_workers; i++) {
            worker_post(srv->workers[i], worker_begin_drain, NULL);
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
    for (unsigned i = 0; i < srv->num_workers; i++) {
        worker_join(srv->workers[i]);
    }
    CG_LOG_INFO("stopped");
    event_free(ev_term);
    event_free(ev_int);
    event_free(ev_hup);
    event_free(ev_usr1);
    renewer_free(renewer);
    reloader_free(m.reloader);
    event_base_free(m.base);
    server_free(srv);
    return status;
}

int server_check(const struct config *cfg)
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
    return status;
}
