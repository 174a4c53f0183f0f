/* Admin API: the managed listener's serving certificate: export the chain in force
 * (GET /admin/server-certificate) and renew from the private CA of state_dir (POST
 * /admin/server-certificate/renew, as the renewer does on schedule). */
#include <stdio.h>

#include "common/boringssl.h"

#include <openssl/err.h>
#include <openssl/mem.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/log.h"
#include "common/timestamp.h"
#include "control/admin/admin_internal.h"
#include "control/reload.h"
#include "pki/identity.h"
#include "pki/renew.h"
#include "policy/cert_facts.h"
#include "proxy/core/runtime.h"

/* append_chain appends the certificates (only) of PEM file |path| to |out|. */
static int append_chain(const char *path, struct evbuffer *out, struct cg_errbuf *err)
{
    BIO *in = BIO_new_file(path, "r");
    if (in == NULL) {
        return cg_errf_crypto(err, CG_ERR_IO, "%s: cannot open", path);
    }
    BIO *mem = BIO_new(BIO_s_mem());
    X509 *x;
    int n = 0;
    /* Re-encoding the certificates guarantees that no key in the file is ever sent. */
    while ((x = PEM_read_bio_X509(in, NULL, NULL, NULL)) != NULL) {
        PEM_write_bio_X509(mem, x);
        X509_free(x);
        n++;
    }
    ERR_clear_error();
    const uint8_t *data;
    size_t len;
    if (BIO_mem_contents(mem, &data, &len)) {
        evbuffer_add(out, data, len);
    }
    BIO_free(mem);
    BIO_free(in);
    return n > 0 ? CG_OK : cg_errf(err, CG_ERR_INVALID, "%s: no certificate", path);
}

void admin_server_cert_get(struct admin_server *a, const struct admin_request *req,
                           struct admin_response *resp)
{
    const struct config_listener_tls *tls = &a->lrt->cfg->tls;
    struct cg_errbuf err = {{0}};
    for (size_t i = 0; i < tls->num_certificates; i++) {
        if (append_chain(tls->certificates[i].cert, resp->body, &err) != CG_OK) {
            admin_resp_error(resp, req, 500, "internal", "%s", err.msg);
            return;
        }
    }
    resp->status = 200;
    resp->content_type = "application/x-pem-file";
}

void admin_server_cert_renew(struct admin_server *a, const struct admin_request *req,
                             struct admin_response *resp)
{
    const struct config_listener_tls *tls = &a->lrt->cfg->tls;
    const char *state_dir = a->rt->cfg->state_dir;
    struct pki_identity ca = {0};
    struct cg_errbuf err = {{0}};
    char ca_dir[4096];
    snprintf(ca_dir, sizeof(ca_dir), "%s/ca", state_dir ? state_dir : "");
    if (state_dir == NULL || pki_ca_load(ca_dir, &ca, &err) != CG_OK) {
        admin_resp_error(resp, req, 503, "no_ca", "no private CA in %s",
                         state_dir ? ca_dir : "state_dir (not configured)");
        return;
    }
    json_t *renewed = json_array();
    for (size_t i = 0; i < tls->num_certificates; i++) {
        const struct config_certificate *c = &tls->certificates[i];
        BIO *bio = BIO_new_file(c->cert, "r");
        X509 *leaf = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
        BIO_free(bio);
        ERR_clear_error();
        bool ours = leaf != NULL && pki_renew_issued_by(leaf, &ca);
        X509_free(leaf);
        if (!ours) {
            continue;
        }
        if (pki_renew_files(&ca, c->cert, c->key, &err) != CG_OK) {
            atomic_fetch_add(&a->rt->cert_renewal_failures, 1);
            admin_resp_error(resp, req, 500, "internal", "renewing %s: %s", c->cert, err.msg);
            json_decref(renewed);
            pki_identity_cleanup(&ca);
            /* Earlier renewals are on disk: serve them. */
            reloader_reload(a->rl, false);
            return;
        }
        atomic_fetch_add(&a->rt->cert_renewals, 1);
        CG_LOG_INFO("admin: renewed %s from the CA in %s", c->cert, ca_dir);
        json_array_append_new(renewed, json_pack("{ss}", "file", c->cert));
    }
    pki_identity_cleanup(&ca);
    if (json_array_size(renewed) == 0) {
        json_decref(renewed);
        admin_resp_error(resp, req, 409, "conflict",
                         "no certificate of listener %s was issued by the CA in %s",
                         a->lrt->cfg->name, ca_dir);
        return;
    }
    uint64_t failures = atomic_load(&a->rt->cert_reload_failures);
    reloader_reload(a->rl, false);
    if (atomic_load(&a->rt->cert_reload_failures) != failures) {
        json_decref(renewed);
        admin_resp_error(resp, req, 500, "internal", "renewed files were refused on reload");
        return;
    }
    /* What new handshakes now get. */
    size_t i;
    json_t *r;
    json_array_foreach(renewed, i, r)
    {
        const char *file = json_string_value(json_object_get(r, "file"));
        BIO *bio = BIO_new_file(file, "r");
        X509 *leaf = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
        BIO_free(bio);
        uint8_t *der = NULL;
        int der_len = leaf ? i2d_X509(leaf, &der) : -1;
        struct policy_cert_facts f = {0};
        if (der_len > 0 && policy_cert_facts_from_der(der, (size_t)der_len, &f, NULL) == CG_OK) {
            char when[CG_TIMESTAMP_RFC3339_SIZE];
            cg_timestamp_rfc3339(f.not_after, when);
            json_object_set_new(r, "serial", json_string(f.serial_hex ? f.serial_hex : ""));
            json_object_set_new(r, "not_after", json_string(when));
        }
        policy_cert_facts_cleanup(&f);
        OPENSSL_free(der);
        X509_free(leaf);
        ERR_clear_error();
    }
    resp->changed = true;
    snprintf(resp->target, sizeof(resp->target), "%s", a->lrt->cfg->name);
    snprintf(resp->reason, sizeof(resp->reason), "renewed");
    admin_resp_json(resp, 200, json_pack("{so}", "renewed", renewed));
}
