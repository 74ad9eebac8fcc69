/*
 * tests/check_fs.c -- the file writers (runtime/fs.c) and their users:
 * atomic replacement keeps the previous file when a write fails (a file
 * size limit stands in for a full disk), no temporary file is left behind,
 * appends report their failures, and the C writers that replace files
 * (bias save, PLUMED write, checkpoint) keep the same promise; a
 * checkpoint's claimed sizes are bounded by the file before allocation;
 * writers killed at random moments leave whole files.
 */
#include "check_util.h"
#include "tp_ffi.h"

#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/* files in the current directory whose name starts with prefix */
static int count_prefix(const char *prefix) {
    DIR *d = opendir(".");
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return n;
}

/* writes beyond `bytes` fail with EFBIG (the test runs in its own process) */
static void limit_file_size(rlim_t bytes) {
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit r = { bytes, bytes };
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &r), 0);
}

static char *scratch(void) {
    char *dir = tp_test_scratch_dir("fs");
    ck_assert_ptr_nonnull(dir);
    ck_assert_int_eq(chdir(dir), 0);
    return dir;
}

START_TEST(test_fs_atomic_write) {
    char *dir = scratch();
    ck_assert_int_eq(tp_write_file_atomic("a.txt", "old\n", 4), TP_OK);
    ck_assert_int_eq(tp_write_file_atomic("a.txt", "new text\n", 9), TP_OK);
    char *t = tp_test_read_file("a.txt");
    ck_assert_str_eq(t, "new text\n");
    free(t);
    ck_assert_int_eq(count_prefix("a.txt"), 1);   /* no temporary file left */
    /* a missing directory: an error naming the file */
    ck_assert_int_eq(tp_write_file_atomic("no/such/dir/b.txt", "x", 1), TP_ERR_IO);
    ck_assert_msg(strstr(tp_last_error(), "no/such/dir/b.txt"), "%s", tp_last_error());
    free(dir);
}
END_TEST

START_TEST(test_fs_full_disk_keeps_previous_files) {
    char *dir = scratch();
    char big[4096];
    memset(big, 'x', sizeof big);
    ck_assert_int_eq(tp_write_file_atomic("r.md", "good report\n", 12), TP_OK);
    double lo = -1, hi = 1, sg = 0.1;
    int32_t pts = 257;
    tp_bias *b = tp_bias_init(1, &lo, &hi, &pts, &sg, 1, 10, 1, 0);
    ck_assert_int_eq(tp_bias_save(b, "bias.txt"), TP_OK);
    char *before = tp_test_read_file("bias.txt");
    double s = 0.25;
    ck_assert_int_eq(tp_bias_deposit(b, &s, 1), TP_OK);
    limit_file_size(1024);
    /* whole-file replacement */
    ck_assert_int_eq(tp_write_file_atomic("r.md", big, sizeof big), TP_ERR_IO);
    ck_assert_msg(strstr(tp_last_error(), "r.md") && strstr(tp_last_error(), "unchanged"), "%s", tp_last_error());
    char *t = tp_test_read_file("r.md");
    ck_assert_str_eq(t, "good report\n");
    free(t);
    /* a bias save (several kB of text) */
    ck_assert_int_eq(tp_bias_save(b, "bias.txt"), TP_ERR_IO);
    ck_assert_msg(strstr(tp_last_error(), "bias.txt"), "%s", tp_last_error());
    char *after = tp_test_read_file("bias.txt");
    ck_assert_str_eq(after, before);
    free(after);
    free(before);
    /* an append (a log): the failure is reported, not dropped */
    ck_assert_int_eq(tp_append_file("log.txt", big, sizeof big), TP_ERR_IO);
    ck_assert_msg(strstr(tp_last_error(), "log.txt") && strstr(tp_last_error(), "write failed"), "%s", tp_last_error());
    ck_assert_int_eq(count_prefix("r.md.tmp"), 0);
    ck_assert_int_eq(count_prefix("bias.txt.tmp"), 0);
    tp_bias_free(b);
    free(dir);
}
END_TEST

/* a checkpoint whose header claims more data than the file holds is
 * refused before anything is allocated for it */
START_TEST(test_fs_checkpoint_claims_bounded) {
    char *dir = scratch();
    tp_ckpt *ck = tp_ckpt_init();
    double v[3] = { 1, 2, 3 };
    ck_assert_int_eq(tp_ckpt_set_slot(ck, "a", v, 3), TP_OK);
    ck_assert_int_eq(tp_ckpt_save(ck, "c.ckpt"), TP_OK);
    tp_ckpt_free(ck);
    /* magic 8, version 4, flags 4, slots 4, name length 4, name "a", then the count */
    FILE *f = fopen("c.ckpt", "r+b");
    ck_assert_ptr_nonnull(f);
    int64_t huge = (int64_t)1 << 39;
    ck_assert_int_eq(fseek(f, 25, SEEK_SET), 0);
    ck_assert_int_eq(fwrite(&huge, 8, 1, f), 1);
    fclose(f);
    ck_assert_ptr_null(tp_ckpt_load("c.ckpt"));
    ck_assert_msg(strstr(tp_last_error(), "slot 'a' claims 549755813888 values, more than the file holds"), "%s", tp_last_error());
    free(dir);
}
END_TEST

/* Fault injection: a writer replacing files in a loop is killed (SIGKILL)
 * at 30 random moments; every time, each file is whole and is one of the
 * versions written (never torn, never empty, never lost): a bias file, a
 * report-like text file and a checkpoint. */
START_TEST(test_fs_kill_during_writes) {
    char *dir = scratch();
    double lo = -1, hi = 1, sg = 0.1;
    int32_t pts = 513;
    char t0[8192], t1[8192];
    memset(t0, 'a', sizeof t0 - 1); t0[sizeof t0 - 1] = 0;
    memset(t1, 'b', sizeof t1 - 1); t1[sizeof t1 - 1] = 0;
    tp_rng r;
    tp_rng_seed(&r, 5, 0);
    {   /* first versions, so a child killed before its first write leaves them */
        double s0 = -0.5, v0[2048] = { 0 };
        tp_bias *b = tp_bias_init(1, &lo, &hi, &pts, &sg, 1, 10, 1, 0);
        tp_bias_deposit(b, &s0, 1);
        ck_assert_int_eq(tp_bias_save(b, "kill_bias.txt"), TP_OK);
        tp_bias_free(b);
        ck_assert_int_eq(tp_write_file_atomic("kill.md", t0, sizeof t0 - 1), TP_OK);
        tp_ckpt *ck = tp_ckpt_init();
        tp_ckpt_set_slot(ck, "v", v0, 2048);
        ck_assert_int_eq(tp_ckpt_save(ck, "kill.ckpt"), TP_OK);
        tp_ckpt_free(ck);
    }
    for (int trial = 0; trial < 30; trial++) {
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            tp_bias *b = tp_bias_init(1, &lo, &hi, &pts, &sg, 1, 10, 1, 0);
            tp_ckpt *ck = tp_ckpt_init();
            double v[2048];
            for (int i = 0; i < 2048; i++) v[i] = i;
            for (int k = 0;; k++) {   /* alternate two versions of each file until killed */
                double s = k % 2 ? 0.5 : -0.5;
                tp_bias_free(b);
                b = tp_bias_init(1, &lo, &hi, &pts, &sg, 1, 10, 1, 0);
                tp_bias_deposit(b, &s, 1);
                tp_bias_save(b, "kill_bias.txt");
                tp_write_file_atomic("kill.md", k % 2 ? t1 : t0, sizeof t0 - 1);
                v[0] = k % 2;
                tp_ckpt_set_slot(ck, "v", v, 2048);
                tp_ckpt_save(ck, "kill.ckpt");
            }
        }
        usleep(20000 + tp_rng_next_below(&r, 30000));   /* 20-50 ms: many writes in flight */
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        tp_bias *b = tp_bias_load("kill_bias.txt");
        ck_assert_msg(b != NULL, "trial %d: the bias file is damaged: %s", trial, tp_last_error());
        double p = 0.5, m = -0.5, vp = tp_bias_value(b, &p), vm = tp_bias_value(b, &m);
        ck_assert_msg(vp > 0.5 || vm > 0.5, "trial %d: the bias holds no hill", trial);
        tp_bias_free(b);
        char *t = tp_test_read_file("kill.md");
        ck_assert_msg(t && (strcmp(t, t0) == 0 || strcmp(t, t1) == 0), "trial %d: the text file is torn", trial);
        free(t);
        tp_ckpt *ck = tp_ckpt_load("kill.ckpt");
        ck_assert_msg(ck != NULL, "trial %d: the checkpoint is damaged: %s", trial, tp_last_error());
        tp_ckpt_free(ck);
    }
    free(dir);
}
END_TEST


/* Hostile files: random byte flips, insertions of huge or non-numeric
 * tokens and truncations of a checkpoint, a bias file and a PLUMED file.
 * Loading never crashes or hangs (AddressSanitizer in 'make SANITIZE=address
 * check'); every damaged checkpoint is refused (its hash covers every byte). */
static void mutate(tp_rng *r, uint8_t *b, size_t *n, size_t cap) {
    static const char *tokens[] = { "1e308", "-1e999", "nan", "inf", "99999999999999999999", "-1", "0",
                                    "\n", " ", "#! SET min_a -1e300\n", "#! FIELDS\n", "#! FIELDS a a a a\n" };
    int kind = (int)tp_rng_next_below(r, 4);
    if (*n == 0) return;
    size_t at = tp_rng_next_below(r, (uint32_t)*n);
    if (kind == 0) b[at] ^= (uint8_t)(1u << tp_rng_next_below(r, 8));
    else if (kind == 1) *n = at;   /* truncate */
    else if (kind == 2) b[at] = (uint8_t)tp_rng_next_below(r, 256);
    else {
        const char *t = tokens[tp_rng_next_below(r, sizeof tokens / sizeof tokens[0])];
        size_t l = strlen(t);
        if (*n + l > cap) return;
        memmove(b + at + l, b + at, *n - at);
        memcpy(b + at, t, l);
        *n += l;
    }
}

static uint8_t *slurp_n(const char *path, size_t *n, size_t extra) {
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*n + extra);
    ck_assert(fread(b, 1, *n, f) == *n);
    fclose(f);
    return b;
}

static void spit_n(const char *path, const uint8_t *b, size_t n) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert(fwrite(b, 1, n, f) == n);
    fclose(f);
}

START_TEST(test_fs_hostile_files) {
    char *dir = scratch();
    /* a checkpoint, a bias and a PLUMED file, each written by tempera */
    tp_ckpt *ck = tp_ckpt_init();
    double v[64];
    for (int i = 0; i < 64; i++) v[i] = i * 0.5;
    tp_ckpt_set_slot(ck, "v", v, 64);
    tp_ckpt_set_slot(ck, "w", v, 7);
    ck_assert_int_eq(tp_ckpt_save(ck, "h.ckpt"), TP_OK);
    tp_ckpt_free(ck);
    double lo = -1, hi = 1, sg = 0.1, s0 = 0.3;
    int32_t pts = 33;
    tp_bias *b = tp_bias_init(1, &lo, &hi, &pts, &sg, 1, 10, 1, 0);
    tp_bias_deposit(b, &s0, 1);
    ck_assert_int_eq(tp_bias_save(b, "h.bias"), TP_OK);
    tp_bias_free(b);
    const char *names[2] = { "time", "a" };
    const double *cols[2] = { v, v + 1 };
    ck_assert_int_eq(tp_plumed_write("h.colvar", names, 2, NULL, NULL, 0, cols, NULL, 40, 0), TP_OK);
    const char *files[3] = { "h.ckpt", "h.bias", "h.colvar" };
    tp_rng r;
    tp_rng_seed(&r, 77, 0);
    int refused[3] = { 0, 0, 0 };
    const int trials = 400;
    for (int f = 0; f < 3; f++) {
        size_t n0;
        uint8_t *orig = slurp_n(files[f], &n0, 0);
        for (int t = 0; t < trials; t++) {
            size_t n = n0, cap = n0 + 256;
            uint8_t *m = malloc(cap);
            memcpy(m, orig, n0);
            int k = 1 + (int)tp_rng_next_below(&r, 3);
            for (int j = 0; j < k; j++) mutate(&r, m, &n, cap);
            int same = n == n0 && memcmp(m, orig, n) == 0;
            spit_n("x.tmpfile", m, n);
            free(m);
            if (f == 0) {
                tp_ckpt *c = tp_ckpt_load("x.tmpfile");
                ck_assert_msg(c == NULL || same, "checkpoint trial %d: damage not detected", t);
                refused[f] += c == NULL;
                tp_ckpt_free(c);
            } else if (f == 1) {
                tp_bias *bb = tp_bias_load("x.tmpfile");
                refused[f] += bb == NULL;
                if (bb) { double s = 0.1; (void)tp_bias_value(bb, &s); tp_bias_free(bb); }
            } else {
                tp_plumed *p = tp_plumed_read("x.tmpfile");
                refused[f] += p == NULL;
                tp_plumed_free(p);
            }
        }
        free(orig);
    }
    unlink("x.tmpfile");
    fprintf(stderr, "hostile files: %d trials each; refused: checkpoint %d, bias %d, PLUMED %d (the rest still parse)\n",
            trials, refused[0], refused[1], refused[2]);
    free(dir);
}
END_TEST

Suite *fs_suite(void) {
    Suite *s = suite_create("fs");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_fs_atomic_write);
    tcase_add_test(tc, test_fs_full_disk_keeps_previous_files);
    tcase_add_test(tc, test_fs_checkpoint_claims_bounded);
    tcase_add_test(tc, test_fs_kill_during_writes);
    tcase_add_test(tc, test_fs_hostile_files);
    suite_add_tcase(s, tc);
    return s;
}
