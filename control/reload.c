#include "control/reload.h"

#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/file.h"
#include "common/log.h"
#include "common/mem.h"
#include "control/config_reload.h"
#include "policy/policy.h"
#include "proxy/core/runtime.h"
#include "proxy/core/worker.h"
#include "proxy/tls/tls_server.h"

/* Editors and Kubernetes touch several names in a burst: settle before reading. */
#define DEBOUNCE_MS 150

/* What stat() said about a file, through symlinks: any change means "re-read". */
struct file_id {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    bool exists;
};

/* One list of served certificates: a listener's, or a host entry's own. */
struct watched_certs {
    size_t listener;                /* index in runtime->listeners */
    const struct config_host *host; /* NULL: the listener's certificates */
    const struct config_certificate *certs;
    size_t num_certs;
    struct file_id *files; /* cert, key, ocsp of each certificate, in order */
    size_t num_files;
};

struct reloader {
    struct runtime *rt;
    struct event_base *base;
    reloader_config_fn on_config; /* reloads certgate.json; NULL: not watched */
    void *on_config_arg;
    struct file_id config; /* certgate.json's */
    int fd; /* inotify descriptor, -1 if unavailable */
    struct event *ev_inotify;
    struct event *ev_debounce;
    struct file_id *policies;    /* per policy slot */
    struct watched_certs *certs; /* every listener's, then every host entry's own */
    size_t num_certs;
    char **dirs; /* watched directories (for logs) */
    size_t num_dirs;
};

static struct file_id file_id_of(const char *path)
{
    struct file_id id = {0};
    struct stat st;
    if (path != NULL && stat(path, &st) == 0) {
        id.dev = st.st_dev;
        id.ino = st.st_ino;
        id.size = st.st_size;
        id.mtime = st.st_mtim;
        id.exists = true;
    }
    return id;
}

static bool file_id_eq(const struct file_id *a, const struct file_id *b)
{
    return a->exists == b->exists && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

static const char *cert_file_path(const struct watched_certs *w, size_t k)
{
    const struct config_certificate *c = &w->certs[k / 3];
    switch (k % 3) {
    case 0:
        return c->cert;
    case 1:
        return c->key;
    default:
        return c->ocsp;
    }
}

int reload_load_policy(struct runtime *rt, struct snapshot *snap, size_t slot,
                       struct cg_errbuf *err)
{
    struct policy_slot *ps = &snap->policy_slots[slot];
    const struct config_listener *l = snap->listeners[ps->listener].cfg;
    struct policy *p;
    int rc = config_reload_read_policy(rt, snap, slot, &p, err);
    if (rc != CG_OK) {
        return rc;
    }
    uint64_t gen = policy_generation(p);
    config_reload_publish_policy(rt, ps->file, l->tls.client_ca != NULL, p);
    policy_unref(p);
    CG_LOG_INFO("listener %s%s%s: policy %s in force (generation %" PRIu64 ", %zu certificates, "
                "%zu routes)",
                l->name, ps->host[0] ? " host " : "", ps->host, ps->file, gen,
                policy_num_certificates(p), policy_num_routes(p));
    return CG_OK;
}

void reload_count_policy(struct runtime *rt, struct snapshot *snap, size_t slot, bool ok)
{
    struct policy_slot *ps = &snap->policy_slots[slot];
    if (ok) {
        atomic_fetch_add(&rt->policy_reloads, 1);
        ps->reloads++;
    } else {
        atomic_fetch_add(&rt->policy_reload_failures, 1);
        ps->reload_failures++;
    }
}

static void reload_policy(struct reloader *r, size_t slot, bool force)
{
    const struct policy_slot *ps = &r->rt->policy_slots[slot];
    if (ps->file == NULL) {
        return;
    }
    struct file_id now = file_id_of(ps->file);
    if (!force && file_id_eq(&now, &r->policies[slot])) {
        return;
    }
    r->policies[slot] = now;
    struct cg_errbuf err = {0};
    if (reload_load_policy(r->rt, r->rt->snap, slot, &err) != CG_OK) {
        reload_count_policy(r->rt, r->rt->snap, slot, false);
        CG_LOG_ERROR("policy reload refused, previous policy stays in force: %s", err.msg);
        return;
    }
    reload_count_policy(r->rt, r->rt->snap, slot, true);
}

static void reload_certs(struct reloader *r, struct watched_certs *w, bool force)
{
    struct listener_rt *lrt = &r->rt->listeners[w->listener];
    bool changed = force;
    for (size_t k = 0; k < w->num_files; k++) {
        struct file_id now = file_id_of(cert_file_path(w, k));
        if (!file_id_eq(&now, &w->files[k])) {
            changed = true;
        }
        w->files[k] = now;
    }
    if (!changed) {
        return;
    }
    const char *host = w->host != NULL ? w->host->name : "";
    struct cg_errbuf err = {0};
    struct tls_cert_set *set;
    if (tls_cert_set_load(w->certs, w->num_certs, &set, &err) != CG_OK) {
        atomic_fetch_add(&r->rt->cert_reload_failures, 1);
        CG_LOG_ERROR("listener %s%s%s: certificate reload refused, previous certificates keep "
                     "serving: %s",
                     lrt->cfg->name, host[0] ? " host " : "", host, err.msg);
        return;
    }
    if (w->host != NULL) {
        tls_server_set_host_certs(lrt->tls, w->host->index, set);
    } else {
        tls_server_set_certs(lrt->tls, set);
    }
    tls_cert_set_unref(set);
    atomic_fetch_add(&r->rt->cert_reloads, 1);
    CG_LOG_INFO("listener %s%s%s: certificates reloaded; new handshakes use them", lrt->cfg->name,
                host[0] ? " host " : "", host);
}

void reloader_reload(struct reloader *r, bool force)
{
    struct file_id now = file_id_of(r->rt->cfg->source);
    if (r->on_config != NULL && (force || !file_id_eq(&now, &r->config))) {
        r->config = now;
        /* A new snapshot loaded every policy and certificate anew, and this reloader
         * watches its files now (reloader_rebuild): nothing is left to re-read. */
        if (r->on_config(r->on_config_arg) == RELOADER_CONFIG_PUBLISHED) {
            return;
        }
    }
    for (size_t i = 0; i < r->rt->num_policy_slots; i++) {
        reload_policy(r, i, force);
    }
    for (size_t i = 0; i < r->num_certs; i++) {
        reload_certs(r, &r->certs[i], force);
    }
}

static void on_debounce(evutil_socket_t fd, short what, void *arg)
{
    reloader_reload(arg, false);
}

static void on_inotify(evutil_socket_t fd, short what, void *arg)
{
    struct reloader *r = arg;
    char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
    bool any = false;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n <= 0) {
            break;
        }
        any = true;
    }
    /* Arm once per burst and never push it back: a directory that keeps changing (a
     * sidecar's scratch files next to the policy) must not starve the reload. */
    if (any && !evtimer_pending(r->ev_debounce, NULL)) {
        struct timeval tv = cg_timeval_ms(DEBOUNCE_MS);
        evtimer_add(r->ev_debounce, &tv);
    }
}

static void watch_dir_of(struct reloader *r, const char *path)
{
    if (path == NULL || r->fd < 0) {
        return;
    }
    char *copy = cg_xstrdup(path);
    char *dir = dirname(copy);
    for (size_t i = 0; i < r->num_dirs; i++) {
        if (strcmp(r->dirs[i], dir) == 0) {
            free(copy);
            return;
        }
    }
    /* Only events that replace content: appends to a log file in the same directory
     * (IN_MODIFY) do not wake us up. */
    uint32_t mask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE |
                    IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF;
    if (inotify_add_watch(r->fd, dir, mask) < 0) {
        CG_LOG_WARN("cannot watch %s for changes (%s): reload with SIGHUP", dir, strerror(errno));
        free(copy);
        return;
    }
    r->dirs = cg_xrealloc(r->dirs, (r->num_dirs + 1) * sizeof(*r->dirs));
    r->dirs[r->num_dirs++] = cg_xstrdup(dir);
    free(copy);
}

/* watch_file watches the directory of |path| and, when |path| is a symlink to a file
 * elsewhere, the directory of its target too: an editor or `certgate cert` (which
 * writes through the link) replaces the target there. Kubernetes' "..data" swap
 * happens in |path|'s own directory. */
static void watch_file(struct reloader *r, const char *path)
{
    if (path == NULL || r->fd < 0) {
        return;
    }
    watch_dir_of(r, path);
    char *target;
    if (cg_file_resolve_link(path, &target, NULL) == CG_OK) {
        watch_dir_of(r, target);
        free(target);
    }
}

/* add_certs notes the files of one certificate list. */
static void add_certs(struct reloader *r, size_t listener, const struct config_host *host,
                      const struct config_certificate *certs, size_t num_certs)
{
    r->certs = cg_xrealloc(r->certs, (r->num_certs + 1) * sizeof(*r->certs));
    struct watched_certs *w = &r->certs[r->num_certs++];
    *w = (struct watched_certs){
        .listener = listener,
        .host = host,
        .certs = certs,
        .num_certs = num_certs,
        .num_files = num_certs * 3,
    };
    w->files = cg_xcalloc(w->num_files ? w->num_files : 1, sizeof(*w->files));
    for (size_t k = 0; k < w->num_files; k++) {
        w->files[k] = file_id_of(cert_file_path(w, k));
    }
}

/* note_files notes the identity of the current snapshot's policy and certificate
 * files, and of certgate.json. */
static void note_files(struct reloader *r)
{
    const struct runtime *rt = r->rt;
    const struct config *cfg = rt->cfg;
    r->config = file_id_of(cfg->source);
    r->policies = cg_xcalloc(rt->num_policy_slots ? rt->num_policy_slots : 1, sizeof(*r->policies));
    for (size_t i = 0; i < rt->num_policy_slots; i++) {
        r->policies[i] = file_id_of(rt->policy_slots[i].file);
    }
    for (size_t i = 0; i < cfg->num_listeners; i++) {
        const struct config_listener *l = &cfg->listeners[i];
        add_certs(r, i, NULL, l->tls.certificates, l->tls.num_certificates);
        for (size_t h = 0; h < l->num_hosts; h++) {
            if (l->hosts[h].num_certificates > 0) {
                add_certs(r, i, &l->hosts[h], l->hosts[h].certificates,
                          l->hosts[h].num_certificates);
            }
        }
    }
}

static void forget_files(struct reloader *r)
{
    free(r->policies);
    r->policies = NULL;
    for (size_t i = 0; i < r->num_certs; i++) {
        free(r->certs[i].files);
    }
    free(r->certs);
    r->certs = NULL;
    r->num_certs = 0;
}

/* watch_files watches the directories of every noted file. */
static void watch_files(struct reloader *r)
{
    if (r->on_config != NULL) {
        watch_file(r, r->rt->cfg->source);
    }
    for (size_t i = 0; i < r->rt->num_policy_slots; i++) {
        watch_file(r, r->rt->policy_slots[i].file);
    }
    for (size_t i = 0; i < r->num_certs; i++) {
        for (size_t k = 0; k < r->certs[i].num_files; k++) {
            watch_file(r, cert_file_path(&r->certs[i], k));
        }
    }
}

int reloader_new(struct runtime *rt, struct event_base *base, reloader_config_fn on_config,
                 void *arg, struct reloader **out, struct cg_errbuf *err)
{
    struct reloader *r = cg_xcalloc(1, sizeof(*r));
    r->rt = rt;
    r->base = base;
    r->fd = -1;
    r->on_config = on_config;
    r->on_config_arg = arg;
    note_files(r);
    r->ev_debounce = evtimer_new(base, on_debounce, r);
    *out = r;
    return CG_OK;
}

void reloader_rebuild(struct reloader *r)
{
    forget_files(r);
    note_files(r);
    watch_files(r);
}

void reloader_start(struct reloader *r)
{
    r->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (r->fd < 0) {
        CG_LOG_WARN("inotify unavailable (%s): reload with SIGHUP", strerror(errno));
    }
    watch_files(r);
    if (r->fd >= 0) {
        r->ev_inotify = event_new(r->base, r->fd, EV_READ | EV_PERSIST, on_inotify, r);
        event_add(r->ev_inotify, NULL);
    }
    /* What changed between reloader_new and the watches, inotify cannot tell us. */
    reloader_reload(r, false);
}

void reloader_free(struct reloader *r)
{
    if (r == NULL) {
        return;
    }
    if (r->ev_inotify != NULL) {
        event_free(r->ev_inotify);
    }
    event_free(r->ev_debounce);
    if (r->fd >= 0) {
        close(r->fd);
    }
    forget_files(r);
    for (size_t i = 0; i < r->num_dirs; i++) {
        free(r->dirs[i]);
    }
    free(r->dirs);
    free(r);
}
