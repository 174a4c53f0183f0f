/* Unit tests (Check): each tests/unit/.../<name>_test.c defines cg_test_suite, and
 * check_main.c runs it. */
#ifndef CG_TESTS_CHECK_MAIN_H
#define CG_TESTS_CHECK_MAIN_H

#include <check.h>

/* cg_test_suite returns the test file's suite; the runner owns it. */
Suite *cg_test_suite(void);

#endif
