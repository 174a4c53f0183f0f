/* The main() every unit test executable shares: it runs the suite its test file builds
 * (check_main.h) and exits non-zero when a test failed. CK_FORK=no runs the tests in
 * this process, for a debugger. */
#include <stdlib.h>

#include "check_main.h"

int main(void)
{
    SRunner *sr = srunner_create(cg_test_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
