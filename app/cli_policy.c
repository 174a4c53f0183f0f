/* certgate policy show / explain (app/cli_policy.h): the policy as a reader sees it
 * (policy_describe) and one request decided by the proxy's own code (policy_explain).
 * This file only reads inputs and prints answers; the facts come from policy/. */
#include "app/cli_policy.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "common/boringssl.h"

#include <openssl/mem.h>
#include <openssl/x509.h>

#include "common/mem.h"
#include "pki/chain.h"
#include "pki/import.h"
#include "policy/describe.h"
#include "policy/explain.h"
#include "policy/policy.h"

enum { EXIT_ALLOW = 0, EXIT_DENY = 1, EXIT_USAGE = 2 };

static void usage_group(FILE *f)
{
    fputs("usage: certgate policy COMMAND [OPTIONS]   (certgate policy COMMAND --help)\n"
          "\n"
          "commands:\n"
          "  certgate policy show --policy FILE [--json]\n"
          "  certgate policy explain --policy FILE [--cert FILE] --method M --path P\n",
          f);
}

static void usage_show(FILE *f)
{
    fputs("usage: certgate policy show --policy FILE [--json]\n"
          "\n"
          "Print the policy as certgate reads it: allow_ips, the routes in the order they\n"
          "are matched (index, path pattern, methods, requirement, where the database\n"
          "comes from, mode), the certificates (name, clearance, databases, thumbprints,\n"
          "pins, allow_ips, expires) and the identity header names.\n"
          "\n"
          "  --policy FILE   the policy (docs/policy.md)\n"
          "  --json          print JSON instead of tables (the GET /admin/policy format)\n"
          "  -h, --help      this text\n"
          "\n"
          "Exit status: 0, or 1 when FILE does not load as a policy (the error says why).\n",
          f);
}

static void usage_explain(FILE *f)
{
    fputs("usage: certgate policy explain --policy FILE [--cert FILE [--password PW]]\n"
          "           [--client-ca FILE [--crl FILE]] [--ip ADDR] [--host NAME] [--sni NAME]\n"
          "           (--method M --path P[?QUERY] | --grpc /pkg.Service/Method) [--json]\n"
          "\n"
          "Decide one request with the proxy's own decision code and say why: the decision\n"
          "and reason, the route that matched (index and pattern), the certificate entry\n"
          "and how it matched (thumbprint, pin, CA-validated identity), the access level\n"
          "on the database, and the headers the database would receive.\n"
          "\n"
          "  --policy FILE     the policy (docs/policy.md)\n"
          "  --cert FILE       the client certificate: PEM (a chain after the leaf is\n"
          "                    used with --client-ca), DER or PKCS#12; without it the\n"
          "                    request carries no certificate\n"
          "  --password PW     for a PKCS#12 --cert\n"
          "  --client-ca FILE  the listener's tls.client_ca: the chain is validated against\n"
          "                    it as the listener does (and identity matchers apply);\n"
          "                    without it the chain is not checked\n"
          "  --crl FILE        the listener's tls.crl (with --client-ca)\n"
          "  --ip ADDR         the client's address (default 127.0.0.1)\n"
          "  --host NAME       the Host header (default none)\n"
          "  --sni NAME        the TLS server name (default none: Host is not compared)\n"
          "  --method M        the request method, e.g. GET\n"
          "  --path P          the request target, path and optional ?query\n"
          "  --grpc PATH       a gRPC call (POST PATH): denials answer grpc-status\n"
          "  --json            print the answer as JSON (the POST /admin/explain format)\n"
          "  -h, --help        this text\n"
          "\n"
          "Exit status: 0 when the request is allowed (also when only audit mode lets it\n"
          "pass), 1 when it is denied, 2 for usage errors and unreadable inputs.\n",
          f);
}

static int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int usage_error(const char *cmd, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "certgate policy %s: %s (see 'certgate policy %s --help')\n", cmd, msg, cmd);
    return EXIT_USAGE;
}

/* bad_option reports what getopt_long refused: |ch| is ':' for a missing value. */
static int bad_option(const char *cmd, int ch, char **argv)
{
    return usage_error(cmd, ch == ':' ? "%s needs a value" : "unknown option '%s'",
                       argv[optind - 1]);
}

/* load loads |path| for reading: identity matchers are allowed, since whether the
 * listener has a client_ca is not known here (`certgate check` checks the pair). */
static struct policy *load(const char *path)
{
    struct policy_load_opts opts = {.client_ca = true};
    struct policy *p = NULL;
    struct cg_errbuf err = {{0}};
    if (policy_load_file(path, &opts, &p, &err) != CG_OK) {
        fprintf(stderr, "certgate: %s\n", err.msg);
        return NULL;
    }
    return p;
}

static void print_json(json_t *v)
{
    char *text = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    printf("%s\n", text != NULL ? text : "null");
    free(text);
}

/* ---- show ------------------------------------------------------------------------- */

/* join writes the strings of |arr| (or the members "k=v" of object |obj|) separated by
 * ", " into a heap string; |empty| when there are none. */
static char *join(const json_t *v, const char *empty)
{
    size_t cap = 1;
    const char *key;
    json_t *m;
    size_t i;
    if (json_is_array(v)) {
        json_array_foreach(v, i, m)
        {
            cap += (json_is_string(m) ? json_string_length(m) : 4) + 2;
        }
    } else if (json_is_object(v)) {
        json_object_foreach((json_t *)v, key, m)
        {
            cap += strlen(key) + (json_is_string(m) ? json_string_length(m) : 4) + 3;
        }
    }
    char *s = cg_xmalloc(cap + strlen(empty) + 1);
    size_t len = 0;
    s[0] = '\0';
    if (json_is_array(v)) {
        json_array_foreach(v, i, m)
        {
            len += (size_t)sprintf(s + len, "%s%s", len ? ", " : "",
                                   json_is_string(m) ? json_string_value(m) : "?");
        }
    } else if (json_is_object(v)) {
        json_object_foreach((json_t *)v, key, m)
        {
            len += (size_t)sprintf(s + len, "%s%s=%s", len ? ", " : "", key,
                                   json_is_string(m) ? json_string_value(m) : "?");
        }
    }
    if (len == 0) {
        strcpy(s, empty);
    }
    return s;
}

/* struct table collects rows of |num_cols| heap strings and prints them aligned. */
struct table {
    size_t num_cols;
    char **cells;
    size_t num_cells;
};

static void table_add(struct table *t, char *cell)
{
    t->cells = cg_xrealloc(t->cells, (t->num_cells + 1) * sizeof(char *));
    t->cells[t->num_cells++] = cell;
}

static void table_print(struct table *t, const char *indent)
{
    size_t width[16] = {0};
    for (size_t i = 0; i < t->num_cells; i++) {
        size_t w = strlen(t->cells[i]);
        size_t c = i % t->num_cols;
        width[c] = w > width[c] ? w : width[c];
    }
    for (size_t i = 0; i < t->num_cells; i++) {
        size_t c = i % t->num_cols;
        if (c == 0) {
            fputs(indent, stdout);
        }
        if (c + 1 < t->num_cols) {
            printf("%-*s  ", (int)width[c], t->cells[i]);
        } else {
            printf("%s\n", t->cells[i]);
        }
        free(t->cells[i]);
    }
    free(t->cells);
    t->cells = NULL;
    t->num_cells = 0;
}

static char *route_database_text(const json_t *db)
{
    const char *source = json_string_value(json_object_get(db, "source"));
    char buf[300];
    if (source == NULL) {
        return cg_xstrdup("-");
    }
    if (strcmp(source, "path") == 0) {
        return cg_xstrdup("{db} in the path");
    }
    if (strcmp(source, "fixed") == 0) {
        snprintf(buf, sizeof(buf), "%s", json_string_value(json_object_get(db, "name")));
    } else {
        snprintf(buf, sizeof(buf), "query parameter %s",
                 json_string_value(json_object_get(db, "param")));
    }
    return cg_xstrdup(buf);
}

static void print_show(const char *path, json_t *d)
{
    printf("policy %s (mode %s%s)\n", path, json_string_value(json_object_get(d, "mode")),
           json_is_true(json_object_get(d, "case_sensitive_paths")) ? ", case-sensitive paths"
                                                                    : "");
    json_t *ips = json_object_get(d, "allow_ips");
    char *ips_text = join(ips, "(none: no address is allowed)");
    printf("allow_ips: %s\n", json_is_null(ips) ? "any address" : ips_text);
    free(ips_text);

    json_t *routes = json_object_get(d, "routes");
    printf("\nroutes (first match wins; no match is denied): %zu\n", json_array_size(routes));
    struct table t = {.num_cols = 6};
    static const char *const rh[] = {"#", "PATH", "METHODS", "REQUIRE", "DATABASE", "MODE"};
    for (size_t c = 0; c < 6; c++) {
        table_add(&t, cg_xstrdup(rh[c]));
    }
    size_t i;
    json_t *r;
    json_array_foreach(routes, i, r)
    {
        char idx[24];
        snprintf(idx, sizeof(idx), "%zu", i);
        table_add(&t, cg_xstrdup(idx));
        table_add(&t, cg_xstrdup(json_string_value(json_object_get(r, "path"))));
        table_add(&t, join(json_object_get(r, "methods"), "any"));
        table_add(&t, cg_xstrdup(json_string_value(json_object_get(r, "require"))));
        table_add(&t, route_database_text(json_object_get(r, "database")));
        table_add(&t, cg_xstrdup(json_string_value(json_object_get(r, "mode"))));
    }
    table_print(&t, "  ");

    json_t *certs = json_object_get(d, "certificates");
    printf("\ncertificates: %zu\n", json_array_size(certs));
    t.num_cols = 7;
    static const char *const ch[] = {"NAME", "CLEARANCE", "DATABASES", "THUMBPRINTS",
                                     "PINS", "ALLOW_IPS", "EXPIRES"};
    for (size_t c = 0; c < 7; c++) {
        table_add(&t, cg_xstrdup(ch[c]));
    }
    json_t *e;
    json_array_foreach(certs, i, e)
    {
        const char *clearance = json_string_value(json_object_get(e, "clearance"));
        bool all = strcmp(clearance, "ValidUser") != 0;
        table_add(&t, cg_xstrdup(json_string_value(json_object_get(e, "name"))));
        table_add(&t, cg_xstrdup(clearance));
        table_add(&t, all ? cg_xstrdup("all (Admin)") : join(json_object_get(e, "databases"), "-"));
        json_t *match = json_object_get(e, "match");
        table_add(&t, json_array_size(match) > 0 &&
                              json_array_size(json_object_get(e, "thumbprints")) == 0
                          ? cg_xstrdup("(identity match)")
                          : join(json_object_get(e, "thumbprints"), "-"));
        json_t *pins = json_object_get(e, "pins");
        json_t *spkis = json_array();
        size_t k;
        json_t *pin;
        json_array_foreach(pins, k, pin)
        {
            json_array_append(spkis, json_object_get(pin, "spki_sha256"));
        }
        table_add(&t, join(spkis, "-"));
        json_decref(spkis);
        json_t *eips = json_object_get(e, "allow_ips");
        table_add(&t, json_is_null(eips) ? cg_xstrdup("-") : join(eips, "(none)"));
        json_t *exp = json_object_get(e, "expires");
        table_add(&t, cg_xstrdup(json_is_string(exp) ? json_string_value(exp) : "-"));
    }
    table_print(&t, "  ");

    json_t *h = json_object_get(d, "headers");
    printf("\nidentity headers: %s, %s, %s, %s, %s (%s), %s (%s)\n",
           json_string_value(json_object_get(h, "thumbprint")),
           json_string_value(json_object_get(h, "name")),
           json_string_value(json_object_get(h, "clearance")),
           json_string_value(json_object_get(h, "database_access")),
           json_string_value(json_object_get(h, "client_cert_name")),
           json_is_true(json_object_get(h, "client_cert")) ? "on" : "off",
           json_string_value(json_object_get(h, "xfcc_name")),
           json_is_true(json_object_get(h, "xfcc")) ? "on" : "off");
}

static int cmd_show(int argc, char **argv)
{
    static const struct option opts[] = {{"policy", required_argument, NULL, 'p'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *path = NULL;
    bool json = false;
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (ch) {
        case 'p':
            path = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 'h':
            usage_show(stdout);
            return 0;
        default:
            return bad_option("show", ch, argv);
        }
    }
    if (optind != argc) {
        return usage_error("show", "unexpected argument '%s'", argv[optind]);
    }
    if (path == NULL) {
        return usage_error("show", "missing --policy FILE");
    }
    struct policy *p = load(path);
    if (p == NULL) {
        return 1;
    }
    json_t *d = policy_describe(p);
    if (json) {
        print_json(d);
    } else {
        print_show(path, d);
    }
    json_decref(d);
    policy_free(p);
    return 0;
}

/* ---- explain ---------------------------------------------------------------------- */

struct explain_args {
    const char *policy, *cert, *password, *client_ca, *crl, *ip, *host, *sni, *method, *path, *grpc;
    bool json;
};

static const char *str(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s != NULL ? s : "";
}

/* print_header prints one header, a long value (Client-Cert) shortened. */
static void print_header(const json_t *h)
{
    const char *v = str(h, "value");
    size_t len = strlen(v);
    if (len > 72) {
        printf("  %s: %.40s...%s (%zu bytes)\n", str(h, "name"), v, v + len - 8, len);
    } else {
        printf("  %s: %s\n", str(h, "name"), v);
    }
}

static void print_explain(json_t *x)
{
    const char *decision = str(x, "decision");
    json_t *status = json_object_get(x, "status");
    json_t *grpc = json_object_get(x, "grpc_status");
    printf("decision:     %s (%s", decision, str(x, "reason"));
    if (json_is_integer(grpc)) {
        printf("; grpc-status %lld", (long long)json_integer_value(grpc));
    } else if (json_is_integer(status)) {
        printf("; HTTP %lld", (long long)json_integer_value(status));
    }
    printf(")\n");
    json_t *rq = json_object_get(x, "request");
    printf("request:      %s %s from %s", str(rq, "method"), str(rq, "target"), str(rq, "ip"));
    if (json_is_string(json_object_get(rq, "host"))) {
        printf(", Host %s", str(rq, "host"));
    }
    if (json_is_string(json_object_get(rq, "sni"))) {
        printf(", SNI %s", str(rq, "sni"));
    }
    printf("%s at %s\n", json_is_true(json_object_get(rq, "grpc")) ? " (gRPC)" : "",
           str(rq, "time"));
    if (json_is_string(json_object_get(rq, "path"))) {
        printf("normalized:   %s%s%s\n", str(rq, "path"),
               json_is_string(json_object_get(rq, "query")) ? "?" : "", str(rq, "query"));
    }
    json_t *r = json_object_get(x, "route");
    if (json_is_object(r)) {
        char *methods = join(json_object_get(r, "methods"), "any method");
        printf("route:        #%lld %s (%s) requires %s, %s\n",
               (long long)json_integer_value(json_object_get(r, "index")), str(r, "path"), methods,
               str(r, "require"), str(r, "mode"));
        free(methods);
    } else {
        printf("route:        none matched\n");
    }
    json_t *db = json_object_get(x, "database");
    if (json_is_object(db)) {
        json_t *level = json_object_get(db, "level");
        printf("database:     %s (from the %s), level %s\n", str(db, "name"), str(db, "source"),
               json_is_string(level) ? json_string_value(level) : "- (no entry)");
    }
    json_t *c = json_object_get(x, "certificate");
    if (json_is_object(c)) {
        printf("certificate:  %s (issuer %s, serial %s)\n", str(c, "subject"), str(c, "issuer"),
               str(c, "serial"));
        printf("              valid %s .. %s, SHA-1 %s\n", str(c, "not_before"),
               str(c, "not_after"), str(c, "sha1"));
        printf("              SHA-256 %s\n              SPKI pin %s, chain %s%s%s\n",
               str(c, "sha256"), str(c, "spki_sha256"), str(c, "chain"),
               json_is_string(json_object_get(c, "chain_error")) ? ": " : "",
               str(c, "chain_error"));
    } else {
        printf("certificate:  none presented\n");
    }
    json_t *e = json_object_get(x, "entry");
    if (json_is_object(e)) {
        printf("entry:        #%lld \"%s\" %s, matched by %s",
               (long long)json_integer_value(json_object_get(e, "index")), str(e, "name"),
               str(e, "clearance"), str(e, "matched_by"));
        json_t *tp = json_object_get(e, "thumbprint");
        json_t *pin = json_object_get(e, "pin");
        if (json_is_object(tp)) {
            printf(" (%s %s)", str(tp, "algorithm"), str(tp, "value"));
        } else if (json_is_object(pin)) {
            printf(" (key %s, issuer %s, issuer key id %s, signed by the pinned issuer key)",
                   str(pin, "spki_sha256"), str(pin, "issuer"), str(pin, "issuer_key_id"));
        } else if (json_object_get(e, "match") != NULL) {
            char *m = json_dumps(json_object_get(e, "match"), JSON_COMPACT);
            printf(" (chain validated, %s)", m ? m : "");
            free(m);
        }
        printf("\n");
    } else if (json_is_object(c) && json_is_true(json_object_get(x, "certificate_checked"))) {
        printf("entry:        none: the certificate is not registered\n");
    } else if (json_is_object(c)) {
        printf("entry:        not looked up (the decision stopped before the certificate)\n");
    }
    json_t *hs = json_object_get(x, "headers");
    json_t *fw = json_object_get(x, "forwarded");
    if (strcmp(decision, "deny") == 0) {
        printf("headers:      none (denied: the database never sees the request)\n");
    } else {
        printf("forwarded as: %s %s\n", str(rq, "method"), str(x, "forward_target"));
        printf("headers the database receives%s:\n",
               json_array_size(hs) == 0 ? " (no identity headers)" : "");
        size_t i;
        json_t *h;
        json_array_foreach(hs, i, h)
        {
            print_header(h);
        }
        json_array_foreach(fw, i, h)
        {
            print_header(h);
        }
    }
    size_t i;
    json_t *n;
    json_array_foreach(json_object_get(x, "notes"), i, n)
    {
        printf("note:         %s\n", json_string_value(n));
    }
}

static const char **opt_field(struct explain_args *a, int ch)
{
    switch (ch) {
    case 'p':
        return &a->policy;
    case 'c':
        return &a->cert;
    case 'w':
        return &a->password;
    case 'a':
        return &a->client_ca;
    case 'r':
        return &a->crl;
    case 'i':
        return &a->ip;
    case 'o':
        return &a->host;
    case 's':
        return &a->sni;
    case 'm':
        return &a->method;
    case 't':
        return &a->path;
    default:
        return &a->grpc;
    }
}

static int parse_explain(int argc, char **argv, struct explain_args *a)
{
    static const struct option opts[] = {
        {"policy", required_argument, NULL, 'p'},   {"cert", required_argument, NULL, 'c'},
        {"password", required_argument, NULL, 'w'}, {"client-ca", required_argument, NULL, 'a'},
        {"crl", required_argument, NULL, 'r'},      {"ip", required_argument, NULL, 'i'},
        {"host", required_argument, NULL, 'o'},     {"sni", required_argument, NULL, 's'},
        {"method", required_argument, NULL, 'm'},   {"path", required_argument, NULL, 't'},
        {"grpc", required_argument, NULL, 'g'},     {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
    optind = 1;
    opterr = 0;
    int ch, index = 0;
    while ((ch = getopt_long(argc, argv, ":h", opts, &index)) != -1) {
        if (ch == 'h') {
            usage_explain(stdout);
            exit(0);
        }
        if (ch == 'j') {
            a->json = true;
            continue;
        }
        if (ch == '?' || ch == ':') {
            return bad_option("explain", ch, argv);
        }
        /* Every other option stores its value in its field. */
        const char **field = opt_field(a, ch);
        if (*field != NULL) {
            return usage_error("explain", "--%s given twice", opts[index].name);
        }
        *field = optarg;
    }
    if (optind != argc) {
        return usage_error("explain", "unexpected argument '%s'", argv[optind]);
    }
    if (a->policy == NULL) {
        return usage_error("explain", "missing --policy FILE");
    }
    if (a->grpc != NULL && (a->method != NULL || a->path != NULL)) {
        return usage_error("explain", "--grpc is the method and path of a gRPC call: give it "
                                      "instead of --method and --path");
    }
    if (a->grpc == NULL && (a->method == NULL || a->path == NULL)) {
        return usage_error("explain", "missing --method M and --path P (or --grpc PATH)");
    }
    if (a->crl != NULL && a->client_ca == NULL) {
        return usage_error("explain", "--crl needs --client-ca");
    }
    if (a->password != NULL && a->cert == NULL) {
        return usage_error("explain", "--password needs --cert");
    }
    return 0;
}

/* read_cert reads the leaf (the first certificate that is not a CA) and the rest as
 * its chain, checks the chain when a client CA is given, and fills the explain input. */
static int read_cert(const struct explain_args *a, struct pki_import *imp, uint8_t **der,
                     struct policy_explain_input *in)
{
    struct cg_errbuf err = {{0}};
    if (pki_import_file(a->cert, a->password, imp, &err) != CG_OK) {
        fprintf(stderr, "certgate: %s\n", err.msg);
        return EXIT_USAGE;
    }
    X509 *chain[PKI_IMPORT_MAX_CERTS];
    size_t num_chain = 0;
    X509 *leaf = pki_chain_split(imp, chain, &num_chain);
    int len = i2d_X509(leaf, der);
    if (len <= 0) {
        fprintf(stderr, "certgate: %s: cannot encode the certificate\n", a->cert);
        return EXIT_USAGE;
    }
    in->cert_der = *der;
    in->cert_der_len = (size_t)len;
    if (a->client_ca == NULL) {
        return 0;
    }
    X509_STORE *store = NULL;
    if (pki_chain_store_load(a->client_ca, a->crl, &store, &err) != CG_OK) {
        fprintf(stderr, "certgate: %s\n", err.msg);
        return EXIT_USAGE;
    }
    const char *why = NULL;
    in->chain = pki_chain_verify(store, leaf, chain, num_chain, &why) ? POLICY_CHAIN_VALID
                                                                      : POLICY_CHAIN_INVALID;
    in->chain_error = why;
    X509_STORE_free(store);
    return 0;
}

static int cmd_explain(int argc, char **argv)
{
    struct explain_args a = {0};
    int rc = parse_explain(argc, argv, &a);
    if (rc != 0) {
        return rc;
    }
    struct policy *p = load(a.policy);
    if (p == NULL) {
        return EXIT_USAGE;
    }
    struct pki_import imp = {0};
    uint8_t *der = NULL;
    struct policy_explain_input in = {
        .ip = a.ip != NULL ? a.ip : "127.0.0.1",
        .now = time(NULL),
        .sni = a.sni,
        .method = a.grpc != NULL ? "POST" : a.method,
        .host = a.host,
        .target = a.grpc != NULL ? a.grpc : a.path,
        .grpc = a.grpc != NULL,
    };
    json_t *x = NULL;
    struct cg_errbuf err = {{0}};
    if (a.cert != NULL && (rc = read_cert(&a, &imp, &der, &in)) != 0) {
        goto out;
    }
    if (policy_explain(p, &in, &x, &err) != CG_OK) {
        fprintf(stderr, "certgate policy explain: %s\n", err.msg);
        rc = EXIT_USAGE;
        goto out;
    }
    if (a.json) {
        print_json(x);
    } else {
        print_explain(x);
    }
    rc = strcmp(json_string_value(json_object_get(x, "decision")), "deny") == 0 ? EXIT_DENY
                                                                                : EXIT_ALLOW;
out:
    fflush(stdout);
    json_decref(x);
    OPENSSL_free(der);
    pki_import_cleanup(&imp);
    policy_free(p);
    return rc;
}

int policy_cli_main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "certgate policy: missing command (see 'certgate policy --help')\n");
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage_group(stdout);
        return 0;
    }
    if (strcmp(cmd, "show") == 0) {
        return cmd_show(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "explain") == 0) {
        return cmd_explain(argc - 1, argv + 1);
    }
    fprintf(stderr, "certgate policy: unknown command '%s' (see 'certgate policy --help')\n", cmd);
    return EXIT_USAGE;
}
