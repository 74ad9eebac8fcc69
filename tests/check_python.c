/*
 * tests/check_python.c -- the Python package (python/tempera) against files
 * the C side writes: runs tests/python/test_readers.py with the Debian
 * python3 (numpy and zstandard from python3-numpy and python3-zstandard,
 * installed by 'make deps'; $PYTHON overrides) and PYTHONPATH=python/.
 */
#include "check_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *python(void) {
    const char *p = getenv("PYTHON");
    if (p && *p) return p;
    return access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
}

START_TEST(test_python_readers) {
    char *dir = tp_test_scratch_dir("python");
    ck_assert_ptr_nonnull(dir);
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "PYTHONPATH='%s' '%s' -c 'import numpy, zstandard' 2>&1", tp_test_src_path("python"),
             python());
    tp_cmd_result r = tp_test_run_cmd(dir, NULL, (const char *const[]){ "/bin/sh", "-c", cmd, NULL });
    ck_assert_msg(r.status == 0, "%s cannot import numpy and zstandard (make deps installs python3-numpy and "
                  "python3-zstandard): %s", python(), r.out);
    tp_cmd_result_free(&r);
    char script[4096];
    snprintf(script, sizeof script, "%s", tp_test_src_path("tests/python/test_readers.py"));
    snprintf(cmd, sizeof cmd, "PYTHONPATH='%s' '%s' '%s' '%s' 2>&1", tp_test_src_path("python"), python(), script, dir);
    r = tp_test_run_cmd(dir, NULL, (const char *const[]){ "/bin/sh", "-c", cmd, NULL });
    ck_assert_msg(r.status == 0, "python readers failed:\n%s", r.out);
    fprintf(stderr, "%s", r.out);
    tp_cmd_result_free(&r);
    free(dir);
}
END_TEST

Suite *python_suite(void) {
    Suite *s = suite_create("python");
    TCase *tc = tp_test_tcase("readers", 120);
    tcase_add_test(tc, test_python_readers);
    suite_add_tcase(s, tc);
    return s;
}
