/* The "certificates" registry of a policy file (docs/policy.md): registering, editing and
 * deleting client certificate entries for the command line, the bootstrap and the admin
 * API. Functions work on a jansson document in memory; pki_registry_load and
 * pki_registry_save move it to and from the file (atomically, two-space indent, key
 * order kept). Thumbprints, pins and issuer strings come from policy/cert_facts.h, the
 * code that matches them at run time. */
#ifndef CG_PKI_REGISTRY_H
#define CG_PKI_REGISTRY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "common/boringssl.h"
#include "common/err.h"
#include "pki/clearance.h"

#define PKI_REGISTRY_MAX_FILE                                                                      \
    (256u * 1024 * 1024) /* bytes of a policy file, as the                                         \
                             policy loader allows */

struct policy_load_opts;

/* struct pki_entry_spec says what to write into an entry. */
struct pki_entry_spec {
    const char *name;               /* entry name; NULL keeps it (edit only) */
    const char *clearance;          /* checked with pki_clearance_check; NULL keeps it */
    const struct pki_db_grant *dbs; /* per-database levels */
    size_t num_dbs;
    bool set_dbs;                   /* edit: replace "databases" by |dbs| (add: always) */
    const char *const *allow_ips;   /* CIDRs for the entry's own "allow_ips" */
    size_t num_allow_ips;
    bool set_allow_ips;             /* write "allow_ips" from |allow_ips|; with a NULL
                                       list, remove it (edit) or leave it out (add) */
    const char *expires;            /* edit: the entry's "expires" (RFC 3339); "" removes
                                       it; NULL keeps it */
};

/* pki_registry_new returns a fresh policy document: allow_ips 127.0.0.1 and ::1, one
 * route for every path requiring Authenticated, no certificates. The caller owns it. */
json_t *pki_registry_new(void);

/* pki_registry_load reads the policy file |path| into |*out| (caller json_decrefs).
 * A missing file yields pki_registry_new(). An existing file must be a policy: one that
 * the policy loader accepts (identity matchers allowed); anything else (certgate's own
 * configuration, a broken or hand-made file) fails with CG_ERR_INVALID and one line
 * naming the file and what is wrong, so that no command edits what it does not
 * understand. CG_ERR_IO when it cannot be read. */
int pki_registry_load(const char *path, json_t **out, struct cg_errbuf *err);

/* pki_registry_load_unchecked reads the existing JSON object |path| without asking the
 * policy loader (for upgrade-pins, whose input the loader refuses until upgraded); the
 * caller checks the result with pki_registry_check before saving it. */
int pki_registry_load_unchecked(const char *path, json_t **out, struct cg_errbuf *err);

/* pki_registry_check runs the policy loader over |doc|, the would-be contents of |path|,
 * with the rules of the listener that serves it (|opts|; NULL: any listener, identity
 * matchers allowed); CG_ERR_INVALID with the loader's JSON path and reason if it refuses
 * it. Every edit checks its result with it before saving. */
int pki_registry_check(const char *path, const json_t *doc, const struct policy_load_opts *opts,
                       struct cg_errbuf *err);

/* pki_registry_save replaces |path| with |doc| atomically (temporary file, fsync,
 * rename), keeping the mode of an existing file (default 0644). */
int pki_registry_save(const char *path, const json_t *doc, struct cg_errbuf *err);

/* pki_registry_save_checked is pki_registry_check under |opts|, then pki_registry_save:
 * a document the loader refuses is never written. */
int pki_registry_save_checked(const char *path, const json_t *doc,
                              const struct policy_load_opts *opts, struct cg_errbuf *err);

/* Writers of one policy file (certgate cert client/import/edit/delete and the admin API
 * of a running certgate) each load the file, change it in memory and save it. Two of
 * them at once would both load the same old file and the second rename would silently
 * drop the first one's change, so every such load-modify-save holds the lock below from
 * before pki_registry_load to after pki_registry_save.
 *
 * The lock is an flock(2) on a sidecar file "<policy>.lock", not on the policy itself:
 * saving replaces the policy by rename, so a lock on it would stay on the old inode. The
 * sidecar is created when missing, with the policy's permission bits (0600 without a
 * policy), and never deleted, since deleting a lock
 * file races with a process that has just opened it. The lock is advisory: editors
 * outside certgate ignore it; readers need none, because saves are atomic renames and the
 * policy loader validates what it reads. */

#define PKI_REGISTRY_LOCK_TIMEOUT_MS 10000 /* how long pki_registry_lock waits */

/* pki_registry_lock takes the exclusive lock of the policy file |policy_path| (which need
 * not exist yet) and sets |*out_fd| to the descriptor that holds it; release it with
 * pki_registry_unlock. It waits at most PKI_REGISTRY_LOCK_TIMEOUT_MS for another holder,
 * then fails with CG_ERR_LIMIT naming the lock file; CG_ERR_IO if the lock file cannot be
 * opened or created. It blocks the calling thread while it waits. */
int pki_registry_lock(const char *policy_path, int *out_fd, struct cg_errbuf *err);

/* pki_registry_lock_timeout is pki_registry_lock waiting at most |timeout_ms|
 * milliseconds (0: a single attempt). */
int pki_registry_lock_timeout(const char *policy_path, unsigned timeout_ms, int *out_fd,
                              struct cg_errbuf *err);

/* pki_registry_open is how every writer (the commands, enrollment, the admin API) starts
 * a change of the policy file |path|. An existing file is checked first
 * (pki_registry_load), so that a mistyped path or a file that is not a policy gets no
 * lock file beside it; a missing one is a new policy with |create| (its missing parent
 * directories are made, 0755) and CG_ERR_IO without. Then it takes the lock, waiting at
 * most |lock_timeout_ms| (CG_ERR_LIMIT after that, see pki_registry_lock_timeout), and
 * loads the file again under it into |*out| (the caller json_decrefs it). |*lock_fd|
 * must be -1 before; the caller releases it with pki_registry_unlock on every path,
 * also on failure. */
int pki_registry_open(const char *path, bool create, unsigned lock_timeout_ms, int *lock_fd,
                      json_t **out, struct cg_errbuf *err);

/* pki_registry_unlock releases the lock held by |fd| (from pki_registry_lock) and closes
 * |fd|. A negative |fd| is a no-op, so that callers may initialise it to -1 and unlock
 * on every path. */
void pki_registry_unlock(int fd);

/* pki_registry_add appends an entry for |certs| (1..n certificates, one identity) to
 * |doc|: name, SHA-1 thumbprints (upper-case hex), pins, clearance, databases and the
 * earliest expiry (RFC 3339). A certificate gets a pin (spki_sha256 base64, issuer,
 * issuer_key_id, issuer_spki) when it carries an authority key identifier and its
 * issuer is among |issuers| (see pki_pin_issuer): the pin holds that issuer's public
 * key, which the proxy checks the signature of a renewed certificate with; without it
 * the certificate is registered by thumbprint only. Fails with CG_ERR_EXISTS if one of
 * the certificates is already registered or an entry already has the name, naming
 * it. */
int pki_registry_add(json_t *doc, const struct pki_entry_spec *spec, X509 *const *certs,
                     size_t num_certs, X509 *const *issuers, size_t num_issuers,
                     struct cg_errbuf *err);

/* pki_pin_issuer returns the certificate of |issuers| that issued |cert|: a CA
 * (basicConstraints CA:TRUE) whose subject equals |cert|'s issuer name and whose public
 * key verifies |cert|'s signature; NULL if none. Borrowed from |issuers|. */
X509 *pki_pin_issuer(X509 *cert, X509 *const *issuers, size_t num_issuers);

/* pki_registry_name_taken reports whether an entry of |doc| other than the one at
 * index |except| (-1: none) is named |name| (exactly, as the admin API compares). */
bool pki_registry_name_taken(const json_t *doc, const char *name, long except);

/* pki_registry_upgrade_pins adds "issuer_spki" to every pin of |doc| that lacks it
 * (pins written before certgate verified pinned signatures), from the CA certificate of
 * |cas| that the pin names: the same subject (in the policy's name format) and, when
 * the pin has an issuer_key_id, a subject key identifier equal to it. Pins that have
 * an issuer_spki are kept as they are. Fails with CG_ERR_NOT_FOUND naming the JSON path
 * of the first pin that no CA of |cas| matches; |doc| may then be half changed and must
 * not be saved. Sets the number of pins upgraded and kept. */
int pki_registry_upgrade_pins(json_t *doc, X509 *const *cas, size_t num_cas, size_t *out_upgraded,
                              size_t *out_kept, struct cg_errbuf *err);

/* pki_registry_find sets |*out_index| to the entry of |doc| holding |thumbprint| (SHA-1
 * or SHA-256, any case, ':' allowed). CG_ERR_INVALID if |thumbprint| is malformed,
 * CG_ERR_NOT_FOUND if no entry holds it. */
int pki_registry_find(const json_t *doc, const char *thumbprint, size_t *out_index,
                      struct cg_errbuf *err);

/* pki_registry_edit changes the name, clearance, databases, allow_ips and/or expires of
 * the entry holding |thumbprint| as |spec| says; a new name must not be another
 * entry's (CG_ERR_EXISTS). CIDR and time syntax are not checked here: the policy loader
 * validates the document (pki_registry_check). */
int pki_registry_edit(json_t *doc, const char *thumbprint, const struct pki_entry_spec *spec,
                      struct cg_errbuf *err);

/* pki_registry_delete removes the whole entry holding |thumbprint| (all of its
 * thumbprints and pins). */
int pki_registry_delete(json_t *doc, const char *thumbprint, struct cg_errbuf *err);

/* pki_registry_entries returns |doc|'s "certificates" array (borrowed), creating an
 * empty one if absent. */
json_t *pki_registry_entries(json_t *doc);

#endif
