/*
 * tests/check_main.c -- the one Check runner.  Suites register themselves by
 * file name: tests/check_NAME.c defines 'Suite *NAME_suite(void)', and the
 * Makefile lists them in build/gen/check_suites.h.  Exit status is non-zero
 * if any test failed.  Environment: TEMPERA_BIN, TEMPERA_SRC (see 'make check').
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#define TP_SUITE(name) Suite *name##_suite(void);
#include "check_suites.h"
#undef TP_SUITE

int main(int argc, char **argv) {
    /* optional: run only the suites named on the command line */
    SRunner *sr = srunner_create(NULL);
#define TP_SUITE(name) \
    do { \
        int want = argc < 2; \
        for (int i = 1; i < argc; i++) want |= strcmp(argv[i], #name) == 0; \
        if (want) srunner_add_suite(sr, name##_suite()); \
    } while (0);
#include "check_suites.h"
#undef TP_SUITE
    srunner_run_all(sr, CK_ENV);   /* CK_VERBOSITY=verbose names every test */
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
