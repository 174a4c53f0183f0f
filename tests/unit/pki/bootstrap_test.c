/* Tests of pki/bootstrap.c: the first call creates a complete state directory, the
 * second reuses it untouched, and a damaged one is reported instead of patched. */
#include "pki/bootstrap.h"

#include "check_main.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "common/boringssl.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/file.h"
#include "pki/identity.h"
#include "pki/import.h"

static char root[64];

static void setup(void)
{
    snprintf(root, sizeof(root), "/tmp/cg-bootstrap-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(root));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
    ck_assert_int_eq(system(cmd), 0);
}

static const char *in_root(const char *rel)
{
    static char buf[4][256];
    static int next;
    char *b = buf[next++ % 4];
    snprintf(b, 256, "%s/%s", root, rel);
    return b;
}

static mode_t mode_of(const char *path)
{
    struct stat st;
    ck_assert_msg(stat(path, &st) == 0, "%s missing", path);
    return st.st_mode & 0777;
}

START_TEST(creates_then_reuses)
{
    struct pki_bootstrap_result r = {0};
    struct cg_errbuf err = {{0}};
    ck_assert_msg(pki_bootstrap(in_root("state"), &r, &err) == 0, "%s", err.msg);
    ck_assert(r.created);
    ck_assert_str_eq(r.state_dir, in_root("state"));
    ck_assert_str_eq(r.config_path, in_root("state/certgate.json"));
    ck_assert_str_eq(r.p12_path, in_root("state/clients/admin/bundle.p12"));
    ck_assert_uint_eq(strlen(r.password), 24);
    char curl[1024];
    snprintf(curl, sizeof(curl),
             "curl --cacert %s/state/ca/ca.crt --cert %s/state/clients/admin/tls.crt "
             "--key %s/state/clients/admin/tls.key https://localhost:8443/",
             root, root, root);
    ck_assert_str_eq(r.curl_command, curl);
    ck_assert_int_eq(mode_of(in_root("state")), 0700);
    ck_assert_int_eq(mode_of(in_root("state/ca/ca.key")), 0600);
    ck_assert_int_eq(mode_of(in_root("state/server/tls.key")), 0600);
    ck_assert_int_eq(mode_of(in_root("state/clients/admin/tls.key")), 0600);
    ck_assert_int_eq(mode_of(in_root("state/clients/admin/bundle.p12")), 0600);
    ck_assert_int_eq(mode_of(in_root("state/clients/admin/password")), 0600);

    /* the bundle opens with the password, and the CA signed the server certificate */
    struct pki_import imp = {0};
    ck_assert_int_eq(pki_import_file(r.p12_path, r.password, &imp, &err), 0);
    ck_assert_ptr_nonnull(imp.key);
    pki_import_cleanup(&imp);
    struct pki_identity ca = {0};
    ck_assert_int_eq(pki_ca_load(in_root("state/ca"), &ca, &err), 0);
    ck_assert_int_eq(pki_import_file(in_root("state/server/tls.crt"), NULL, &imp, &err), 0);
    ck_assert_uint_eq(imp.num_certs, 2); /* leaf + CA chain */
    ck_assert_int_eq(X509_check_host(imp.certs[0], "localhost", 9, 0, NULL), 1);
    ck_assert_int_eq(X509_check_ip_asc(imp.certs[0], "127.0.0.1", 0), 1);
    ck_assert_int_eq(X509_check_ip_asc(imp.certs[0], "::1", 0), 1);
    EVP_PKEY *ca_pub = X509_get_pubkey(ca.cert);
    ck_assert_int_eq(X509_verify(imp.certs[0], ca_pub), 1);
    EVP_PKEY_free(ca_pub);
    pki_import_cleanup(&imp);
    pki_identity_cleanup(&ca);

    /* the policy registers the admin as ClusterAdmin */
    json_t *policy = json_load_file(r.policy_path, 0, NULL);
    ck_assert_ptr_nonnull(policy);
    json_t *entry = json_array_get(json_object_get(policy, "certificates"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(entry, "name")), "admin");
    ck_assert_str_eq(json_string_value(json_object_get(entry, "clearance")), "ClusterAdmin");
    json_decref(policy);

    /* the config matches docs/configuration.md with relative paths */
    json_t *cfg = json_load_file(r.config_path, 0, NULL);
    ck_assert_ptr_nonnull(cfg);
    ck_assert_str_eq(json_string_value(json_object_get(cfg, "state_dir")), r.state_dir);
    json_t *l = json_array_get(json_object_get(cfg, "listeners"), 0);
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(l, "listen"), 0)),
                     "127.0.0.1:8443");
    ck_assert_str_eq(json_string_value(json_object_get(l, "policy")), "policy.json");
    json_decref(cfg);

    char *password = strdup(r.password);
    pki_bootstrap_result_cleanup(&r);

    /* second start: same state, same password, nothing rewritten */
    struct stat before, after;
    ck_assert_int_eq(stat(in_root("state/ca/ca.crt"), &before), 0);
    struct pki_bootstrap_options opts = {.listen = "127.0.0.1:9999"};
    ck_assert_int_eq(pki_bootstrap_with(in_root("state/"), &opts, &r, &err), 0);
    ck_assert(!r.created);
    ck_assert_str_eq(r.password, password);
    /* the curl command follows the existing config, not the ignored option */
    ck_assert_ptr_nonnull(strstr(r.curl_command, "https://localhost:8443/"));
    ck_assert_int_eq(stat(in_root("state/ca/ca.crt"), &after), 0);
    ck_assert_int_eq(before.st_ino, after.st_ino);
    pki_bootstrap_result_cleanup(&r);
    free(password);

    /* no temporary directory is left behind (in this test's own root: other runs of
     * this test on the machine may be building theirs right now) */
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "ls %s/ | grep -q tmp", root);
    ck_assert_int_eq(system(cmd), 256);
}
END_TEST

START_TEST(options_and_relative_path)
{
    ck_assert_int_eq(chdir(root), 0);
    struct pki_bootstrap_options opts = {.listen = "127.0.0.1:18443",
                                         .upstream = "127.0.0.1:18080"};
    struct pki_bootstrap_result r = {0};
    struct cg_errbuf err = {{0}};
    ck_assert_msg(pki_bootstrap_with("sub/dir/st", &opts, &r, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(r.state_dir, in_root("sub/dir/st"));
    ck_assert_ptr_nonnull(strstr(r.curl_command, "https://localhost:18443/"));
    json_t *cfg = json_load_file(r.config_path, 0, NULL);
    json_t *up = json_object_get(json_object_get(cfg, "upstreams"), "default");
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(up, "servers"), 0)),
                     "127.0.0.1:18080");
    json_decref(cfg);
    pki_bootstrap_result_cleanup(&r);
}
END_TEST

START_TEST(allow_ips_option)
{
    /* The policy's allow_ips come from the option (the container image opens the
     * default to every address: a port mapping never shows the client as loopback). */
    struct pki_bootstrap_options opts = {.allow_ips = "0.0.0.0/0, ::/0"};
    struct pki_bootstrap_result r = {0};
    struct cg_errbuf err = {{0}};
    ck_assert_msg(pki_bootstrap_with(in_root("open"), &opts, &r, &err) == 0, "%s", err.msg);
    json_t *policy = json_load_file(r.policy_path, 0, NULL);
    json_t *ips = json_object_get(policy, "allow_ips");
    ck_assert_uint_eq(json_array_size(ips), 2);
    ck_assert_str_eq(json_string_value(json_array_get(ips, 0)), "0.0.0.0/0");
    ck_assert_str_eq(json_string_value(json_array_get(ips, 1)), "::/0");
    json_decref(policy);
    pki_bootstrap_result_cleanup(&r);

    /* A typo is refused before anything is written. */
    struct stat st;
    const char *bad[] = {"10.0.0.1/8", "127.0.0.1,not-an-ip", " , ", NULL};
    for (size_t i = 0; bad[i] != NULL; i++) {
        opts.allow_ips = bad[i];
        memset(&err, 0, sizeof(err));
        ck_assert_int_eq(pki_bootstrap_with(in_root("bad"), &opts, &r, &err), CG_ERR_INVALID);
        ck_assert_msg(err.msg[0] != '\0', "%s: no message", bad[i]);
        ck_assert_int_ne(stat(in_root("bad"), &st), 0);
    }
}
END_TEST

START_TEST(empty_directory_is_filled)
{
    ck_assert_int_eq(mkdir(in_root("empty"), 0755), 0);
    struct pki_bootstrap_result r = {0};
    ck_assert_int_eq(pki_bootstrap(in_root("empty"), &r, NULL), 0);
    ck_assert(r.created);
    pki_bootstrap_result_cleanup(&r);
}
END_TEST

START_TEST(damaged_state_is_reported)
{
    struct pki_bootstrap_result r = {0};
    ck_assert_int_eq(pki_bootstrap(in_root("state"), &r, NULL), 0);
    pki_bootstrap_result_cleanup(&r);
    ck_assert_int_eq(unlink(in_root("state/server/tls.key")), 0);
    struct cg_errbuf err = {{0}};
    ck_assert_int_eq(pki_bootstrap(in_root("state"), &r, &err), CG_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "incomplete state directory (missing server/tls.key)"));
    ck_assert_ptr_null(r.state_dir);

    /* something else in the way */
    ck_assert_int_eq(cg_file_write_atomic(in_root("file"), "x", 1, 0644, NULL), 0);
    memset(&err, 0, sizeof(err));
    ck_assert_int_ne(pki_bootstrap(in_root("file"), &r, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "not a directory"));
}
END_TEST

Suite *cg_test_suite(void)
{
    Suite *s = suite_create("pki_bootstrap");
    TCase *tc = tcase_create("bootstrap");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, creates_then_reuses);
    tcase_add_test(tc, options_and_relative_path);
    tcase_add_test(tc, allow_ips_option);
    tcase_add_test(tc, empty_directory_is_filled);
    tcase_add_test(tc, damaged_state_is_reported);
    suite_add_tcase(s, tc);
    return s;
}
