/* Tests of pki/registry.c: registering, finding, editing and deleting entries of a
 * policy document, saving/loading it on temporary files, and the lock that serializes
 * writers (two concurrent load-modify-saves used to lose one update). */
#include "pki/registry.h"

#include "check_main.h"
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/file.h"
#include "pki/import.h"

#define VEC_SHA1 "C0C217A95EB7AFD8A6E4351F21DE53B3445FEEE3"
#define VEC_SHA256 "D822E9DA44ABBFE933E2DAE299FFDC4EF3CE7713953C314288C982FFE12AF137"
#define VEC_CA_SHA1 "38D55AC325E9F9168EC12AAC5830938E6388F7D1"
/* openssl x509 -in ca.pem -noout -pubkey | openssl pkey -pubin -outform DER | base64 */
#define VEC_CA_SPKI                                                                                \
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEDj1j9BgsVAF7lQ0TFf3yH41XZsKcMKNa39mKnyT18++DcK5xCH1J"     \
    "IjpTflmLUF3jNYV/icDjmY749BvnHybBmg=="

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
    /* The issuer is known: a pin with its public key (issuer_spki). */
    ck_assert_int_eq(pki_registry_add(doc, &spec, client.certs, 1, ca.certs, 1, &err), 0);
    json_t *e = json_array_get(pki_registry_entries(doc), 0);
    char *text = json_dumps(e, JSON_COMPACT);
    ck_assert_str_eq(text,
                     "{\"name\":\"HR\",\"thumbprints\":[\"" VEC_SHA1 "\",\"" VEC_SHA256 "\"],"
                     "\"pins\":[{\"spki_sha256\":\"cuxEKgaF6muaLD+CLZKpglyl//HCQFzKkU/MawMp6g0=\","
                     "\"issuer\":\"O=certgate tests,CN=vector CA\","
                     "\"issuer_key_id\":\"E665BDC0830DCBAAE797BEB211E55C621A675E8E\","
                     "\"issuer_spki\":\"" VEC_CA_SPKI "\"}],"
                     "\"clearance\":\"ValidUser\","
                     "\"databases\":{\"hr\":\"ReadWrite\",\"catalog\":\"ReadOnly\"},"
                     "\"expires\":\"2126-10-31T11:00:45Z\"}");
    free(text);
    /* registering the same certificate again names the entry that holds it */
    struct pki_entry_spec again = {.name = "other", .clearance = "Operator", .set_dbs = true};
    ck_assert_int_eq(pki_registry_add(doc, &again, client.certs, 1, ca.certs, 1, &err),
                     CG_ERR_EXISTS);
    ck_assert_str_eq(err.msg, "certificate " VEC_SHA1 " is already registered as 'HR'");
    /* so does a name that is already taken, whatever the certificate */
    memset(&err, 0, sizeof(err));
    struct pki_entry_spec same_name = {.name = "HR", .clearance = "Operator", .set_dbs = true};
    ck_assert_int_eq(pki_registry_add(doc, &same_name, ca.certs, 1, NULL, 0, &err), CG_ERR_EXISTS);
    ck_assert_str_eq(err.msg, "an entry named 'HR' is already registered");
    ck_assert(pki_registry_name_taken(doc, "HR", -1));
    ck_assert(!pki_registry_name_taken(doc, "HR", 0));
    ck_assert(!pki_registry_name_taken(doc, "hr", -1));
    /* a bad clearance is refused before anything changes */
    memset(&err, 0, sizeof(err));
    struct pki_entry_spec bad = {
        .name = "x", .clearance = "Admin", .dbs = NULL, .num_dbs = 0, .set_dbs = true};
    ck_assert_int_eq(pki_registry_add(doc, &bad, ca.certs, 1, NULL, 0, &err), CG_ERR_INVALID);
    ck_assert_uint_eq(json_array_size(pki_registry_entries(doc)), 1);
    json_decref(doc);

    /* Without the issuer's certificate no pin can be verified: thumbprints only. */
    doc = pki_registry_new();
    ck_assert_int_eq(pki_registry_add(doc, &spec, client.certs, 1, NULL, 0, &err), 0);
    e = json_array_get(pki_registry_entries(doc), 0);
    ck_assert_uint_eq(json_array_size(json_object_get(e, "pins")), 0);
    ck_assert_uint_eq(json_array_size(json_object_get(e, "thumbprints")), 2);
    /* nor with a CA of the same name but another key (the signature decides) */
    ck_assert_ptr_null(pki_pin_issuer(client.certs[0], client.certs, 1));
    ck_assert_ptr_eq(pki_pin_issuer(client.certs[0], ca.certs, 1), ca.certs[0]);
    json_decref(doc);
}
END_TEST

START_TEST(several_certificates_one_entry)
{
    json_t *doc = pki_registry_new();
    X509 *both[2] = {client.certs[0], ca.certs[0]};
    struct pki_entry_spec spec = {
        .name = "pfx", .clearance = "Operator", .dbs = NULL, .num_dbs = 0, .set_dbs = true};
    ck_assert_int_eq(pki_registry_add(doc, &spec, both, 2, both, 2, NULL), 0);
    json_t *e = json_array_get(pki_registry_entries(doc), 0);
    json_t *tps = json_object_get(e, "thumbprints");
    ck_assert_uint_eq(json_array_size(tps), 4);
    ck_assert_str_eq(json_string_value(json_array_get(tps, 0)), VEC_SHA1);
    ck_assert_str_eq(json_string_value(json_array_get(tps, 1)), VEC_CA_SHA1);
    ck_assert_str_eq(json_string_value(json_array_get(tps, 2)), VEC_SHA256);
    /* openssl req -x509 gives the CA an AKI too, and it signed itself: with the CA among
     * the issuers each certificate has a pin */
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
    ck_assert_int_eq(pki_registry_add(doc, &spec, ca.certs, 1, NULL, 0, NULL), 0);
    spec.name = "b";
    ck_assert_int_eq(pki_registry_add(doc, &spec, client.certs, 1, NULL, 0, NULL), 0);
    size_t index = 0;
    /* any case, with colons */
    ck_assert_int_eq(pki_registry_find(doc, "c0:c2:17:a9:5e:b7:af:d8:a6:e4:35:1f:21:de:53:b3:44:"
                                            "5f:ee:e3", &index, NULL), 0);
    ck_assert_uint_eq(index, 1);
    /* the SHA-256, as `certgate cert thumbprint` prints it, and lower case with colons */
    index = 0;
    ck_assert_int_eq(pki_registry_find(doc, VEC_SHA256, &index, NULL), 0);
    ck_assert_uint_eq(index, 1);
    index = 0;
    ck_assert_int_eq(pki_registry_find(doc,
                                       "d8:22:e9:da:44:ab:bf:e9:33:e2:da:e2:99:ff:dc:4e:f3:"
                                       "ce:77:13:95:3c:31:42:88:c9:82:ff:e1:2a:f1:37",
                                       &index, NULL),
                     0);
    ck_assert_uint_eq(index, 1);
    /* an entry written before SHA-256s were listed: the message says what to do */
    json_t *old = json_pack("{s:[{s:s s:[s] s:s}]}", "certificates", "name", "old", "thumbprints",
                            VEC_SHA1, "clearance", "Operator");
    struct cg_errbuf err = {{0}};
    ck_assert_int_eq(pki_registry_find(old, VEC_SHA256, &index, &err), CG_ERR_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(err.msg, "try the SHA-1"));
    json_decref(old);
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

    /* expires: replaced, then removed with "" */
    struct pki_entry_spec until = {.expires = "2030-01-02T03:04:05Z"};
    ck_assert_int_eq(pki_registry_edit(doc, VEC_SHA256, &until, NULL), 0);
    ck_assert_str_eq(json_string_value(json_object_get(e, "expires")), "2030-01-02T03:04:05Z");
    struct pki_entry_spec forever = {.expires = ""};
    ck_assert_int_eq(pki_registry_edit(doc, VEC_SHA1, &forever, NULL), 0);
    ck_assert_ptr_null(json_object_get(e, "expires"));

    /* a rename onto another entry's name is refused (the admin API answers 409) */
    struct pki_entry_spec clash = {.name = "a"};
    memset(&err, 0, sizeof(err));
    ck_assert_int_eq(pki_registry_edit(doc, VEC_SHA1, &clash, &err), CG_ERR_EXISTS);
    ck_assert_str_eq(err.msg, "an entry named 'a' is already registered");
    ck_assert_str_eq(json_string_value(json_object_get(e, "name")), "renamed");

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
    ck_assert_int_eq(pki_registry_add(doc, &spec, client.certs, 1, ca.certs, 1, NULL), 0);
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
    ck_assert_ptr_nonnull(strstr(err.msg, "bad.json: not a valid policy, nothing changed: "
                                          "$.certificates: expected an array"));
    ck_assert_int_eq(cg_file_write_atomic(bad, "{\"certificates\": [", 18, 0644, NULL), 0);
    memset(&err, 0, sizeof(err));
    ck_assert_int_eq(pki_registry_load(bad, &doc, &err), CG_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "bad.json:1:"));
}
END_TEST

START_TEST(only_policies_load)
{
    /* certgate.json is not a policy: it would get a "certificates" array and the next
     * start would fail. It is refused by name, whatever else it holds. */
    const char *cfg = tmp_path("certgate.json");
    static const char config[] = "{\"listeners\": [], \"upstreams\": {}}";
    ck_assert_int_eq(cg_file_write_atomic(cfg, config, strlen(config), 0644, NULL), 0);
    json_t *doc = NULL;
    struct cg_errbuf err = {{0}};
    ck_assert_int_eq(pki_registry_load(cfg, &doc, &err), CG_ERR_INVALID);
    ck_assert_ptr_null(doc);
    ck_assert_ptr_nonnull(strstr(err.msg, "certgate.json: this is certgate's configuration, "
                                          "not a policy"));
    /* any other file the policy loader refuses: its reason, with the JSON path */
    const char *other = tmp_path("other.json");
    static const char junk[] = "{\"routes\": [{\"path\": \"/x\", \"require\": \"Root\"}]}";
    ck_assert_int_eq(cg_file_write_atomic(other, junk, strlen(junk), 0644, NULL), 0);
    memset(&err, 0, sizeof(err));
    ck_assert_int_eq(pki_registry_load(other, &doc, &err), CG_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "other.json: not a valid policy, nothing changed: "
                                          "$.routes[0].require: unknown requirement \"Root\""));
    /* an empty file is not a new policy */
    ck_assert_int_eq(cg_file_write_atomic(other, "", 0, 0644, NULL), 0);
    ck_assert_int_eq(pki_registry_load(other, &doc, NULL), CG_ERR_INVALID);
    /* identity matchers are accepted (whether the listener has a client_ca is not known
     * here) */
    static const char matcher[] = "{\"certificates\": [{\"name\": \"m\", \"clearance\": "
                                  "\"Operator\", \"match\": {\"subject_cn\": \"x\"}}]}";
    ck_assert_int_eq(cg_file_write_atomic(other, matcher, strlen(matcher), 0644, NULL), 0);
    ck_assert_int_eq(pki_registry_load(other, &doc, NULL), CG_OK);
    /* pki_registry_check: a result the loader refuses is never saved */
    json_object_set_new(json_array_get(pki_registry_entries(doc), 0), "expires",
                        json_string("tomorrow"));
    memset(&err, 0, sizeof(err));
    ck_assert_int_eq(pki_registry_check(other, doc, NULL, &err), CG_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "other.json: the change would make an invalid policy, "
                                          "nothing changed: $.certificates[0].expires: expected "
                                          "an RFC 3339 time"));
    json_decref(doc);
    /* unchecked: only JSON and an object */
    ck_assert_int_eq(pki_registry_load_unchecked(cfg, &doc, NULL), CG_OK);
    json_decref(doc);
    ck_assert_int_eq(cg_file_write_atomic(other, "[]", 2, 0644, NULL), 0);
    ck_assert_int_eq(pki_registry_load_unchecked(other, &doc, NULL), CG_ERR_INVALID);
}
END_TEST

START_TEST(upgrade_pins)
{
    /* A pin as certgate wrote it before it verified pinned signatures: no issuer_spki.
     * The loader refuses it; upgrade-pins adds the key of the CA it names. */
    json_t *doc = pki_registry_new();
    struct pki_entry_spec spec = {.name = "a", .clearance = "ValidUser", .set_dbs = true};
    ck_assert_int_eq(pki_registry_add(doc, &spec, client.certs, 1, ca.certs, 1, NULL), 0);
    json_t *pin =
        json_array_get(json_object_get(json_array_get(pki_registry_entries(doc), 0), "pins"), 0);
    json_object_del(pin, "issuer_spki");
    struct cg_errbuf err = {{0}};
    ck_assert_int_eq(pki_registry_check("p.json", doc, NULL, &err), CG_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "$.certificates[0].pins[0]: missing \"issuer_spki\""));

    /* a CA that is not the pinned issuer (the client certificate is no CA at all; then
     * the right name with another key id) is a mismatch: refused, naming the pin */
    size_t upgraded = 9, kept = 9;
    memset(&err, 0, sizeof(err));
    ck_assert_int_eq(pki_registry_upgrade_pins(doc, client.certs, 1, &upgraded, &kept, &err),
                     CG_ERR_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(err.msg, "$.certificates[0].pins[0]: no given CA certificate "
                                          "is its issuer \"O=certgate tests,CN=vector CA\""));
    json_object_set_new(pin, "issuer_key_id", json_string("00112233"));
    ck_assert_int_eq(pki_registry_upgrade_pins(doc, ca.certs, 1, &upgraded, &kept, NULL),
                     CG_ERR_NOT_FOUND);
    ck_assert_ptr_null(json_object_get(pin, "issuer_spki"));

    /* the right CA: name and key id (any case, with colons) match */
    json_object_set_new(pin, "issuer_key_id",
                        json_string("e6:65:bd:c0:83:0d:cb:aa:e7:97:be:b2:11:e5:5c:62:1a:67:5e:8e"));
    ck_assert_int_eq(pki_registry_upgrade_pins(doc, ca.certs, 1, &upgraded, &kept, NULL), 0);
    ck_assert_uint_eq(upgraded, 1);
    ck_assert_uint_eq(kept, 0);
    ck_assert_str_eq(json_string_value(json_object_get(pin, "issuer_spki")), VEC_CA_SPKI);
    ck_assert_int_eq(pki_registry_check("p.json", doc, NULL, NULL), 0);
    /* a second run keeps what is there */
    ck_assert_int_eq(pki_registry_upgrade_pins(doc, client.certs, 1, &upgraded, &kept, NULL), 0);
    ck_assert_uint_eq(upgraded, 0);
    ck_assert_uint_eq(kept, 1);
    json_decref(doc);
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

START_TEST(lock_file_mode_follows_policy)
{
    /* A lock file only its creator may open would lock out a daemon running as another
     * user that may write the policy: it gets the policy's permission bits. */
    char path[128], lock[140];
    snprintf(path, sizeof(path), "%s", tmp_path("shared-policy.json"));
    snprintf(lock, sizeof(lock), "%s.lock", path);
    json_t *doc = pki_registry_new();
    ck_assert_int_eq(pki_registry_save(path, doc, NULL), 0);
    json_decref(doc);
    ck_assert_int_eq(chmod(path, 0640), 0);
    mode_t old = umask(022);
    int fd = -1;
    ck_assert_int_eq(pki_registry_lock(path, &fd, NULL), 0);
    umask(old);
    struct stat st;
    ck_assert_int_eq(stat(lock, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0640);
    pki_registry_unlock(fd);
}
END_TEST

START_TEST(lock_is_shared_through_a_symlink)
{
    /* Saves write through a symlinked policy, so the link and its target must share
     * one lock: otherwise a writer naming each would both proceed. */
    char target[128], link[128], lock[160];
    snprintf(target, sizeof(target), "%s", tmp_path("linked-target.json"));
    snprintf(link, sizeof(link), "%s", tmp_path("linked-name.json"));
    snprintf(lock, sizeof(lock), "%s.lock", target);
    json_t *doc = pki_registry_new();
    ck_assert_int_eq(pki_registry_save(target, doc, NULL), 0);
    json_decref(doc);
    ck_assert_int_eq(symlink(target, link), 0);
    int fd = -1, fd2 = -1;
    ck_assert_int_eq(pki_registry_lock(link, &fd, NULL), 0);
    struct stat st;
    ck_assert_int_eq(stat(lock, &st), 0);
    struct cg_errbuf err = {{0}};
    ck_assert_int_eq(pki_registry_lock_timeout(target, 0, &fd2, &err), CG_ERR_LIMIT);
    pki_registry_unlock(fd);
    ck_assert_int_eq(pki_registry_lock_timeout(target, 0, &fd2, NULL), 0);
    pki_registry_unlock(fd2);
    unlink(link);
}
END_TEST

static uint64_t monotonic_ms(void)
{
    return cg_monotonic_us() / 1000;
}

/* lowest_free_fd is the descriptor the next open() gets: equal before and after a
 * call means the call leaked none. */
static int lowest_free_fd(void)
{
    int fd = dup(0);
    ck_assert_int_ge(fd, 0);
    close(fd);
    return fd;
}

START_TEST(lock_file_created_0600_and_kept)
{
    char path[128], lock[140];
    snprintf(path, sizeof(path), "%s", tmp_path("policy.json"));
    snprintf(lock, sizeof(lock), "%s.lock", path);
    int fd = -1;
    ck_assert_int_eq(pki_registry_lock(path, &fd, NULL), 0);
    ck_assert_int_ge(fd, 0);
    struct stat st;
    ck_assert_int_eq(stat(lock, &st), 0);
    ck_assert(S_ISREG(st.st_mode));
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    /* the policy itself is neither created nor touched by the lock */
    ck_assert_int_eq(stat(path, &st), -1);
    ck_assert_int_eq(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    /* a save under the lock replaces the policy, not the lock file */
    json_t *doc = NULL;
    ck_assert_int_eq(pki_registry_load(path, &doc, NULL), 0);
    ck_assert_int_eq(pki_registry_save(path, doc, NULL), 0);
    json_decref(doc);
    pki_registry_unlock(fd);
    ck_assert_int_eq(stat(lock, &st), 0); /* never deleted */
    pki_registry_unlock(-1);              /* no-op */
    /* an existing lock file is reused */
    ck_assert_int_eq(pki_registry_lock(path, &fd, NULL), 0);
    pki_registry_unlock(fd);
    /* no directory: an I/O error naming the lock file, no descriptor left open */
    int free_fd = lowest_free_fd();
    struct cg_errbuf err = {{0}};
    fd = -1;
    ck_assert_int_eq(pki_registry_lock(tmp_path("no/such/dir/policy.json"), &fd, &err), CG_ERR_IO);
    ck_assert_int_eq(fd, -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "no/such/dir/policy.json.lock"));
    ck_assert_int_eq(lowest_free_fd(), free_fd);
}
END_TEST

START_TEST(lock_waits_for_holder)
{
    char path[128];
    snprintf(path, sizeof(path), "%s", tmp_path("policy.json"));
    int ready[2];
    ck_assert_int_eq(pipe(ready), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* The child holds the lock for 300 ms, then releases it. */
        int fd = -1;
        if (pki_registry_lock(path, &fd, NULL) != CG_OK) {
            _exit(1);
        }
        char c = 'x';
        if (write(ready[1], &c, 1) != 1) {
            _exit(2);
        }
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 300 * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
        pki_registry_unlock(fd);
        _exit(0);
    }
    close(ready[1]);
    char c;
    ck_assert_int_eq(read(ready[0], &c, 1), 1);
    close(ready[0]);
    uint64_t start = monotonic_ms();
    int fd = -1;
    struct cg_errbuf err = {{0}};
    ck_assert_int_eq(pki_registry_lock(path, &fd, &err), 0);
    uint64_t waited = monotonic_ms() - start;
    ck_assert_msg(waited >= 200, "took the lock after %llu ms while the child held it",
                  (unsigned long long)waited);
    ck_assert_msg(waited < 5000, "waited %llu ms", (unsigned long long)waited);
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    pki_registry_unlock(fd);
}
END_TEST

START_TEST(lock_times_out)
{
    char path[128];
    snprintf(path, sizeof(path), "%s", tmp_path("policy.json"));
    int held = -1;
    ck_assert_int_eq(pki_registry_lock(path, &held, NULL), 0);
    /* flock locks belong to the open file: a second open in the same process conflicts
     * as another process would. */
    int free_fd = lowest_free_fd();
    int fd = -1;
    struct cg_errbuf err = {{0}};
    uint64_t start = monotonic_ms();
    ck_assert_int_eq(pki_registry_lock_timeout(path, 150, &fd, &err), CG_ERR_LIMIT);
    uint64_t waited = monotonic_ms() - start;
    ck_assert_msg(waited >= 150 && waited < 2000, "gave up after %llu ms",
                  (unsigned long long)waited);
    ck_assert_int_eq(fd, -1);
    ck_assert_int_eq(lowest_free_fd(), free_fd);
    ck_assert_ptr_nonnull(strstr(err.msg, "policy.json.lock: still locked after 150 ms by"));
    ck_assert_ptr_nonnull(strstr(err.msg, "another certgate command or the admin API"));
    /* whole seconds read as seconds */
    memset(&err, 0, sizeof(err));
    ck_assert_int_eq(pki_registry_lock_timeout(path, 1000, &fd, &err), CG_ERR_LIMIT);
    ck_assert_ptr_nonnull(strstr(err.msg, "still locked after 1 s by"));
    /* a single attempt */
    memset(&err, 0, sizeof(err));
    ck_assert_int_eq(pki_registry_lock_timeout(path, 0, &fd, &err), CG_ERR_LIMIT);
    pki_registry_unlock(held);
    ck_assert_int_eq(pki_registry_lock_timeout(path, 0, &fd, NULL), 0);
    pki_registry_unlock(fd);
}
END_TEST

START_TEST(open_checks_before_locking)
{
    /* pki_registry_open, which every writer (commands, enrollment, the admin API) starts
     * with: a file that is not a policy, or a missing one without |create|, is refused
     * before a lock file is created beside it. */
    struct cg_errbuf err = {{0}};
    json_t *doc = NULL;
    int fd = -1;
    struct stat st;
    char lock[160];
    const char *missing = tmp_path("missing.json");
    ck_assert_int_eq(pki_registry_open(missing, false, 0, &fd, &doc, &err), CG_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err.msg, "cannot open"));
    ck_assert_int_eq(fd, -1);
    snprintf(lock, sizeof(lock), "%s.lock", missing);
    ck_assert_int_ne(stat(lock, &st), 0);
    const char *config = tmp_path("certgate.json");
    static const char text[] = "{\"listeners\": [], \"upstreams\": []}\n";
    ck_assert_int_eq(cg_file_write_atomic(config, text, sizeof(text) - 1, 0644, NULL), CG_OK);
    memset(&err, 0, sizeof(err));
    ck_assert_int_eq(pki_registry_open(config, true, 0, &fd, &doc, &err), CG_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "not a policy"));
    snprintf(lock, sizeof(lock), "%s.lock", config);
    ck_assert_int_ne(stat(lock, &st), 0);
    /* A new policy in a directory that does not exist yet. */
    const char *fresh = tmp_path("new/dir/policy.json");
    ck_assert_int_eq(pki_registry_open(fresh, true, 0, &fd, &doc, &err), CG_OK);
    ck_assert_int_ge(fd, 0);
    ck_assert_uint_eq(json_array_size(pki_registry_entries(doc)), 0);
    snprintf(lock, sizeof(lock), "%s.lock", fresh);
    ck_assert_int_eq(stat(lock, &st), 0);
    /* Held: a second writer waits at most its timeout. */
    int fd2 = -1;
    json_t *doc2 = NULL;
    ck_assert_int_eq(pki_registry_open(fresh, true, 0, &fd2, &doc2, &err), CG_ERR_LIMIT);
    ck_assert_ptr_null(doc2);
    pki_registry_unlock(fd2);
    pki_registry_unlock(fd);
    json_decref(doc);
}
END_TEST

Suite *cg_test_suite(void)
{
    Suite *s = suite_create("pki_registry");
    TCase *tc = tcase_create("registry");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, new_document);
    tcase_add_test(tc, register_entry);
    tcase_add_test(tc, several_certificates_one_entry);
    tcase_add_test(tc, find_edit_delete);
    tcase_add_test(tc, save_and_load_files);
    tcase_add_test(tc, only_policies_load);
    tcase_add_test(tc, upgrade_pins);
    tcase_add_test(tc, clearance_words);
    tcase_add_test(tc, lock_file_created_0600_and_kept);
    tcase_add_test(tc, lock_file_mode_follows_policy);
    tcase_add_test(tc, lock_is_shared_through_a_symlink);
    tcase_add_test(tc, lock_waits_for_holder);
    tcase_add_test(tc, lock_times_out);
    tcase_add_test(tc, open_checks_before_locking);
    suite_add_tcase(s, tc);
    return s;
}
