/*
 * tests/check_golden.c -- golden-output recipe tests (zstd cli-tests style).
 * For every tests/golden/NAME.stdout, run
 *     tempera run $TEMPERA_SRC/recipes/NAME.lua --quiet [ARGS]
 * in a fresh scratch directory and compare stdout with the file line by
 * line.  ARGS come from an optional tests/golden/NAME.args (one line).
 * In a golden line, "{*}" matches any text (timings); everything else must
 * match exactly.  The recipes use fixed seeds, so the CPU output is
 * reproducible bit for bit; the runs are pinned to the CPU backend
 * (TEMPERA_BACKEND=cpu) so that a machine with a GPU, where "auto" would
 * pick CUDA, checks the same promise.
 */
#include "check_util.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_GOLDEN 128
static char *names[MAX_GOLDEN];
static int nnames = 0;

static void scan(void) {
    nnames = tp_test_list_dir("tests/golden", ".stdout", 1, names, MAX_GOLDEN);
}

/* does text match pattern, where "{*}" in pattern matches any substring? */
static int glob_match(const char *pat, const char *text) {
    const char *star = strstr(pat, "{*}");
    if (!star) return strcmp(pat, text) == 0;
    size_t pre = (size_t)(star - pat);
    if (strncmp(pat, text, pre) != 0) return 0;
    for (const char *t = text + pre; ; t++) {
        if (glob_match(star + 3, t)) return 1;
        if (!*t) return 0;
    }
}

/* split at '\n' in place; returns the number of lines */
static int split_lines(char *s, char **lines, int max) {
    int n = 0;
    while (*s && n < max) {
        lines[n++] = s;
        char *nl = strchr(s, '\n');
        if (!nl) break;
        *nl = 0;
        s = nl + 1;
    }
    return n;
}

START_TEST(test_golden) {
    const char *name = names[_i];
    char rel[512], recipe[4096], args_path[4096];
    snprintf(rel, sizeof rel, "recipes/%s.lua", name);
    snprintf(recipe, sizeof recipe, "%s", tp_test_src_path(rel));
    snprintf(rel, sizeof rel, "tests/golden/%s.args", name);
    snprintf(args_path, sizeof args_path, "%s", tp_test_src_path(rel));
    snprintf(rel, sizeof rel, "tests/golden/%s.stdout", name);
    char *want = tp_test_read_file(tp_test_src_path(rel));
    ck_assert_ptr_nonnull(want);

    const char *argv[64] = { "tempera", "run", recipe, "--quiet" };
    int argc = 4;
    char *args = tp_test_read_file(args_path);
    if (args) {
        for (char *tok = strtok(args, " \t\n"); tok && argc < 62; tok = strtok(NULL, " \t\n")) argv[argc++] = tok;
    }
    argv[argc] = NULL;
    char *dir = tp_test_scratch_dir("golden");
    const char *old = getenv("TEMPERA_BACKEND");
    char *saved = old ? strdup(old) : NULL;
    setenv("TEMPERA_BACKEND", "cpu", 1);
    tp_cmd_result r = tp_test_run_cmd(dir, NULL, argv);
    if (saved) setenv("TEMPERA_BACKEND", saved, 1); else unsetenv("TEMPERA_BACKEND");
    free(saved);
    ck_assert_msg(r.status == 0, "recipes/%s.lua exited %d:\n%s", name, r.status, r.err);

    static char *wl[20000], *gl[20000];
    char *got = strdup(r.out);
    int nw = split_lines(want, wl, 20000), ng = split_lines(got, gl, 20000);
    for (int k = 0; k < nw && k < ng; k++)
        ck_assert_msg(glob_match(wl[k], gl[k]), "recipes/%s.lua stdout line %d:\n  want: %s\n  got:  %s", name, k + 1, wl[k], gl[k]);
    ck_assert_msg(nw == ng, "recipes/%s.lua: %d lines of stdout, golden file has %d", name, ng, nw);
    free(got);
    free(args);
    free(want);
    tp_cmd_result_free(&r);
    free(dir);
}
END_TEST

START_TEST(test_glob_match) {
    ck_assert(glob_match("abc", "abc"));
    ck_assert(!glob_match("abc", "abd"));
    ck_assert(glob_match("took {*} s", "took 1.5 s"));
    ck_assert(glob_match("{*}", ""));
    ck_assert(!glob_match("took {*} s", "took 1.5 ms!"));
    ck_assert(glob_match("a{*}b{*}c", "axxbyyc"));
}
END_TEST


/* The "exact" numbers the recipes print are exact: the committed golden
 * lines (which the recipes must reproduce) against Kaufman's closed form
 * for the 4x4 torus, its beta-derivatives taken by central differences
 * (E/N = -(1/N) d log Z / d beta, C = (beta^2/N) d^2 log Z / d beta^2).
 * A sign error in a recipe's log Z once printed -12.6826 for 15.5222 and
 * matched its own estimate. */
static double kz(double beta) { return tp_test_kaufman_log_z(4, 4, beta); }

static void check_exact(const char *what, double printed, double exact, double tol) {
    ck_assert_msg(fabs(printed - exact) <= tol, "%s: printed %.6f, exact %.6f", what, printed, exact);
}

START_TEST(test_golden_exact_numbers) {
    const double h = 1e-4, N = 16;
    char path[4096];
    snprintf(path, sizeof path, "%s", tp_test_src_path("tests/golden/analysis_demo.stdout"));
    char *text = tp_test_read_file(path);
    ck_assert_ptr_nonnull(text);
    const double b = 0.4407;
    double e = -(kz(b + h) - kz(b - h)) / (2 * h) / N;
    double c = b * b * (kz(b + h) - 2 * kz(b) + kz(b - h)) / (h * h) / N;
    struct { const char *row; double exact; } rows[] = {
        { "<E>/N ", e }, { "heat capacity ", c }, { "log Z ", kz(b) }, { "free energy F/N ", -kz(b) / b / N } };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const char *at = strstr(text, rows[i].row);
        ck_assert_msg(at != NULL, "analysis_demo prints no '%s' row", rows[i].row);
        at += strlen(rows[i].row);
        while (*at == ' ' || isalpha((unsigned char)*at) || *at == '/') at++;
        check_exact(rows[i].row, strtod(at, NULL), rows[i].exact, 6e-5);
    }
    free(text);
    /* ising_exact: beta, log Z, F/N, E/N, C on each row */
    snprintf(path, sizeof path, "%s", tp_test_src_path("tests/golden/ising_exact.stdout"));
    text = tp_test_read_file(path);
    ck_assert_ptr_nonnull(text);
    int rows_seen = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        double v[5];
        if (sscanf(line, "%lf %lf %lf %lf %lf", &v[0], &v[1], &v[2], &v[3], &v[4]) != 5) continue;
        double be = v[0];
        check_exact("ising_exact log Z", v[1], kz(be), 6e-6);
        check_exact("ising_exact F/N", v[2], -kz(be) / be / N, 6e-6);
        check_exact("ising_exact E/N", v[3], -(kz(be + h) - kz(be - h)) / (2 * h) / N, 6e-6);
        check_exact("ising_exact C", v[4], be * be * (kz(be + h) - 2 * kz(be) + kz(be - h)) / (h * h) / N, 2e-5);
        rows_seen++;
    }
    ck_assert_int_ge(rows_seen, 10);
    free(text);
}
END_TEST

Suite *golden_suite(void) {
    scan();
    Suite *s = suite_create("golden");
    TCase *tc = tp_test_tcase("recipes", 240);
    tcase_add_test(tc, test_glob_match);
    tcase_add_test(tc, test_golden_exact_numbers);
    tcase_add_loop_test(tc, test_golden, 0, nnames);
    suite_add_tcase(s, tc);
    return s;
}
