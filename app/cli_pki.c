#include "app/cli_pki.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/base64.h>
#include <openssl/mem.h>
#include <openssl/x509.h>

#include "app/cli_internal.h"
#include "common/hex.h"
#include "common/mem.h"
#include "common/timestamp.h"
#include "pki/bundle.h"
#include "pki/enroll.h"
#include "pki/files.h"
#include "pki/identity.h"
#include "pki/import.h"
#include "pki/issue.h"
#include "pki/key.h"
#include "pki/registry.h"
#include "policy/cert_facts.h"

#define DEFAULT_CA_NAME "certgate CA"
#define DEFAULT_CA_DAYS 3650
#define DEFAULT_SERVER_DAYS 825
_Static_assert(PKI_ENROLL_DEFAULT_DAYS == 1825, "cert client --help says 1825");

/* Options, as bits of the set each command accepts. */
enum opt_bit {
    O_DIR = 1 << 0,
    O_NAME = 1 << 1,
    O_DAYS = 1 << 2,
    O_CA = 1 << 3,
    O_SAN = 1 << 4,
    O_OUT = 1 << 5,
    O_CLEARANCE = 1 << 6,
    O_DB = 1 << 7,
    O_PASSWORD = 1 << 8,
    O_POLICY = 1 << 9,
    O_JSON = 1 << 10,
    O_ALLOW_IPS = 1 << 11,
    O_EXPIRES = 1 << 12,
};

struct opt_def {
    const char *name;
    unsigned bit;
    size_t offset; /* of the const char * field, or of the list for repeated options */
    bool repeated;
};

#define FIELD(f) offsetof(struct cli_opts, f)

static const struct opt_def opt_defs[] = {
    {"dir", O_DIR, FIELD(dir), false},
    {"name", O_NAME, FIELD(name), false},
    {"days", O_DAYS, FIELD(days), false},
    {"ca", O_CA, FIELD(ca), false},
    {"san", O_SAN, FIELD(sans), true},
    {"out", O_OUT, FIELD(out), false},
    {"clearance", O_CLEARANCE, FIELD(clearance), false},
    {"db", O_DB, FIELD(dbs), true},
    {"password", O_PASSWORD, FIELD(password), false},
    {"policy", O_POLICY, FIELD(policy), false},
    {"json", O_JSON, 0, false},
    {"allow-ips", O_ALLOW_IPS, FIELD(allow_ips), false},
    {"expires", O_EXPIRES, FIELD(expires), false},
};

/* struct command describes one subcommand. */
struct command {
    const char *group;      /* "ca" or "cert" */
    const char *name;       /* "init", "server", ... */
    unsigned opts;          /* accepted options */
    size_t num_positional;  /* exact number of positional arguments */
    const char *help;
    int (*run)(const struct cli_opts *o);
};

int cli_fail(const struct cg_errbuf *err)
{
    fprintf(stderr, "certgate: %s\n", err->msg[0] ? err->msg : "failed");
    return CLI_FAIL;
}

int cli_usage(const struct cli_opts *o, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "certgate %s: %s (see 'certgate %s --help')\n", o->cmd, msg, o->cmd);
    return CLI_USAGE;
}

int cli_parse_grants(const struct cli_opts *o, struct pki_db_grant *out, struct cg_errbuf *err)
{
    for (size_t i = 0; i < o->num_dbs; i++) {
        int rc = pki_db_grant_parse(o->dbs[i], &out[i], err);
        if (rc != CG_OK) {
            return rc;
        }
        for (size_t j = 0; j < i; j++) {
            if (cg_str_eq(out[j].name, out[i].name)) {
                return cg_errf(err, CG_ERR_INVALID, "--db: database '%.*s' given twice",
                               (int)out[i].name.len, out[i].name.p);
            }
        }
    }
    return CG_OK;
}

int cli_parse_entry(const struct cli_opts *o, struct pki_db_grant *grants,
                    struct pki_enroll_entry *out, struct cg_errbuf *err)
{
    *out = (struct pki_enroll_entry){
        .name = o->name, .clearance = o->clearance, .dbs = grants, .num_dbs = o->num_dbs};
    int rc = cli_parse_grants(o, grants, err);
    return rc != CG_OK ? rc : pki_enroll_entry_check(out, err);
}

/* parse_days reads --days (or |def| when absent) as 1..PKI_MAX_DAYS. */
static int parse_days(const struct cli_opts *o, unsigned def, unsigned *out)
{
    if (o->days == NULL) {
        *out = def;
        return CLI_OK;
    }
    char *end;
    unsigned long v = strtoul(o->days, &end, 10);
    if (o->days[0] < '0' || o->days[0] > '9' || *end != '\0' || v == 0 || v > PKI_MAX_DAYS) {
        return cli_usage(o, "--days '%s': expected a number of days from 1 to %u", o->days,
                         PKI_MAX_DAYS);
    }
    *out = (unsigned)v;
    return CLI_OK;
}

static void print_expiry(const char *what, X509 *cert)
{
    uint8_t *der = NULL;
    int len = i2d_X509(cert, &der);
    struct policy_cert_facts f = {0};
    if (len > 0 && policy_cert_facts_from_der(der, (size_t)len, &f, NULL) == 0) {
        char sha1[2 * POLICY_SHA1_LEN + 1], when[CG_TIMESTAMP_RFC3339_SIZE];
        cg_hex_encode(f.sha1, sizeof(f.sha1), CG_HEX_UPPER, sha1);
        cg_timestamp_rfc3339(f.not_after, when);
        printf("%s: %s\n  thumbprint %s, expires %s\n", what, f.subject ? f.subject : "", sha1,
               when);
    }
    policy_cert_facts_cleanup(&f);
    OPENSSL_free(der);
}

/* ---- ca init ---- */

static int run_ca_init(const struct cli_opts *o)
{
    if (o->dir == NULL) {
        return cli_usage(o, "missing --dir DIR");
    }
    unsigned days;
    int rc = parse_days(o, DEFAULT_CA_DAYS, &days);
    if (rc != CLI_OK) {
        return rc;
    }
    struct cg_errbuf err = {{0}};
    const char *name = o->name != NULL ? o->name : DEFAULT_CA_NAME;
    /* Check before generating so that the message names the CA, not a file. */
    char *existing = pki_path_join(o->dir, "ca.key");
    char *existing_crt = pki_path_join(o->dir, "ca.crt");
    FILE *f1 = fopen(existing, "r");
    FILE *f2 = fopen(existing_crt, "r");
    if (f1 != NULL || f2 != NULL) {
        cg_errf(&err, CG_ERR_EXISTS, "%s: a CA already exists there; refusing to overwrite it",
                o->dir);
    }
    if (f1 != NULL) {
        fclose(f1);
    }
    if (f2 != NULL) {
        fclose(f2);
    }
    free(existing);
    free(existing_crt);
    if (err.msg[0] != '\0') {
        return cli_fail(&err);
    }
    struct pki_identity ca = {0};
    char *crt = NULL, *key = NULL;
    size_t crt_len = 0, key_len = 0;
    if (pki_ca_create(name, days, &ca, &err) != CG_OK ||
        pki_certs_to_pem(&ca.cert, 1, &crt, &crt_len, &err) != CG_OK ||
        pki_key_to_pem(ca.key, &key, &key_len, &err) != CG_OK) {
        rc = cli_fail(&err);
        goto out;
    }
    const struct pki_file files[] = {
        {"ca.key", key, key_len, 0600},
        {"ca.crt", crt, crt_len, 0644},
    };
    if (pki_files_write_new(o->dir, files, 2, &err) != CG_OK) {
        rc = cli_fail(&err);
        goto out;
    }
    printf("created a CA in %s (ca.crt, ca.key)\n", o->dir);
    print_expiry("CA", ca.cert);
    rc = CLI_OK;
out:
    free(crt);
    pki_secret_free(key, key_len);
    pki_identity_cleanup(&ca);
    return rc;
}

/* ---- cert server ---- */

static int run_cert_server(const struct cli_opts *o)
{
    if (o->ca == NULL) {
        return cli_usage(o, "missing --ca DIR");
    }
    if (o->out == NULL) {
        return cli_usage(o, "missing --out DIR");
    }
    if (o->num_sans == 0) {
        return cli_usage(o, "missing --san IP_OR_DNS[,...]");
    }
    unsigned days;
    int rc = parse_days(o, DEFAULT_SERVER_DAYS, &days);
    if (rc != CLI_OK) {
        return rc;
    }
    /* Split comma lists; the copies live until the end of the command. */
    char *copies[CLI_MAX_ARGS] = {0};
    const char *sans[PKI_MAX_SANS];
    size_t num_sans = 0;
    struct cg_errbuf err = {{0}};
    struct pki_identity ca = {0}, leaf = {0};
    struct pki_bundle bundle = {0};
    for (size_t i = 0; i < o->num_sans; i++) {
        copies[i] = cg_xstrdup(o->sans[i]);
        char *save = NULL;
        for (char *t = strtok_r(copies[i], ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
            while (*t == ' ') {
                t++;
            }
            if (*t == '\0') {
                continue;
            }
            if (num_sans == PKI_MAX_SANS) {
                rc = cli_usage(o, "more than %d --san names", PKI_MAX_SANS);
                goto out;
            }
            if (pki_san_check(t, &err) != CG_OK) {
                rc = cli_fail(&err);
                goto out;
            }
            sans[num_sans++] = t;
        }
    }
    if (num_sans == 0) {
        rc = cli_usage(o, "--san names no address or DNS name");
        goto out;
    }
    const char *cn = o->name != NULL ? o->name : sans[0];
    if (pki_ca_load(o->ca, &ca, &err) != CG_OK ||
        pki_issue_server(&ca, cn, sans, num_sans, days, &leaf, &err) != CG_OK ||
        pki_bundle_build(&leaf, ca.cert, true, NULL, &bundle, &err) != CG_OK) {
        rc = cli_fail(&err);
        goto out;
    }
    struct pki_file files[PKI_BUNDLE_MAX_FILES];
    size_t n = pki_bundle_files(&bundle, files);
    if (pki_files_write_new(o->out, files, n, &err) != CG_OK) {
        rc = cli_fail(&err);
        goto out;
    }
    printf("created a server certificate in %s (tls.crt with the CA chain, tls.key, ca.crt)\n",
           o->out);
    print_expiry("server", leaf.cert);
    rc = CLI_OK;
out:
    for (size_t i = 0; i < o->num_sans; i++) {
        free(copies[i]);
    }
    pki_bundle_cleanup(&bundle);
    pki_identity_cleanup(&leaf);
    pki_identity_cleanup(&ca);
    return rc;
}

/* ---- cert client ---- */

/* write_bundle is cert client's deliver hook: the bundle files are written before the
 * policy is saved, so that a bundle that cannot be written is never registered. */
static int write_bundle(const void *out_dir, const struct pki_enrollment *e, struct cg_errbuf *err)
{
    struct pki_file files[PKI_BUNDLE_MAX_FILES];
    size_t n = pki_bundle_files(&e->bundle, files);
    return pki_files_write_new(out_dir, files, n, err);
}

static int run_cert_client(const struct cli_opts *o)
{
    if (o->ca == NULL) {
        return cli_usage(o, "missing --ca DIR");
    }
    if (o->name == NULL) {
        return cli_usage(o, "missing --name NAME");
    }
    if (o->clearance == NULL) {
        return cli_usage(o, "missing --clearance (ClusterAdmin, Operator or ValidUser)");
    }
    if (o->out == NULL) {
        return cli_usage(o, "missing --out DIR");
    }
    unsigned days;
    int rc = parse_days(o, PKI_ENROLL_DEFAULT_DAYS, &days);
    if (rc != CLI_OK) {
        return rc;
    }
    if (o->password != NULL && o->password[0] == '\0') {
        return cli_usage(o, "--password must not be empty");
    }
    struct cg_errbuf err = {{0}};
    struct pki_db_grant grants[CLI_MAX_ARGS];
    struct pki_enroll_entry entry;
    if (cli_parse_entry(o, grants, &entry, &err) != CG_OK) {
        return cli_fail(&err);
    }
    struct pki_identity ca = {0};
    struct pki_enrollment e = {0};
    if (pki_ca_load(o->ca, &ca, &err) != CG_OK) {
        rc = cli_fail(&err);
        goto out;
    }
    const struct pki_enroll_issue issue = {.ca = &ca,
                                           .days = days,
                                           .password = o->password,
                                           .generate_password = true,
                                           .deliver = write_bundle,
                                           .deliver_ctx = o->out};
    /* The lock, held from before the name check to the save, keeps concurrent writers
     * from losing this entry or we theirs. */
    const struct pki_enroll_policy policy = {
        .path = o->policy, .create = true, .lock_timeout_ms = PKI_REGISTRY_LOCK_TIMEOUT_MS};
    if (pki_enroll_issue(&entry, &issue, &policy, &e, &err) != CG_OK) {
        if (e.step == PKI_ENROLL_NAME) {
            fprintf(stderr,
                    "certgate: %s: an entry named '%s' is already registered (choose "
                    "another --name, or delete that entry first); nothing was issued\n",
                    o->policy, o->name);
        } else if (e.step == PKI_ENROLL_SAVE) {
            fprintf(stderr, "certgate: the bundle was written to %s but not registered: %s\n",
                    o->out, err.msg);
        } else {
            cli_fail(&err);
        }
        rc = CLI_FAIL;
        goto out;
    }
    printf("created a client bundle in %s (ca.crt, tls.crt, tls.key, bundle.p12)\n", o->out);
    print_expiry("client", e.leaf.cert);
    if (o->policy != NULL) {
        printf("registered '%s' as %s in %s\n", o->name, o->clearance, o->policy);
    }
    if (e.password[0] != '\0') {
        printf("bundle.p12 password (shown only once): %s\n", e.password);
    }
    rc = CLI_OK;
out:
    pki_enrollment_cleanup(&e);
    pki_identity_cleanup(&ca);
    return rc;
}

/* ---- cert thumbprint ---- */

static int run_cert_thumbprint(const struct cli_opts *o)
{
    struct cg_errbuf err = {{0}};
    struct pki_import imp = {0};
    if (pki_import_file(o->positional[0], o->password, &imp, &err) != CG_OK) {
        return cli_fail(&err);
    }
    int rc = CLI_OK;
    for (size_t i = 0; i < imp.num_certs; i++) {
        uint8_t *der = NULL;
        int len = i2d_X509(imp.certs[i], &der);
        struct policy_cert_facts f = {0};
        if (len <= 0 || policy_cert_facts_from_der(der, (size_t)len, &f, &err) != 0) {
            OPENSSL_free(der);
            rc = cli_fail(&err);
            break;
        }
        OPENSSL_free(der);
        char sha1[2 * POLICY_SHA1_LEN + 1], sha256[2 * POLICY_SHA256_LEN + 1], pin[64];
        char nb[CG_TIMESTAMP_RFC3339_SIZE], na[CG_TIMESTAMP_RFC3339_SIZE];
        cg_hex_encode(f.sha1, sizeof(f.sha1), CG_HEX_UPPER, sha1);
        cg_hex_encode(f.sha256, sizeof(f.sha256), CG_HEX_UPPER, sha256);
        EVP_EncodeBlock((uint8_t *)pin, f.spki_sha256, sizeof(f.spki_sha256));
        cg_timestamp_rfc3339(f.not_before, nb);
        cg_timestamp_rfc3339(f.not_after, na);
        if (i > 0) {
            printf("\n");
        }
        printf("subject:     %s\n", f.subject ? f.subject : "");
        printf("issuer:      %s\n", f.issuer ? f.issuer : "");
        printf("sha1:        %s\n", sha1);
        printf("sha256:      %s\n", sha256);
        printf("spki_sha256: %s\n", pin);
        if (f.aki_len > 0) {
            char *aki = cg_xmalloc(2 * f.aki_len + 1);
            cg_hex_encode(f.aki, f.aki_len, CG_HEX_UPPER, aki);
            printf("issuer_key_id: %s\n", aki);
            free(aki);
        }
        printf("not_before:  %s\n", nb);
        printf("not_after:   %s\n", na);
        policy_cert_facts_cleanup(&f);
    }
    pki_import_cleanup(&imp);
    return rc;
}

/* ---- dispatch ---- */

static const struct command commands[] = {
    {"ca", "init", O_DIR | O_NAME | O_DAYS, 0,
     "usage: certgate ca init --dir DIR [--name CN] [--days N]\n"
     "\n"
     "Create a private CA: DIR/ca.crt and DIR/ca.key (mode 0600), an EC P-256 key and a\n"
     "self-signed certificate. Refuses to overwrite an existing CA.\n"
     "\n"
     "  --dir DIR     where to create the CA (created if missing)\n"
     "  --name CN     subject common name (default \"" DEFAULT_CA_NAME "\")\n"
     "  --days N      validity in days (default 3650)\n",
     run_ca_init},
    {"cert", "server", O_CA | O_SAN | O_OUT | O_DAYS | O_NAME, 0,
     "usage: certgate cert server --ca DIR --san IP_OR_DNS[,...] --out DIR [--days N]\n"
     "                            [--name CN]\n"
     "\n"
     "Issue a server certificate from the CA in --ca. Writes DIR/tls.crt (certificate and\n"
     "CA chain), DIR/tls.key (mode 0600) and DIR/ca.crt.\n"
     "\n"
     "  --ca DIR      directory with ca.crt and ca.key\n"
     "  --san LIST    IPv4, IPv6 and DNS names, comma-separated or repeated\n"
     "  --out DIR     output directory (must not hold these files yet)\n"
     "  --days N      validity in days (default 825)\n"
     "  --name CN     subject common name (default: the first --san)\n",
     run_cert_server},
    {"cert", "client", O_CA | O_NAME | O_CLEARANCE | O_DB | O_DAYS | O_PASSWORD | O_OUT | O_POLICY,
     0,
     "usage: certgate cert client --ca DIR --name NAME --clearance CLEARANCE\n"
     "                            [--db NAME=LEVEL ...] [--days N] [--password PW]\n"
     "                            --out DIR [--policy FILE]\n"
     "\n"
     "Issue a client certificate and write a bundle: DIR/ca.crt, DIR/tls.crt, DIR/tls.key\n"
     "(0600) and DIR/bundle.p12 (0600). Without --password a random password is generated\n"
     "and printed once. With --policy the certificate is registered in that policy file\n"
     "(created, with its directory, if missing), with a pin that trusts a renewal of the\n"
     "same key signed by the same CA. An existing file must be a valid policy (not\n"
     "certgate.json), and the name must not be registered yet: both are checked before\n"
     "anything is issued.\n"
     "\n"
     "  --clearance   ClusterAdmin, Operator or ValidUser\n"
     "  --db N=LEVEL  database access for ValidUser: Admin, ReadWrite or ReadOnly\n"
     "  --days N      validity in days (default 1825)\n",
     run_cert_client},
    {"cert", "import", O_PASSWORD | O_NAME | O_CLEARANCE | O_DB | O_POLICY | O_CA, 1,
     "usage: certgate cert import FILE [--password PW] --name NAME --clearance CLEARANCE\n"
     "                            [--db NAME=LEVEL ...] [--ca CA_CERT_OR_DIR] --policy FILE\n"
     "\n"
     "Register the certificates of FILE (PEM with one or more certificates, DER, or\n"
     "PKCS#12 .pfx/.p12 with --password) as one entry of the policy (created if missing;\n"
     "an existing file must be a valid policy, and the name must be new). CA certificates\n"
     "of a chain in the file are not registered. A private key in FILE is checked against\n"
     "the certificate and never stored.\n"
     "\n"
     "  --ca PATH     the issuing CA certificate (a PEM file, or a directory with ca.crt),\n"
     "                when FILE does not carry it: a certificate gets a pin (trusting its\n"
     "                renewals) only when its issuer's certificate is known\n",
     cli_cert_import},
    {"cert", "list", O_POLICY | O_JSON, 0,
     "usage: certgate cert list --policy FILE [--json]\n"
     "\n"
     "List the registered certificates: name, clearance, databases, thumbprints, expiry.\n"
     "With --json, print the entries as a JSON array. FILE must be a valid policy.\n",
     cli_cert_list},
    {"cert", "edit", O_POLICY | O_NAME | O_CLEARANCE | O_DB | O_ALLOW_IPS | O_EXPIRES, 1,
     "usage: certgate cert edit THUMBPRINT --policy FILE [--name NAME]\n"
     "                          [--clearance CLEARANCE] [--db NAME=LEVEL ...]\n"
     "                          [--allow-ips CIDR[,...]] [--expires TIME]\n"
     "\n"
     "Change the entry holding THUMBPRINT (SHA-1 or SHA-256 as 'certgate cert thumbprint'\n"
     "prints them, any case, ':' allowed). Only what is given changes.\n"
     "\n"
     "  --db N=LEVEL      replaces the entry's whole database list\n"
     "  --allow-ips LIST  addresses and CIDR blocks the client must also come from,\n"
     "                    comma-separated; '' removes the restriction\n"
     "  --expires TIME    RFC 3339 time from which the entry is refused, such as\n"
     "                    2031-11-24T00:00:00Z; '' removes it\n",
     cli_cert_edit},
    {"cert", "delete", O_POLICY, 1,
     "usage: certgate cert delete THUMBPRINT --policy FILE\n"
     "\n"
     "Remove the entry holding THUMBPRINT (SHA-1 or SHA-256, any case, ':' allowed) with\n"
     "all its thumbprints and pins from the policy.\n",
     cli_cert_delete},
    {"cert", "upgrade-pins", O_POLICY | O_CA, 0,
     "usage: certgate cert upgrade-pins --policy FILE --ca CA_CERT_OR_DIR\n"
     "\n"
     "Add the issuer's public key (\"issuer_spki\") to every pin of FILE that lacks it.\n"
     "certgate trusts a certificate by pin only when the pinned issuer key signed it, and\n"
     "refuses to load a policy with a pin that has no issuer key. A pin gets the key of\n"
     "the CA certificate whose subject equals the pin's \"issuer\" and whose subject key\n"
     "identifier equals its \"issuer_key_id\". If a pin matches none of the given CAs,\n"
     "nothing is written. The file is replaced atomically.\n"
     "\n"
     "  --ca PATH     CA certificates: a PEM file with one or more of them, or a\n"
     "                directory with ca.crt (as 'certgate ca init' writes it)\n",
     cli_cert_upgrade_pins},
    {"cert", "thumbprint", O_PASSWORD, 1,
     "usage: certgate cert thumbprint FILE [--password PW]\n"
     "\n"
     "Print subject, issuer, SHA-1 and SHA-256 thumbprints, SPKI pin (SHA-256, base64)\n"
     "and validity of every certificate in FILE (PEM, DER or PKCS#12).\n",
     run_cert_thumbprint},
};

#define NUM_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void print_group_help(FILE *out, const char *group)
{
    fprintf(out, "usage: certgate %s COMMAND [OPTIONS]   (certgate %s COMMAND --help)\n\n"
            "commands:\n", group, group);
    for (size_t i = 0; i < NUM_COMMANDS; i++) {
        if (strcmp(commands[i].group, group) == 0) {
            const char *usage = commands[i].help + strlen("usage: ");
            const char *nl = strchr(usage, '\n');
            fprintf(out, "  %.*s\n", (int)(nl - usage), usage);
        }
    }
}

static int parse(const struct command *c, int argc, char **argv, struct cli_opts *o)
{
    bool positional_only = false;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!positional_only && (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)) {
            o->help = true;
            return CLI_OK;
        }
        if (!positional_only && strcmp(a, "--") == 0) {
            positional_only = true;
            continue;
        }
        if (positional_only || strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            if (a[0] == '-' && a[1] != '\0' && !positional_only) {
                return cli_usage(o, "unknown option '%s'", a);
            }
            if (o->num_positional == c->num_positional) {
                return cli_usage(o, "unexpected argument '%s'", a);
            }
            o->positional[o->num_positional++] = a;
            continue;
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t name_len = eq != NULL ? (size_t)(eq - name) : strlen(name);
        const struct opt_def *d = NULL;
        for (size_t k = 0; k < sizeof(opt_defs) / sizeof(opt_defs[0]); k++) {
            if (strlen(opt_defs[k].name) == name_len &&
                memcmp(opt_defs[k].name, name, name_len) == 0 && (c->opts & opt_defs[k].bit)) {
                d = &opt_defs[k];
            }
        }
        if (d == NULL) {
            return cli_usage(o, "unknown option '--%.*s'", (int)name_len, name);
        }
        if (d->bit == O_JSON) {
            if (eq != NULL) {
                return cli_usage(o, "--json takes no value");
            }
            o->json = true;
            continue;
        }
        const char *value = eq != NULL ? eq + 1 : NULL;
        if (value == NULL) {
            if (i + 1 >= argc) {
                return cli_usage(o, "--%s needs a value", d->name);
            }
            value = argv[++i];
        }
        if (d->repeated) {
            const char **list = (const char **)((char *)o + d->offset);
            size_t *count = d->bit == O_SAN ? &o->num_sans : &o->num_dbs;
            if (*count == CLI_MAX_ARGS) {
                return cli_usage(o, "too many --%s options", d->name);
            }
            list[(*count)++] = value;
        } else {
            const char **field = (const char **)((char *)o + d->offset);
            if (*field != NULL) {
                return cli_usage(o, "--%s given twice", d->name);
            }
            *field = value;
        }
    }
    if (o->num_positional < c->num_positional) {
        return cli_usage(o, "missing %s", strcmp(c->name, "edit") == 0 ||
                                                  strcmp(c->name, "delete") == 0
                                              ? "THUMBPRINT"
                                              : "FILE");
    }
    return CLI_OK;
}

int pki_cli_main(int argc, char **argv)
{
    if (argc < 1 || (strcmp(argv[0], "ca") != 0 && strcmp(argv[0], "cert") != 0)) {
        fprintf(stderr, "certgate: expected 'ca' or 'cert'\n");
        return CLI_USAGE;
    }
    const char *group = argv[0];
    if (argc < 2) {
        fprintf(stderr, "certgate %s: missing command (see 'certgate %s --help')\n", group, group);
        return CLI_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        print_group_help(stdout, group);
        return CLI_OK;
    }
    const struct command *c = NULL;
    for (size_t i = 0; i < NUM_COMMANDS; i++) {
        if (strcmp(commands[i].group, group) == 0 && strcmp(commands[i].name, argv[1]) == 0) {
            c = &commands[i];
        }
    }
    if (c == NULL) {
        fprintf(stderr, "certgate %s: unknown command '%s' (see 'certgate %s --help')\n", group,
                argv[1], group);
        return CLI_USAGE;
    }
    char cmd[32];
    snprintf(cmd, sizeof(cmd), "%s %s", c->group, c->name);
    struct cli_opts o = {0};
    o.cmd = cmd;
    int rc = parse(c, argc, argv, &o);
    if (rc != CLI_OK) {
        return rc;
    }
    if (o.help) {
        fputs(c->help, stdout);
        return CLI_OK;
    }
    rc = c->run(&o);
    fflush(stdout);
    return rc;
}
