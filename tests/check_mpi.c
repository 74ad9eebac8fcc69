/*
 * tests/check_mpi.c -- several processes of one recipe under mpirun (2
 * ranks, --oversubscribe; as root --allow-run-as-root), against the same
 * recipe in one process:
 *   - WT-MetaD with the chains split over the ranks and one shared bias:
 *     the bias file, every walker's HILLS file and the printed frozen-bias
 *     marginal are byte-identical to one process with the same chains;
 *   - data-parallel MDNS (each rank draws and differentiates its share of
 *     the batch): losses and parameters equal one process with the same
 *     batch to float tolerance (1e-5 relative), the two ranks bit-equal to
 *     each other, one log line per step;
 *   - a checkpoint written by one process resumed by two ranks, and the
 *     other way round, ends where the uninterrupted run ends;
 *   - a rank that raises an error ends the job at once with its message and
 *     the recipe's line (no rank left waiting in a collective);
 *   - tp.mpi's collectives (allreduce, gather, bcast, split);
 *   - Ctrl-C (SIGINT to mpirun) stops every rank; the checkpoint written
 *     before is whole and resumes.
 * Skipped, saying so, where mpirun is missing or tempera has no MPI.
 */
#include "check_util.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char *dir;
static int have_mpi = -1;

static void setup(void) { dir = tp_test_scratch_dir("mpi"); }
static void teardown(void) { free(dir); }

static const char *in_dir(const char *name) { return tp_test_join(dir, name); }

static void put(const char *name, const char *text) { ck_assert_int_eq(tp_test_write_file(in_dir(name), text), 0); }

/* a shell command line in dir; %T is replaced by the tempera binary, %M by
 * "mpirun ... -np 2".  LeakSanitizer is off in this suite's commands (a
 * SANITIZE=address build: Open MPI's own allocations are reported as
 * leaks at exit, also under tempera rerun's mpirun); every other sanitizer
 * check stays on, and leaks are checked by the suites without mpirun. */
static tp_cmd_result sh(const char *line) {
    char cmd[8192];
    size_t o = (size_t)snprintf(cmd, sizeof cmd, "export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0; ");
    for (const char *p = line; *p && o < sizeof cmd - 512; p++) {
        if (p[0] == '%' && p[1] == 'T') { o += (size_t)snprintf(cmd + o, sizeof cmd - o, "'%s'", getenv("TEMPERA_BIN")); p++; }
        else if (p[0] == '%' && p[1] == 'M') {
            o += (size_t)snprintf(cmd + o, sizeof cmd - o,
                                  "mpirun --allow-run-as-root --oversubscribe --bind-to none -np 2");
            p++;
        } else cmd[o++] = *p;
    }
    cmd[o] = 0;
    return tp_test_run_cmd(dir, NULL, (const char *const[]){ "/bin/bash", "-c", cmd, NULL });
}

static int mpi_usable(void) {
    if (have_mpi >= 0) return have_mpi;
    tp_cmd_result r = sh("command -v mpirun >/dev/null && %T -e 'io.write(tostring(require([[tempera]]).mpi.built()))'");
    have_mpi = r.status == 0 && strcmp(r.out, "true") == 0;
    if (!have_mpi) fprintf(stderr, "check_mpi: mpirun missing or tempera built without MPI (HAVE_MPI=0): skipped\n");
    tp_cmd_result_free(&r);
    return have_mpi;
}

static char *slurp(const char *name) {
    char *s = tp_test_read_file(in_dir(name));
    ck_assert_msg(s != NULL, "%s was not written", name);
    return s;
}

static void same_file(const char *a, const char *b) {
    char *x = slurp(a), *y = slurp(b);
    ck_assert_msg(strcmp(x, y) == 0, "%s and %s differ", a, b);
    free(x); free(y);
}

/* ---- shared-bias WT-MetaD ------------------------------------------------- */

static const char *METAD =
    "local tp = require 'tempera'\n"
    "local lat = tp.lattice.square(6)\n"
    "local model = tp.model.ising{ lattice = lat }\n"
    "local m = tp.cv.magnetization(lat)\n"
    "local b = tp.bias.grid{ cv = m, points = 37, sigma = 0.08, height = 0.5, bias_factor = 10, beta = 0.6 }\n"
    "local run = tp.mc.metad{ model = model, cv = m, bias = b, beta = 0.6, chains = 12, pace = 2, cycles = 40,\n"
    "  seed = 3, progress = false, hills = tp.out('HILLS'), colvar = tp.out('COLVAR') }\n"
    "b:save(tp.out('bias.txt'))\n"
    "local mg = run:marginal(run:frozen{ samples = 4 })\n"
    "for i = 1, b.size do print(string.format('%d %.17g %.17g', i, mg.p[i], mg.pmf[i])) end\n"
    "io.stderr:write(string.format('rank %d of %d\\n', tp.mpi.rank(), tp.mpi.size()))\n";

START_TEST(test_mpi_metad_shared_bias_equals_one_process) {
    if (!mpi_usable()) return;
    put("metad.lua", METAD);
    tp_cmd_result a = sh("%T run metad.lua --quiet --out one");
    ck_assert_msg(a.status == 0, "one process: %s", a.err);
    tp_cmd_result b = sh("%M %T run metad.lua --quiet --out two");
    ck_assert_msg(b.status == 0, "2 ranks: %s", b.err);
    ck_assert_msg(strstr(b.err, "rank 0 of 2") && strstr(b.err, "rank 1 of 2"), "ranks: %s", b.err);
    /* rank 0 alone prints: the same lines once */
    ck_assert_msg(strcmp(a.out, b.out) == 0, "frozen-bias marginal differs:\n%s---\n%s", a.out, b.out);
    ck_assert(strlen(a.out) > 500);
    same_file("one/bias.txt", "two/bias.txt");
    for (int k = 0; k < 12; k++) {
        char h1[64], h2[64];
        snprintf(h1, sizeof h1, "one/HILLS.%d", k);
        snprintf(h2, sizeof h2, "two/HILLS.%d", k);
        same_file(h1, h2);
        snprintf(h1, sizeof h1, "one/COLVAR.%d", k);
        snprintf(h2, sizeof h2, "two/COLVAR.%d", k);
        same_file(h1, h2);
    }
    char *rt = slurp("two/run.txt");
    ck_assert_msg(strstr(rt, "\nranks 2\n"), "run.txt: %s", rt);
    free(rt);
    /* tempera rerun launches 2 ranks again and finds every file identical */
    tp_cmd_result re = sh("%T rerun two -o again");
    ck_assert_msg(re.status == 0, "rerun: %s %s", re.out, re.err);
    ck_assert_msg(strstr(re.out, "tempera rerun: mpirun -np 2 tempera run"), "%s", re.out);
    ck_assert_msg(strstr(re.out, "files bit-identical to two"), "%s", re.out);
    tp_cmd_result_free(&re);
    tp_cmd_result_free(&a);
    tp_cmd_result_free(&b);
}
END_TEST

/* ---- data-parallel training ------------------------------------------------- */

static const char *TRAIN =
    "local tp = require 'tempera'\n"
    "local P = tp.params{ steps = tp.params.int(12) }\n"
    "local lat = tp.lattice.square(4)\n"
    "local model = tp.model.ising{ lattice = lat }\n"
    "local net = tp.nn.transformer{ lattice = lat, states = 2, embed = 16, depth = 2, heads = 2, seed = 1,\n"
    "  backend = 'cpu' }\n"
    "local tr = tp.train.mdns{ net = net, model = model, beta = 0.5, batch = 15, replicates = 2, resample_every = 3,\n"
    "  steps = P.steps, lr = 1e-3, seed = 4, progress = false, log = tp.out('t.log'),\n"
    "  checkpoint = tp.out('t.ckpt'), checkpoint_every = 3, resume = 'auto' }\n"
    "local p = net:get('params')\n"
    "local s = 0\n"
    "for i = 0, net.num_params - 1 do s = s + p[i] * ((i % 13) + 1) end\n"
    "for _, h in ipairs(tr.history) do print(string.format('step %d loss %.17g ness %.17g', h.step, h.loss, h.ness)) end\n"
    "print(string.format('params %.17g', s))\n"
    "io.stderr:write(string.format('rank %d params %.17g\\n', tp.mpi.rank(), s))\n";

/* the number after "params " in text */
static double params_of(const char *text) {
    const char *p = strstr(text, "params ");
    ck_assert_msg(p != NULL, "no params line in:\n%s", text);
    return strtod(p + 7, NULL);
}

static void close_enough(double a, double b, double rel, const char *what) {
    ck_assert_msg(a == a && b == b && (a == b || (a - b) * (a - b) <= rel * rel * (a * a + b * b)),
                  "%s: %.17g vs %.17g", what, a, b);
}

/* every "step N loss L" line of a and b: same steps, losses within rel */
static void same_losses(const char *a, const char *b, double rel) {
    int n = 0;
    const char *p = a, *q = b;
    while ((p = strstr(p, "step ")) && (q = strstr(q, "step "))) {
        int sa = atoi(p + 5), sb = atoi(q + 5);
        ck_assert_int_eq(sa, sb);
        close_enough(strtod(strstr(p, "loss ") + 5, NULL), strtod(strstr(q, "loss ") + 5, NULL), rel, "loss");
        p += 5; q += 5; n++;
    }
    ck_assert_msg(n >= 1, "no step lines compared");
}

static int count_lines(const char *s, const char *prefix) {
    int n = 0;
    size_t L = strlen(prefix);
    for (const char *p = s; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (!strncmp(p, prefix, L)) n++;
    return n;
}

START_TEST(test_mpi_data_parallel_equals_one_process) {
    if (!mpi_usable()) return;
    put("train.lua", TRAIN);
    tp_cmd_result a = sh("%T run train.lua --quiet --out one");
    ck_assert_msg(a.status == 0, "one process: %s", a.err);
    tp_cmd_result b = sh("%M %T run train.lua --quiet --out two");
    ck_assert_msg(b.status == 0, "2 ranks: %s", b.err);
    ck_assert_int_eq(count_lines(b.out, "step "), 12);
    same_losses(a.out, b.out, 1e-5);
    close_enough(params_of(a.out), params_of(b.out), 1e-5, "parameters, 1 process vs 2 ranks");
    /* the ranks take identical steps: both print the same bits */
    const char *r0 = strstr(b.err, "rank 0 params "), *r1 = strstr(b.err, "rank 1 params ");
    ck_assert_msg(r0 && r1, "%s", b.err);
    ck_assert_msg(strtod(r0 + 14, NULL) == strtod(r1 + 14, NULL), "ranks differ: %s", b.err);
    char *log = slurp("two/t.log");
    ck_assert_int_eq(count_lines(log, "1 "), 1);   /* step 1 once: rank 0 alone writes */
    int steps = 0;
    for (int s = 1; s <= 12; s++) {
        char pre[16];
        snprintf(pre, sizeof pre, "%d ", s);
        steps += count_lines(log, pre);
    }
    ck_assert_msg(steps == 12, "the log has %d step lines for 12 steps:\n%s", steps, log);
    free(log);
    tp_cmd_result_free(&a);
    tp_cmd_result_free(&b);
}
END_TEST

START_TEST(test_mpi_resume_with_another_rank_count) {
    if (!mpi_usable()) return;
    put("train.lua", TRAIN);
    tp_cmd_result full = sh("%T run train.lua --quiet --out full");
    ck_assert_msg(full.status == 0, "%s", full.err);
    double want = params_of(full.out);
    /* 1 process to step 6, then 2 ranks to 12 */
    tp_cmd_result a1 = sh("%T run train.lua --quiet --out ab --set steps=6");
    ck_assert_msg(a1.status == 0, "%s", a1.err);
    tp_cmd_result a2 = sh("%M %T run train.lua --quiet --out ab");
    ck_assert_msg(a2.status == 0, "%s", a2.err);
    ck_assert_int_eq(count_lines(a2.out, "step "), 6);   /* steps 7..12 only: it resumed */
    close_enough(params_of(a2.out), want, 1e-5, "1 process then 2 ranks");
    /* 2 ranks to step 6, then 1 process to 12 */
    tp_cmd_result b1 = sh("%M %T run train.lua --quiet --out ba --set steps=6");
    ck_assert_msg(b1.status == 0, "%s", b1.err);
    tp_cmd_result b2 = sh("%T run train.lua --quiet --out ba");
    ck_assert_msg(b2.status == 0, "%s", b2.err);
    ck_assert_int_eq(count_lines(b2.out, "step "), 6);
    close_enough(params_of(b2.out), want, 1e-5, "2 ranks then 1 process");
    same_losses(full.out + (strstr(full.out, "step 7 ") - full.out), a2.out, 1e-5);
    tp_cmd_result_free(&full);
    tp_cmd_result_free(&a1); tp_cmd_result_free(&a2);
    tp_cmd_result_free(&b1); tp_cmd_result_free(&b2);
}
END_TEST

/* ---- a failing rank ------------------------------------------------------------ */

START_TEST(test_mpi_failing_rank_ends_the_job) {
    if (!mpi_usable()) return;
    put("fail.lua",
        "local tp = require 'tempera'\n"
        "if tp.mpi.rank() == 1 then\n"
        "  error('rank one cannot go on')\n"
        "end\n"
        "tp.mpi.barrier()   -- rank 0 waits here for a rank that is gone\n"
        "print('rank 0 went past the barrier')\n");
    time_t t0 = time(NULL);
    tp_cmd_result r = sh("%M %T run fail.lua");
    ck_assert_msg(r.status != 0, "the job exited 0: %s", r.err);
    ck_assert_msg(strstr(r.err, "fail.lua:3:") && strstr(r.err, "rank one cannot go on"), "message: %s", r.err);
    ck_assert_msg(strstr(r.err, "rank 1 of 2 failed"), "%s", r.err);
    ck_assert_msg(!strstr(r.out, "went past"), "%s", r.out);
    ck_assert_msg(time(NULL) - t0 < 60, "the job took %ld s to end", (long)(time(NULL) - t0));
    tp_cmd_result_free(&r);
}
END_TEST

/* ---- collectives ------------------------------------------------------------------ */

START_TEST(test_mpi_collectives) {
    if (!mpi_usable()) return;
    put("coll.lua",
        "local tp = require 'tempera'\n"
        "local M, r = tp.mpi, tp.mpi.rank()\n"
        "assert(M.size() == 2)\n"
        "assert(M.allreduce(r + 1) == 3 and M.allreduce(r + 1, 'max') == 2 and M.allreduce(r + 1, 'min') == 1)\n"
        "local t = M.allreduce({ r, 10 * r, 0.5 })\n"
        "assert(t[1] == 1 and t[2] == 10 and t[3] == 1)\n"
        "local a = require('ffi').new('double[3]', r, r, r)\n"
        "M.allreduce(a, 3)\n"
        "assert(a[0] == 1 and a[2] == 1)\n"
        "local g = M.gather(r * 7)\n"
        "assert(#g == 2 and g[1] == 0 and g[2] == 7)\n"
        "local gl = M.gather({ r, r + 1 })\n"
        "assert(gl[2][1] == 1 and gl[2][2] == 2 and gl[1][2] == 1)\n"
        "assert(M.bcast(r == 0 and 'from root' or 'x') == 'from root')\n"
        "local b = M.bcast(r == 1 and { 4, 5 } or {}, 1)\n"
        "assert(#b == 2 and b[2] == 5)\n"
        "local f, c = M.split(5)\n"
        "assert((r == 0 and f == 0 and c == 3) or (r == 1 and f == 3 and c == 2))\n"
        "local ok, err = pcall(M.gather, { r })\n"
        "assert(ok)\n"
        "ok, err = pcall(M.allreduce, 'x')\n"
        "assert(not ok and err:find('expects a number'))\n"
        "M.barrier()\n"
        "print('collectives ok')\n");
    tp_cmd_result r = sh("%M %T run coll.lua");
    ck_assert_msg(r.status == 0, "%s", r.err);
    ck_assert_str_eq(r.out, "collectives ok\n");   /* once: rank 1's stdout is silent */
    tp_cmd_result_free(&r);
    /* one process: the same calls are the identity */
    put("one.lua",
        "local tp = require 'tempera'\n"
        "assert(tp.mpi.size() == 1 and tp.mpi.rank() == 0)\n"
        "assert(tp.mpi.allreduce(2.5) == 2.5 and tp.mpi.gather(3)[1] == 3 and tp.mpi.bcast('s') == 's')\n"
        "local f, c = tp.mpi.split(7)\n"
        "assert(f == 0 and c == 7)\n");
    r = sh("%T run one.lua");
    ck_assert_msg(r.status == 0, "%s", r.err);
    tp_cmd_result_free(&r);
}
END_TEST

/* ---- files: rank 0 writes, every rank reads back its own ---------------------------- */

START_TEST(test_mpi_files_written_by_rank_0_read_back_everywhere) {
    if (!mpi_usable()) return;
    put("files.lua",
        "local tp = require 'tempera'\n"
        "local r = tp.mpi.rank()\n"
        "local f = assert(io.open(tp.out('who.txt'), 'w'))\n"
        "f:write('written by rank ', r, '\\n')\n"
        "f:close()\n"
        "-- each rank reads back what it wrote itself (rank 1: its private copy)\n"
        "assert(io.open(tp.out('who.txt')):read('*l') == 'written by rank ' .. r)\n"
        "for line in io.lines(tp.out('who.txt')) do assert(line == 'written by rank ' .. r) end\n"
        "tp.plumed.write_hills(tp.out('h.HILLS'), { cv = { 'm' }, centers = { -0.5, 0.5 }, sigma = { 0.1 },\n"
        "  heights = { 1, 2 }, bias_factor = 10, n = 2 })\n"
        "assert(tp.plumed.read_hills(tp.out('h.HILLS')).n == 2)\n"
        "local w = tp.dump.open(tp.out('d.tpd'), { fields = { { name = 'e', type = 'f64' } } })\n"
        "for i = 1, 5 do w:append{ e = i + 10 * r } end\n"
        "w:close()\n"
        "local d = assert(tp.dump.read(tp.out('d.tpd')))\n"
        "local c = d:next_chunk()\n"
        "assert(c.n == 5 and c:get('e')[0] == 1 + 10 * r)\n"
        "d:close()\n"
        "os.remove(tp.out('gone.txt'))   -- rank 1 removes only its own copy\n"
        "tp.mpi.barrier()\n"
        "print('files ok')\n");
    tp_cmd_result mk = sh("mkdir -p out");
    tp_cmd_result_free(&mk);
    put("out/gone.txt", "rank 0 removes this\n");
    tp_cmd_result r = sh("%M %T run files.lua --quiet --out out");
    ck_assert_msg(r.status == 0, "%s", r.err);
    ck_assert_str_eq(r.out, "files ok\n");
    char *who = slurp("out/who.txt");
    ck_assert_str_eq(who, "written by rank 0\n");   /* rank 1 never touched the real file */
    free(who);
    ck_assert_msg(access(in_dir("out/gone.txt"), F_OK) != 0, "rank 0 removed gone.txt");
    tp_cmd_result ls = sh("ls out");
    ck_assert_msg(strstr(ls.out, "d.tpd") && strstr(ls.out, "h.HILLS") && !strstr(ls.out, ".tmp"), "%s", ls.out);
    tp_cmd_result_free(&ls);
    tp_cmd_result_free(&r);
}
END_TEST

/* ---- Ctrl-C ------------------------------------------------------------------------ */

START_TEST(test_mpi_interrupt_stops_every_rank) {
    if (!mpi_usable()) return;
    put("long.lua",
        "local tp = require 'tempera'\n"
        "local lat = tp.lattice.square(4)\n"
        "local net = tp.nn.transformer{ lattice = lat, states = 2, embed = 16, depth = 2, heads = 2, seed = 1,\n"
        "  backend = 'cpu' }\n"
        "tp.train.mdns{ net = net, model = tp.model.ising{ lattice = lat }, beta = 0.5, batch = 16, replicates = 2,\n"
        "  resample_every = 2, steps = 100000, seed = 4, progress = false, checkpoint = tp.out('l.ckpt'),\n"
        "  checkpoint_every = 2, resume = 'auto' }\n");
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 "
             "exec mpirun --allow-run-as-root --oversubscribe --bind-to none -np 2 '%s' run long.lua "
             "--quiet --out lr >out.txt 2>err.txt",
             dir, getenv("TEMPERA_BIN"));
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/bash", "bash", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    /* wait for the first checkpoint, then Ctrl-C */
    for (int i = 0; i < 600 && access(in_dir("lr/l.ckpt"), F_OK) != 0; i++) usleep(50000);
    ck_assert_msg(access(in_dir("lr/l.ckpt"), F_OK) == 0, "no checkpoint after 30 s");
    usleep(300000);
    kill(pid, SIGINT);
    int st = 0;
    time_t t0 = time(NULL);
    pid_t w = 0;
    while ((w = waitpid(pid, &st, WNOHANG)) == 0 && time(NULL) - t0 < 60) usleep(50000);
    if (w == 0) { kill(pid, SIGKILL); waitpid(pid, &st, 0); }
    ck_assert_msg(w == pid, "mpirun did not end within 60 s of Ctrl-C");
    ck_assert_msg(!(WIFEXITED(st) && WEXITSTATUS(st) == 0), "the interrupted job exited 0");
    tp_cmd_result ps = sh("pgrep -f 'run long.lua --quiet --out lr' | grep -v $$ || true");
    ck_assert_msg(strlen(ps.out) == 0, "ranks still running: %s", ps.out);
    tp_cmd_result_free(&ps);
    /* the checkpoint written before is whole: a run resumes from it */
    put("resume.lua",
        "local tp = require 'tempera'\n"
        "local lat = tp.lattice.square(4)\n"
        "local net = tp.nn.transformer{ lattice = lat, states = 2, embed = 16, depth = 2, heads = 2, seed = 1,\n"
        "  backend = 'cpu' }\n"
        "local tr = tp.train.trainer{ net = net, model = tp.model.ising{ lattice = lat }, beta = 0.5, batch = 16,\n"
        "  replicates = 2, resample_every = 2, seed = 4, progress = false, checkpoint = 'lr/l.ckpt', resume = true }\n"
        "assert(net:steps() >= 2 and net:steps() % 2 == 0, net:steps())\n"
        "print('resumed at', net:steps())\n");
    tp_cmd_result r = sh("%T run resume.lua");
    ck_assert_msg(r.status == 0, "%s", r.err);
    tp_cmd_result_free(&r);
}
END_TEST

Suite *mpi_suite(void) {
    Suite *s = suite_create("mpi");
    TCase *tc = tp_test_tcase("mpi", 240);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_mpi_metad_shared_bias_equals_one_process);
    tcase_add_test(tc, test_mpi_data_parallel_equals_one_process);
    tcase_add_test(tc, test_mpi_resume_with_another_rank_count);
    tcase_add_test(tc, test_mpi_failing_rank_ends_the_job);
    tcase_add_test(tc, test_mpi_collectives);
    tcase_add_test(tc, test_mpi_files_written_by_rank_0_read_back_everywhere);
    tcase_add_test(tc, test_mpi_interrupt_stops_every_rank);
    suite_add_tcase(s, tc);
    return s;
}
