#include "pki/enroll.h"

#include <stdio.h>
#include <string.h>

#include <openssl/mem.h>

#include "pki/issue.h"
#include "pki/registry.h"

const char *pki_enroll_step_str(enum pki_enroll_step step)
{
    switch (step) {
    case PKI_ENROLL_REQUEST:
        return "request";
    case PKI_ENROLL_OPEN:
        return "open";
    case PKI_ENROLL_NAME:
        return "name";
    case PKI_ENROLL_ISSUE:
        return "issue";
    case PKI_ENROLL_REGISTER:
        return "register";
    case PKI_ENROLL_CHECK:
        return "check";
    case PKI_ENROLL_DELIVER:
        return "deliver";
    case PKI_ENROLL_SAVE:
        return "save";
    case PKI_ENROLL_DONE:
        return "done";
    }
    return "?";
}

int pki_enroll_entry_check(const struct pki_enroll_entry *entry, struct cg_errbuf *err)
{
    if (entry->name == NULL || entry->clearance == NULL) {
        return cg_errf(err, CG_ERR_INVALID, "an entry needs a name and a clearance");
    }
    int rc = pki_name_check(entry->name, err);
    return rc != CG_OK ? rc : pki_clearance_check(entry->clearance, err);
}

/* struct txn is one enrollment under way. */
struct txn {
    const struct pki_enroll_entry *entry;
    const struct pki_enroll_policy *policy; /* NULL or without path: register nowhere */
    const struct pki_enroll_issue *issue;   /* NULL: import */
    X509 *const *certs, *const *issuers;    /* what to register */
    size_t num_certs, num_issuers;
    struct pki_enrollment *out;
    struct cg_errbuf *err;
};

/* at records the step that failed and returns its code. */
static int at(struct txn *t, enum pki_enroll_step step, int rc)
{
    t->out->step = step;
    return rc;
}

static int issue_bundle(struct txn *t)
{
    const struct pki_enroll_issue *is = t->issue;
    struct pki_enrollment *out = t->out;
    const char *password = is->password;
    if (password == NULL && is->generate_password) {
        pki_password_generate(out->password);
        password = out->password;
    }
    int rc = pki_issue_client(is->ca, t->entry->name, is->days ? is->days : PKI_ENROLL_DEFAULT_DAYS,
                              &out->leaf, t->err);
    if (rc == CG_OK) {
        rc = pki_bundle_build(&out->leaf, is->ca->cert, false, password, &out->bundle, t->err);
    }
    t->certs = &out->leaf.cert;
    t->num_certs = 1;
    t->issuers = &is->ca->cert;
    t->num_issuers = 1;
    return rc;
}

/* register_entry adds the entry to |doc| and keeps a reference to it in |t->out|. */
static int register_entry(struct txn *t, json_t *doc)
{
    struct pki_entry_spec spec = {.name = t->entry->name,
                                  .clearance = t->entry->clearance,
                                  .dbs = t->entry->dbs,
                                  .num_dbs = t->entry->num_dbs,
                                  .set_dbs = true,
                                  .allow_ips = t->entry->allow_ips,
                                  .num_allow_ips = t->entry->num_allow_ips,
                                  .set_allow_ips = t->entry->allow_ips != NULL};
    int rc = pki_registry_add(doc, &spec, t->certs, t->num_certs, t->issuers, t->num_issuers,
                              t->err);
    if (rc != CG_OK) {
        return rc;
    }
    json_t *entries = pki_registry_entries(doc);
    t->out->entry = json_incref(json_array_get(entries, json_array_size(entries) - 1));
    const char *tp =
        json_string_value(json_array_get(json_object_get(t->out->entry, "thumbprints"), 0));
    snprintf(t->out->thumbprint, sizeof(t->out->thumbprint), "%s", tp != NULL ? tp : "");
    return CG_OK;
}

static int deliver(struct txn *t)
{
    if (t->issue == NULL || t->issue->deliver == NULL) {
        return CG_OK;
    }
    return t->issue->deliver(t->issue->deliver_ctx, t->out, t->err);
}

static int enroll(struct txn *t)
{
    const struct pki_enroll_policy *pol = t->policy;
    int rc = pki_enroll_entry_check(t->entry, t->err);
    if (rc != CG_OK) {
        return at(t, PKI_ENROLL_REQUEST, rc);
    }
    if (pol == NULL || pol->path == NULL) {
        if ((rc = issue_bundle(t)) != CG_OK) {
            return at(t, PKI_ENROLL_ISSUE, rc);
        }
        if ((rc = deliver(t)) != CG_OK) {
            return at(t, PKI_ENROLL_DELIVER, rc);
        }
        return at(t, PKI_ENROLL_DONE, CG_OK);
    }
    json_t *doc = NULL;
    int lock_fd = -1;
    rc = pki_registry_open(pol->path, pol->create, pol->lock_timeout_ms, &lock_fd, &doc, t->err);
    if (rc != CG_OK) {
        rc = at(t, PKI_ENROLL_OPEN, rc);
    } else if (pki_registry_name_taken(doc, t->entry->name, -1)) {
        rc = at(t, PKI_ENROLL_NAME,
                cg_errf(t->err, CG_ERR_EXISTS, "an entry named '%s' is already registered",
                        t->entry->name));
    } else if (t->issue != NULL && (rc = issue_bundle(t)) != CG_OK) {
        rc = at(t, PKI_ENROLL_ISSUE, rc);
    } else if ((rc = register_entry(t, doc)) != CG_OK) {
        rc = at(t, PKI_ENROLL_REGISTER, rc);
    } else if ((rc = pki_registry_check(pol->path, doc, pol->load_opts, t->err)) != CG_OK) {
        rc = at(t, PKI_ENROLL_CHECK, rc);
    } else if ((rc = deliver(t)) != CG_OK) {
        rc = at(t, PKI_ENROLL_DELIVER, rc);
    } else if ((rc = pki_registry_save(pol->path, doc, t->err)) != CG_OK) {
        rc = at(t, PKI_ENROLL_SAVE, rc);
    } else {
        rc = at(t, PKI_ENROLL_DONE, CG_OK);
    }
    pki_registry_unlock(lock_fd);
    json_decref(doc);
    return rc;
}

int pki_enroll_issue(const struct pki_enroll_entry *entry, const struct pki_enroll_issue *issue,
                     const struct pki_enroll_policy *policy, struct pki_enrollment *out,
                     struct cg_errbuf *err)
{
    struct txn t = {.entry = entry, .policy = policy, .issue = issue, .out = out, .err = err};
    return enroll(&t);
}

int pki_enroll_import(const struct pki_enroll_entry *entry, X509 *const *certs,
                      size_t num_certs, X509 *const *issuers, size_t num_issuers,
                      const struct pki_enroll_policy *policy, struct pki_enrollment *out,
                      struct cg_errbuf *err)
{
    if (policy == NULL || policy->path == NULL) {
        out->step = PKI_ENROLL_REQUEST;
        return cg_errf(err, CG_ERR_INVALID, "importing needs a policy file");
    }
    struct txn t = {.entry = entry,
                    .policy = policy,
                    .certs = certs,
                    .num_certs = num_certs,
                    .issuers = issuers,
                    .num_issuers = num_issuers,
                    .out = out,
                    .err = err};
    return enroll(&t);
}

void pki_enrollment_cleanup(struct pki_enrollment *e)
{
    pki_identity_cleanup(&e->leaf);
    pki_bundle_cleanup(&e->bundle);
    json_decref(e->entry);
    OPENSSL_cleanse(e->password, sizeof(e->password));
    memset(e, 0, sizeof(*e));
}
