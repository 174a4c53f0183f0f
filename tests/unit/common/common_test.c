/* Tests for common/: string slices, strict JSON getters, atomic file writes, socket
 * address text. */
#include <arpa/inet.h>
#include "check_main.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/file.h"
#include "common/json.h"
#include "common/sockaddr.h"
#include "common/str.h"

START_TEST(test_str_case_eq)
{
    ck_assert(cg_str_case_eq(CG_STR_LIT("Content-Length"), CG_STR_LIT("content-length")));
    ck_assert(!cg_str_case_eq(CG_STR_LIT("Content-Length"), CG_STR_LIT("content-lengt")));
    ck_assert(!cg_str_case_eq(CG_STR_LIT("a"), CG_STR_LIT("b")));
    ck_assert(cg_str_case_eq(CG_STR_LIT(""), CG_STR_LIT("")));
}
END_TEST

START_TEST(test_str_tokens)
{
    struct cg_str list = CG_STR_LIT(" close , ,Upgrade\t,keep-alive ");
    struct cg_str tok;
    const char *want[] = {"close", "Upgrade", "keep-alive"};
    for (size_t i = 0; i < 3; i++) {
        ck_assert(cg_str_next_token(&list, &tok));
        ck_assert(cg_str_eq(tok, cg_str_from_cstr(want[i])));
    }
    ck_assert(!cg_str_next_token(&list, &tok));
    struct cg_str trimmed = cg_str_trim_ows(CG_STR_LIT(" \t x y \t"));
    ck_assert(cg_str_eq(trimmed, CG_STR_LIT("x y")));
}
END_TEST

START_TEST(test_sockaddr_text_and_port)
{
    char text[CG_SOCKADDR_TEXT_MAX];
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(8443)};
    inet_pton(AF_INET, "192.0.2.7", &sin.sin_addr);
    cg_sockaddr_text((const struct sockaddr *)&sin, text);
    ck_assert_str_eq(text, "192.0.2.7");
    ck_assert_uint_eq(cg_sockaddr_port((const struct sockaddr *)&sin), 8443);

    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(65535)};
    inet_pton(AF_INET6, "2001:db8::1", &sin6.sin6_addr);
    cg_sockaddr_text((const struct sockaddr *)&sin6, text);
    ck_assert_str_eq(text, "2001:db8::1");
    ck_assert_uint_eq(cg_sockaddr_port((const struct sockaddr *)&sin6), 65535);

    /* A dual-stack listener sees IPv4 clients as mapped addresses: shown as IPv4. */
    inet_pton(AF_INET6, "::ffff:10.1.2.3", &sin6.sin6_addr);
    cg_sockaddr_text((const struct sockaddr *)&sin6, text);
    ck_assert_str_eq(text, "10.1.2.3");

    /* The longest IPv6 text fits. */
    inet_pton(AF_INET6, "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", &sin6.sin6_addr);
    cg_sockaddr_text((const struct sockaddr *)&sin6, text);
    ck_assert_uint_gt(strlen(text), 30);

    struct sockaddr other = {.sa_family = AF_UNIX};
    cg_sockaddr_text(&other, text);
    ck_assert_str_eq(text, "");
    ck_assert_uint_eq(cg_sockaddr_port(&other), 0);
}
END_TEST

static json_t *parse(const char *text)
{
    json_t *j = NULL;
    struct cg_errbuf err = {0};
    ck_assert_int_eq(cg_json_load_str("t.json", text, strlen(text), &j, &err), CG_OK);
    return j;
}

static void check_u64(uint64_t v, const char *want)
{
    char buf[32];
    char *end = cg_put_u64(buf, v);
    *end = '\0';
    ck_assert_str_eq(buf, want);
}

START_TEST(test_put_numbers)
{
    check_u64(0, "0");
    check_u64(7, "7");
    check_u64(1234567890, "1234567890");
    check_u64(UINT64_MAX, "18446744073709551615");
    char buf[32];
    *cg_put_hex(buf, 0xab, 4) = '\0';
    ck_assert_str_eq(buf, "00ab");
    *cg_put_hex(buf, 0x123456, 2) = '\0';
    ck_assert_str_eq(buf, "123456"); /* more digits when needed */
    *cg_put_hex(buf, 0, 1) = '\0';
    ck_assert_str_eq(buf, "0");
    *cg_put_hex(buf, UINT64_MAX, 10) = '\0';
    ck_assert_str_eq(buf, "ffffffffffffffff");
    /* Same text as printf's "%08x%02x%010" PRIx64 for the request ids. */
    char want[64];
    snprintf(want, sizeof(want), "%08x%02x%010" PRIx64, 0x1234u, 3u, (uint64_t)0xbeef);
    char *p = cg_put_hex(buf, 0x1234, 8);
    p = cg_put_hex(p, 3, 2);
    *cg_put_hex(p, 0xbeef, 10) = '\0';
    ck_assert_str_eq(buf, want);
}
END_TEST

START_TEST(test_json_syntax_error_has_line_col)
{
    json_t *j = NULL;
    struct cg_errbuf err = {0};
    const char *text = "{\n  \"a\": 1,\n  \"b\": ]\n}";
    ck_assert_int_eq(cg_json_load_str("t.json", text, strlen(text), &j, &err), CG_ERR_INVALID);
    ck_assert_msg(strncmp(err.msg, "t.json:3:", 9) == 0, "got %s", err.msg);
}
END_TEST

START_TEST(test_json_duplicate_keys_rejected)
{
    json_t *j = NULL;
    struct cg_errbuf err = {0};
    const char *text = "{\"a\": 1, \"a\": 2}";
    ck_assert_int_eq(cg_json_load_str("t.json", text, strlen(text), &j, &err), CG_ERR_INVALID);
}
END_TEST

START_TEST(test_json_unknown_key)
{
    json_t *j = parse("{\"name\": \"x\", \"nmae\": 1}");
    struct cg_errbuf err = {0};
    struct cg_json_ctx ctx = {.file = "t.json", .err = &err};
    static const char *const allowed[] = {"name", NULL};
    ck_assert_int_eq(cg_json_check_keys(&ctx, j, "$", allowed), CG_ERR_INVALID);
    ck_assert_str_eq(err.msg, "t.json: $.nmae: unknown key \"nmae\"");
    json_decref(j);
}
END_TEST

START_TEST(test_json_getters)
{
    json_t *j = parse("{\"s\": \"v\", \"b\": true, \"n\": 7, \"d1\": \"30s\", \"d2\": 250,"
                      " \"d3\": \"5m\", \"z\": \"16KiB\", \"bad\": \"3x\", \"neg\": -1}");
    struct cg_errbuf err = {0};
    struct cg_json_ctx ctx = {.file = "t.json", .err = &err};
    const char *s = NULL;
    bool b = false;
    uint64_t n = 0, d = 0, z = 0;
    ck_assert_int_eq(cg_json_get_string(&ctx, j, "$", "s", &s), CG_OK);
    ck_assert_str_eq(s, "v");
    ck_assert_int_eq(cg_json_get_bool(&ctx, j, "$", "b", &b), CG_OK);
    ck_assert(b);
    ck_assert_int_eq(cg_json_get_uint(&ctx, j, "$", "n", 0, 10, &n), CG_OK);
    ck_assert_uint_eq(n, 7);
    ck_assert_int_eq(cg_json_get_duration_ms(&ctx, j, "$", "d1", 86400000, &d), CG_OK);
    ck_assert_uint_eq(d, 30000);
    ck_assert_int_eq(cg_json_get_duration_ms(&ctx, j, "$", "d2", 86400000, &d), CG_OK);
    ck_assert_uint_eq(d, 250);
    ck_assert_int_eq(cg_json_get_duration_ms(&ctx, j, "$", "d3", 86400000, &d), CG_OK);
    ck_assert_uint_eq(d, 300000);
    ck_assert_int_eq(cg_json_get_size(&ctx, j, "$", "z", 0, 1u << 30, &z), CG_OK);
    ck_assert_uint_eq(z, 16384);
    /* Absent keys leave the default in place. */
    n = 42;
    ck_assert_int_eq(cg_json_get_uint(&ctx, j, "$", "missing", 0, 10, &n), CG_OK);
    ck_assert_uint_eq(n, 42);
    /* Type and range errors name the path. */
    ck_assert_int_eq(cg_json_get_uint(&ctx, j, "$", "n", 0, 5, &n), CG_ERR_INVALID);
    ck_assert_msg(strstr(err.msg, "$.n: expected an integer from 0 to 5") != NULL, "%s", err.msg);
    memset(&err, 0, sizeof(err));
    ck_assert_int_eq(cg_json_get_duration_ms(&ctx, j, "$", "bad", 1000, &d), CG_ERR_INVALID);
    memset(&err, 0, sizeof(err));
    ck_assert_int_eq(cg_json_get_uint(&ctx, j, "$", "neg", 0, 5, &n), CG_ERR_INVALID);
    memset(&err, 0, sizeof(err));
    ck_assert_int_eq(cg_json_get_string(&ctx, j, "$", "n", &s), CG_ERR_INVALID);
    ck_assert_msg(strstr(err.msg, "$.n: expected a string") != NULL, "%s", err.msg);
    json_decref(j);
}
END_TEST

START_TEST(test_file_write_atomic)
{
    char dir[] = "/tmp/cg_common_test_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof(path), "%s/f.json", dir);
    struct cg_errbuf err = {0};
    ck_assert_int_eq(cg_file_write_atomic(path, "old", 3, 0600, &err), CG_OK);
    ck_assert_int_eq(cg_file_write_atomic(path, "new!", 4, 0640, &err), CG_OK);
    char *data = NULL;
    size_t len = 0;
    ck_assert_int_eq(cg_file_read(path, 1024, &data, &len, &err), CG_OK);
    ck_assert_uint_eq(len, 4);
    ck_assert_str_eq(data, "new!");
    free(data);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0640);
    /* Reading is bounded. */
    ck_assert_int_eq(cg_file_read(path, 2, &data, &len, &err), CG_ERR_LIMIT);
    /* A write into a missing directory fails and leaves nothing behind. */
    char bad[300];
    snprintf(bad, sizeof(bad), "%s/missing/f.json", dir);
    memset(&err, 0, sizeof(err));
    ck_assert_int_eq(cg_file_write_atomic(bad, "x", 1, 0600, &err), CG_ERR_IO);
    ck_assert(err.msg[0] != '\0');
    unlink(path);
    ck_assert_int_eq(rmdir(dir), 0); /* empty: no temporary file was left */
}
END_TEST

START_TEST(test_file_write_atomic_through_symlink)
{
    char dir[] = "/tmp/cg_common_test_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char store[256], conf[256], target[300], link[300], dangling[300];
    snprintf(store, sizeof(store), "%s/store", dir);
    snprintf(conf, sizeof(conf), "%s/conf", dir);
    ck_assert_int_eq(mkdir(store, 0700), 0);
    ck_assert_int_eq(mkdir(conf, 0700), 0);
    snprintf(target, sizeof(target), "%s/policy.json", store);
    snprintf(link, sizeof(link), "%s/policy.json", conf);
    struct cg_errbuf err = {0};
    ck_assert_int_eq(cg_file_write_atomic(target, "old", 3, 0644, &err), CG_OK);
    ck_assert_int_eq(symlink(target, link), 0);

    char *resolved = NULL;
    ck_assert_int_eq(cg_file_resolve_link(link, &resolved, &err), CG_OK);
    ck_assert_str_eq(resolved, target);
    free(resolved);
    ck_assert_int_eq(cg_file_resolve_link(target, &resolved, &err), CG_OK);
    ck_assert_str_eq(resolved, target);
    free(resolved);

    /* Writing the link: the link stays a link, its target gets the content. */
    ck_assert_int_eq(cg_file_write_atomic(link, "new!", 4, 0644, &err), CG_OK);
    struct stat st;
    ck_assert_int_eq(lstat(link, &st), 0);
    ck_assert(S_ISLNK(st.st_mode));
    char *data = NULL;
    size_t len = 0;
    ck_assert_int_eq(cg_file_read(target, 1024, &data, &len, &err), CG_OK);
    ck_assert_str_eq(data, "new!");
    free(data);

    /* A dangling link is an error naming it; nothing is created. */
    snprintf(dangling, sizeof(dangling), "%s/gone.json", conf);
    char missing[300];
    snprintf(missing, sizeof(missing), "%s/missing.json", store);
    ck_assert_int_eq(symlink(missing, dangling), 0);
    memset(&err, 0, sizeof(err));
    ck_assert_int_eq(cg_file_write_atomic(dangling, "x", 1, 0644, &err), CG_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err.msg, "gone.json"));
    ck_assert_int_eq(access(missing, F_OK), -1);

    /* No temporary file left anywhere. */
    unlink(dangling);
    unlink(link);
    unlink(target);
    ck_assert_int_eq(rmdir(conf), 0);
    ck_assert_int_eq(rmdir(store), 0);
    ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

Suite *cg_test_suite(void)
{
    Suite *s = suite_create("common");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_str_case_eq);
    tcase_add_test(tc, test_str_tokens);
    tcase_add_test(tc, test_put_numbers);
    tcase_add_test(tc, test_json_syntax_error_has_line_col);
    tcase_add_test(tc, test_json_duplicate_keys_rejected);
    tcase_add_test(tc, test_json_unknown_key);
    tcase_add_test(tc, test_json_getters);
    tcase_add_test(tc, test_file_write_atomic);
    tcase_add_test(tc, test_file_write_atomic_through_symlink);
    tcase_add_test(tc, test_sockaddr_text_and_port);
    suite_add_tcase(s, tc);
    return s;
}
