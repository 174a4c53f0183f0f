/* Enrolling a client certificate: the one path by which `certgate cert client`,
 * `certgate cert import` and the admin API (POST /admin/certificates and
 * /admin/certificates/import) add a client to a policy file.
 *
 * Issuing: check the request, open the policy (check, lock, load: pki_registry_open),
 * refuse a name already registered before anything is issued, issue the certificate
 * and its bundle, register it (thumbprints and a pin holding the issuer's key), check
 * the result with the policy loader, hand the bundle to the caller, save atomically,
 * unlock. Importing is the same without the issuing. Who may enroll what (the admin
 * API's Operator rule) and where the CA comes from are the caller's business. */
#ifndef CG_PKI_ENROLL_H
#define CG_PKI_ENROLL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/boringssl.h"
#include "common/err.h"
#include "pki/bundle.h"
#include "pki/clearance.h"
#include "pki/identity.h"
#include "pki/password.h"
#include "policy/cert_facts.h"

struct policy_load_opts;

#define PKI_ENROLL_DEFAULT_DAYS 1825u /* a new client certificate's lifetime (5 years) */

/* struct pki_enroll_entry is the registry entry to create. */
struct pki_enroll_entry {
    const char *name;               /* the entry's name, and an issued certificate's CN */
    const char *clearance;          /* ClusterAdmin, Operator or ValidUser */
    const struct pki_db_grant *dbs; /* database levels (ValidUser) */
    size_t num_dbs;
    const char *const *allow_ips; /* the entry's own "allow_ips" (CIDRs), or NULL: none;
                                     the entry is never registered without them */
    size_t num_allow_ips;
};

/* struct pki_enroll_policy says where the entry is registered. */
struct pki_enroll_policy {
    const char *path;                         /* the policy file; NULL: register nowhere
                                                 (an issued bundle only) */
    bool create;                              /* a missing file becomes a new policy */
    unsigned lock_timeout_ms;                 /* longest wait for the policy lock */
    const struct policy_load_opts *load_opts; /* the serving listener's rules for the
                                                 result; NULL: any listener */
};

struct pki_enrollment;

/* pki_enroll_deliver_fn hands the new bundle over before the policy is saved (under the
 * lock): a bundle that cannot be delivered is never registered. */
typedef int (*pki_enroll_deliver_fn)(const void *ctx, const struct pki_enrollment *e,
                                     struct cg_errbuf *err);

/* struct pki_enroll_issue is how to issue the certificate. */
struct pki_enroll_issue {
    const struct pki_identity *ca; /* the issuing CA, with its key */
    unsigned days;                 /* validity; 0: PKI_ENROLL_DEFAULT_DAYS */
    const char *password;          /* bundle.p12's password; NULL: see below */
    bool generate_password;        /* without |password|: generate one (bundle.p12 then
                                      has it) rather than build no bundle.p12 */
    pki_enroll_deliver_fn deliver; /* NULL: the caller delivers after the save */
    const void *deliver_ctx;       /* passed to |deliver| */
};

/* The steps of an enrollment, in order; an enrollment stops at the first that fails. */
enum pki_enroll_step {
    PKI_ENROLL_REQUEST,  /* the entry itself: name or clearance malformed */
    PKI_ENROLL_OPEN,     /* checking, locking (CG_ERR_LIMIT: held too long) or reading the
                            policy file */
    PKI_ENROLL_NAME,     /* an entry has the name already (CG_ERR_EXISTS); nothing issued */
    PKI_ENROLL_ISSUE,    /* key, certificate, bundle */
    PKI_ENROLL_REGISTER, /* the entry (CG_ERR_EXISTS: a certificate is registered already) */
    PKI_ENROLL_CHECK,    /* the policy loader refused the result (CG_ERR_INVALID) */
    PKI_ENROLL_DELIVER,  /* the caller's deliver hook */
    PKI_ENROLL_SAVE,     /* writing the policy file */
    PKI_ENROLL_DONE,     /* enrolled */
};

/* pki_enroll_step_str names |step| for messages ("open", "name", ...). */
const char *pki_enroll_step_str(enum pki_enroll_step step);

/* struct pki_enrollment is the outcome. All-zero is empty; pki_enrollment_cleanup frees
 * it. */
struct pki_enrollment {
    enum pki_enroll_step step;                /* where it stopped; PKI_ENROLL_DONE */
    struct pki_identity leaf;                 /* issued: the certificate and its key */
    struct pki_bundle bundle;                 /* issued: its files */
    char password[PKI_PASSWORD_LEN + 1];      /* a generated bundle.p12 password, or "" */
    json_t *entry;                            /* the registered entry (a reference of its
                                                 own), NULL without a policy */
    char thumbprint[2 * POLICY_SHA1_LEN + 1]; /* SHA-1 of the entry's first certificate,
                                                 upper-case hex; "" without a policy */
};

/* pki_enroll_entry_check applies the rules of an entry: a name of 1..PKI_MAX_CN_LEN
 * bytes without control characters (it is an issued certificate's CN, and renaming
 * follows the same rule) and a known clearance. The enrollments below apply it again;
 * callers may call it first to refuse a request before loading a CA. */
int pki_enroll_entry_check(const struct pki_enroll_entry *entry, struct cg_errbuf *err);

/* pki_enroll_issue issues a client certificate for |entry| with |issue| and, with a
 * policy path, registers it there (see the top of this file). Returns 0 with
 * out->step PKI_ENROLL_DONE, or an error code with the step that failed and |err|
 * saying why; the policy file is then unchanged. |out| must be empty before; the
 * caller cleans it up either way. */
int pki_enroll_issue(const struct pki_enroll_entry *entry, const struct pki_enroll_issue *issue,
                     const struct pki_enroll_policy *policy, struct pki_enrollment *out,
                     struct cg_errbuf *err);

/* pki_enroll_import registers the certificates |certs| (one identity: a renewal chain,
 * an RSA and an ECDSA certificate) as |entry| in the policy |policy| (its path is
 * required). A certificate gets a pin when its issuer is among |issuers| (see
 * pki_registry_add). Returns and fills |out| as pki_enroll_issue does, without a leaf
 * or bundle. */
int pki_enroll_import(const struct pki_enroll_entry *entry, X509 *const *certs,
                      size_t num_certs, X509 *const *issuers, size_t num_issuers,
                      const struct pki_enroll_policy *policy, struct pki_enrollment *out,
                      struct cg_errbuf *err);

/* pki_enrollment_cleanup frees |e| (wiping the key material and the password) and zeroes
 * it. */
void pki_enrollment_cleanup(struct pki_enrollment *e);

#endif
