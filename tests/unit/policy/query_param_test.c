/* Tests for policy/query_param.c: which query keys name the database parameter.
 * Regression: "?db=allowed&DB=forbidden",
 * "?db=allowed&+db=forbidden", "?db[]=forbidden&db=allowed" and
 * "?db+=forbidden&db=allowed" were authorized as "allowed" while a database reading
 * the other key used "forbidden"; every such spelling must count, and two are refused. */
#include "check_main.h"
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "policy/query_param.h"

struct found_case {
    const char *name;
    const char *query;
    const char *value; /* NULL: not found (and accepted) */
};

static const struct found_case found_cases[] = {
    {"db", "db=hr", "hr"},
    {"db", "q=1&db=hr&x", "hr"},
    {"db", "db=h%72", "hr"},
    {"db", "db=my+db", "my db"},
    {"db", "db=my%2Bdb", "my+db"},
    {"db", "db=%2561", "%61"}, /* decoded once, as the database decodes it */
    {"db", "db=a=b", "a=b"},
    {"db", "db=", ""},
    {"db", "db", ""},
    {"db", "&&db=hr&&", "hr"},
    {"db", "x=1;y=2&db=hr", "hr"}, /* ';' elsewhere is fine */
    {"db", "db=hr&x=1;y=2", "hr"},
    /* One key in another spelling: it is the one taken. */
    {"db", "DB=hr", "hr"},
    {"db", "Db=hr", "hr"},
    {"db", "%64b=hr", "hr"},
    {"db", "d%62=hr", "hr"},
    {"db", "%44%42=hr", "hr"},
    {"db", "+db=hr", "hr"},
    {"db", "db+=hr", "hr"},
    {"db", "%20db%09=hr", "hr"},
    {"db", "db[]=hr", "hr"},
    {"db", "db%5B%5D=hr", "hr"},
    {"db", "db[0]=hr", "hr"},
    {"db", "db[x][y]=hr", "hr"},
    {"db", "[db]=hr", "hr"},
    {"db", "db]=hr", "hr"},
    {"db", "db+[]=hr", "hr"},
    {"bucket", "BUC%4BET=b", "b"},
    {"bucket", "bucket=b&db=x", "b"},
    {"database_name", "database.name=x", "x"},
    {"database_name", "database+name=x", "x"},
    {"database_name", "Database_Name=x", "x"},
    {"database_name", "database[name=x", "x"}, /* PHP: an unclosed '[' is '_' */
    {"Db", "db=hr", "hr"},
    /* Unicode letters whose case mapping is ASCII (Java's equalsIgnoreCase). */
    {"bucket", "buc%E2%84%AAet=b", "b"},
    {"list", "l%C4%B1st=x", "x"},
    {"list", "l%C4%B0st=x", "x"},
    {"list", "li%C5%BFt=x", "x"},
    {"l\xc4\xb1st", "LIST=x", "x"}, /* a name written with one of them */
    {"l\xc4\xb1st", "lis=x&listx=y", NULL},
    /* Not the parameter. */
    {"db", "", NULL},
    {"db", "dbx=hr", NULL},
    {"db", "xdb=hr", NULL},
    {"db", "d=hr&b=x", NULL},
    {"db", "d_b=hr", NULL},
    {"db", "q=db", NULL},
    {"db", "d;b=1", NULL},
    {"db", "%C4%B1db=1", NULL},
    {"bucket", "b%C3%BCcket=x", NULL},
    {"database_name", "database-name=x", NULL},
    {"db", "db%3D=x", NULL},
};

static const struct found_case bad_cases[] = {
    /* The four spellings of the regression, and more: two keys name the parameter. */
    {"db", "db=allowed&DB=forbidden", NULL},
    {"db", "db=allowed&+db=forbidden", NULL},
    {"db", "db[]=forbidden&db=allowed", NULL},
    {"db", "db+=forbidden&db=allowed", NULL},
    {"db", "db=a&db=b", NULL},
    {"db", "db=a&db=a", NULL},
    {"db", "db=hr&db", NULL},
    {"db", "db&db", NULL},
    {"db", "db=hr&db=", NULL},
    {"db", "%64b=forbidden&db=allowed", NULL},
    {"db", "d%62=forbidden&db=allowed", NULL},
    {"db", "db%5B%5D=forbidden&db=allowed", NULL},
    {"db", "db[x]=forbidden&db=allowed", NULL},
    {"db", "[db]=forbidden&db=allowed", NULL},
    {"db", "db=allowed&%20db=forbidden", NULL},
    {"db", "db=allowed&db%09=forbidden", NULL},
    {"bucket", "bucket=a&buc%E2%84%AAet=b", NULL},
    {"database_name", "database_name=a&database.name=b", NULL},
    {"database_name", "database_name=a&database[name=b", NULL},
    /* ';' splits for some servers only. */
    {"db", "db=allowed;db=forbidden", NULL},
    {"db", "db=allowed;x", NULL},
    {"db", "x=1;db=forbidden", NULL},
    {"db", "x=1;db=forbidden&db=allowed", NULL},
    {"db", "db=a&x;db=b", NULL},
    /* Cannot be decoded: the key could be the parameter, the value is not what was meant. */
    {"db", "%zz=1&db=hr", NULL},
    {"db", "d%6=1&db=hr", NULL},
    {"db", "%00db=hr", NULL},
    {"db", "db=%zz", NULL},
    {"db", "db=h%00r", NULL},
    {"db", "db=hr%", NULL},
    /* Control characters in the value. */
    {"db", "db=hr%0A", NULL},
    {"db", "db=hr%09", NULL},
    {"db", "db=%7Fhr", NULL},
};

START_TEST(test_found)
{
    const struct found_case *c = &found_cases[_i];
    char buf[128];
    struct policy_query_value v;
    int rc = policy_query_param(cg_str_from_cstr(c->query), c->name, buf, sizeof(buf), &v);
    ck_assert_msg(rc == 0, "%s in \"%s\": rc %d", c->name, c->query, rc);
    if (c->value == NULL) {
        ck_assert_msg(!v.found, "%s found in \"%s\" as \"%.*s\"", c->name, c->query,
                      (int)v.value.len, v.value.p);
        ck_assert_uint_eq(v.value.len, 0);
        return;
    }
    ck_assert_msg(v.found, "%s not found in \"%s\"", c->name, c->query);
    ck_assert_uint_eq(v.value.len, strlen(c->value));
    ck_assert(memcmp(v.value.p, c->value, v.value.len) == 0);
    ck_assert(v.value.p[v.value.len] == '\0');
}
END_TEST

START_TEST(test_refused)
{
    const struct found_case *c = &bad_cases[_i];
    char buf[128];
    struct policy_query_value v;
    int rc = policy_query_param(cg_str_from_cstr(c->query), c->name, buf, sizeof(buf), &v);
    ck_assert_msg(rc == CG_ERR_INVALID, "%s in \"%s\" accepted (found %d, \"%.*s\")", c->name,
                  c->query, v.found, (int)v.value.len, v.value.p);
    ck_assert(!v.found);
}
END_TEST

START_TEST(test_buffer)
{
    struct policy_query_value v;
    char buf[8];
    /* query.len + 1 always suffices. */
    ck_assert_int_eq(policy_query_param(CG_STR_LIT("db=abcd"), "db", buf, 8, &v), 0);
    ck_assert(v.found);
    ck_assert_int_eq(policy_query_param(CG_STR_LIT("abcdefg%68ij=1"), "db", buf, 8, &v),
                     CG_ERR_LIMIT);
    ck_assert_int_eq(policy_query_param(CG_STR_LIT("db=abcdefghij"), "db", buf, 8, &v),
                     CG_ERR_LIMIT);
    ck_assert(!v.found);
    ck_assert_int_eq(policy_query_param(CG_STR_LIT(""), "db", buf, 0, &v), CG_ERR_LIMIT);
    /* An empty query (NULL slice) is fine. */
    ck_assert_int_eq(policy_query_param((struct cg_str){NULL, 0}, "db", buf, 1, &v), 0);
    ck_assert(!v.found);
    /* A name that reduces to nothing never matches. */
    ck_assert_int_eq(policy_query_param(CG_STR_LIT("=1&[]=2"), "[]", buf, sizeof(buf), &v), 0);
    ck_assert(!v.found);
}
END_TEST

Suite *cg_test_suite(void)
{
    Suite *s = suite_create("query_param");
    TCase *tc = tcase_create("core");
    tcase_add_loop_test(tc, test_found, 0, sizeof(found_cases) / sizeof(found_cases[0]));
    tcase_add_loop_test(tc, test_refused, 0, sizeof(bad_cases) / sizeof(bad_cases[0]));
    tcase_add_test(tc, test_buffer);
    suite_add_tcase(s, tc);
    return s;
}
