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
#include <openssl/mem.h>
#include <openssl/x509.h>

#include "common/clock.h"
#include "common/file.h"
#include "common/json.h"
#include "common/mem.h"
#include "policy/cert_facts.h"

void pki_time_rfc3339(time_t t, char *out)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

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

int pki_registry_load(const char *path, json_t **out, struct cg_errbuf *err)
{
    struct stat st;
    if (stat(path, &st) != 0 && errno == ENOENT) {
        *out = pki_registry_new();
        return CG_OK;
    }
    json_t *doc = NULL;
    int rc = cg_json_load_file(path, &doc, err);
    if (rc != CG_OK) {
        return rc;
    }
    struct cg_json_ctx ctx = {path, err};
    if (!json_is_object(doc)) {
        rc = cg_json_fail(&ctx, "$", "expected an object");
        goto fail;
    }
    json_t *arr = json_object_get(doc, "certificates");
    if (arr != NULL && !json_is_array(arr)) {
        rc = cg_json_fail(&ctx, "$.certificates", "expected an array");
        goto fail;
    }
    size_t i;
    json_t *entry;
    json_array_foreach(arr, i, entry) {
        char where[64];
        snprintf(where, sizeof(where), "$.certificates[%zu]", i);
        if (!json_is_object(entry)) {
            rc = cg_json_fail(&ctx, where, "expected an object");
            goto fail;
        }
        json_t *tps = json_object_get(entry, "thumbprints");
        if (tps != NULL && !json_is_array(tps)) {
            rc = cg_json_fail(&ctx, where, "\"thumbprints\" must be an array");
            goto fail;
        }
    }
    *out = doc;
    return CG_OK;
fail:
    json_decref(doc);
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

/* holder returns the index of the entry holding |tp|, or -1. */
static long holder(const json_t *doc, const uint8_t *tp, size_t tp_len)
{
    const json_t *arr = json_object_get(doc, "certificates");
    size_t i;
    const json_t *entry;
    json_array_foreach(arr, i, entry) {
        if (entry_holds(entry, tp, tp_len)) {
            return (long)i;
        }
    }
    return -1;
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

int pki_registry_add(json_t *doc, const struct pki_entry_spec *spec, X509 *const *certs,
                     size_t num_certs, struct cg_errbuf *err)
{
    if (spec->name == NULL || spec->name[0] == '\0') {
        return cg_errf(err, CG_ERR_INVALID, "an entry needs a name");
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
        long at = holder(doc, f.sha1, sizeof(f.sha1));
        if (at < 0) {
            at = holder(doc, f.sha256, sizeof(f.sha256));
        }
        if (at >= 0) {
            char hex[2 * POLICY_SHA1_LEN + 1];
            policy_hex_encode(f.sha1, sizeof(f.sha1), hex);
            rc = cg_errf(err, CG_ERR_EXISTS, "certificate %s is already registered as '%s'",
                         hex, entry_name(doc, (size_t)at));
            policy_cert_facts_cleanup(&f);
            goto fail;
        }
        char hex[2 * POLICY_SHA1_LEN + 1];
        policy_hex_encode(f.sha1, sizeof(f.sha1), hex);
        bool dup = false;
        size_t j;
        json_t *v;
        json_array_foreach(tps, j, v) {
            dup = dup || strcmp(json_string_value(v), hex) == 0;
        }
        if (!dup) {
            json_array_append_new(tps, json_string(hex));
        }
        if (f.aki_len > 0 && f.issuer != NULL) {
            char b64[64];
            EVP_EncodeBlock((uint8_t *)b64, f.spki_sha256, sizeof(f.spki_sha256));
            char *aki = cg_xmalloc(2 * f.aki_len + 1);
            policy_hex_encode(f.aki, f.aki_len, aki);
            json_t *pin = json_pack("{ss ss ss}", "spki_sha256", b64, "issuer", f.issuer,
                                    "issuer_key_id", aki);
            free(aki);
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
    char when[21];
    pki_time_rfc3339(expires, when);
    json_t *entry = json_object();
    json_object_set_new(entry, "name", json_string(spec->name));
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
    long at = holder(doc, tp, tp_len);
    if (at < 0) {
        return cg_errf(err, CG_ERR_NOT_FOUND, "no certificate with thumbprint %s is registered%s",
                       thumbprint, tp_len == POLICY_SHA256_LEN
                                       ? " (entries list SHA-1 thumbprints; try the SHA-1)"
                                       : "");
    }
    *out_index = (size_t)at;
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
