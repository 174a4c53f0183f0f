/* certgate cert import / list / edit / delete / upgrade-pins: the policy file's
 * certificate registry from the command line. Every command that changes a policy
 * refuses a file that is not one (pki_registry_load) and checks its result with the
 * policy loader before it writes (pki_registry_save_checked). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/boringssl.h"

#include <openssl/mem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "app/cli_internal.h"
#include "common/hex.h"
#include "common/mem.h"
#include "pki/enroll.h"
#include "pki/files.h"
#include "pki/import.h"
#include "pki/issue.h"
#include "pki/registry.h"
#include "policy/cert_facts.h"
#include "policy/ipset.h"

/* check_exists fails unless the policy file |path| exists. */
static int check_exists(const char *path, struct cg_errbuf *err)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        return cg_errf(err, CG_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    }
    return CG_OK;
}

int cli_ca_certs_load(const char *path, struct pki_import *out, struct cg_errbuf *err)
{
    struct stat st;
    char *file = stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? pki_path_join(path, "ca.crt")
                                                             : cg_xstrdup(path);
    int rc = pki_import_file(file, NULL, out, err);
    size_t num_ca = 0;
    for (size_t i = 0; rc == CG_OK && i < out->num_certs; i++) {
        num_ca += X509_check_ca(out->certs[i]) == 1;
    }
    if (rc == CG_OK && num_ca == 0) {
        rc = cg_errf(err, CG_ERR_INVALID, "%s: no CA certificate in it (CA:TRUE)", file);
        pki_import_cleanup(out);
    }
    free(file);
    return rc;
}

/* note_unpinned tells which certificates of a new entry got no pin: they carry an
 * authority key id (so a renewal could be pinned) but their issuer was not given. */
static void note_unpinned(X509 *const *ids, size_t num_ids, X509 *const *issuers,
                          size_t num_issuers)
{
    for (size_t i = 0; i < num_ids; i++) {
        if (X509_get0_authority_key_id(ids[i]) == NULL ||
            pki_pin_issuer(ids[i], issuers, num_issuers) != NULL) {
            continue;
        }
        uint8_t *der = NULL;
        int len = i2d_X509(ids[i], &der);
        uint8_t sha1[20];
        char hex[41];
        SHA1(der, len > 0 ? (size_t)len : 0, sha1);
        OPENSSL_free(der);
        cg_hex_encode(sha1, sizeof(sha1), CG_HEX_UPPER, hex);
        printf("note: %s has no pin: its issuer certificate is neither in the file nor given "
               "with --ca, so a renewed certificate will need registering again\n",
               hex);
    }
}

int cli_cert_import(const struct cli_opts *o)
{
    if (o->name == NULL) {
        return cli_usage(o, "missing --name NAME");
    }
    if (o->clearance == NULL) {
        return cli_usage(o, "missing --clearance (ClusterAdmin, Operator or ValidUser)");
    }
    if (o->policy == NULL) {
        return cli_usage(o, "missing --policy FILE");
    }
    struct cg_errbuf err = {{0}};
    struct pki_db_grant grants[CLI_MAX_ARGS];
    struct pki_enroll_entry entry;
    if (cli_parse_entry(o, grants, &entry, &err) != CG_OK) {
        return cli_fail(&err);
    }
    struct pki_import imp = {0}, cas = {0};
    struct pki_enrollment e = {0};
    int rc = CLI_FAIL;
    if (pki_import_file(o->positional[0], o->password, &imp, &err) != CG_OK ||
        (o->ca != NULL && cli_ca_certs_load(o->ca, &cas, &err) != CG_OK)) {
        rc = cli_fail(&err);
        goto out;
    }
    X509 *ids[PKI_IMPORT_MAX_CERTS];
    size_t num_ids = pki_import_identities(&imp, ids);
    /* Issuers for pins: the chain that came with the file, and --ca. */
    X509 *issuers[2 * PKI_IMPORT_MAX_CERTS];
    size_t num_issuers = 0;
    for (size_t i = 0; i < imp.num_certs; i++) {
        issuers[num_issuers++] = imp.certs[i];
    }
    for (size_t i = 0; i < cas.num_certs; i++) {
        issuers[num_issuers++] = cas.certs[i];
    }
    const struct pki_enroll_policy policy = {
        .path = o->policy, .create = true, .lock_timeout_ms = PKI_REGISTRY_LOCK_TIMEOUT_MS};
    if (pki_enroll_import(&entry, ids, num_ids, issuers, num_issuers, &policy, &e, &err) !=
        CG_OK) {
        rc = cli_fail(&err);
        goto out;
    }
    json_t *tps = json_object_get(e.entry, "thumbprints");
    size_t num_pins = json_array_size(json_object_get(e.entry, "pins"));
    printf("registered '%s' as %s in %s with %zu thumbprint%s and %zu pin%s:\n", o->name,
           o->clearance, o->policy, json_array_size(tps), json_array_size(tps) == 1 ? "" : "s",
           num_pins, num_pins == 1 ? "" : "s");
    size_t i;
    json_t *v;
    json_array_foreach(tps, i, v) {
        printf("  %s\n", json_string_value(v));
    }
    note_unpinned(ids, num_ids, issuers, num_issuers);
    rc = CLI_OK;
out:
    pki_enrollment_cleanup(&e);
    pki_import_cleanup(&imp);
    pki_import_cleanup(&cas);
    return rc;
}

/* upgrade loads the policy |path| without the policy loader (which refuses pins that
 * lack the issuer key, the very thing to fix), adds the keys from |cas| and checks that
 * the result loads. */
static int upgrade(const char *path, const struct pki_import *cas, json_t **out,
                   size_t *out_upgraded, size_t *out_kept, struct cg_errbuf *err)
{
    int rc = pki_registry_load_unchecked(path, out, err);
    if (rc == CG_OK) {
        struct cg_errbuf why = {{0}};
        rc = pki_registry_upgrade_pins(*out, cas->certs, cas->num_certs, out_upgraded, out_kept,
                                       &why);
        if (rc != CG_OK) {
            cg_errf(err, rc, "%s: %s", path, why.msg);
        }
    }
    if (rc == CG_OK) {
        rc = pki_registry_check(path, *out, NULL, err);
    }
    if (rc != CG_OK) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

int cli_cert_upgrade_pins(const struct cli_opts *o)
{
    if (o->policy == NULL) {
        return cli_usage(o, "missing --policy FILE");
    }
    if (o->ca == NULL) {
        return cli_usage(o, "missing --ca CA_CERT_OR_DIR");
    }
    struct cg_errbuf err = {{0}};
    struct pki_import cas = {0};
    json_t *policy = NULL;
    int lock_fd = -1;
    int rc = CLI_FAIL;
    size_t upgraded = 0, kept = 0;
    /* Once unlocked, so that a file that cannot be upgraded gets no lock file beside
     * it; then again under the lock, which the save needs. */
    if (cli_ca_certs_load(o->ca, &cas, &err) != CG_OK || check_exists(o->policy, &err) != CG_OK ||
        upgrade(o->policy, &cas, &policy, &upgraded, &kept, &err) != CG_OK) {
        rc = cli_fail(&err);
        goto out;
    }
    json_decref(policy);
    policy = NULL;
    if (pki_registry_lock(o->policy, &lock_fd, &err) != CG_OK ||
        upgrade(o->policy, &cas, &policy, &upgraded, &kept, &err) != CG_OK ||
        (upgraded > 0 && pki_registry_save(o->policy, policy, &err) != CG_OK)) {
        rc = cli_fail(&err);
        goto out;
    }
    printf("%s: %zu pin%s upgraded with the issuer key, %zu already had it\n", o->policy, upgraded,
           upgraded == 1 ? "" : "s", kept);
    rc = CLI_OK;
out:
    pki_registry_unlock(lock_fd);
    json_decref(policy);
    pki_import_cleanup(&cas);
    return rc;
}

/* databases_text formats {"hr":"ReadWrite"} as "hr=ReadWrite" into a heap string. */
static char *databases_text(const json_t *dbs)
{
    size_t cap = 1, len = 0;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)dbs, key, v) {
        cap += strlen(key) + 2 + (json_is_string(v) ? strlen(json_string_value(v)) : 1);
    }
    char *s = cg_xmalloc(cap + 1);
    s[0] = '\0';
    json_object_foreach((json_t *)dbs, key, v) {
        len += (size_t)snprintf(s + len, cap + 1 - len, "%s%s=%s", len ? "," : "", key,
                                json_is_string(v) ? json_string_value(v) : "?");
    }
    if (len == 0) {
        snprintf(s, cap + 1, "-");
    }
    return s;
}

static char *thumbprints_text(const json_t *tps)
{
    size_t cap = 2, len = 0;
    size_t i;
    json_t *v;
    json_array_foreach(tps, i, v) {
        cap += (json_is_string(v) ? strlen(json_string_value(v)) : 1) + 1;
    }
    char *s = cg_xmalloc(cap);
    s[0] = '\0';
    json_array_foreach(tps, i, v) {
        len += (size_t)snprintf(s + len, cap - len, "%s%s", len ? "," : "",
                                json_is_string(v) ? json_string_value(v) : "?");
    }
    if (len == 0) {
        snprintf(s, cap, "-");
    }
    return s;
}

static const char *str_or_dash(const json_t *v)
{
    return json_is_string(v) ? json_string_value(v) : "-";
}

int cli_cert_list(const struct cli_opts *o)
{
    if (o->policy == NULL) {
        return cli_usage(o, "missing --policy FILE");
    }
    struct cg_errbuf err = {{0}};
    json_t *policy = NULL;
    if (check_exists(o->policy, &err) != CG_OK ||
        pki_registry_load(o->policy, &policy, &err) != CG_OK) {
        return cli_fail(&err);
    }
    json_t *entries = pki_registry_entries(policy);
    if (o->json) {
        char *text = json_dumps(entries, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("%s\n", text != NULL ? text : "[]");
        free(text);
        json_decref(policy);
        return CLI_OK;
    }
    size_t n = json_array_size(entries);
    char **cols = cg_xcalloc(n * 5 + 5, sizeof(char *));
    static const char *const headers[5] = {"NAME", "CLEARANCE", "DATABASES", "THUMBPRINTS",
                                           "EXPIRES"};
    size_t width[5];
    for (size_t c = 0; c < 5; c++) {
        cols[c] = cg_xstrdup(headers[c]);
        width[c] = strlen(headers[c]);
    }
    for (size_t r = 0; r < n; r++) {
        json_t *e = json_array_get(entries, r);
        char **row = cols + (r + 1) * 5;
        row[0] = cg_xstrdup(str_or_dash(json_object_get(e, "name")));
        row[1] = cg_xstrdup(str_or_dash(json_object_get(e, "clearance")));
        row[2] = databases_text(json_object_get(e, "databases"));
        row[3] = thumbprints_text(json_object_get(e, "thumbprints"));
        row[4] = cg_xstrdup(str_or_dash(json_object_get(e, "expires")));
        for (size_t c = 0; c < 5; c++) {
            size_t w = strlen(row[c]);
            width[c] = w > width[c] ? w : width[c];
        }
    }
    for (size_t r = 0; r <= n; r++) {
        char **row = cols + r * 5;
        for (size_t c = 0; c < 5; c++) {
            if (c < 4) {
                printf("%-*s  ", (int)width[c], row[c]);
            } else {
                printf("%s\n", row[c]);
            }
        }
    }
    for (size_t i = 0; i < (n + 1) * 5; i++) {
        free(cols[i]);
    }
    free(cols);
    json_decref(policy);
    return CLI_OK;
}

/* split_list splits the comma-separated |text| into |out| (at most CLI_MAX_ARGS),
 * skipping empty items; |copy| (freed by the caller) holds the strings. */
static size_t split_list(const char *text, char **copy, const char **out)
{
    size_t n = 0;
    *copy = cg_xstrdup(text);
    char *save = NULL;
    for (char *t = strtok_r(*copy, ",", &save); t != NULL && n < CLI_MAX_ARGS;
         t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ') {
            t++;
        }
        if (*t != '\0') {
            out[n++] = t;
        }
    }
    return n;
}

int cli_cert_edit(const struct cli_opts *o)
{
    if (o->policy == NULL) {
        return cli_usage(o, "missing --policy FILE");
    }
    if (o->name == NULL && o->clearance == NULL && o->num_dbs == 0 && o->allow_ips == NULL &&
        o->expires == NULL) {
        return cli_usage(o, "nothing to change: give --name, --clearance, --db, --allow-ips or "
                            "--expires");
    }
    struct cg_errbuf err = {{0}};
    struct pki_db_grant grants[CLI_MAX_ARGS];
    if ((o->clearance != NULL && pki_clearance_check(o->clearance, &err) != CG_OK) ||
        cli_parse_grants(o, grants, &err) != CG_OK ||
        (o->name != NULL && pki_name_check(o->name, &err) != CG_OK)) {
        return cli_fail(&err);
    }
    char *ips_copy = NULL;
    const char *ips[CLI_MAX_ARGS];
    size_t num_ips = 0;
    if (o->allow_ips != NULL) {
        num_ips = split_list(o->allow_ips, &ips_copy, ips);
        /* Checked as the policy loader checks them, naming the option. */
        for (size_t i = 0; i < num_ips; i++) {
            struct cg_errbuf why = {{0}};
            if (ipset_check(ips[i], &why) != CG_OK) {
                cg_errf(&err, CG_ERR_INVALID, "--allow-ips '%s': %s", ips[i], why.msg);
                break;
            }
        }
        if (err.msg[0] == '\0' && num_ips == 0 && o->allow_ips[0] != '\0') {
            cg_errf(&err, CG_ERR_INVALID, "--allow-ips '%s': no address or CIDR block",
                    o->allow_ips);
        }
        if (err.msg[0] != '\0') {
            free(ips_copy);
            return cli_fail(&err);
        }
    }
    json_t *policy = NULL;
    struct pki_entry_spec spec = {.name = o->name,
                                  .clearance = o->clearance,
                                  .dbs = grants,
                                  .num_dbs = o->num_dbs,
                                  .set_dbs = o->num_dbs > 0,
                                  .allow_ips = num_ips > 0 ? ips : NULL,
                                  .num_allow_ips = num_ips,
                                  .set_allow_ips = o->allow_ips != NULL,
                                  .expires = o->expires};
    int rc = CLI_OK;
    int lock_fd = -1;
    if (pki_registry_open(o->policy, false, PKI_REGISTRY_LOCK_TIMEOUT_MS, &lock_fd, &policy,
                          &err) != CG_OK ||
        pki_registry_edit(policy, o->positional[0], &spec, &err) != CG_OK ||
        pki_registry_save_checked(o->policy, policy, NULL, &err) != CG_OK) {
        rc = cli_fail(&err);
    } else {
        printf("updated the entry holding %s in %s\n", o->positional[0], o->policy);
    }
    pki_registry_unlock(lock_fd);
    json_decref(policy);
    free(ips_copy);
    return rc;
}

int cli_cert_delete(const struct cli_opts *o)
{
    if (o->policy == NULL) {
        return cli_usage(o, "missing --policy FILE");
    }
    struct cg_errbuf err = {{0}};
    json_t *policy = NULL;
    int rc = CLI_OK;
    size_t index = 0;
    char *name = NULL;
    int lock_fd = -1;
    if (pki_registry_open(o->policy, false, PKI_REGISTRY_LOCK_TIMEOUT_MS, &lock_fd, &policy,
                          &err) != CG_OK ||
        pki_registry_find(policy, o->positional[0], &index, &err) != CG_OK) {
        rc = cli_fail(&err);
        goto out;
    }
    json_t *entry = json_array_get(pki_registry_entries(policy), index);
    name = cg_xstrdup(str_or_dash(json_object_get(entry, "name")));
    if (pki_registry_delete(policy, o->positional[0], &err) != CG_OK ||
        pki_registry_save_checked(o->policy, policy, NULL, &err) != CG_OK) {
        rc = cli_fail(&err);
        goto out;
    }
    printf("deleted '%s' from %s\n", name, o->policy);
out:
    pki_registry_unlock(lock_fd);
    free(name);
    json_decref(policy);
    return rc;
}
