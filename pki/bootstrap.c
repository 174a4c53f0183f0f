#include "pki/bootstrap.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/mem.h>

#include "common/file.h"
#include "common/json.h"
#include "common/mem.h"
#include "common/str.h"
#include "pki/bundle.h"
#include "pki/files.h"
#include "pki/issue.h"
#include "pki/key.h"
#include "pki/password.h"
#include "pki/registry.h"
#include "policy/ipset.h"

#define CA_NAME "certgate CA"
#define CA_DAYS 3650
#define SERVER_DAYS 825
#define ADMIN_NAME "admin"
#define ADMIN_DAYS 1825

/* Every file of a complete state directory, relative to it. */
static const char *const state_files[] = {
    "certgate.json",         "policy.json",           "ca/ca.crt",
    "ca/ca.key",             "server/tls.crt",        "server/tls.key",
    "clients/admin/tls.crt", "clients/admin/tls.key", "clients/admin/bundle.p12",
    "clients/admin/password", NULL,
};

/* absolute_path makes |path| absolute without requiring it to exist (its parent is
 * created if missing). */
static int absolute_path(const char *path, char **out, struct cg_errbuf *err)
{
    char *copy = cg_xstrdup(path);
    size_t n = strlen(copy);
    while (n > 1 && copy[n - 1] == '/') {
        copy[--n] = '\0';
    }
    char *c1 = cg_xstrdup(copy), *c2 = cg_xstrdup(copy);
    const char *parent = dirname(c1);
    const char *base = basename(c2);
    int rc = CG_OK;
    char resolved[PATH_MAX];
    if (strcmp(base, ".") == 0 || strcmp(base, "..") == 0 || strcmp(base, "/") == 0) {
        rc = cg_errf(err, CG_ERR_INVALID, "%s: not usable as a state directory name", path);
        goto out;
    }
    rc = pki_mkdir_parents(parent, 0755, err);
    if (rc != CG_OK) {
        goto out;
    }
    if (realpath(parent, resolved) == NULL) {
        rc = cg_errf(err, CG_ERR_IO, "%s: %s", parent, strerror(errno));
        goto out;
    }
    *out = pki_path_join(resolved, base);
out:
    free(copy);
    free(c1);
    free(c2);
    return rc;
}

static int write_ca(const char *dir, const struct pki_identity *ca, struct cg_errbuf *err)
{
    char *crt = NULL, *key = NULL;
    size_t crt_len = 0, key_len = 0;
    int rc = pki_certs_to_pem((X509 *const *)&ca->cert, 1, &crt, &crt_len, err);
    if (rc == CG_OK) {
        rc = pki_key_to_pem(ca->key, &key, &key_len, err);
    }
    if (rc == CG_OK) {
        const struct pki_file files[] = {
            {"ca.key", key, key_len, 0600},
            {"ca.crt", crt, crt_len, 0644},
        };
        char *path = pki_path_join(dir, "ca");
        rc = pki_files_write_new(path, files, 2, err);
        free(path);
    }
    free(crt);
    pki_secret_free(key, key_len);
    return rc;
}

static int write_server(const char *dir, const struct pki_identity *ca, struct cg_errbuf *err)
{
    const char *sans[4] = {"localhost", "127.0.0.1", "::1", NULL};
    size_t num_sans = 3;
    char host[256] = "";
    /* The host name is a convenience: one that is not a valid DNS name is left out. */
    if (gethostname(host, sizeof(host) - 1) == 0 && strcmp(host, "localhost") != 0 &&
        pki_san_check(host, NULL) == CG_OK) {
        sans[num_sans++] = host;
    }
    struct pki_identity leaf = {0};
    struct pki_bundle b = {0};
    int rc = pki_issue_server(ca, "localhost", sans, num_sans, SERVER_DAYS, &leaf, err);
    if (rc == CG_OK) {
        rc = pki_bundle_build(&leaf, ca->cert, true, NULL, &b, err);
    }
    if (rc == CG_OK) {
        struct pki_file files[PKI_BUNDLE_MAX_FILES];
        size_t n = pki_bundle_files(&b, files);
        char *path = pki_path_join(dir, "server");
        rc = pki_files_write_new(path, files, n, err);
        free(path);
    }
    pki_bundle_cleanup(&b);
    pki_identity_cleanup(&leaf);
    return rc;
}

static int write_admin(const char *dir, const struct pki_identity *ca, json_t *policy,
                       struct cg_errbuf *err)
{
    char password[PKI_PASSWORD_LEN + 2];
    pki_password_generate(password);
    struct pki_identity leaf = {0};
    struct pki_bundle b = {0};
    int rc = pki_issue_client(ca, ADMIN_NAME, ADMIN_DAYS, &leaf, err);
    if (rc == CG_OK) {
        rc = pki_bundle_build(&leaf, ca->cert, false, password, &b, err);
    }
    if (rc == CG_OK) {
        struct pki_entry_spec spec = {.name = ADMIN_NAME, .clearance = "ClusterAdmin",
                                      .set_dbs = true};
        rc = pki_registry_add(policy, &spec, &leaf.cert, 1, &ca->cert, 1, err);
    }
    if (rc == CG_OK) {
        struct pki_file files[PKI_BUNDLE_MAX_FILES + 1];
        size_t n = pki_bundle_files(&b, files);
        strcat(password, "\n");
        files[n++] = (struct pki_file){"password", password, strlen(password), 0600};
        char *path = pki_path_join(dir, "clients/admin");
        rc = pki_files_write_new(path, files, n, err);
        free(path);
    }
    OPENSSL_cleanse(password, sizeof(password));
    pki_bundle_cleanup(&b);
    pki_identity_cleanup(&leaf);
    return rc;
}

static int write_config(const char *dir, const char *final_dir,
                        const struct pki_bootstrap_options *opts, struct cg_errbuf *err)
{
    json_t *cfg = json_pack(
        "{s:i s:s s:{s:s} s:[{s:s s:[s] s:{s:[{s:s s:s}] s:s} s:[s s] s:s s:s}] "
        "s:{s:{s:[s] s:s}} s:{s:s}}",
        "workers", 0, "state_dir", final_dir, "log", "level", "info", "listeners", "name",
        "default", "listen", opts->listen, "tls", "certificates", "cert", "server/tls.crt",
        "key", "server/tls.key", "min_version", "1.2", "alpn", "h2", "http/1.1", "policy",
        "policy.json", "upstream", "default", "upstreams", "default", "servers",
        opts->upstream, "protocol", "http/1.1", "status", "listen", opts->status_listen);
    if (cfg == NULL) {
        return cg_errf(err, CG_ERR_INVALID, "cannot build certgate.json");
    }
    char *text = json_dumps(cfg, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(cfg);
    size_t len = strlen(text);
    char *buf = cg_xmalloc(len + 2);
    memcpy(buf, text, len);
    buf[len++] = '\n';
    free(text);
    char *path = pki_path_join(dir, "certgate.json");
    int rc = cg_file_write_atomic(path, buf, len, 0644, err);
    free(path);
    free(buf);
    return rc;
}

/* parse_allow_ips turns "10.0.0.0/8, ::1" into the policy's allow_ips array, checking
 * each entry as the policy loader will: a typo fails here, before the state directory
 * exists, instead of leaving one whose policy never loads. */
static int parse_allow_ips(const char *list, json_t **out, struct cg_errbuf *err)
{
    json_t *arr = json_array();
    struct ipset check = {0};
    struct cg_str rest = cg_str_from_cstr(list), item;
    int rc = CG_OK;
    while (rc == CG_OK && cg_str_next_token(&rest, &item)) {
        char *text = cg_xstrndup(item.p, item.len);
        rc = ipset_add(&check, text, err);
        json_array_append_new(arr, json_string(text));
        free(text);
    }
    ipset_cleanup(&check);
    if (rc == CG_OK && json_array_size(arr) == 0) {
        rc = cg_errf(err, CG_ERR_INVALID, "allow_ips \"%s\": no address", list);
    }
    if (rc != CG_OK) {
        json_decref(arr);
        return rc;
    }
    *out = arr;
    return CG_OK;
}

/* create_state builds a complete state directory at |tmp|; |allow_ips| (NULL: the
 * registry's loopback default) becomes the policy's allow_ips. */
static int create_state(const char *tmp, const char *final_dir,
                        const struct pki_bootstrap_options *opts, json_t *allow_ips,
                        struct cg_errbuf *err)
{
    struct pki_identity ca = {0};
    json_t *policy = pki_registry_new();
    if (allow_ips != NULL) {
        json_object_set(policy, "allow_ips", allow_ips);
    }
    char *policy_path = pki_path_join(tmp, "policy.json");
    int rc = pki_ca_create(CA_NAME, CA_DAYS, &ca, err);
    if (rc == CG_OK) {
        rc = write_ca(tmp, &ca, err);
    }
    if (rc == CG_OK) {
        rc = write_server(tmp, &ca, err);
    }
    if (rc == CG_OK) {
        rc = write_admin(tmp, &ca, policy, err);
    }
    if (rc == CG_OK) {
        rc = pki_registry_save(policy_path, policy, err);
    }
    if (rc == CG_OK) {
        rc = write_config(tmp, final_dir, opts, err);
    }
    free(policy_path);
    json_decref(policy);
    pki_identity_cleanup(&ca);
    return rc;
}

static int check_complete(const char *dir, struct cg_errbuf *err)
{
    for (size_t i = 0; state_files[i] != NULL; i++) {
        char *path = pki_path_join(dir, state_files[i]);
        struct stat st;
        int missing = stat(path, &st) != 0;
        free(path);
        if (missing) {
            return cg_errf(err, CG_ERR_INVALID,
                           "%s: incomplete state directory (missing %s); restore the file or "
                           "remove the directory to create a new one",
                           dir, state_files[i]);
        }
    }
    return CG_OK;
}

/* listen_port extracts the port of the first listener of the configuration at
 * |config_path|, falling back to |fallback|'s. */
static void listen_port(const char *config_path, const char *fallback, char *out,
                        size_t out_len)
{
    const char *listen = fallback;
    json_t *cfg = NULL;
    if (cg_json_load_file(config_path, &cfg, NULL) == CG_OK) {
        json_t *l = json_array_get(json_object_get(json_array_get(
                                       json_object_get(cfg, "listeners"), 0), "listen"), 0);
        if (json_is_string(l)) {
            listen = json_string_value(l);
        }
    }
    const char *colon = strrchr(listen, ':');
    snprintf(out, out_len, "%s", colon != NULL ? colon + 1 : "8443");
    json_decref(cfg);
}

/* shell_word appends |s| to |buf|, single-quoted when it holds anything but safe
 * characters, so that the printed command works when pasted. */
static size_t shell_word(char *buf, size_t cap, size_t len, const char *s)
{
    bool safe = true;
    for (const char *p = s; *p; p++) {
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-:+,=@",
                    *p)) {
            safe = false;
        }
    }
    if (safe) {
        return len + (size_t)snprintf(buf + len, cap - len, " %s", s);
    }
    len += (size_t)snprintf(buf + len, cap - len, " '");
    for (const char *p = s; *p; p++) {
        len += (size_t)snprintf(buf + len, cap - len, *p == '\'' ? "'\\''" : "%c", *p);
    }
    return len + (size_t)snprintf(buf + len, cap - len, "'");
}

static int fill_result(const char *dir, const char *fallback_listen,
                       struct pki_bootstrap_result *out, struct cg_errbuf *err)
{
    out->state_dir = cg_xstrdup(dir);
    out->config_path = pki_path_join(dir, "certgate.json");
    out->policy_path = pki_path_join(dir, "policy.json");
    out->ca_cert_path = pki_path_join(dir, "ca/ca.crt");
    out->bundle_dir = pki_path_join(dir, "clients/admin");
    out->p12_path = pki_path_join(dir, "clients/admin/bundle.p12");
    char *pw_path = pki_path_join(dir, "clients/admin/password");
    char *pw = NULL;
    size_t pw_len = 0;
    int rc = cg_file_read(pw_path, 4096, &pw, &pw_len, err);
    free(pw_path);
    if (rc != CG_OK) {
        return rc;
    }
    while (pw_len > 0 && (pw[pw_len - 1] == '\n' || pw[pw_len - 1] == '\r')) {
        pw[--pw_len] = '\0';
    }
    out->password = pw;
    char port[16];
    listen_port(out->config_path, fallback_listen, port, sizeof(port));
    char *cert = pki_path_join(out->bundle_dir, "tls.crt");
    char *key = pki_path_join(out->bundle_dir, "tls.key");
    size_t cap = strlen(out->ca_cert_path) * 4 + strlen(cert) * 4 + strlen(key) * 4 + 128;
    char *cmd = cg_xmalloc(cap);
    size_t len = (size_t)snprintf(cmd, cap, "curl --cacert");
    len = shell_word(cmd, cap, len, out->ca_cert_path);
    len += (size_t)snprintf(cmd + len, cap - len, " --cert");
    len = shell_word(cmd, cap, len, cert);
    len += (size_t)snprintf(cmd + len, cap - len, " --key");
    len = shell_word(cmd, cap, len, key);
    snprintf(cmd + len, cap - len, " https://localhost:%s/", port);
    out->curl_command = cmd;
    free(cert);
    free(key);
    return CG_OK;
}

int pki_bootstrap_with(const char *state_dir, const struct pki_bootstrap_options *opts,
                       struct pki_bootstrap_result *out, struct cg_errbuf *err)
{
    struct pki_bootstrap_options o = {.listen = PKI_BOOTSTRAP_DEFAULT_LISTEN,
                                      .upstream = PKI_BOOTSTRAP_DEFAULT_UPSTREAM,
                                      .status_listen = PKI_BOOTSTRAP_DEFAULT_STATUS_LISTEN};
    if (opts != NULL && opts->status_listen != NULL) {
        o.status_listen = opts->status_listen;
    }
    if (opts != NULL && opts->listen != NULL) {
        o.listen = opts->listen;
    }
    if (opts != NULL && opts->upstream != NULL) {
        o.upstream = opts->upstream;
    }
    json_t *allow_ips = NULL;
    if (opts != NULL && opts->allow_ips != NULL) {
        int rc = parse_allow_ips(opts->allow_ips, &allow_ips, err);
        if (rc != CG_OK) {
            return rc;
        }
    }
    char *dir = NULL, *tmp = NULL;
    int rc = absolute_path(state_dir, &dir, err);
    if (rc != CG_OK) {
        json_decref(allow_ips);
        return rc;
    }
    bool exists, empty;
    rc = pki_dir_state(dir, &exists, &empty, err);
    if (rc != CG_OK) {
        goto out;
    }
    if (!exists || empty) {
        size_t len = strlen(dir) + 16;
        tmp = cg_xmalloc(len);
        snprintf(tmp, len, "%s.tmp.XXXXXX", dir);
        if (mkdtemp(tmp) == NULL) {
            rc = cg_errf(err, CG_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
            free(tmp);
            tmp = NULL;
            goto out;
        }
        rc = create_state(tmp, dir, &o, allow_ips, err);
        if (rc != CG_OK) {
            goto out;
        }
        if (rename(tmp, dir) == 0) {
            out->created = true;
            free(tmp);
            tmp = NULL;
        } else if (errno != ENOTEMPTY && errno != EEXIST) {
            rc = cg_errf(err, CG_ERR_IO, "%s: cannot rename into place: %s", dir,
                         strerror(errno));
            goto out;
        }
        /* Otherwise another process created it first: use theirs. */
    }
    rc = check_complete(dir, err);
    if (rc == CG_OK) {
        rc = fill_result(dir, o.listen, out, err);
    }
out:
    if (tmp != NULL) {
        pki_remove_tree(tmp);
        free(tmp);
    }
    free(dir);
    json_decref(allow_ips);
    if (rc != CG_OK) {
        pki_bootstrap_result_cleanup(out);
    }
    return rc;
}

int pki_bootstrap(const char *state_dir, struct pki_bootstrap_result *out, struct cg_errbuf *err)
{
    return pki_bootstrap_with(state_dir, NULL, out, err);
}

void pki_bootstrap_print(const struct pki_bootstrap_result *r, FILE *f)
{
    fprintf(f, "certgate: %s state directory %s\n", r->created ? "created" : "using",
            r->state_dir);
    fprintf(f, "  config:        %s\n", r->config_path);
    fprintf(f, "  policy:        %s\n", r->policy_path);
    fprintf(f, "  CA:            %s\n", r->ca_cert_path);
    fprintf(f, "  admin bundle:  %s (ClusterAdmin)\n", r->bundle_dir);
    /* Never the password itself: a container's output goes to log stores. */
    fprintf(f, "  bundle.p12 password: in %s/password (mode 0600)\n", r->bundle_dir);
    fprintf(f, "try:\n  %s\n", r->curl_command);
}

void pki_bootstrap_result_cleanup(struct pki_bootstrap_result *r)
{
    free(r->state_dir);
    free(r->config_path);
    free(r->policy_path);
    free(r->ca_cert_path);
    free(r->bundle_dir);
    free(r->p12_path);
    if (r->password != NULL) {
        pki_secret_free(r->password, strlen(r->password));
    }
    free(r->curl_command);
    memset(r, 0, sizeof(*r));
}
