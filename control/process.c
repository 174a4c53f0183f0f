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
#include "common/json.h"
#include "config/config_diff.h"
#include "control/admin/admin_server.h"
#include "control/config_reload.h"
#include "control/listen_set.h"
#include "control/running_config.h"
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

/* enum main_phase is where the process is in its life, as the main thread sees it. */
enum main_phase {
    PHASE_SERVING,  /* ready and accepting */
    PHASE_DELAY,    /* a stop signal came: not ready, still accepting until
                       timeouts.shutdown_delay is over */
    PHASE_DRAINING, /* not accepting; requests in flight finish within timeouts.drain */
};

struct main_loop {
    struct runtime *rt;
    const struct process_options *opts;
    struct event_base *base;
    struct listen_set listen; /* the listeners' addresses, claims and sockets */
    json_t *doc;              /* the configuration document in force (running_config) */
    struct reloader *reloader; /* NULL once draining, like renewer and admin */
    struct renewer *renewer;
    struct admin_server *admin;
    struct status_server *status_port; /* NULL without "status", and once draining */
    struct upgrade_server *upgrade;
    bool accept_upgrades; /* serving: |upgrade| answers on the claims of now */
    struct upstream_sets *upstreams; /* servers of every upstream of the current snapshot:
                                        DNS, health checks */
    struct upgrade_socket *offer; /* every socket this process serves on, for a hand-over:
                                     the workers' (theirs until they drain), admin_dup and
                                     the claims (the listen set's and rt->claims) */
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
static int acquire_sockets(struct main_loop *m, struct upgrade_client *uc, struct cg_errbuf *err)
{
    struct runtime *rt = m->rt;
    const struct config *cfg = rt->cfg;
    for (size_t i = 0; i < cfg->num_listeners; i++) {
        for (size_t j = 0; j < cfg->listeners[i].num_addresses; j++) {
            int rc = listen_set_add(&m->listen, &cfg->listeners[i].addresses[j], rt->num_workers,
                                    uc, err);
            if (rc != CG_OK) {
                return rc;
            }
        }
    }
    rt->claims = cg_xcalloc(1, sizeof(int));
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
    return CG_OK;
}

static void on_taken(void *arg, pid_t pid);

/* set_offer lists what a later hand-over offers (every socket and claim this process
 * serves on) and, once serving, accepts upgrade requests on the claims of now. */
static void set_offer(struct main_loop *m)
{
    struct runtime *rt = m->rt;
    size_t num = 2 + rt->num_claims;
    for (size_t i = 0; i < m->listen.num_addrs; i++) {
        num += 1 + m->listen.addrs[i].num_socks;
    }
    free(m->offer);
    m->offer = cg_xcalloc(num, sizeof(*m->offer));
    m->num_offer = 0;
    int *claims = cg_xcalloc(num, sizeof(*claims));
    size_t num_claims = 0;
    for (size_t i = 0; i < m->listen.num_addrs; i++) {
        const struct listen_addr *e = &m->listen.addrs[i];
        for (size_t k = 0; k < e->num_socks; k++) {
            m->offer[m->num_offer++] = (struct upgrade_socket){UPGRADE_SOCKET_LISTEN, e->socks[k].fd};
        }
    }
    if (m->admin_dup >= 0) {
        m->offer[m->num_offer++] = (struct upgrade_socket){UPGRADE_SOCKET_ADMIN, m->admin_dup};
    }
    if (m->status_dup >= 0) {
        m->offer[m->num_offer++] = (struct upgrade_socket){UPGRADE_SOCKET_STATUS, m->status_dup};
    }
    for (size_t i = 0; i < m->listen.num_addrs; i++) {
        claims[num_claims++] = m->listen.addrs[i].claim;
    }
    for (size_t i = 0; i < rt->num_claims; i++) {
        claims[num_claims++] = rt->claims[i];
    }
    for (size_t i = 0; i < num_claims; i++) {
        m->offer[m->num_offer++] = (struct upgrade_socket){UPGRADE_SOCKET_CLAIM, claims[i]};
    }
    if (m->phase == PHASE_SERVING && m->accept_upgrades) {
        upgrade_server_free(m->upgrade);
        m->upgrade = upgrade_server_new(m->base, claims, num_claims, m->offer, m->num_offer,
                                        on_taken, m, rt->upgrade_requests);
    }
    free(claims);
}

/* start_workers gets the sockets, creates the workers on them, lists what a later
 * hand-over offers, and starts the worker threads. */
static int start_workers(struct main_loop *m, struct upgrade_client *uc, struct cg_errbuf *err)
{
    struct runtime *rt = m->rt;
    rt->num_workers = rt->cfg->workers;
    rt->workers = cg_xcalloc(rt->num_workers, sizeof(*rt->workers));
    int rc = acquire_sockets(m, uc, err);
    if (rc != CG_OK) {
        listen_set_close_sockets(&m->listen);
        return rc;
    }
    for (unsigned w = 0; w < rt->num_workers; w++) {
        int *fds;
        size_t *owners;
        size_t n = listen_set_worker_sockets(&m->listen, rt->cfg, w, &fds, &owners);
        rt->workers[w] = worker_new(rt, rt->snap, w, fds, owners, n);
        free(fds);
        free(owners);
    }
    if (rt->admin_fd >= 0) {
        m->admin_dup = fcntl(rt->admin_fd, F_DUPFD_CLOEXEC, 0);
        if (m->admin_dup < 0) {
            CG_LOG_WARN("admin listen: cannot keep its socket for a binary upgrade: %s",
                        strerror(errno));
        }
    }
    if (rt->status_fd >= 0) {
        m->status_dup = fcntl(rt->status_fd, F_DUPFD_CLOEXEC, 0);
        if (m->status_dup < 0) {
            CG_LOG_WARN("status listen: cannot keep its socket for a binary upgrade: %s",
                        strerror(errno));
        }
    }
    set_offer(m);
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
    listen_set_cleanup(&m->listen);
    begin_drain(m, false);
}

/* restart_only_keys are the top-level keys a running process cannot change: a reload
 * keeps their running value (config_diff says which changes need a restart). */
static const char *const restart_only_keys[] = {"workers", "state_dir", "admin", "status", NULL};

/* keep_running_values returns a copy of |doc| with the settings that cannot change live
 * (restart_only_keys, log.access_log) taken from |running|. */
static json_t *keep_running_values(const json_t *running, const json_t *doc)
{
    json_t *out = json_deep_copy(doc);
    for (size_t i = 0; restart_only_keys[i] != NULL; i++) {
        json_t *v = json_object_get(running, restart_only_keys[i]);
        if (v != NULL) {
            json_object_set(out, restart_only_keys[i], v);
        } else {
            json_object_del(out, restart_only_keys[i]);
        }
    }
    json_t *run_log = json_object_get(running, "log");
    json_t *access = json_is_object(run_log) ? json_object_get(run_log, "access_log") : NULL;
    json_t *log = json_object_get(out, "log");
    if (json_is_object(log)) {
        if (access != NULL) {
            json_object_set(log, "access_log", access);
        } else {
            json_object_del(log, "access_log");
        }
    } else if (access != NULL) {
        json_object_set_new(out, "log", json_pack("{sO}", "access_log", access));
    }
    return out;
}

/* load_doc loads |doc| as certgate.json at |source| would be. */
static int load_doc(const char *source, const json_t *doc, struct config **out,
                    struct cg_errbuf *err)
{
    char *text = json_dumps(doc, JSON_COMPACT);
    char *base = cg_xstrdup(source);
    char *slash = strrchr(base, '/');
    if (slash == base) {
        slash[1] = '\0';
    } else if (slash != NULL) {
        *slash = '\0';
    }
    int rc = config_load_string(source, text, strlen(text), base, out, err);
    free(base);
    free(text);
    return rc;
}

/* update_sockets claims and binds the addresses |cfg| names that the process does not
 * serve yet. One that cannot be bound is reported and left out (the rest applies);
 * returns whether the set of addresses changes. */
static bool update_sockets(struct main_loop *m, const struct config *cfg)
{
    bool changed = false;
    for (size_t i = 0; i < cfg->num_listeners; i++) {
        const struct config_listener *l = &cfg->listeners[i];
        for (size_t j = 0; j < l->num_addresses; j++) {
            if (listen_set_find(&m->listen, &l->addresses[j]) != NULL) {
                continue;
            }
            struct cg_errbuf err = {0};
            if (listen_set_add(&m->listen, &l->addresses[j], m->rt->num_workers, NULL, &err) !=
                CG_OK) {
                CG_LOG_ERROR("not applied live: listeners.%s.listen %s: %s", l->name,
                             l->addresses[j].text, err.msg);
                continue;
            }
            changed = true;
        }
    }
    return changed;
}

/* drop_sockets forgets the addresses |cfg| does not name (the workers close their
 * sockets when they install it); returns whether there were any. */
static bool drop_sockets(struct main_loop *m, const struct config *cfg)
{
    bool changed = false;
    for (size_t i = m->listen.num_addrs; i-- > 0;) {
        struct listen_addr *e = &m->listen.addrs[i];
        bool used = false;
        for (size_t k = 0; k < cfg->num_listeners && !used; k++) {
            for (size_t j = 0; j < cfg->listeners[k].num_addresses && !used; j++) {
                used = listen_set_find(&m->listen, &cfg->listeners[k].addresses[j]) == e;
            }
        }
        if (!used) {
            CG_LOG_INFO("no longer listening on %s", e->addr.text);
            listen_set_remove(&m->listen, e);
            changed = true;
        }
    }
    return changed;
}

/* publish makes |snap| current on the main thread and on every worker. */
static void publish(struct main_loop *m, struct snapshot *snap)
{
    struct runtime *rt = m->rt;
    bool sockets = update_sockets(m, snap->cfg);
    upstream_sets_stop(m->upstreams); /* its checks read the configuration being replaced */
    config_reload_set_current(rt, snap);
    struct cg_errbuf err = {0};
    if (upstream_sets_new(rt, m->base, m->upstreams, &m->upstreams, &err) != CG_OK) {
        /* config_reload_load set the same resolvers up already: not expected. */
        CG_LOG_ERROR("upstream names of the new configuration will not resolve: %s", err.msg);
    }
    snapshot_take_upstream_sets(snap, rt->upstream_sets);
    for (unsigned w = 0; w < rt->num_workers; w++) {
        int *fds;
        size_t *owners;
        size_t n = listen_set_worker_sockets(&m->listen, snap->cfg, w, &fds, &owners);
        worker_post(rt->workers[w], worker_install, worker_install_msg_new(snap, fds, owners, n));
        free(fds);
        free(owners);
    }
    if (drop_sockets(m, snap->cfg) || sockets) {
        set_offer(m);
    }
    cg_log_set_level(snap->cfg->log.level);
    cg_log_set_format(snap->cfg->log.format);
    if (m->admin != NULL) {
        admin_server_rebind(m->admin);
    }
    reloader_rebuild(m->reloader);
}

/* on_config_reload (the reloader's reloader_config_fn) reloads certgate.json: an invalid
 * file is refused as a whole with one line; what cannot change live is reported and
 * keeps its running value; the rest becomes a new snapshot. */
static enum reloader_config_result on_config_reload(void *arg)
{
    struct main_loop *m = arg;
    struct runtime *rt = m->rt;
    const char *source = rt->cfg->source;
    struct cg_errbuf err = {0};
    json_t *doc = NULL;
    json_t *applied = NULL;
    struct config *cfg = NULL;
    struct config *kept = NULL;
    struct config_diff d = {0};
    enum reloader_config_result result = RELOADER_CONFIG_REFUSED;
    /* The file as written is checked first, so that the error names its own path. */
    int rc = cg_json_load_file(source, &doc, &err);
    if (rc == CG_OK) {
        rc = load_doc(source, doc, &cfg, &err);
    }
    if (rc == CG_OK) {
        config_diff_compute(rt->cfg, cfg, &d);
        for (size_t i = 0; i < d.num_changes; i++) {
            char line[1024];
            if (!d.changes[i].live) {
                CG_LOG_WARN("not applied live: %s",
                            config_change_format(&d.changes[i], line, sizeof(line)) +
                                strlen("changed: "));
            }
        }
        applied = keep_running_values(m->doc, doc);
        rc = load_doc(source, applied, &kept, &err);
        config_diff_cleanup(&d);
    }
    if (rc == CG_OK) {
        config_diff_compute(rt->cfg, kept, &d);
        if (d.num_changes == 0) {
            CG_LOG_INFO("configuration %s: nothing to apply (generation %llu stays)", source,
                        (unsigned long long)rt->snap->generation);
            atomic_fetch_add(&rt->config_reloads, 1);
            result = RELOADER_CONFIG_UNCHANGED;
            goto out;
        }
        struct snapshot *snap;
        uint64_t gen = rt->snap->generation + 1;
        rc = config_reload_build(rt, kept, gen, &snap, &err);
        kept = NULL; /* the snapshot took it, or freed it */
        if (rc == CG_OK) {
            for (size_t i = 0; i < d.num_changes; i++) {
                char line[1024];
                CG_LOG_INFO("configuration generation %llu: %s", (unsigned long long)gen,
                            config_change_format(&d.changes[i], line, sizeof(line)));
            }
            publish(m, snap);
            json_decref(m->doc);
            m->doc = applied;
            applied = NULL;
            atomic_fetch_add(&rt->config_reloads, 1);
            CG_LOG_INFO("configuration %s: generation %llu in force for new connections (%zu "
                        "changes); open connections finish on the one they started with",
                        source, (unsigned long long)gen, d.num_changes);
            if (running_config_write(rt->cfg, m->doc, gen, &err) != CG_OK) {
                CG_LOG_WARN("%s: certgate check cannot compare with this process", err.msg);
            }
            result = RELOADER_CONFIG_PUBLISHED;
            goto out;
        }
    }
    atomic_fetch_add(&rt->config_reload_failures, 1);
    CG_LOG_ERROR("configuration reload refused, generation %llu stays in force: %s",
                 (unsigned long long)rt->snap->generation, err.msg);
out:
    config_diff_cleanup(&d);
    config_free(cfg);
    config_free(kept);
    json_decref(doc);
    json_decref(applied);
    return result;
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
    struct main_loop *m = arg;
    if (m->reloader == NULL) {
        CG_LOG_INFO("SIGHUP while draining: reopening the access log, nothing to reload");
    } else {
        CG_LOG_INFO("SIGHUP: reloading the configuration, policies and certificates, "
                    "reopening the access log");
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
    config_reload_cleanup(rt);
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
    config_reload_set_current(rt, snapshot_new(cfg, 1));
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
    reloader_new(rt, m.base, on_config_reload, &m, &m.reloader, &err);

    int rc = cg_json_load_file(cfg->source, &m.doc, &err);
    if (rc == CG_OK) {
        rc = config_reload_load(rt, rt->snap, &err);
    }
    if (rc == CG_OK) {
        rc = upstream_sets_new(rt, m.base, NULL, &m.upstreams, &err);
    }
    if (rc == CG_OK) {
        /* Names resolve before the first request, within a bound: one that does not
         * leaves its upstream answering 503 until it does (docs/operations.md). */
        upstream_sets_wait(m.upstreams, m.base, UPSTREAM_SETS_START_WAIT_MS);
        snapshot_take_upstream_sets(rt->snap, rt->upstream_sets);
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
        if (rt->workers == NULL || rt->workers[0] == NULL) {
            /* No worker was made (an address could not be claimed or bound): nothing
             * points at the sets' servers. */
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
        listen_set_cleanup(&m.listen);
        json_decref(m.doc);
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
        m.accept_upgrades = true;
        set_offer(&m);
        if (running_config_write(cfg, m.doc, rt->snap->generation, &err) != CG_OK) {
            CG_LOG_WARN("%s: certgate check cannot compare with this process", err.msg);
        }
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
    listen_set_cleanup(&m.listen);
    running_config_remove(rt->cfg);
    json_decref(m.doc);
    runtime_free(rt);
    return m.status;
}

