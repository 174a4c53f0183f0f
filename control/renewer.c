#include "control/renewer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/mem.h"
#include "control/reload.h"
#include "pki/identity.h"
#include "pki/renew.h"
#include "proxy/core/runtime.h"

#include <openssl/err.h>
#include <openssl/pem.h>

/* Look again at least this often: files may have been replaced by someone else. */
#define MAX_CHECK_INTERVAL 3600

struct renewer {
    struct runtime *rt;
    struct reloader *rl;
    struct pki_identity ca;
    char *ca_dir;
    struct event *ev;
};

static X509 *read_leaf(const char *path)
{
    BIO *bio = BIO_new_file(path, "r");
    X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    ERR_clear_error();
    return x;
}

static void schedule(struct renewer *r, time_t delay)
{
    if (delay < 1) {
        delay = 1;
    }
    if (delay > MAX_CHECK_INTERVAL) {
        delay = MAX_CHECK_INTERVAL;
    }
    struct timeval tv = {.tv_sec = delay};
    evtimer_add(r->ev, &tv);
}

/* renew_list renews the certificates of one list (a listener's, or a host entry's own,
 * |what| naming it in the log) that the CA issued and that are due, and lowers |*next|
 * to the next due time. Returns whether it renewed one. */
static bool renew_list(struct renewer *r, const char *what, const struct config_certificate *certs,
                       size_t num_certs, time_t now, time_t *next)
{
    bool renewed = false;
    for (size_t k = 0; k < num_certs; k++) {
        const struct config_certificate *c = &certs[k];
        X509 *leaf = read_leaf(c->cert);
        if (leaf == NULL || !pki_renew_issued_by(leaf, &r->ca)) {
            X509_free(leaf);
            continue;
        }
        time_t due = pki_renew_due(leaf);
        X509_free(leaf);
        if (due > now) {
            *next = due < *next ? due : *next;
            continue;
        }
        struct cg_errbuf err = {0};
        if (pki_renew_files(&r->ca, c->cert, c->key, &err) != CG_OK) {
            CG_LOG_ERROR("%s: renewing %s failed, retrying in a minute: %s", what, c->cert,
                         err.msg);
            atomic_fetch_add(&r->rt->cert_renewal_failures, 1);
            *next = now + 60 < *next ? now + 60 : *next;
            continue;
        }
        renewed = true;
        atomic_fetch_add(&r->rt->cert_renewals, 1);
        X509 *fresh = read_leaf(c->cert);
        if (fresh != NULL) {
            time_t fdue = pki_renew_due(fresh);
            *next = fdue < *next ? fdue : *next;
            X509_free(fresh);
        }
        CG_LOG_INFO("%s: renewed %s from the CA in %s", what, c->cert, r->ca_dir);
    }
    return renewed;
}

static void check(struct renewer *r)
{
    const struct config *cfg = r->rt->cfg;
    time_t now = time(NULL);
    time_t next = now + MAX_CHECK_INTERVAL;
    bool renewed = false;
    for (size_t i = 0; i < cfg->num_listeners; i++) {
        const struct config_listener *l = &cfg->listeners[i];
        char what[256];
        snprintf(what, sizeof(what), "listener %s", l->name);
        renewed |= renew_list(r, what, l->tls.certificates, l->tls.num_certificates, now, &next);
        for (size_t h = 0; h < l->num_hosts; h++) {
            snprintf(what, sizeof(what), "listener %s host %s", l->name, l->hosts[h].name);
            renewed |= renew_list(r, what, l->hosts[h].certificates, l->hosts[h].num_certificates,
                                  now, &next);
        }
    }
    if (renewed) {
        /* Do not wait for inotify (it may be unavailable): rotate now. */
        reloader_reload(r->rl, false);
    }
    schedule(r, next - time(NULL));
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    check(arg);
}

struct renewer *renewer_new(struct runtime *rt, struct event_base *base, struct reloader *rl)
{
    const struct config *cfg = rt->cfg;
    if (cfg->state_dir == NULL) {
        return NULL;
    }
    struct renewer *r = cg_xcalloc(1, sizeof(*r));
    r->rt = rt;
    r->rl = rl;
    size_t n = strlen(cfg->state_dir) + 8;
    r->ca_dir = cg_xmalloc(n);
    snprintf(r->ca_dir, n, "%s/ca", cfg->state_dir);
    struct cg_errbuf err = {0};
    if (pki_ca_load(r->ca_dir, &r->ca, &err) != CG_OK) {
        CG_LOG_INFO("automatic certificate renewal off: no usable CA in %s", r->ca_dir);
        renewer_free(r);
        return NULL;
    }
    r->ev = evtimer_new(base, on_timer, r);
    check(r);
    return r;
}

void renewer_free(struct renewer *r)
{
    if (r == NULL) {
        return;
    }
    if (r->ev != NULL) {
        event_free(r->ev);
    }
    pki_identity_cleanup(&r->ca);
    free(r->ca_dir);
    free(r);
}
