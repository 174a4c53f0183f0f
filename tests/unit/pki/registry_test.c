/* Tests of pki/registry.c: registering, finding, editing and deleting entries of a
 * policy document, and saving/loading it on temporary files. */
#include "pki/registry.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/file.h"
#include "pki/import.h"

#define VEC_SHA1 "C0C217A95EB7AFD8A6E4351F21DE53B3445FEEE3"
#define VEC_SHA256 "D822E9DA44ABBFE933E2DAE299FFDC4EF3CE7713953C314288C982FFE12AF137"
#define VEC_CA_SHA1 "38D55AC325E9F9168EC12AAC5830938E6388F7D1"

static struct pki_import client, ca;
static char dir[64];

static void setup(void)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/pki/client.pem", CG_TEST_DATA_DIR);
    ck_assert_int_eq(pki_import_file(path, NULL, &client, NULL), 0);
    snprintf(path, sizeof(path), "%s/pki/ca.pem", CG_TEST_DATA_DIR);
    ck_assert_int_eq(pki_import_file(path, NULL, &ca, NULL), 0);
    snprintf(dir, sizeof(dir), "/tmp/cg-registry-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    pki_import_cleanup(&client);
    pki_import_cleanup(&ca);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static const char *tmp_path(const char *name)
{
    static char buf[128];
    snprintf(buf, sizeof(buf), "%s/%s", dir, name);
    return buf;
}

START_TEST(new_document)
{
    json_t *doc = pki_registry_new();
    char *text = json_dumps(doc, JSON_COMPACT);
    ck_assert_str_eq(text, "{\"allow_ips\":[\"127.0.0.1\",\"::1\"],\"routes\":[{\"path\":\"/*\","
                           "\"require\":\"Authenticated\"}],\"certificates\":[]}");
    free(text);
    json_decref(doc);
    /* a missing file loads as a new document */
    ck_assert_int_eq(pki_registry_load(tmp_path("missing.json"), &doc, NULL), 0);
    ck_assert_uint_eq(json_array_size(pki_registry_entries(doc)), 0);
    json_decref(doc);
}
END_TEST

START_TEST(register_entry)
{
    json_t *doc = pki_registry_new();
    struct pki_db_grant grants[2];
    ck_assert_int_eq(pki_db_grant_parse("hr=ReadWrite", &grants[0], NULL), 0);
    ck_assert_int_eq(pki_db_grant_parse("catalog=ReadOnly", &grants[1], NULL), 0);
    struct pki_entry_spec spec = {
        .name = "HR", .clearance = "ValidUser", .dbs = grants, .num_dbs = 2, .set_dbs = true};
    struct cg_errbuf err = {{0}};
    ck_assert_int_eq(pki_registry_add(doc, &spec, client.certs, 1, &err), 0);
    json_t *e = json_array_get(pki_registry_entries(doc), 0);
    char *text = json_dumps(e, JSON_COMPACT);
    ck_assert_str_eq(text,
                     "{\"name\":\"HR\",\"thumbprints\":[\"" VEC_SHA1 "\"],"
                     "\"pins\":[{\"spki_sha256\":\"cuxEKgaF6muaLD+CLZKpglyl//HCQFzKkU/MawMp6g0=\","
                     "\"issuer\":\"O=certgate tests,CN=vector CA\","
                     "\"issuer_key_id\":\"E665BDC0830DCBAAE797BEB211E55C621A675E8E\"}],"
                     "\"clearance\":\"ValidUser\","
                     "\"databases\":{\"hr\":\"ReadWrite\",\"catalog\":\"ReadOnly\"},"
                     "\"expires\":\"2126-10-31T11:00:45Z\"}");
    free(text);
    /* registering the same certificate again names the entry that holds it */
    struct pki_entry_spec again = {.name = "other", .clearance = "Operator", .set_dbs = true};
    ck_assert_int_eq(pki_registry_add(doc, &again, client.certs, 1, &err), CG_ERR_EXISTS);
    ck_assert_str_eq(err.msg, "certificate " VEC_SHA1 " is already registered as 'HR'");
    /* a bad clearance is refused before anything changes */
    memset(&err, 0, sizeof(err));
    struct pki_entry_spec bad = {
        .name = "x", .clearance = "Admin", .dbs = NULL, .num_dbs = 0, .set_dbs = true};
    ck_assert_int_eq(pki_registry_add(doc, &bad, ca.certs, 1, &err), CG_ERR_INVALID);
    ck_assert_uint_eq(json_array_size(pki_registry_entries(doc)), 1);
    json_decref(doc);
}
END_TEST

START_TEST(several_certificates_one_entry)
{
    json_t *doc = pki_registry_new();
    X509 *both[2] = {client.certs[0], ca.certs[0]};
    struct pki_entry_spec spec = {
        .name = "pfx", .clearance = "Operator", .dbs = NULL, .num_dbs = 0, .set_dbs = true};
    ck_assert_int_eq(pki_registry_add(doc, &spec, both, 2, NULL), 0);
    json_t *e = json_array_get(pki_registry_entries(doc), 0);
    json_t *tps = json_object_get(e, "thumbprints");
    ck_assert_uint_eq(json_array_size(tps), 2);
    ck_assert_str_eq(json_string_value(json_array_get(tps, 0)), VEC_SHA1);
    ck_assert_str_eq(json_string_value(json_array_get(tps, 1)), VEC_CA_SHA1);
    /* openssl req -x509 gives the CA an AKI too, so each certificate has a pin */
    ck_assert_uint_eq(json_array_size(json_object_get(e, "pins")), 2);
    size_t index = 99;
    ck_assert_int_eq(pki_registry_find(doc, VEC_CA_SHA1, &index, NULL), 0);
    ck_assert_uint_eq(index, 0);
    json_decref(doc);
}
END_TEST

START_TEST(find_edit_delete)
{
    json_t *doc = pki_registry_new();
    struct pki_entry_spec spec = {
        .name = "a", .clearance = "ValidUser", .dbs = NULL, .num_dbs = 0, .set_dbs = true};
    ck_assert_int_eq(pki_registry_add(doc, &spec, ca.certs, 1, NULL), 0);
    spec.name = "b";
    ck_assert_int_eq(pki_registry_add(doc, &spec, client.certs, 1, NULL), 0);
    size_t index = 0;
    /* any case, with colons */
    ck_assert_int_eq(pki_registry_find(doc, "c0:c2:17:a9:5e:b7:af:d8:a6:e4:35:1f:21:de:53:b3:44:"
                                            "5f:ee:e3", &index, NULL), 0);
    ck_assert_uint_eq(index, 1);
    struct cg_errbuf err = {{0}};
    ck_assert_int_eq(pki_registry_find(doc, VEC_SHA256, &index, &err), CG_ERR_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(err.msg, "try the SHA-1"));
    memset(&err, 0, sizeof(err));
    ck_assert_int_eq(pki_registry_find(doc, "xyz", &index, &err), CG_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "not a thumbprint"));

    struct pki_db_grant g;
    ck_assert_int_eq(pki_db_grant_parse("orders=Admin", &g, NULL), 0);
    struct pki_entry_spec edit = {
        .name = NULL, .clearance = "Operator", .dbs = &g, .num_dbs = 1, .set_dbs = true};
    ck_assert_int_eq(pki_registry_edit(doc, VEC_SHA1, &edit, NULL), 0);
    json_t *e = json_array_get(pki_registry_entries(doc), 1);
    ck_assert_str_eq(json_string_value(json_object_get(e, "name")), "b");
    ck_assert_str_eq(json_string_value(json_object_get(e, "clearance")), "Operator");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(e, "databases"), "orders")),
                     "Admin");
    /* edits keep the key order */
    const char *first = json_object_iter_key(json_object_iter(e));
    ck_assert_str_eq(first, "name");
    struct pki_entry_spec rename = {
        .name = "renamed", .clearance = NULL, .dbs = NULL, .num_dbs = 0, .set_dbs = false};
    ck_assert_int_eq(pki_registry_edit(doc, VEC_SHA1, &rename, NULL), 0);
    ck_assert_str_eq(json_string_value(json_object_get(e, "name")), "renamed");
    ck_assert_str_eq(json_string_value(json_object_get(e, "clearance")), "Operator");
    struct pki_entry_spec bad = {
        .name = NULL, .clearance = "Root", .dbs = NULL, .num_dbs = 0, .set_dbs = false};
    memset(&err, 0, sizeof(err));
    ck_assert_int_eq(pki_registry_edit(doc, VEC_SHA1, &bad, &err), CG_ERR_INVALID);
    ck_assert_int_eq(pki_registry_edit(doc, "0000000000000000000000000000000000000000", &rename,
                                       NULL), CG_ERR_NOT_FOUND);

    /* allow_ips: set, then removed with a NULL list. */
    const char *const ips[] = {"10.1.0.0/16", "::1"};
    struct pki_entry_spec nets = {.allow_ips = ips, .num_allow_ips = 2, .set_allow_ips = true};
    ck_assert_int_eq(pki_registry_edit(doc, VEC_SHA1, &nets, NULL), 0);
    json_t *ipa = json_object_get(e, "allow_ips");
    ck_assert_uint_eq(json_array_size(ipa), 2);
    ck_assert_str_eq(json_string_value(json_array_get(ipa, 0)), "10.1.0.0/16");
    ck_assert_str_eq(json_string_value(json_object_get(e, "clearance")), "Operator");
    struct pki_entry_spec no_nets = {.set_allow_ips = true};
    ck_assert_int_eq(pki_registry_edit(doc, VEC_SHA1, &no_nets, NULL), 0);
    ck_assert_ptr_null(json_object_get(e, "allow_ips"));

    /* Grants from a JSON object's key and value (the admin API). */
    ck_assert_int_eq(pki_db_grant_make("hr", 2, "ReadOnly", &g, NULL), 0);
    ck_assert_str_eq(g.level, "ReadOnly");
    memset(&err, 0, sizeof(err));
    ck_assert_int_eq(pki_db_grant_make("hr", 2, "readonly", &g, &err), CG_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "database 'hr': unknown access level 'readonly'"));
    ck_assert_int_eq(pki_db_grant_make("a b", 3, "Admin", &g, NULL), CG_ERR_INVALID);
    ck_assert_int_eq(pki_db_grant_make("", 0, "Admin", &g, NULL), CG_ERR_INVALID);

    ck_assert_int_eq(pki_registry_delete(doc, VEC_CA_SHA1, NULL), 0);
    ck_assert_uint_eq(json_array_size(pki_registry_entries(doc)), 1);
    ck_assert_int_eq(pki_registry_delete(doc, VEC_CA_SHA1, NULL), CG_ERR_NOT_FOUND);
    json_decref(doc);
}
END_TEST

START_TEST(save_and_load_files)
{
    const char *path = tmp_path("policy.json");
    json_t *doc = pki_registry_new();
    struct pki_entry_spec spec = {
        .name = "a", .clearance = "ClusterAdmin", .dbs = NULL, .num_dbs = 0, .set_dbs = true};
    ck_assert_int_eq(pki_registry_add(doc, &spec, client.certs, 1, NULL), 0);
    ck_assert_int_eq(pki_registry_save(path, doc, NULL), 0);
    json_decref(doc);
    char *text = NULL;
    size_t len = 0;
    ck_assert_int_eq(cg_file_read(path, 1 << 20, &text, &len, NULL), 0);
    ck_assert(strncmp(text, "{\n  \"allow_ips\": [\n    \"127.0.0.1\",", 34) == 0);
    ck_assert_int_eq(text[len - 1], '\n');
    free(text);
    /* the mode of an existing file is kept */
    ck_assert_int_eq(chmod(path, 0640), 0);
    ck_assert_int_eq(pki_registry_load(path, &doc, NULL), 0);
    ck_assert_int_eq(pki_registry_delete(doc, VEC_SHA1, NULL), 0);
    ck_assert_int_eq(pki_registry_save(path, doc, NULL), 0);
    json_decref(doc);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0640);

    /* broken files are reported with their name and JSON path */
    const char *bad = tmp_path("bad.json");
    ck_assert_int_eq(cg_file_write_atomic(bad, "{\"certificates\": {}}", 20, 0644, NULL), 0);
    struct cg_errbuf err = {{0}};
    ck_assert_int_eq(pki_registry_load(bad, &doc, &err), CG_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "bad.json: $.certificates: expected an array"));
    ck_assert_int_eq(cg_file_write_atomic(bad, "{\"certificates\": [", 18, 0644, NULL), 0);
    memset(&err, 0, sizeof(err));
    ck_assert_int_eq(pki_registry_load(bad, &doc, &err), CG_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "bad.json:1:"));
}
END_TEST

START_TEST(clearance_words)
{
    struct cg_errbuf err = {{0}};
    ck_assert_int_eq(pki_clearance_check("ClusterAdmin", NULL), 0);
    ck_assert_int_eq(pki_clearance_check("Operator", NULL), 0);
    ck_assert_int_eq(pki_clearance_check("ValidUser", NULL), 0);
    ck_assert_int_eq(pki_clearance_check("cluster-admin", &err), CG_ERR_INVALID);
    ck_assert_str_eq(err.msg, "unknown clearance 'cluster-admin': did you mean 'ClusterAdmin'? "
                              "(valid: ClusterAdmin, Operator, ValidUser)");
    memset(&err, 0, sizeof(err));
    ck_assert_int_eq(pki_level_check("Write", &err), CG_ERR_INVALID);
    ck_assert_str_eq(err.msg, "unknown access level 'Write' (valid: Admin, ReadWrite, ReadOnly)");
    struct pki_db_grant g;
    ck_assert_int_eq(pki_db_grant_parse("db.1=ReadOnly", &g, NULL), 0);
    ck_assert(cg_str_eq(g.name, CG_STR_LIT("db.1")));
    ck_assert_str_eq(g.level, "ReadOnly");
    ck_assert_int_eq(pki_db_grant_parse("hr", NULL, NULL), CG_ERR_INVALID);
    ck_assert_int_eq(pki_db_grant_parse("=Admin", &g, NULL), CG_ERR_INVALID);
    ck_assert_int_eq(pki_db_grant_parse("a b=Admin", &g, NULL), CG_ERR_INVALID);
    ck_assert_int_eq(pki_db_grant_parse("hr=readonly", &g, NULL), CG_ERR_INVALID);
}
END_TEST

static Suite *registry_suite(void)
{
    Suite *s = suite_create("pki_registry");
    TCase *tc = tcase_create("registry");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, new_document);
    tcase_add_test(tc, register_entry);
    tcase_add_test(tc, several_certificates_one_entry);
    tcase_add_test(tc, find_edit_delete);
    tcase_add_test(tc, save_and_load_files);
    tcase_add_test(tc, clearance_words);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(registry_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
