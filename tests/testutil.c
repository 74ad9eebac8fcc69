/*
 * tests/testutil.c -- helpers for the Check suites (see check_util.h).
 */
#include "check_util.h"

#include <dirent.h>
#include <math.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

TCase *tp_test_tcase(const char *name, double timeout_s) {
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, timeout_s);
    return tc;
}

const char *tp_test_src_path(const char *rel) {
    static char buf[4096];
    const char *src = getenv("TEMPERA_SRC");
    snprintf(buf, sizeof buf, "%s/%s", src ? src : ".", rel);
    return buf;
}

char *tp_test_scratch_dir(const char *tag) {
    const char *tmp = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/tempera-test-%s-XXXXXX", tmp ? tmp : "/tmp", tag);
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

const char *tp_test_join(const char *dir, const char *name) {
    static char path[4][4096];
    static int k;
    k = (k + 1) % 4;
    snprintf(path[k], sizeof path[k], "%s/%s", dir, name);
    return path[k];
}

int tp_test_write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t n = strlen(text);
    int ok = fwrite(text, 1, n, f) == n;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

static char *slurp_fd(int fd) {
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (n + 1 >= cap) buf = realloc(buf, cap *= 2);
        ssize_t got = read(fd, buf + n, cap - n - 1);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        n += (size_t)got;
    }
    buf[n] = 0;
    return buf;
}

char *tp_test_read_file(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return NULL;
    char *s = slurp_fd(fd);
    close(fd);
    return s;
}

tp_cmd_result tp_test_run_cmd(const char *cwd, const char *in, const char *const *argv) {
    tp_cmd_result r = { -1, NULL, NULL };
    char dir[] = "/tmp/tempera-cmd-XXXXXX";
    if (!mkdtemp(dir)) return r;
    char outp[64], errp[64], inp[64];
    snprintf(outp, sizeof outp, "%s/out", dir);
    snprintf(errp, sizeof errp, "%s/err", dir);
    snprintf(inp, sizeof inp, "%s/in", dir);
    if (in) tp_test_write_file(inp, in);
    pid_t pid = fork();
    if (pid == 0) {
        if (cwd && chdir(cwd) != 0) _exit(127);
        int i0 = open(in ? inp : "/dev/null", O_RDONLY);
        int o = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(i0, 0); dup2(o, 1); dup2(e, 2);
        const char *bin = argv[0];
        if (strcmp(bin, "tempera") == 0 && getenv("TEMPERA_BIN")) bin = getenv("TEMPERA_BIN");
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    r.out = tp_test_read_file(outp);
    r.err = tp_test_read_file(errp);
    if (!r.out) r.out = strdup("");
    if (!r.err) r.err = strdup("");
    unlink(outp); unlink(errp); unlink(inp); rmdir(dir);
    return r;
}

void tp_cmd_result_free(tp_cmd_result *r) {
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int tp_test_list_dir(const char *rel, const char *suffix, int strip, char **names, int max) {
    DIR *d = opendir(tp_test_src_path(rel));
    if (!d) return 0;
    int n = 0;
    size_t ls = strlen(suffix);
    struct dirent *e;
    while ((e = readdir(d)) && n < max) {
        size_t len = strlen(e->d_name);
        if (len > ls && strcmp(e->d_name + len - ls, suffix) == 0 && e->d_name[0] != '_')
            names[n++] = strip ? strndup(e->d_name, len - ls) : strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_names);
    return n;
}

/* Kaufman (1949):
 *   Z = 1/2 (2 sinh 2K)^{mn/2} [ prod_r 2cosh(m g_{2r}/2) + prod_r 2sinh(m g_{2r}/2)
 *                              + prod_r 2cosh(m g_{2r-1}/2) + prod_r 2sinh(m g_{2r-1}/2) ]
 * r = 1..n, cosh g_l = cosh 2K coth 2K - cos(pi l / n), and g_0 = g_{2n} =
 * 2K + ln tanh K (signed).  Each product is kept as a log and a sign. */
double tp_test_kaufman_log_z(int m, int n, double K) {
    double lg[4] = { 0, 0, 0, 0 };
    int sg[4] = { 1, 1, 1, 1 };
    for (int r = 1; r <= n; r++) {
        for (int par = 0; par < 2; par++) {
            int l = par == 0 ? 2 * r : 2 * r - 1;
            double g;
            if (l % (2 * n) == 0) g = 2 * K + log(tanh(K));
            else g = acosh(cosh(2 * K) / tanh(2 * K) - cos(M_PI * l / n));
            double x = m * g / 2, ax = fabs(x);
            lg[2 * par] += ax + log1p(exp(-2 * ax));          /* log 2cosh x */
            lg[2 * par + 1] += ax + log1p(-exp(-2 * ax));     /* log |2sinh x| */
            if (x < 0) sg[2 * par + 1] = -sg[2 * par + 1];
        }
    }
    double mx = lg[0];
    for (int k = 1; k < 4; k++) if (lg[k] > mx) mx = lg[k];
    double s = 0;
    for (int k = 0; k < 4; k++) s += sg[k] * exp(lg[k] - mx);
    return log(0.5) + (m * n / 2.0) * log(2 * sinh(2 * K)) + mx + log(s);
}
