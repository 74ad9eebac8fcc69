/*
 * tests/check_faults.c -- fault injection through the real binary, for
 * every kind of file tempera writes:
 *   - a full disk (a file size limit, `ulimit -f`): each writer fails with
 *     an error naming its file and exits non-zero; a file it replaces keeps
 *     its previous content; no temporary file is left behind;
 *   - SIGKILL during training: resumed after each kill, the run ends with
 *     the same training log and a byte-identical checkpoint as a run never
 *     interrupted (one log line per step, none lost, none twice);
 *   - SIGKILL during the Lua writers (bias, PLUMED file, text/report file):
 *     every file found afterwards is whole and one of the versions written.
 * Dumps have their own kill, corruption and disk-full tests (check_dump.c);
 * the C writers theirs (check_fs.c); bad inputs tests/lua/bad_inputs.lua.
 */
#include "check_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char *dir;

static void setup(void) { dir = tp_test_scratch_dir("faults"); }
static void teardown(void) { free(dir); }

/* dir/name (tp_test_join) */
static const char *in_dir(const char *name) { return tp_test_join(dir, name); }

static void put(const char *name, const char *text) { ck_assert_int_eq(tp_test_write_file(in_dir(name), text), 0); }

/* names in dir containing ".tmp" (temporary files left behind) */
static int temporaries(void) {
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) n += strstr(e->d_name, ".tmp") != NULL;
    closedir(d);
    return n;
}

/* run a shell command line in dir, with the file size limit kb (0: none) */
static tp_cmd_result sh(int kb, const char *fmt, const char *arg) {
    char cmd[8192], body[4096];
    snprintf(body, sizeof body, fmt, arg);
    if (kb > 0) snprintf(cmd, sizeof cmd, "ulimit -f %d; '%s' %s", kb, getenv("TEMPERA_BIN"), body);
    else snprintf(cmd, sizeof cmd, "'%s' %s", getenv("TEMPERA_BIN"), body);
    return tp_test_run_cmd(dir, NULL, (const char *const[]){ "/bin/bash", "-c", cmd, NULL });
}

/* One recipe, one writer per kind; "big" makes its output larger than the
 * size limit used below, so the second run fails while replacing the first
 * run's file. */
static const char *WRITERS =
    "local tp = require 'tempera'\n"
    "local ffi = require 'ffi'\n"
    "local P = tp.params{ kind = 'bias', big = false }\n"
    "local lat = tp.lattice.square(4)\n"
    "local cv = tp.cv.magnetization(lat)\n"
    "local n = P.big and 20000 or 50\n"
    "if P.kind == 'bias' then\n"
    "  local b = tp.bias.grid{ cv = cv, points = P.big and 8193 or 65, sigma = 0.1, height = 1, beta = 1 }\n"
    "  b:deposit(ffi.new('double[1]', 0.25), 1)\n"
    "  b:save('bias.txt')\n"
    "elseif P.kind == 'plumed' then\n"
    "  local a = ffi.new('double[?]', n)\n"
    "  for i = 0, n - 1 do a[i] = i / n end\n"
    "  tp.plumed.write('COLVAR', { fields = { 'a' }, columns = { a = a }, rows = n })\n"
    "elseif P.kind == 'text' then\n"
    "  local f = tp.util.open_write('notes.md')\n"
    "  f:write(('line of text\\n'):rep(n))\n"
    "  f:close()\n"
    "elseif P.kind == 'report' then\n"
    "  local w = tp.dump.open('x.tpd', { fields = { { name = 'e', type = 'f64' } } })\n"
    "  for i = 1, n do w:append{ e = i % 7 } end\n"
    "  w:close()\n"
    "  tp.report{ out = 'rep', dump = 'x.tpd', title = P.big and ('x'):rep(40000) or 'small' }\n"
    "elseif P.kind == 'dump' then\n"
    "  local w = tp.dump.open('d.tpd', { fields = { { name = 'e', type = 'f64' } }, chunk = 64 })\n"
    "  local r = tp.rng(0)\n"
    "  for i = 1, n do w:append{ e = r:uniform() } end\n"
    "  w:close()\n"
    "elseif P.kind == 'train' then\n"
    "  local model = tp.model.ising{ lattice = lat }\n"
    "  local net = tp.nn.transformer{ lattice = lat, states = 2, embed = P.big and 64 or 8, depth = 1, heads = 2,\n"
    "    seed = 3, backend = 'cpu' }\n"
    "  local tr = tp.train.mdns{ net = net, model = model, beta = 0.4, batch = 8, replicates = 2,\n"
    "    resample_every = 2, steps = 10, log = 'train.log', checkpoint = 'train.ckpt', checkpoint_every = 5,\n"
    "    progress = false }\n"
    "  tr:close()\n"
    "end\n";

START_TEST(test_faults_full_disk_every_writer) {
    put("w.lua", WRITERS);
    /* kind, the file it writes (replaced atomically unless noted) */
    struct { const char *kind, *file; int replaced; } k[] = {
        { "bias", "bias.txt", 1 }, { "plumed", "COLVAR", 1 }, { "text", "notes.md", 1 },
        { "report", "rep/report.md", 1 }, { "dump", "d.tpd", 0 }, { "train", "train.ckpt", 1 },
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        char args[256];
        snprintf(args, sizeof args, "run w.lua --set kind=%s", k[i].kind);
        tp_cmd_result r = sh(0, "%s", args);
        ck_assert_msg(r.status == 0, "%s: %s", k[i].kind, r.err);
        tp_cmd_result_free(&r);
        char *before = tp_test_read_file(in_dir(k[i].file));
        ck_assert_msg(before != NULL, "%s: %s not written", k[i].kind, k[i].file);
        snprintf(args, sizeof args, "run w.lua --set kind=%s --set big=true", k[i].kind);
        r = sh(32, "%s", args);
        ck_assert_msg(r.status != 0, "%s: a write past the size limit exited 0\n%s", k[i].kind, r.err);
        ck_assert_msg(strstr(r.err, "File too large") && strstr(r.err, "w.lua:"),
                      "%s: the error does not say what failed at the recipe's line:\n%s", k[i].kind, r.err);
        const char *base = strrchr(k[i].file, '/') ? strrchr(k[i].file, '/') + 1 : k[i].file;
        if (strcmp(k[i].kind, "train") != 0)   /* the trainer may fail on its log first */
            ck_assert_msg(strstr(r.err, base), "%s: the error does not name %s:\n%s", k[i].kind, base, r.err);
        tp_cmd_result_free(&r);
        if (k[i].replaced) {
            char *after = tp_test_read_file(in_dir(k[i].file));
            ck_assert_msg(after && !strcmp(after, before), "%s: %s lost its previous content", k[i].kind, k[i].file);
            free(after);
        }
        free(before);
        ck_assert_msg(temporaries() == 0, "%s: temporary files left behind", k[i].kind);
    }
    /* the run record (--out) and 'tempera dump csv -o' */
    tp_cmd_result r = sh(0, "%s", "run w.lua --set kind=text --out res");
    ck_assert_int_eq(r.status, 0);
    tp_cmd_result_free(&r);
    char pad[40100];
    memset(pad, '-', sizeof pad - 2);
    memcpy(pad, "--", 2);
    pad[sizeof pad - 2] = '\n';
    pad[sizeof pad - 1] = 0;
    char *long_recipe = malloc(strlen(WRITERS) + sizeof pad);
    strcpy(long_recipe, pad);
    strcat(long_recipe, WRITERS);
    put("long.lua", long_recipe);
    free(long_recipe);
    r = sh(32, "%s", "run long.lua --set kind=text --out res");
    ck_assert_msg(r.status != 0 && strstr(r.err, "File too large") && strstr(r.err, "res/"), "%d %s", r.status, r.err);
    tp_cmd_result_free(&r);
    char *rec = tp_test_read_file(in_dir("res/run.txt"));
    ck_assert_msg(rec && strstr(rec, "recipe w.lua"), "the previous run record was lost: %s", rec ? rec : "(none)");
    free(rec);
    r = sh(0, "%s", "run w.lua --set kind=dump --set big=true");
    ck_assert_int_eq(r.status, 0);
    tp_cmd_result_free(&r);
    put("out.csv", "previous\n");
    r = sh(32, "%s", "dump csv d.tpd -o out.csv");
    ck_assert_msg(r.status != 0 && strstr(r.err, "out.csv") && strstr(r.err, "File too large"), "%d %s", r.status, r.err);
    tp_cmd_result_free(&r);
    char *csv = tp_test_read_file(in_dir("out.csv"));
    ck_assert_str_eq(csv, "previous\n");
    free(csv);
    ck_assert_int_eq(temporaries(), 0);
    /* 'tempera report' on a full disk: an error, not "report written" */
    r = sh(20, "%s", "report x.tpd -o rep3");
    ck_assert_msg(r.status != 0 && (strstr(r.err, "File too large") || strstr(r.err, "disk full")) &&
                  strstr(r.err, "rep3/"), "%d %s %s", r.status, r.out, r.err);
    tp_cmd_result_free(&r);
    ck_assert_int_eq(temporaries(), 0);
}
END_TEST

/* start `tempera ARGS` in dir with output discarded; returns the pid */
static pid_t spawn(const char *args) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "exec '%s' %s > /dev/null 2>&1", getenv("TEMPERA_BIN"), args);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (chdir(dir) != 0) _exit(127);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static int kill_after(pid_t pid, long us) {
    usleep((useconds_t)us);
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    return WIFSIGNALED(st);   /* 1 if it was still running */
}

static const char *TRAIN =
    "local tp = require 'tempera'\n"
    "local P = tp.params{ resume = false, steps = tp.params.int(6000) }\n"
    "local lat = tp.lattice.square(3)\n"
    "local model = tp.model.ising{ lattice = lat }\n"
    "local net = tp.nn.transformer{ lattice = lat, states = 2, embed = 8, depth = 1, heads = 2, seed = 3,\n"
    "  backend = 'cpu' }\n"
    "local tr = tp.train.mdns{ net = net, model = model, beta = 0.4, batch = 16, replicates = 2,\n"
    "  resample_every = 2, steps = P.steps, log = 't.log', checkpoint = 't.ckpt', checkpoint_every = 7,\n"
    "  resume = P.resume, progress = false }\n"
    "tr:close()\n";

START_TEST(test_faults_kill_training_then_resume) {
    put("tr.lua", TRAIN);
    tp_cmd_result r = sh(0, "%s", "run tr.lua --threads 1");
    ck_assert_msg(r.status == 0, "%s", r.err);
    tp_cmd_result_free(&r);
    ck_assert_int_eq(rename(in_dir("t.log"), in_dir("ref.log")), 0);
    ck_assert_int_eq(rename(in_dir("t.ckpt"), in_dir("ref.ckpt")), 0);
    unlink(in_dir("t.ckpt.lock"));
    srand(11);
    int kills = 0;
    pid_t pid = spawn("run tr.lua --threads 1");
    kills += kill_after(pid, 300000 + rand() % 700000);
    for (int k = 0; k < 4; k++) {
        pid = spawn("run tr.lua --threads 1 --set resume=true");
        kills += kill_after(pid, 300000 + rand() % 700000);
    }
    r = sh(0, "%s", "run tr.lua --threads 1 --set resume=true");
    ck_assert_msg(r.status == 0, "%s", r.err);
    tp_cmd_result_free(&r);
    ck_assert_msg(kills >= 2, "only %d of 5 runs were killed while running: the test proves little", kills);
    char *ref = tp_test_read_file(in_dir("ref.log")), *got = tp_test_read_file(in_dir("t.log"));
    ck_assert_ptr_nonnull(got);
    ck_assert_msg(strcmp(ref, got) == 0, "after %d kills the training log differs from the uninterrupted run's", kills);
    free(ref);
    free(got);
    size_t n1 = 0, n2 = 0;
    char *a = tp_test_read_file(in_dir("ref.ckpt")), *b = tp_test_read_file(in_dir("t.ckpt"));
    struct stat s1, s2;
    ck_assert_int_eq(stat(in_dir("ref.ckpt"), &s1), 0);
    ck_assert_int_eq(stat(in_dir("t.ckpt"), &s2), 0);
    n1 = (size_t)s1.st_size;
    n2 = (size_t)s2.st_size;
    ck_assert_msg(n1 == n2 && memcmp(a, b, n1) == 0, "after %d kills the checkpoint differs from the uninterrupted run's",
                  kills);
    free(a);
    free(b);
    fprintf(stderr, "faults: training killed %d times and resumed: log and checkpoint identical\n", kills);
}
END_TEST

/* Lua writers replacing files in a loop, killed at random moments */
static const char *LOOP =
    "local tp = require 'tempera'\n"
    "local ffi = require 'ffi'\n"
    "local lat = tp.lattice.square(4)\n"
    "local cv = tp.cv.magnetization(lat)\n"
    "local a = ffi.new('double[3000]')\n"
    "for k = 0, 1e9 do\n"
    "  local v = k % 2\n"
    "  local b = tp.bias.grid{ cv = cv, points = 1025, sigma = 0.1, height = 1, beta = 1 }\n"
    "  b:deposit(ffi.new('double[1]', v == 0 and -0.5 or 0.5), 1)\n"
    "  b:save('loop_bias.txt')\n"
    "  for i = 0, 2999 do a[i] = v end\n"
    "  tp.plumed.write('LOOP_COLVAR', { fields = { 'a' }, columns = { a = a }, rows = 3000 })\n"
    "  local f = tp.util.open_write('loop.md')\n"
    "  f:write((v == 0 and 'a' or 'b'):rep(20000))\n"
    "  f:close()\n"
    "end\n";

static const char *CHECK =
    "local tp = require 'tempera'\n"
    "local b = assert(tp.bias.load('loop_bias.txt'))\n"
    "assert(b:value(-0.5) > 0.5 or b:value(0.5) > 0.5, 'a bias without its hill')\n"
    "local t = assert(tp.plumed.read('LOOP_COLVAR'))\n"
    "assert(t.rows == 3000, 'COLVAR with ' .. t.rows .. ' rows')\n"
    "local f = assert(io.open('loop.md'))\n"
    "local s = f:read('*a')\n"
    "f:close()\n"
    "assert(s == ('a'):rep(20000) or s == ('b'):rep(20000), 'a torn text file')\n";

START_TEST(test_faults_kill_lua_writers) {
    put("loop.lua", LOOP);
    put("check.lua", CHECK);
    srand(5);
    int kills = 0;
    for (int trial = 0; trial < 8; trial++) {
        pid_t pid = spawn("run loop.lua");
        kills += kill_after(pid, 400000 + rand() % 400000);
        if (access(in_dir("loop.md"), F_OK) != 0) continue;   /* killed before the first round */
        tp_cmd_result r = sh(0, "%s", "run check.lua");
        ck_assert_msg(r.status == 0, "trial %d: %s", trial, r.err);
        tp_cmd_result_free(&r);
    }
    ck_assert_msg(kills == 8, "only %d of 8 writers were killed while writing", kills);
    ck_assert_msg(access(in_dir("loop.md"), F_OK) == 0, "no writer got as far as its first file");
}
END_TEST

Suite *faults_suite(void) {
    Suite *s = suite_create("faults");
    TCase *tc = tp_test_tcase("faults", 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_faults_full_disk_every_writer);
    tcase_add_test(tc, test_faults_kill_training_then_resume);
    tcase_add_test(tc, test_faults_kill_lua_writers);
    suite_add_tcase(s, tc);
    return s;
}
