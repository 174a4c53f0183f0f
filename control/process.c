#include "control/process.h"
#include "proxy/core/runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "common/bug.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "control/admin/admin_server.h"
#include "control/listen.h"
#include "control/reload.h"
#include "control/renewer.h"
#include "control/sd_notify.h"
#include "control/status_server.h"
#include "control/upgrade.h"
#include "control/upstream_sets.h"
#include "policy/policy.h"
#include "proxy/core/access_log.h"
#include "proxy/core/host_table.h"
#include "proxy/core/worker.h"
#include "proxy/protocols.h"
#include "proxy/tls/tls_client.h"
#include "proxy/tls/tls_server.h"

#include <openssl/rand.h>

/* setup_hosts gives every listener its host table and numbers the policy slots, listener
 * by listener: its host entries, then its default. Nothing is loaded yet: the reloader
 * notes the files first (reloader_new). */
static void setup_hosts(struct runtime *rt)
{
    const struct config *cfg = rt->cfg;
    rt->listeners = cg_xcalloc(cfg->num_listeners, sizeof(*rt->listeners));
    size_t num_slots = 0;
    for (size_t i = 0; i < cfg->num_listeners; i++) {
        num_slots += cfg->listeners[i].num_hosts + (cfg->listeners[i].upstream != NULL ? 1 : 0);
    }
    rt->policy_slots = cg_xcalloc(num_slots ? num_slots : 1, sizeof(*rt->policy_slots));
    for (size_t i = 0; i < cfg->num_listeners; i++) {
        struct listener_rt *lrt = &rt->listeners[i];
        lrt->cfg = &cfg->listeners[i];
        lrt->index = i;
        lrt->hosts = host_table_new(lrt->cfg, rt->num_policy_slots);
        for (size_t k = 0; k < lrt->hosts->num_entries; k++) {
            const struct host_entry *e = &lrt->hosts->entries[k];
            rt->policy_slots[e->policy_slot] =
                (struct policy_slot){.listener = i, .host = e->name, .file = e->policy_file};
        }
        rt->num_policy_slots += lrt->hosts->num_entries;
    }
}

/* setup_tls creates listener |lrt|'s TLS context with its certificates and every host
 * entry's own. */
static int setup_tls(struct listener_rt *lrt, struct cg_errbuf *err)
{
    const struct config_listener *l = lrt->cfg;
    struct tls_cert_set *certs;
    int rc = tls_cert_set_load(l->tls.certificates, l->tls.num_certificates, &certs, err);
    if (rc != CG_OK) {
        return rc;
    }
    rc = tls_server_new(l, certs, &lrt->tls, err);
    tls_cert_set_unref(certs);
    for (size_t h = 0; rc == CG_OK && h < l->num_hosts; h++) {
        const struct config_host *host = &l->hosts[h];
        if (host->num_certificates == 0) {
            continue;
        }
        rc = tls_cert_set_load(host->certificates, host->num_certificates, &certs, err);
        if (rc == CG_OK) {
            tls_server_set_host_certs(lrt->tls, h, certs);
            tls_cert_set_unref(certs);
        }
    }
    return rc;
}

static int setup_listeners(struct runtime *rt, struct cg_errbuf *err)
{
    const struct config *cfg = rt->cfg;
    for (size_t i = 0; i < cfg->num_listeners; i++) {
        const struct config_listener *l = &cfg->listeners[i];
        struct listener_rt *lrt = &rt->listeners[i];
        proxy_protocols_listener(l, lrt);
        for (size_t k = 0; k < l->proxy_protocol.num_from; k++) {
            int prc = ipset_add(&lrt->proxy_from, l->proxy_protocol.from[k], err);
            if (prc != CG_OK) {
                return prc;
            }
        }
        ipset_finish(&lrt->proxy_from);
        int rc = setup_tls(lrt, err);
        if (rc != CG_OK) {
            return rc;
        }
        for (size_t k = 0; k < lrt->hosts->num_entries; k++) {
            size_t slot = lrt->hosts->entries[k].policy_slot;
            if (rt->policy_slots[slot].file == NULL) {
                CG_LOG_WARN("listener %s has no policy: every request is denied", l->name);
            } else if ((rc = reload_load_policy(rt, slot, err)) != CG_OK) {
                return rc;
            }
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

/* enum main_phase is where the process is in its life, as the main thread sees it. */
enum main_phase {
    PHASE_SERVING,  /* ready and accepting */
    PHASE_DELAY,    /* a stop signal came: not ready, still accepting until
                       timeouts.shutdown_delay is over */
    PHASE_DRAINING, /* not accepting; requests in flight finish within timeouts.drain */
};

/* struct worker_socket is one listening socket and the worker that serves it. */
struct worker_socket {
    int fd;
    size_t listener; /* in config->listeners */
    unsigned worker;
};

struct worker_sockets {
    struct worker_socket *v;
    size_t num;
    size_t cap;
};

static void push_socket(struct worker_sockets *l, int fd, size_t listener, unsigned worker)
{
    if (l->num == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->v = cg_xrealloc(l->v, l->cap * sizeof(*l->v));
    }
    l->v[l->num++] = (struct worker_socket){.fd = fd, .listener = listener, .worker = worker};
}

struct main_loop {
    struct runtime *rt;
    const struct process_options *opts;
    struct event_base *base;
    struct reloader *reloader; /* NULL once draining, like renewer and admin */
    struct renewer *renewer;
    struct admin_server *admin;
    struct status_server *status_port; /* NULL without "status", and once draining */
    struct upgrade_server *upgrade;
    struct upstream_sets *upstreams; /* servers of every upstream: DNS, health checks */
    struct upgrade_socket *offer; /* every socket this process serves on, for a hand-over:
                                     the workers' (theirs until they drain), admin_dup and
                                     the claims (rt->claims) */
    size_t num_offer;
    int admin_dup; /* the admin API's listening socket (admin_server has its own
                      descriptor), for a hand-over; -1 without one */
    int status_dup; /* the same for the status port */
    enum main_phase phase;
    bool handed_over;    /* the drain began because a new process took over */
    bool stop_seen;      /* a stop signal arrived during that drain */
    pid_t upgrade_child; /* started by SIGUSR2 and not reaped yet; 0: none */
    struct event *ev_delay;
    struct event *ev_joined; /* activated by the joiner once every worker is gone */
    pthread_t joiner;
    bool joining;
    int status;
};

/* acquire_sockets claims every listen address and gets every listening socket (the
 * workers' SO_REUSEPORT sockets, at least one per worker per address, and the admin
 * API's) on the main thread before anything starts: from |uc| when a running certgate
 * handed its own over (all of them are served, whatever the number of workers, so that
 * no accept queue is closed with connections in it), bound anew otherwise. An address in
 * use, or held by another process, is one clear error and the process exits without
 * having served anyone. */
static int acquire_sockets(struct runtime *rt, struct upgrade_client *uc, struct worker_sockets *out,
                           struct cg_errbuf *err)
{
    const struct config *cfg = rt->cfg;
    size_t num_addrs = cfg->status.enabled ? 1 : 0;
    for (size_t i = 0; i < cfg->num_listeners; i++) {
        num_addrs += cfg->listeners[i].num_addresses;
    }
    rt->claims = cg_xcalloc(num_addrs ? num_addrs : 1, sizeof(int));
    for (size_t i = 0; i < cfg->num_listeners; i++) {
        for (size_t j = 0; j < cfg->listeners[i].num_addresses; j++) {
            const struct config_address *a = &cfg->listeners[i].addresses[j];
            int fd = uc != NULL ? upgrade_client_take(uc, UPGRADE_SOCKET_CLAIM, a) : -1;
            if (fd < 0) {
                int rc = listen_claim(a, &fd, err);
                if (rc != CG_OK) {
                    return rc;
                }
            }
            rt->claims[rt->num_claims++] = fd;
        }
    }
    if (cfg->status.enabled) {
        /* Claimed like the listeners' addresses: a second certgate started with the same
         * configuration must not answer probes and scrapes for this one. */
        const struct config_address *a = &cfg->status.address;
        int fd = uc != NULL ? upgrade_client_take(uc, UPGRADE_SOCKET_CLAIM, a) : -1;
        if (fd < 0) {
            int rc = listen_claim(a, &fd, err);
            if (rc != CG_OK) {
                return rc;
            }
        }
        rt->claims[rt->num_claims++] = fd;
        fd = uc != NULL ? upgrade_client_take(uc, UPGRADE_SOCKET_STATUS, a) : -1;
        if (fd < 0) {
            int rc = listen_socket_open(a, false, "status listen", &fd, err);
            if (rc != CG_OK) {
                return rc;
            }
        }
        rt->status_fd = fd;
    }
    if (cfg->admin.enabled) {
        int fd = uc != NULL ? upgrade_client_take(uc, UPGRADE_SOCKET_ADMIN, &cfg->admin.address)
                            : -1;
        if (fd < 0) {
            int rc = listen_socket_open(&cfg->admin.address, false, "admin listen", &fd, err);
            if (rc != CG_OK) {
                return rc;
            }
        }
        rt->admin_fd = fd;
    }
    for (size_t i = 0; i < cfg->num_listeners; i++) {
        for (size_t j = 0; j < cfg->listeners[i].num_addresses; j++) {
            const struct config_address *a = &cfg->listeners[i].addresses[j];
            unsigned k = 0;
            int fd;
            while (uc != NULL && (fd = upgrade_client_take(uc, UPGRADE_SOCKET_LISTEN, a)) >= 0) {
                push_socket(out, fd, i, k++ % rt->num_workers);
            }
            for (; k < rt->num_workers; k++) {
                int rc = listen_socket_open(a, true, "listen", &fd, err);
                if (rc != CG_OK) {
                    return rc;
                }
                push_socket(out, fd, i, k);
            }
        }
    }
    return CG_OK;
}

/* start_workers gets the sockets, creates the workers on them, lists what a later
 * hand-over offers, and starts the worker threads. */
static int start_workers(struct main_loop *m, struct upgrade_client *uc, struct cg_errbuf *err)
{
    struct runtime *rt = m->rt;
    rt->num_workers = rt->cfg->workers;
    rt->workers = cg_xcalloc(rt->num_workers, sizeof(*rt->workers));
    struct worker_sockets l = {0};
    int rc = acquire_sockets(rt, uc, &l, err);
    if (rc != CG_OK) {
        for (size_t k = 0; k < l.num; k++) {
            close(l.v[k].fd);
        }
        free(l.v);
        return rc;
    }
    int *fds = cg_xcalloc(l.num ? l.num : 1, sizeof(int));
    size_t *owners = cg_xcalloc(l.num ? l.num : 1, sizeof(size_t));
    for (unsigned w = 0; w < rt->num_workers; w++) {
        size_t n = 0;
        for (size_t k = 0; k < l.num; k++) {
            if (l.v[k].worker == w) {
                fds[n] = l.v[k].fd;
                owners[n++] = l.v[k].listener;
            }
        }
        rt->workers[w] = worker_new(rt, w, fds, owners, n);
    }
    free(fds);
    free(owners);
    m->offer = cg_xcalloc(l.num + 2 + rt->num_claims, sizeof(*m->offer));
    for (size_t k = 0; k < l.num; k++) {
        m->offer[m->num_offer++] = (struct upgrade_socket){UPGRADE_SOCKET_LISTEN, l.v[k].fd};
    }
    free(l.v);
    if (rt->admin_fd >= 0) {
        m->admin_dup = fcntl(rt->admin_fd, F_DUPFD_CLOEXEC, 0);
        if (m->admin_dup < 0) {
            CG_LOG_WARN("admin listen: cannot keep its socket for a binary upgrade: %s",
                        strerror(errno));
        } else {
            m->offer[m->num_offer++] = (struct upgrade_socket){UPGRADE_SOCKET_ADMIN, m->admin_dup};
        }
    }
    if (rt->status_fd >= 0) {
        m->status_dup = fcntl(rt->status_fd, F_DUPFD_CLOEXEC, 0);
        if (m->status_dup < 0) {
            CG_LOG_WARN("status listen: cannot keep its socket for a binary upgrade: %s",
                        strerror(errno));
        } else {
            m->offer[m->num_offer++] =
                (struct upgrade_socket){UPGRADE_SOCKET_STATUS, m->status_dup};
        }
    }
    for (size_t i = 0; i < rt->num_claims; i++) {
        m->offer[m->num_offer++] = (struct upgrade_socket){UPGRADE_SOCKET_CLAIM, rt->claims[i]};
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
    return rc;
}

static void on_joined(evutil_socket_t fd, short what, void *arg)
{
    struct main_loop *m = arg;
    event_base_loopexit(m->base, NULL);
}

/* join_workers (a thread of its own) waits for every worker to finish its drain and
 * frees it, then wakes the main loop, which keeps handling signals meanwhile. */
static void *join_workers(void *arg)
{
    struct main_loop *m = arg;
    for (unsigned i = 0; i < m->rt->num_workers; i++) {
        worker_join(m->rt->workers[i]);
    }
    event_active(m->ev_joined, EV_TIMEOUT, 0);
    return NULL;
}

/* begin_drain stops accepting (the workers close their listening sockets), lets requests
 * in flight finish, and ends the main loop once every worker is done. The admin API,
 * renewal and file watching stop now: nothing on the main thread changes the workers
 * from here on. The status port keeps answering (/readyz 503, /healthz, /metrics reading
 * the workers' counters) until the process exits, so that a probe or a scraper sees the
 * drain, unless another process serves it from now on (|keep_status| false: a binary
 * upgrade handed it over). */
static void begin_drain(struct main_loop *m, bool keep_status)
{
    m->phase = PHASE_DRAINING;
    admin_server_free(m->admin);
    m->admin = NULL;
    if (!keep_status) {
        status_server_free(m->status_port);
        m->status_port = NULL;
    }
    renewer_free(m->renewer);
    m->renewer = NULL;
    reloader_free(m->reloader);
    m->reloader = NULL;
    upstream_sets_stop(m->upstreams);
    for (unsigned i = 0; i < m->rt->num_workers; i++) {
        worker_post(m->rt->workers[i], worker_begin_drain, NULL);
    }
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    CG_BUG_ON(pthread_create(&m->joiner, NULL, join_workers, m) != 0);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    m->joining = true;
}

static void on_delay_over(evutil_socket_t fd, short what, void *arg)
{
    struct main_loop *m = arg;
    CG_LOG_INFO("timeouts.shutdown_delay is over: draining (up to %llu ms)",
                (unsigned long long)m->rt->cfg->timeouts.drain);
    begin_drain(m, true);
}

/* on_stop_signal moves the process one step towards its end: serving -> not ready but
 * accepting (timeouts.shutdown_delay; none when it is 0) -> draining -> exiting at once. */
static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
    struct main_loop *m = arg;
    const char *name = sig == SIGINT ? "SIGINT" : "SIGTERM";
    const struct config_timeouts *t = &m->rt->cfg->timeouts;
    switch (m->phase) {
    case PHASE_SERVING:
        atomic_store(&m->rt->stopping, true);
        upgrade_server_refuse_all(m->upgrade, "it is shutting down");
        cg_sd_notify_stopping();
        if (t->shutdown_delay > 0) {
            CG_LOG_INFO("%s: not ready; accepting for %llu ms more (timeouts.shutdown_delay), "
                        "then draining (up to %llu ms)",
                        name, (unsigned long long)t->shutdown_delay,
                        (unsigned long long)t->drain);
            m->phase = PHASE_DELAY;
            struct timeval tv = cg_timeval_ms(t->shutdown_delay);
            evtimer_add(m->ev_delay, &tv);
            return;
        }
        CG_LOG_INFO("%s: draining (up to %llu ms); not ready", name, (unsigned long long)t->drain);
        begin_drain(m, true);
        return;
    case PHASE_DELAY:
        CG_LOG_INFO("second %s: skipping the rest of timeouts.shutdown_delay; draining (up to "
                    "%llu ms)",
                    name, (unsigned long long)t->drain);
        evtimer_del(m->ev_delay);
        begin_drain(m, true);
        return;
    case PHASE_DRAINING:
        if (m->handed_over && !m->stop_seen) {
            /* The service manager stopping the new process signals the whole group, this
             * one included: finish the drain the hand-over began. */
            m->stop_seen = true;
            CG_LOG_INFO("%s: already draining after the hand-over; another one exits at once",
                        name);
            return;
        }
        CG_LOG_WARN("second %s: exiting without waiting for the drain", name);
        _exit(1);
    }
}

/* on_taken: a new process serves on our sockets (control/upgrade.h); this one drains. */
static void on_taken(void *arg, pid_t pid)
{
    struct main_loop *m = arg;
    struct runtime *rt = m->rt;
    m->handed_over = true;
    atomic_store(&rt->stopping, true);
    /* Under systemd the new process is the service from now on; only the main process
     * may say so. */
    cg_sd_notify_mainpid(pid);
    CG_LOG_INFO("upgrade: pid %ld serves on the listening sockets: this process stops "
                "accepting and drains (up to %llu ms)",
                (long)pid, (unsigned long long)rt->cfg->timeouts.drain);
    /* The claims stay held by the new process. */
    for (size_t i = 0; i < rt->num_claims; i++) {
        close(rt->claims[i]);
    }
    rt->num_claims = 0;
    begin_drain(m, false);
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
    struct main_loop *m = arg;
    if (m->reloader == NULL) {
        CG_LOG_INFO("SIGHUP while draining: reopening the access log, nothing to reload");
    } else {
        CG_LOG_INFO("SIGHUP: reloading policies and certificates, reopening the access log");
        cg_sd_notify_reloading();
        reloader_reload(m->reloader, true);
    }
    if (m->rt->access_log != NULL) {
        access_log_reopen(m->rt->access_log);
    }
    if (m->reloader != NULL) {
        cg_sd_notify_ready();
    }
}

static void on_usr1(evutil_socket_t sig, short what, void *arg)
{
    struct main_loop *m = arg;
    if (m->rt->access_log != NULL) {
        CG_LOG_INFO("SIGUSR1: reopening the access log");
        access_log_reopen(m->rt->access_log);
    }
}

/* on_usr2 starts the binary upgrade: the same command line again with --upgrade, as a
 * child of this process (under systemd, in the service's control group). */
static void on_usr2(evutil_socket_t sig, short what, void *arg)
{
    struct main_loop *m = arg;
    if (m->phase != PHASE_SERVING) {
        CG_LOG_WARN("SIGUSR2: no upgrade, this process is shutting down");
        return;
    }
    if (m->upgrade_child > 0) {
        CG_LOG_WARN("SIGUSR2: an upgrade is in progress already (pid %ld)",
                    (long)m->upgrade_child);
        return;
    }
    if (m->opts->argv == NULL || m->opts->argv[0] == NULL) {
        CG_LOG_WARN("SIGUSR2: no command line to run again");
        return;
    }
    struct cg_errbuf err = {0};
    pid_t pid;
    if (upgrade_spawn(m->opts->argv, &pid, &err) != CG_OK) {
        CG_LOG_ERROR("SIGUSR2: %s", err.msg);
        return;
    }
    CG_LOG_INFO("SIGUSR2: started %s --upgrade as pid %ld", m->opts->argv[0], (long)pid);
    m->upgrade_child = pid;
}

static void on_chld(evutil_socket_t sig, short what, void *arg)
{
    struct main_loop *m = arg;
    int st;
    pid_t pid;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        if (pid != m->upgrade_child) {
            continue;
        }
        m->upgrade_child = 0;
        int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        if (m->handed_over) {
            CG_LOG_WARN("upgrade: the new process (pid %ld) exited with status %d", (long)pid,
                        code);
        } else {
            CG_LOG_WARN("upgrade: pid %ld exited with status %d before taking over: still "
                        "serving",
                        (long)pid, code);
        }
    }
}

/* ignore_unused_signals sets SIG_IGN for the signals whose default action would end the
 * process although certgate has no use for them (docs/operations.md, "Signals"): a
 * logrotate script written for another daemon, a stray kill or a file-size limit must
 * not take the gateway down. */
static void ignore_unused_signals(void)
{
    static const int sigs[] = {SIGPIPE, SIGALRM, SIGIO, SIGPWR, SIGXFSZ};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        signal(sigs[i], SIG_IGN);
    }
}

static void runtime_free(struct runtime *rt)
{
    if (rt->listeners != NULL) {
        for (size_t i = 0; i < rt->cfg->num_listeners; i++) {
            tls_server_free(rt->listeners[i].tls);
            host_table_unref(rt->listeners[i].hosts);
            ipset_cleanup(&rt->listeners[i].proxy_from);
        }
    }
    free(rt->listeners);
    for (size_t i = 0; i < rt->num_policy_slots; i++) {
        policy_unref(rt->policy_slots[i].policy);
    }
    free(rt->policy_slots);
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
    if (rt->status_fd >= 0) {
        close(rt->status_fd);
    }
    access_log_close(rt->access_log);
    config_free(rt->cfg);
    free(rt);
}

int process_run(struct config *cfg, const struct process_options *opts)
{
    struct cg_errbuf err = {0};
    evthread_use_pthreads();
    ignore_unused_signals();
    cg_log_set_level(cfg->log.level);
    cg_log_set_format(cfg->log.format);
    /* A worker's buffers come and go by the 100 KiB during a bulk transfer; with
     * glibc's default 128 KiB trim threshold each free at the top of the worker's
     * heap went back to the kernel (madvise) and the next allocation faulted the
     * pages in again: a third of the CPU per bulk byte. Keep up to 8 MiB. */
    mallopt(M_TRIM_THRESHOLD, 8 << 20);

    /* Hold the signals we handle until their handlers exist: listeners accept before
     * the main loop is set up, and a SIGHUP in between would kill the process. */
    static const int handled_sigs[] = {SIGHUP, SIGTERM, SIGINT, SIGUSR1, SIGUSR2, SIGCHLD};
    sigset_t handled;
    sigemptyset(&handled);
    for (size_t i = 0; i < sizeof(handled_sigs) / sizeof(handled_sigs[0]); i++) {
        sigaddset(&handled, handled_sigs[i]);
    }
    pthread_sigmask(SIG_BLOCK, &handled, NULL);

    struct runtime *rt = cg_xcalloc(1, sizeof(*rt));
    proxy_protocols_runtime(rt);
    rt->cfg = cfg;
    rt->start_time = (uint64_t)time(NULL);
    rt->admin_fd = -1;
    rt->status_fd = -1;
    RAND_bytes((uint8_t *)&rt->instance_id, sizeof(rt->instance_id));
    atomic_init(&rt->connections, 0);
    atomic_init(&rt->stopping, false);

    /* The reloader notes the policy and certificate files before they are loaded and
     * watches them before the first connection: a change made while we start up (a
     * deployment writing the policy right after launching us) is reloaded, not missed. */
    struct main_loop m = {
        .rt = rt,
        .opts = opts,
        .base = event_base_new(),
        .admin_dup = -1,
        .status_dup = -1,
        .phase = PHASE_SERVING};
    CG_BUG_ON(m.base == NULL);
    setup_hosts(rt);
    reloader_new(rt, m.base, &m.reloader, &err);

    int rc = setup_listeners(rt, &err);
    if (rc == CG_OK) {
        rc = setup_upstreams(rt, &err);
    }
    if (rc == CG_OK) {
        rc = upstream_sets_new(rt, m.base, &m.upstreams, &err);
    }
    if (rc == CG_OK) {
        /* Names resolve before the first request, within a bound: one that does not
         * leaves its upstream answering 503 until it does (docs/operations.md). */
        upstream_sets_wait(m.upstreams, m.base, UPSTREAM_SETS_START_WAIT_MS);
    }
    if (rc == CG_OK && cfg->log.access_log != NULL) {
        rc = access_log_open(cfg->log.access_log, cfg->workers, &rt->access_log, &err);
    }
    /* Everything that can fail slowly (certificates, policies) is loaded: only now ask
     * the running process for its sockets, so that it waits for us as little as can be. */
    struct upgrade_client *uc = NULL;
    if (rc == CG_OK && opts->upgrade) {
        rc = upgrade_client_connect(cfg, &uc, &err);
    }
    if (rc == CG_OK) {
        reloader_start(m.reloader);
        rc = start_workers(&m, uc, &err);
    }
    if (rc != CG_OK) {
        fprintf(stderr, "certgate: %s\n", err.msg);
        for (unsigned i = 0; i < rt->num_workers && rt->workers[i] != NULL; i++) {
            worker_post(rt->workers[i], worker_begin_drain, NULL);
        }
        upgrade_client_free(uc);
        reloader_free(m.reloader);
        if (rt->workers == NULL) {
            upstream_sets_free(m.upstreams);
        }
        event_base_free(m.base);
        if (m.admin_dup >= 0) {
            close(m.admin_dup);
        }
        if (m.status_dup >= 0) {
            close(m.status_dup);
        }
        free(m.offer);
        runtime_free(rt);
        return 1;
    }

    struct event *ev_sig[] = {
        evsignal_new(m.base, SIGTERM, on_stop_signal, &m),
        evsignal_new(m.base, SIGINT, on_stop_signal, &m),
        evsignal_new(m.base, SIGHUP, on_hup, &m),
        evsignal_new(m.base, SIGUSR1, on_usr1, &m),
        evsignal_new(m.base, SIGUSR2, on_usr2, &m),
        evsignal_new(m.base, SIGCHLD, on_chld, &m),
    };
    for (size_t i = 0; i < sizeof(ev_sig) / sizeof(ev_sig[0]); i++) {
        event_add(ev_sig[i], NULL);
    }
    m.ev_delay = evtimer_new(m.base, on_delay_over, &m);
    m.ev_joined = event_new(m.base, -1, 0, on_joined, &m);
    pthread_sigmask(SIG_UNBLOCK, &handled, NULL);
    m.renewer = renewer_new(rt, m.base, m.reloader);
    /* The admin API runs on this (main) loop: its operations write files and publish. */
    int admin_fd = rt->admin_fd;
    rt->admin_fd = -1; /* admin_server_new takes it, whatever happens */
    if (cfg->admin.enabled &&
        admin_server_new(rt, m.base, m.reloader, admin_fd, &m.admin, &err) != CG_OK) {
        fprintf(stderr, "certgate: %s\n", err.msg);
        m.status = 1;
    }
    int status_fd = rt->status_fd;
    rt->status_fd = -1; /* status_server_new takes it, whatever happens */
    if (m.status == 0 && status_fd >= 0 &&
        status_server_new(rt, m.base, status_fd, &m.status_port, &err) != CG_OK) {
        fprintf(stderr, "certgate: %s\n", err.msg);
        m.status = 1;
    } else if (m.status != 0 && status_fd >= 0) {
        close(status_fd);
    }
    if (m.status == 0 && uc != NULL) {
        /* Our workers accept on the shared sockets already: the old process may stop. */
        if (upgrade_client_commit(uc, &err) != CG_OK) {
            fprintf(stderr, "certgate: %s\n", err.msg);
            m.status = 1;
        } else {
            CG_LOG_INFO("upgrade: took the listening sockets over from pid %ld, which drains",
                        (long)uc->old_pid);
        }
    }
    /* What the new configuration does not listen on any more closes here (the old
     * process closes its own copies as it drains). */
    upgrade_client_free(uc);
    if (m.status != 0) {
        begin_drain(&m, true);
    } else {
        for (size_t i = 0; i < cfg->num_listeners; i++) {
            const struct config_listener *l = &cfg->listeners[i];
            for (size_t j = 0; j < l->num_addresses; j++) {
                CG_LOG_INFO("listener %s on %s -> upstream %s, %zu host entr%s (%u workers)",
                            l->name, l->addresses[j].text,
                            l->upstream != NULL ? l->upstream->name : "none", l->num_hosts,
                            l->num_hosts == 1 ? "y" : "ies", cfg->workers);
            }
        }
        _Static_assert(sizeof(rt->upgrade_requests) / sizeof(rt->upgrade_requests[0]) ==
                           UPGRADE_NUM_RESULTS,
                       "struct runtime counts every upgrade result");
        m.upgrade = upgrade_server_new(m.base, rt->claims, rt->num_claims, m.offer, m.num_offer,
                                       on_taken, &m, rt->upgrade_requests);
        cg_sd_notify_ready();
    }
    event_base_dispatch(m.base);
    if (m.joining) {
        pthread_join(m.joiner, NULL);
    }
    CG_LOG_INFO("stopped");
    upgrade_server_free(m.upgrade);
    for (size_t i = 0; i < sizeof(ev_sig) / sizeof(ev_sig[0]); i++) {
        event_free(ev_sig[i]);
    }
    event_free(m.ev_delay);
    event_free(m.ev_joined);
    admin_server_free(m.admin);
    status_server_free(m.status_port);
    renewer_free(m.renewer);
    reloader_free(m.reloader);
    /* Joined by join_workers; freed only now that nothing scrapes them. */
    for (unsigned i = 0; i < rt->num_workers; i++) {
        worker_free(rt->workers[i]);
    }
    upstream_sets_free(m.upstreams); /* the workers are gone */
    event_base_free(m.base);
    if (m.admin_dup >= 0) {
        close(m.admin_dup);
    }
    if (m.status_dup >= 0) {
        close(m.status_dup);
    }
    free(m.offer);
    runtime_free(rt);
    return m.status;
}

/* check_policy loads |file| as a listener with a client CA or not would, and prints
 * what it holds; false after printing the error. */
static bool check_policy(const char *indent, const char *file, bool client_ca)
{
    struct policy_load_opts opts = {.client_ca = client_ca};
    struct policy *p = NULL;
    struct cg_errbuf err = {0};
    if (policy_load_file(file, &opts, &p, &err) != CG_OK) {
        fprintf(stderr, "certgate: %s\n", err.msg);
        return false;
    }
    printf("%spolicy %s: %zu certificates, %zu routes\n", indent, file,
           policy_num_certificates(p), policy_num_routes(p));
    policy_free(p);
    return true;
}

/* check_host loads host entry |h|'s own certificates and its policy, and prints them. */
static bool check_host(const struct config_listener *l, const struct config_host *h)
{
    bool ok = true;
    printf("  host %s -> upstream %s:\n", h->name, h->upstream->name);
    if (h->num_certificates > 0) {
        struct tls_cert_set *certs = NULL;
        struct cg_errbuf err = {0};
        if (tls_cert_set_load(h->certificates, h->num_certificates, &certs, &err) != CG_OK) {
            fprintf(stderr, "certgate: %s\n", err.msg);
            ok = false;
        } else {
            tls_cert_set_describe(certs, stdout);
        }
        tls_cert_set_unref(certs);
    }
    return check_policy("    ", h->policy, l->tls.client_ca != NULL) && ok;
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
        if (tls_cert_set_load(l->tls.certificates, l->tls.num_certificates, &certs, &err) !=
                CG_OK ||
            tls_server_new(l, certs, &tls, &err) != CG_OK) {
            fprintf(stderr, "certgate: %s\n", err.msg);
            status = 1;
        } else {
            tls_cert_set_describe(certs, stdout);
        }
        if (l->policy != NULL) {
            if (!check_policy("  ", l->policy, l->tls.client_ca != NULL)) {
                status = 1;
            }
        } else if (l->upstream != NULL) {
            printf("  policy: none (every request is denied)\n");
        }
        for (size_t h = 0; h < l->num_hosts; h++) {
            if (!check_host(l, &l->hosts[h])) {
                status = 1;
            }
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
