/* Tests of pki/files.c: certificate directories appear whole and never overwrite. */
#include "pki/files.h"

#include "check_main.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/file.h"

static char root[64];

static void setup(void)
{
    snprintf(root, sizeof(root), "/tmp/cg-files-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(root));
}

static void teardown(void)
{
    pki_remove_tree(root);
    ck_assert_int_ne(access(root, F_OK), 0);
}

static const char *in_root(const char *rel)
{
    static char buf[256];
    snprintf(buf, sizeof(buf), "%s/%s", root, rel);
    return buf;
}

static const struct pki_file files[] = {
    {"a.crt", "cert\n", 5, 0644},
    {"a.key", "key\n", 4, 0600},
};

static void expect_file(const char *rel, const char *content, mode_t mode)
{
    char *data = NULL;
    size_t len = 0;
    ck_assert_int_eq(cg_file_read(in_root(rel), 1024, &data, &len, NULL), 0);
    ck_assert_str_eq(data, content);
    free(data);
    struct stat st;
    ck_assert_int_eq(stat(in_root(rel), &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, mode);
}

START_TEST(new_directory_with_parents)
{
    char dir[256];
    snprintf(dir, sizeof(dir), "%s", in_root("x/y/out"));
    ck_assert_int_eq(pki_files_write_new(dir, files, 2, NULL), 0);
    expect_file("x/y/out/a.crt", "cert\n", 0644);
    expect_file("x/y/out/a.key", "key\n", 0600);
    struct stat st;
    ck_assert_int_eq(stat(dir, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0700);
    /* a second time: the directory is no longer empty and the files exist */
    struct cg_errbuf err = {{0}};
    ck_assert_int_eq(pki_files_write_new(dir, files, 2, &err), CG_ERR_EXISTS);
    ck_assert_ptr_nonnull(strstr(err.msg, "a.crt: already exists"));
    expect_file("x/y/out/a.crt", "cert\n", 0644);
}
END_TEST

START_TEST(existing_directory_gets_files_beside)
{
    ck_assert_int_eq(mkdir(in_root("d"), 0755), 0);
    ck_assert_int_eq(cg_file_write_atomic(in_root("d/other"), "o", 1, 0644, NULL), 0);
    char dir[256];
    snprintf(dir, sizeof(dir), "%s", in_root("d"));
    ck_assert_int_eq(pki_files_write_new(dir, files, 2, NULL), 0);
    expect_file("d/a.key", "key\n", 0600);
    expect_file("d/other", "o", 0644);
    /* one existing name stops all of them: nothing new appears */
    ck_assert_int_eq(unlink(in_root("d/a.crt")), 0);
    ck_assert_int_eq(pki_files_write_new(dir, files, 2, NULL), CG_ERR_EXISTS);
    ck_assert_int_ne(access(in_root("d/a.crt"), F_OK), 0);
    /* an empty directory is replaced whole */
    ck_assert_int_eq(mkdir(in_root("e"), 0755), 0);
    snprintf(dir, sizeof(dir), "%s", in_root("e"));
    ck_assert_int_eq(pki_files_write_new(dir, files, 2, NULL), 0);
    expect_file("e/a.crt", "cert\n", 0644);
    /* no temporary files are left anywhere */
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "find %s -name '*tmp*' | grep -q .", root);
    ck_assert_int_ne(system(cmd), 0);
}
END_TEST

START_TEST(bad_names)
{
    const struct pki_file bad = {"../x", "", 0, 0644};
    ck_assert_int_eq(pki_files_write_new(in_root("z"), &bad, 1, NULL), CG_ERR_INVALID);
    char *p = pki_path_join("/a/", "b");
    ck_assert_str_eq(p, "/a/b");
    free(p);
}
END_TEST

Suite *cg_test_suite(void)
{
    Suite *s = suite_create("pki_files");
    TCase *tc = tcase_create("files");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, new_directory_with_parents);
    tcase_add_test(tc, existing_directory_gets_files_beside);
    tcase_add_test(tc, bad_names);
    suite_add_tcase(s, tc);
    return s;
}
