#include "pki/registry.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/base64.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/mem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/clock.h"
#include "common/file.h"
#include "common/hex.h"
#include "common/json.h"
#include "common/mem.h"
#include "common/timestamp.h"
#include "pki/files.h"
#include "policy/cert_facts.h"
#include "policy/policy.h"

json_t *pki_registry_new(void)
{
    json_t *doc = json_object();
    json_object_set_new(doc, "allow_ips", json_pack("[ss]", "127.0.0.1", "::1"));
    json_object_set_new(doc, "routes",
                        json_pack("[{ss ss}]", "path", "/*", "require", "Authenticated"));
    json_object_set_new(doc, "certificates", json_array());
    return doc;
}

json_t *pki_registry_entries(json_t *doc)
{
    json_t *arr = json_object_get(doc, "certificates");
    if (!json_is_array(arr)) {
        arr = json_array();
        json_object_set_new(doc, "certificates", arr);
    }
    return arr;
}

/* read_doc reads |path| into a text buffer and a JSON document. */
static int read_doc(const char *path, char **out_text, size_t *out_len, json_t **out,
                    struct cg_errbuf *err)
{
    int rc = cg_file_read(path, PKI_REGISTRY_MAX_FILE, out_text, out_len, err);
    if (rc != CG_OK) {
        return rc;
    }
    rc = cg_json_load_str(path, *out_text, *out_len, out, err);
    if (rc == CG_OK && !json_is_object(*out)) {
        struct cg_json_ctx ctx = {path, err};
        rc = cg_json_fail(&ctx, "$", "expected an object");
        json_decref(*out);
        *out = NULL;
    }
    if (rc != CG_OK) {
        free(*out_text);
        *out_text = NULL;
    }
    return rc;
}

/* check_text runs the policy loader over |len| bytes of |text| (the contents of, or what
 * is about to become, |path|). Identity matchers are allowed: whether the listener has
 * a client_ca is not known here, and the proxy checks that when it loads the file. */
static int check_text(const char *path, const char *text, size_t len, const json_t *doc,
                      const struct policy_load_opts *opts, const char *what, struct cg_errbuf *err)
{
    static const struct policy_load_opts any_listener = {.client_ca = true};
    struct policy *p = NULL;
    struct cg_errbuf why = {{0}};
    int rc = policy_load_json(path, text, len, opts != NULL ? opts : &any_listener, &p, &why);
    policy_free(p);
    if (rc == CG_OK) {
        return CG_OK;
    }
    if (doc != NULL &&
        (json_object_get(doc, "listeners") != NULL || json_object_get(doc, "upstreams") != NULL)) {
        return cg_errf(err, CG_ERR_INVALID,
                       "%s: this is certgate's configuration, not a policy; give the file "
                       "that a listener's \"policy\" names",
                       path);
    }
    /* The loader's message starts with the file name already. */
    size_t plen = strlen(path);
    const char *detail = why.msg;
    if (strncmp(detail, path, plen) == 0 && strncmp(detail + plen, ": ", 2) == 0) {
        detail += plen + 2;
    }
    return cg_errf(err, rc, "%s: %s, nothing changed: %s", path, what, detail);
}

int pki_registry_check(const char *path, const json_t *doc, const struct policy_load_opts *opts,
                       struct cg_errbuf *err)
{
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (text == NULL) {
        return cg_errf(err, CG_ERR_INVALID, "%s: cannot serialize the policy", path);
    }
    int rc = check_text(path, text, strlen(text), doc, opts,
                        "the change would make an invalid policy", err);
    free(text);
    return rc;
}

int pki_registry_save_checked(const char *path, const json_t *doc,
                              const struct policy_load_opts *opts, struct cg_errbuf *err)
{
    int rc = pki_registry_check(path, doc, opts, err);
    return rc != CG_OK ? rc : pki_registry_save(path, doc, err);
}

int pki_registry_load(const char *path, json_t **out, struct cg_errbuf *err)
{
    struct stat st;
    if (stat(path, &st) != 0 && errno == ENOENT) {
        *out = pki_registry_new();
        return CG_OK;
    }
    char *text = NULL;
    size_t len = 0;
    json_t *doc = NULL;
    int rc = read_doc(path, &text, &len, &doc, err);
    if (rc == CG_OK) {
        rc = check_text(path, text, len, doc, NULL, "not a valid policy", err);
    }
    free(text);
    if (rc != CG_OK) {
        json_decref(doc);
        return rc;
    }
    *out = doc;
    return CG_OK;
}

int pki_registry_load_unchecked(const char *path, json_t **out, struct cg_errbuf *err)
{
    char *text = NULL;
    size_t len = 0;
    int rc = read_doc(path, &text, &len, out, err);
    free(text);
    return rc;
}

int pki_registry_save(const char *path, const json_t *doc, struct cg_errbuf *err)
{
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (text == NULL) {
        return cg_errf(err, CG_ERR_INVALID, "%s: cannot serialize the policy", path);
    }
    size_t len = strlen(text);
    char *buf = cg_xmalloc(len + 2);
    memcpy(buf, text, len);
    buf[len++] = '\n';
    free(text);
    mode_t mode = 0644;
    struct stat st;
    if (stat(path, &st) == 0) {
        mode = st.st_mode & 07777;
    }
    int rc = cg_file_write_atomic(path, buf, len, mode, err);
    free(buf);
    return rc;
}

#define LOCK_POLL_MS 25 /* pause between two attempts to take a held lock */

int pki_registry_lock_timeout(const char *policy_path, unsigned timeout_ms, int *out_fd,
                              struct cg_errbuf *err)
{
    /* Next to the file a save replaces (a symlinked policy is written through), so
     * that writers naming the link and writers naming its target share one lock. */
    char *target;
    int resolved = cg_file_resolve_link(policy_path, &target, err);
    if (resolved != CG_OK) {
        return resolved;
    }
    size_t len = strlen(target);
    char *path = cg_xmalloc(len + sizeof(".lock"));
    memcpy(path, target, len);
    memcpy(path + len, ".lock", sizeof(".lock"));
    free(target);
    /* The lock file is created as accessible as the policy it guards (0600 while there
     * is none): a command run as root must not lock out a daemon that may write the
     * policy. Read-write: flock on NFS is emulated with byte-range locks, and an
     * exclusive one needs a descriptor open for writing; locally a read-only one does,
     * which serves a writer that can read a lock file another user created. O_NOFOLLOW:
     * never create a file wherever a planted symlink points. */
    mode_t mode = 0600;
    struct stat st;
    if (stat(policy_path, &st) == 0) {
        mode = st.st_mode & 0666;
    }
    int fd;
    do {
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd < 0 && errno == EACCES) {
            fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        }
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        int rc = cg_errf(err, CG_ERR_IO, "%s: cannot open the policy lock file: %s", path,
                         strerror(errno));
        free(path);
        return rc;
    }
    /* Polling with LOCK_NB rather than a blocking flock bounds the wait without a timer
     * signal. */
    int rc = CG_OK;
    uint64_t deadline = cg_monotonic_us() / 1000 + timeout_ms;
    for (;;) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
            break;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EWOULDBLOCK) {
            rc = cg_errf(err, CG_ERR_IO, "%s: cannot lock: %s", path, strerror(errno));
            break;
        }
        uint64_t now = cg_monotonic_us() / 1000;
        if (now >= deadline) {
            /* Short: the admin API's audit reason holds 255 bytes, path included. */
            bool whole = timeout_ms % 1000 == 0;
            rc = cg_errf(err, CG_ERR_LIMIT,
                         "%s: still locked after %u %s by another certgate command or the "
                         "admin API; try again",
                         path, whole ? timeout_ms / 1000 : timeout_ms, whole ? "s" : "ms");
            break;
        }
        uint64_t pause = deadline - now < LOCK_POLL_MS ? deadline - now : LOCK_POLL_MS;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)pause * 1000000L};
        nanosleep(&ts, NULL); /* interrupted: the loop checks the clock again */
    }
    free(path);
    if (rc != CG_OK) {
        close(fd);
        return rc;
    }
    *out_fd = fd;
    return CG_OK;
}

/* make_parent_dir creates the missing directories above the policy file |path|. */
static int make_parent_dir(const char *path, struct cg_errbuf *err)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL || slash == path) {
        return CG_OK;
    }
    char *dir = cg_xstrndup(path, (size_t)(slash - path));
    struct stat st;
    int rc = CG_OK;
    if (stat(dir, &st) != 0 && errno == ENOENT) {
        /* Not secret (thumbprints, names, public keys), like the policy's own 0644. */
        rc = pki_mkdir_parents(dir, 0755, err);
    }
    free(dir);
    return rc;
}

int pki_registry_open(const char *path, bool create, unsigned lock_timeout_ms, int *lock_fd,
                      json_t **out, struct cg_errbuf *err)
{
    /* The file is checked before the lock file is created next to it, so that a
     * mistyped path or a file that is not a policy is left as it was, with nothing
     * beside it; under the lock it is read again, as it may have changed meanwhile. */
    struct stat st;
    int rc = CG_OK;
    if (stat(path, &st) == 0) {
        json_t *probe = NULL;
        rc = pki_registry_load(path, &probe, err);
        json_decref(probe);
    } else if (create) {
        rc = make_parent_dir(path, err);
    } else {
        rc = cg_errf(err, CG_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    }
    if (rc == CG_OK) {
        rc = pki_registry_lock_timeout(path, lock_timeout_ms, lock_fd, err);
    }
    return rc != CG_OK ? rc : pki_registry_load(path, out, err);
}

int pki_registry_lock(const char *policy_path, int *out_fd, struct cg_errbuf *err)
{
    return pki_registry_lock_timeout(policy_path, PKI_REGISTRY_LOCK_TIMEOUT_MS, out_fd, err);
}

void pki_registry_unlock(int fd)
{
    if (fd < 0) {
        return;
    }
    /* Explicitly: a forked child sharing the descriptor would otherwise keep it locked. */
    flock(fd, LOCK_UN);
    close(fd);
}

/* entry_holds reports whether |entry| lists the thumbprint |tp| (raw bytes). */
static bool entry_holds(const json_t *entry, const uint8_t *tp, size_t tp_len)
{
    const json_t *arr = json_object_get(entry, "thumbprints");
    size_t i;
    const json_t *v;
    json_array_foreach(arr, i, v) {
        uint8_t bytes[POLICY_SHA256_LEN];
        size_t len = 0;
        if (json_is_string(v) && policy_thumbprint_parse(json_string_value(v), bytes, &len) == 0 &&
            len == tp_len && memcmp(bytes, tp, len) == 0) {
            return true;
        }
    }
    return false;
}

/* holder sets |*out_index| to the entry holding |tp|; false if none does. */
static bool holder(const json_t *doc, const uint8_t *tp, size_t tp_len, size_t *out_index)
{
    const json_t *arr = json_object_get(doc, "certificates");
    size_t i;
    const json_t *entry;
    json_array_foreach(arr, i, entry) {
        if (entry_holds(entry, tp, tp_len)) {
            *out_index = i;
            return true;
        }
    }
    return false;
}

static const char *entry_name(const json_t *doc, size_t index)
{
    const json_t *entry = json_array_get(json_object_get(doc, "certificates"), index);
    const char *name = json_string_value(json_object_get(entry, "name"));
    return name != NULL ? name : "(unnamed)";
}

static json_t *databases_json(const struct pki_entry_spec *spec)
{
    json_t *obj = json_object();
    for (size_t i = 0; i < spec->num_dbs; i++) {
        json_object_setn_new(obj, spec->dbs[i].name.p, spec->dbs[i].name.len,
                             json_string(spec->dbs[i].level));
    }
    return obj;
}

static json_t *allow_ips_json(const struct pki_entry_spec *spec)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < spec->num_allow_ips; i++) {
        json_array_append_new(arr, json_string(spec->allow_ips[i]));
    }
    return arr;
}

static bool same_pin(const json_t *a, const json_t *b)
{
    return json_equal((json_t *)a, (json_t *)b);
}

bool pki_registry_name_taken(const json_t *doc, const char *name, long except)
{
    const json_t *arr = json_object_get(doc, "certificates");
    size_t i;
    const json_t *e;
    json_array_foreach(arr, i, e)
    {
        const char *n = json_string_value(json_object_get(e, "name"));
        if ((long)i != except && n != NULL && strcmp(n, name) == 0) {
            return true;
        }
    }
    return false;
}

X509 *pki_pin_issuer(X509 *cert, X509 *const *issuers, size_t num_issuers)
{
    for (size_t i = 0; i < num_issuers; i++) {
        X509 *ca = issuers[i];
        if (X509_NAME_cmp(X509_get_subject_name(ca), X509_get_issuer_name(cert)) != 0 ||
            X509_check_ca(ca) != 1) {
            continue;
        }
        EVP_PKEY *key = X509_get_pubkey(ca);
        bool signed_it = key != NULL && X509_verify(cert, key) == 1;
        EVP_PKEY_free(key);
        ERR_clear_error();
        if (signed_it) {
            return ca;
        }
    }
    return NULL;
}

/* spki_b64 returns the base64 of |cert|'s DER SubjectPublicKeyInfo in a heap string. */
static char *spki_b64(X509 *cert)
{
    uint8_t *der = NULL;
    int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
    if (len <= 0) {
        ERR_clear_error();
        return NULL;
    }
    size_t b64_len;
    EVP_EncodedLength(&b64_len, (size_t)len);
    char *b64 = cg_xmalloc(b64_len);
    EVP_EncodeBlock((uint8_t *)b64, der, (size_t)len);
    OPENSSL_free(der);
    return b64;
}

int pki_registry_add(json_t *doc, const struct pki_entry_spec *spec, X509 *const *certs,
                     size_t num_certs, X509 *const *issuers, size_t num_issuers,
                     struct cg_errbuf *err)
{
    if (spec->name == NULL || spec->name[0] == '\0') {
        return cg_errf(err, CG_ERR_INVALID, "an entry needs a name");
    }
    if (pki_registry_name_taken(doc, spec->name, -1)) {
        return cg_errf(err, CG_ERR_EXISTS, "an entry named '%s' is already registered", spec->name);
    }
    if (spec->clearance == NULL) {
        return cg_errf(err, CG_ERR_INVALID, "an entry needs a clearance");
    }
    int rc = pki_clearance_check(spec->clearance, err);
    if (rc != CG_OK) {
        return rc;
    }
    if (num_certs == 0) {
        return cg_errf(err, CG_ERR_INVALID, "no certificate to register");
    }
    json_t *tps = json_array();
    json_t *tps256 = json_array();
    json_t *pins = json_array();
    time_t expires = 0;
    for (size_t i = 0; i < num_certs; i++) {
        uint8_t *der = NULL;
        int der_len = i2d_X509(certs[i], &der);
        if (der_len <= 0) {
            rc = cg_errf_crypto(err, CG_ERR_CRYPTO, "cannot encode a certificate");
            goto fail;
        }
        struct policy_cert_facts f = {0};
        rc = policy_cert_facts_from_der(der, (size_t)der_len, &f, err);
        OPENSSL_free(der);
        if (rc != CG_OK) {
            goto fail;
        }
        size_t at;
        if (holder(doc, f.sha1, sizeof(f.sha1), &at) ||
            holder(doc, f.sha256, sizeof(f.sha256), &at)) {
            char hex[2 * POLICY_SHA1_LEN + 1];
            cg_hex_encode(f.sha1, sizeof(f.sha1), CG_HEX_UPPER, hex);
            rc = cg_errf(err, CG_ERR_EXISTS, "certificate %s is already registered as '%s'",
                         hex, entry_name(doc, at));
            policy_cert_facts_cleanup(&f);
            goto fail;
        }
        /* Both thumbprints, so that either one finds the entry again (cert edit and
         * delete, the admin API): a SHA-256 cannot be derived from a SHA-1. */
        char hex[2 * POLICY_SHA1_LEN + 1], hex256[2 * POLICY_SHA256_LEN + 1];
        cg_hex_encode(f.sha1, sizeof(f.sha1), CG_HEX_UPPER, hex);
        cg_hex_encode(f.sha256, sizeof(f.sha256), CG_HEX_UPPER, hex256);
        bool dup = false;
        size_t j;
        json_t *v;
        json_array_foreach(tps, j, v) {
            dup = dup || strcmp(json_string_value(v), hex) == 0;
        }
        if (!dup) {
            json_array_append_new(tps, json_string(hex));
            json_array_append_new(tps256, json_string(hex256));
        }
        /* A pin only with the issuer's key, which the proxy verifies signatures with. */
        X509 *issuer = f.aki_len > 0 && f.issuer != NULL
                           ? pki_pin_issuer(certs[i], issuers, num_issuers)
                           : NULL;
        char *issuer_spki = issuer != NULL ? spki_b64(issuer) : NULL;
        if (issuer_spki != NULL) {
            char b64[64];
            EVP_EncodeBlock((uint8_t *)b64, f.spki_sha256, sizeof(f.spki_sha256));
            char *aki = cg_xmalloc(2 * f.aki_len + 1);
            cg_hex_encode(f.aki, f.aki_len, CG_HEX_UPPER, aki);
            json_t *pin = json_pack("{ss ss ss ss}", "spki_sha256", b64, "issuer", f.issuer,
                                    "issuer_key_id", aki, "issuer_spki", issuer_spki);
            free(aki);
            free(issuer_spki);
            bool seen = false;
            json_array_foreach(pins, j, v) {
                seen = seen || same_pin(v, pin);
            }
            if (pin != NULL && !seen) {
                json_array_append(pins, pin);
            }
            json_decref(pin);
        }
        if (expires == 0 || f.not_after < expires) {
            expires = f.not_after;
        }
        policy_cert_facts_cleanup(&f);
    }
    char when[CG_TIMESTAMP_RFC3339_SIZE];
    cg_timestamp_rfc3339(expires, when);
    json_t *entry = json_object();
    json_object_set_new(entry, "name", json_string(spec->name));
    json_array_extend(tps, tps256); /* the SHA-1s first, as entries always began */
    json_decref(tps256);
    json_object_set_new(entry, "thumbprints", tps);
    json_object_set_new(entry, "pins", pins);
    json_object_set_new(entry, "clearance", json_string(spec->clearance));
    json_object_set_new(entry, "databases", databases_json(spec));
    if (spec->set_allow_ips && spec->allow_ips != NULL) {
        json_object_set_new(entry, "allow_ips", allow_ips_json(spec));
    }
    json_object_set_new(entry, "expires", json_string(when));
    json_array_append_new(pki_registry_entries(doc), entry);
    return CG_OK;
fail:
    json_decref(tps);
    json_decref(tps256);
    json_decref(pins);
    return rc;
}

int pki_registry_find(const json_t *doc, const char *thumbprint, size_t *out_index,
                      struct cg_errbuf *err)
{
    uint8_t tp[POLICY_SHA256_LEN];
    size_t tp_len = 0;
    if (policy_thumbprint_parse(thumbprint, tp, &tp_len) != 0) {
        return cg_errf(err, CG_ERR_INVALID,
                       "'%s' is not a thumbprint (expected 40 or 64 hex digits)", thumbprint);
    }
    if (!holder(doc, tp, tp_len, out_index)) {
        return cg_errf(err, CG_ERR_NOT_FOUND, "no certificate with thumbprint %s is registered%s",
                       thumbprint,
                       tp_len == POLICY_SHA256_LEN ? " (entries written by older certgate versions "
                                                     "list only SHA-1 thumbprints: try the SHA-1)"
                                                   : "");
    }
    return CG_OK;
}

int pki_registry_edit(json_t *doc, const char *thumbprint, const struct pki_entry_spec *spec,
                      struct cg_errbuf *err)
{
    size_t index;
    int rc = pki_registry_find(doc, thumbprint, &index, err);
    if (rc != CG_OK) {
        return rc;
    }
    if (spec->clearance != NULL) {
        rc = pki_clearance_check(spec->clearance, err);
        if (rc != CG_OK) {
            return rc;
        }
    }
    if (spec->name != NULL && spec->name[0] == '\0') {
        return cg_errf(err, CG_ERR_INVALID, "an entry needs a name");
    }
    if (spec->name != NULL && pki_registry_name_taken(doc, spec->name, (long)index)) {
        return cg_errf(err, CG_ERR_EXISTS, "an entry named '%s' is already registered", spec->name);
    }
    json_t *entry = json_array_get(pki_registry_entries(doc), index);
    if (spec->name != NULL) {
        json_object_set_new(entry, "name", json_string(spec->name));
    }
    if (spec->clearance != NULL) {
        json_object_set_new(entry, "clearance", json_string(spec->clearance));
    }
    if (spec->set_dbs) {
        json_object_set_new(entry, "databases", databases_json(spec));
    }
    if (spec->set_allow_ips && spec->allow_ips == NULL) {
        json_object_del(entry, "allow_ips");
    } else if (spec->set_allow_ips) {
        json_object_set_new(entry, "allow_ips", allow_ips_json(spec));
    }
    if (spec->expires != NULL && spec->expires[0] == '\0') {
        json_object_del(entry, "expires");
    } else if (spec->expires != NULL) {
        json_object_set_new(entry, "expires", json_string(spec->expires));
    }
    return CG_OK;
}

int pki_registry_delete(json_t *doc, const char *thumbprint, struct cg_errbuf *err)
{
    size_t index;
    int rc = pki_registry_find(doc, thumbprint, &index, err);
    if (rc != CG_OK) {
        return rc;
    }
    json_array_remove(pki_registry_entries(doc), index);
    return CG_OK;
}

/* same_hex compares the hex text |text| (any case, ':' between every two bytes or
 * none) with the bytes |b|. */
static bool same_hex(const char *text, const uint8_t *b, size_t len)
{
    uint8_t bytes[64];
    size_t n = 0;
    return cg_hex_decode(cg_str_from_cstr(text), CG_HEX_COLONS_OPTIONAL, bytes, sizeof(bytes),
                         &n) == CG_OK &&
           n == len && memcmp(bytes, b, len) == 0;
}

/* ca_matches_pin reports whether |ca| (whose subject in the policy's name format is
 * |subject|) is the issuer |pin| names: a CA certificate with the same name and, when
 * the pin has one, a subject key identifier equal to the pin's issuer_key_id. */
static bool ca_matches_pin(X509 *ca, const char *subject, const json_t *pin)
{
    const char *issuer = json_string_value(json_object_get(pin, "issuer"));
    const char *key_id = json_string_value(json_object_get(pin, "issuer_key_id"));
    if (issuer == NULL || subject == NULL || strcmp(issuer, subject) != 0 ||
        X509_check_ca(ca) != 1) {
        return false;
    }
    if (key_id == NULL) {
        return true; /* such a pin only matches certificates without an AKI */
    }
    const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(ca);
    return ski != NULL &&
           same_hex(key_id, ASN1_STRING_get0_data(ski), (size_t)ASN1_STRING_length(ski));
}

int pki_registry_upgrade_pins(json_t *doc, X509 *const *cas, size_t num_cas, size_t *out_upgraded,
                              size_t *out_kept, struct cg_errbuf *err)
{
    int rc = CG_OK;
    size_t upgraded = 0, kept = 0;
    char **subjects = cg_xcalloc(num_cas + 1, sizeof(char *));
    for (size_t i = 0; i < num_cas; i++) {
        uint8_t *der = NULL;
        int len = i2d_X509(cas[i], &der);
        struct policy_cert_facts f = {0};
        if (len > 0 && policy_cert_facts_from_der(der, (size_t)len, &f, NULL) == CG_OK) {
            subjects[i] = f.subject;
            f.subject = NULL;
        }
        policy_cert_facts_cleanup(&f);
        OPENSSL_free(der);
    }
    const json_t *entries = json_object_get(doc, "certificates");
    size_t i;
    json_t *entry;
    json_array_foreach(entries, i, entry)
    {
        json_t *pins = json_object_get(entry, "pins");
        size_t j;
        json_t *pin;
        json_array_foreach(pins, j, pin)
        {
            if (!json_is_object(pin)) {
                continue; /* the policy loader names it */
            }
            if (json_object_get(pin, "issuer_spki") != NULL) {
                kept++;
                continue;
            }
            X509 *ca = NULL;
            for (size_t k = 0; k < num_cas && ca == NULL; k++) {
                if (ca_matches_pin(cas[k], subjects[k], pin)) {
                    ca = cas[k];
                }
            }
            const char *issuer = json_string_value(json_object_get(pin, "issuer"));
            const char *key_id = json_string_value(json_object_get(pin, "issuer_key_id"));
            if (ca == NULL) {
                rc = cg_errf(err, CG_ERR_NOT_FOUND,
                             "$.certificates[%zu].pins[%zu]: no given CA certificate is its "
                             "issuer \"%s\" with key id %s; nothing changed",
                             i, j, issuer ? issuer : "?", key_id ? key_id : "(none)");
                goto out;
            }
            char *b64 = spki_b64(ca);
            if (b64 == NULL) {
                rc = cg_errf(err, CG_ERR_CRYPTO, "cannot encode the public key of %s", issuer);
                goto out;
            }
            json_object_set_new(pin, "issuer_spki", json_string(b64));
            free(b64);
            upgraded++;
        }
    }
out:
    for (size_t k = 0; k < num_cas; k++) {
        free(subjects[k]);
    }
    free(subjects);
    *out_upgraded = upgraded;
    *out_kept = kept;
    return rc;
}
