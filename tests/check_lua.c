/*
 * tests/check_lua.c -- runs every .lua file in tests/lua, each in a fresh Lua state
 * created through the same host entry points as the CLI (tp_lua_init,
 * tp_lua_run_file), in its own scratch directory.  A Lua test passes when it
 * runs to the end; it fails by raising (assert with a message).  The
 * script's stdout is kept out of the log unless it fails.
 */
#include "check_util.h"
#include "host.h"
#include "error.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_FILES 256
static char *files[MAX_FILES];
static int nfiles = 0;

static void scan(void) {
    nfiles = tp_test_list_dir("tests/lua", ".lua", 0, files, MAX_FILES);
}

START_TEST(test_lua_file) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", tp_test_src_path("tests/lua"), files[_i]);
    char *dir = tp_test_scratch_dir("lua");
    ck_assert_ptr_nonnull(dir);
    ck_assert_int_eq(chdir(dir), 0);
    fflush(stdout);
    ck_assert_ptr_nonnull(freopen("stdout.txt", "w", stdout));
    tp_run_opts o;
    memset(&o, 0, sizeof o);
    o.mode = "run";
    o.recipe = path;
    o.quiet = 1;
    lua_State *L = tp_lua_init(&o);
    ck_assert_ptr_nonnull(L);
    int rc = tp_lua_run_file(L, path);
    tp_lua_free(L);
    fflush(stdout);
    if (rc != 0) {
        char *out = tp_test_read_file("stdout.txt");
        fprintf(stderr, "--- stdout of %s ---\n%s\n", files[_i], out ? out : "");
        free(out);
    }
    ck_assert_msg(rc == 0, "tests/lua/%s failed with status %d (message above)", files[_i], rc);
    free(dir);
}
END_TEST

START_TEST(test_lua_runner_sees_files) {
    /* the runner must not silently run nothing */
    ck_assert_int_gt(nfiles, 0);
}
END_TEST

Suite *lua_suite(void) {
    scan();
    Suite *s = suite_create("lua");
    TCase *tc = tp_test_tcase("tests/lua", 120);
    tcase_add_test(tc, test_lua_runner_sees_files);
    tcase_add_loop_test(tc, test_lua_file, 0, nfiles);
    suite_add_tcase(s, tc);
    return s;
}
