/*
 * tests/check_cli.c -- the tempera command: usage, version, every error
 * path with its message and exit status (documented in tempera(1)),
 * parameters and seeds, --out records, -e, the REPL, and Ctrl-C.
 */
#include "check_util.h"

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char *dir;

static void setup(void) { dir = tp_test_scratch_dir("cli"); }
static void teardown(void) { free(dir); }

/* write recipe text to dir/name and return its path (static buffer) */
static const char *recipe(const char *name, const char *text) {
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    ck_assert_int_eq(tp_test_write_file(path, text), 0);
    return name;
}

#define RUN(...) tp_test_run_cmd(dir, NULL, (const char *const[]){ "tempera", __VA_ARGS__, NULL })

#define ASSERT_HAS(hay, needle) \
    ck_assert_msg(strstr((hay), (needle)) != NULL, "expected '%s' in:\n%s", (needle), (hay))

START_TEST(test_no_args_is_usage_error) {
    tp_cmd_result r = tp_test_run_cmd(dir, NULL, (const char *const[]){ "tempera", NULL });
    ck_assert_int_eq(r.status, 2);
    ASSERT_HAS(r.err, "usage: tempera run FILE");
    tp_cmd_result_free(&r);
}
END_TEST

/* output to a full disk is an error with a message, not a silent exit 0
 * (/dev/full stands in for the disk) */
START_TEST(test_stdout_write_error) {
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "'%s' -e 'print((\"x\"):rep(100))' > /dev/full", getenv("TEMPERA_BIN"));
    tp_cmd_result r = tp_test_run_cmd(dir, NULL, (const char *const[]){ "/bin/sh", "-c", cmd, NULL });
    ck_assert_msg(r.status != 0, "exit %d", r.status);
    ck_assert_msg(strstr(r.err, "error writing the standard output"), "%s", r.err);
    tp_cmd_result_free(&r);
    r = tp_test_run_cmd(dir, NULL, (const char *const[]){ "/bin/sh", "-c", "true > /dev/full", NULL });
    ck_assert_int_eq(r.status, 0);   /* the shell itself is fine: the failure above is tempera's */
    tp_cmd_result_free(&r);
}
END_TEST

/* the traceback shows the recipe's frames; TEMPERA_DEBUG adds the stdlib's */
START_TEST(test_traceback_user_frames) {
    recipe("tb.lua", "local tp = require 'tempera'\nlocal P = tp.params{ n = tp.params.int(4) }\n");
    tp_cmd_result r = RUN("run", "tb.lua", "--set", "n=2.5");
    ck_assert_int_eq(r.status, 1);
    ASSERT_HAS(r.err, "tb.lua:2: parameter 'n' expects an integer");
    ASSERT_HAS(r.err, "tb.lua:2: in main chunk");
    ck_assert_msg(!strstr(r.err, "stdlib/tempera/"), "stdlib frames shown:\n%s", r.err);
    tp_cmd_result_free(&r);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "TEMPERA_DEBUG=1 '%s' run tb.lua --set n=2.5", getenv("TEMPERA_BIN"));
    r = tp_test_run_cmd(dir, NULL, (const char *const[]){ "/bin/sh", "-c", cmd, NULL });
    ASSERT_HAS(r.err, "stdlib/tempera/params.lua");
    tp_cmd_result_free(&r);
}
END_TEST

START_TEST(test_help_and_version) {
    tp_cmd_result r = RUN("help");
    ck_assert_int_eq(r.status, 0);
    ASSERT_HAS(r.out, "--set NAME=VALUE");
    tp_cmd_result_free(&r);
    r = RUN("version");
    ck_assert_int_eq(r.status, 0);
    ASSERT_HAS(r.out, "tempera 0.");
    ASSERT_HAS(r.out, "LuaJIT");
    ASSERT_HAS(r.out, "zstd");
    ASSERT_HAS(r.out, "OpenBLAS");
    ASSERT_HAS(r.out, "CUDA");
    ASSERT_HAS(r.out, "backends: cpu");
    tp_cmd_result_free(&r);
    r = RUN("help", "rng");
    ck_assert_int_eq(r.status, 0);
    ASSERT_HAS(r.out, "Philox4x32-10");
    tp_cmd_result_free(&r);
    r = RUN("help", "no_such_thing");
    ck_assert_int_eq(r.status, 1);
    ASSERT_HAS(r.err, "no help for 'no_such_thing'");
    tp_cmd_result_free(&r);
}
END_TEST

START_TEST(test_usage_errors) {
    struct { const char *a1, *a2, *a3; const char *msg; } cases[] = {
        { "--bogus", NULL, NULL, "unknown option '--bogus'" },
        { "frobnicate", NULL, NULL, "unknown command 'frobnicate'" },
        { "run", NULL, NULL, "run needs a recipe FILE" },
        { "-e", NULL, NULL, "-e needs a chunk of Lua" },
        { "run", "x.lua", "--seed", "--seed needs a value" },
        { "run", "x.lua", "--bogus", "unknown option '--bogus'" },
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        tp_cmd_result r = tp_test_run_cmd(dir, NULL, (const char *const[]){ "tempera", cases[k].a1, cases[k].a2, cases[k].a3, NULL });
        ck_assert_msg(r.status == 2, "case %zu: status %d", k, r.status);
        ASSERT_HAS(r.err, cases[k].msg);
        tp_cmd_result_free(&r);
    }
    tp_cmd_result r = RUN("run", "x.lua", "--seed", "-3");
    ck_assert_int_eq(r.status, 2);
    ASSERT_HAS(r.err, "--seed expects an integer");
    tp_cmd_result_free(&r);
    r = RUN("run", "x.lua", "--set", "novalue");
    ck_assert_int_eq(r.status, 2);
    ASSERT_HAS(r.err, "--set expects NAME=VALUE, got 'novalue'");
    tp_cmd_result_free(&r);
    r = RUN("run", "x.lua", "--threads", "0");
    ck_assert_int_eq(r.status, 2);
    tp_cmd_result_free(&r);
}
END_TEST

START_TEST(test_load_errors) {
    tp_cmd_result r = RUN("run", "missing.lua");
    ck_assert_int_eq(r.status, 3);
    ASSERT_HAS(r.err, "tempera: missing.lua: load error: cannot open file");
    tp_cmd_result_free(&r);

    recipe("syn.lua", "local tp = require 'tempera'\nlocal x = = 1\n");
    r = RUN("run", "syn.lua");
    ck_assert_int_eq(r.status, 3);
    ASSERT_HAS(r.err, "tempera: syn.lua: load error: syn.lua:2:");
    tp_cmd_result_free(&r);

    r = RUN("-e", "x = = 1");
    ck_assert_int_eq(r.status, 3);
    ASSERT_HAS(r.err, "load error");
    tp_cmd_result_free(&r);

    r = RUN("run", ".");
    ck_assert_int_eq(r.status, 3);
    ASSERT_HAS(r.err, "is a directory");
    tp_cmd_result_free(&r);
}
END_TEST

START_TEST(test_run_error_names_recipe_line) {
    recipe("boom.lua", "local tp = require 'tempera'\nlocal function f()\n  error('boom')\nend\nf()\n");
    tp_cmd_result r = RUN("run", "boom.lua");
    ck_assert_int_eq(r.status, 1);
    ASSERT_HAS(r.err, "tempera: boom.lua:3: boom");
    ASSERT_HAS(r.err, "stack traceback:");
    ASSERT_HAS(r.err, "boom.lua:5: in main chunk");
    tp_cmd_result_free(&r);

    /* an error raised inside the stdlib is reported at the recipe's line */
    recipe("rng.lua", "local tp = require 'tempera'\n\nlocal r = tp.rng(-1)\n");
    r = RUN("run", "rng.lua");
    ck_assert_int_eq(r.status, 1);
    ASSERT_HAS(r.err, "tempera: rng.lua:3: tp.rng: stream must be a non-negative integer");
    tp_cmd_result_free(&r);

    /* unknown option in a stdlib option table: listed valid names */
    recipe("opt.lua", "local tp = require 'tempera'\nlocal p = tp.progress{ lable = 'x' }\n");
    r = RUN("run", "opt.lua");
    ck_assert_int_eq(r.status, 1);
    ASSERT_HAS(r.err, "opt.lua:2: tp.progress: unknown option 'lable' (valid: label, total)");
    tp_cmd_result_free(&r);

    /* a typo in a module name */
    recipe("mod.lua", "local tp = require 'tempera'\nlocal x = tp.rgn(1)\n");
    r = RUN("run", "mod.lua");
    ck_assert_int_eq(r.status, 1);
    ASSERT_HAS(r.err, "mod.lua:2: tempera has no 'rgn'");
    /* the list names the modules not loaded yet, too */
    ASSERT_HAS(r.err, "mc, model");
    ASSERT_HAS(r.err, "train");
    tp_cmd_result_free(&r);

    /* a C status turned into an error at the recipe line */
    recipe("cst.lua", "local tp = require 'tempera'\ntp.threads(0)\n");
    r = RUN("run", "cst.lua");
    ck_assert_int_eq(r.status, 1);
    ASSERT_HAS(r.err, "cst.lua:2: thread count must be in 1..4096, got 0");
    tp_cmd_result_free(&r);

    /* a raw Lua error inside the stdlib (a tempera bug, or an input it
     * should have refused) is put at the recipe's line, with the entry it
     * came from and the stdlib position kept in brackets */
    recipe("bug.lua", "local tp = require 'tempera'\n"
                      "local broken = load('local t = nil\\nreturn t.x', '@stdlib/tempera/fake.lua')\n"
                      "tp.fake_entry = broken\n"
                      "\n"
                      "tp.fake_entry()\n");
    r = RUN("run", "bug.lua");
    ck_assert_int_eq(r.status, 1);
    ASSERT_HAS(r.err, "tempera: bug.lua:5: error inside tempera (in fake_entry): attempt to index local 't'");
    ASSERT_HAS(r.err, "[at stdlib/tempera/fake.lua:2:");
    ASSERT_HAS(r.err, "TEMPERA_DEBUG=1");
    tp_cmd_result_free(&r);
}
END_TEST

static const char *PARAMS_RECIPE =
    "local tp = require 'tempera'\n"
    "local P = tp.params{ L = tp.params.int(4), beta = 0.5, name = 'x', hot = false, h = 0 }\n"
    "local r = tp.rng(0)\n"
    "print(P.L, P.beta, P.name, P.hot, P.seed, r:u32())\n";

START_TEST(test_params_and_seed) {
    recipe("p.lua", PARAMS_RECIPE);
    tp_cmd_result r = RUN("run", "p.lua");
    ck_assert_int_eq(r.status, 0);
    ASSERT_HAS(r.out, "# params: L=4 beta=0.5 h=0 hot=false name=\"x\" seed=1\n");
    ASSERT_HAS(r.out, "4\t0.5\tx\tfalse\t1\t");
    tp_cmd_result_free(&r);

    /* a number default of 0 takes a fraction; only tp.params.int refuses one */
    r = RUN("run", "p.lua", "--set", "L=8", "--set", "beta=0.25", "--set", "hot=yes", "--set", "name=abc", "--seed", "9",
            "--set", "h=0.1667");
    ck_assert_int_eq(r.status, 0);
    ASSERT_HAS(r.out, "# params: L=8 beta=0.25 h=0.1667 hot=true name=\"abc\" seed=9\n");
    tp_cmd_result_free(&r);

    struct { const char *set, *msg; } bad[] = {
        { "L=4.5", "p.lua:2: parameter 'L' expects an integer (declared tp.params.int), got '4.5'" },
        { "beta=hot", "p.lua:2: parameter 'beta' expects a finite number, got 'hot'" },
        { "beta=nan", "p.lua:2: parameter 'beta' expects a finite number, got 'nan'" },
        { "beta=inf", "p.lua:2: parameter 'beta' expects a finite number, got 'inf'" },
        { "hot=maybe", "p.lua:2: parameter 'hot' expects true or false, got 'maybe'" },
        { "Lx=3", "p.lua:2: unknown parameter 'Lx' in --set (valid: L, beta, h, hot, name)" },
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        r = RUN("run", "p.lua", "--set", bad[k].set);
        ck_assert_msg(r.status == 1, "%s: status %d", bad[k].set, r.status);
        ASSERT_HAS(r.err, bad[k].msg);
        tp_cmd_result_free(&r);
    }

    /* presets: the chosen one replaces defaults, --set still wins */
    recipe("pre.lua", "local tp = require 'tempera'\n"
                      "local P = tp.params({ preset = 'cpu', n = 2, lr = 1e-3 }, { cpu = {}, big = { n = 64, lr = 1e-4 } })\n");
    r = RUN("run", "pre.lua", "--set", "preset=big");
    ck_assert_int_eq(r.status, 0);
    ASSERT_HAS(r.out, "# params: lr=0.0001 n=64 preset=\"big\" seed=1\n");
    tp_cmd_result_free(&r);
    r = RUN("run", "pre.lua", "--set", "preset=big", "--set", "n=3");
    ASSERT_HAS(r.out, "# params: lr=0.0001 n=3 preset=\"big\" seed=1\n");
    tp_cmd_result_free(&r);
    r = RUN("run", "pre.lua", "--set", "preset=huge");
    ck_assert_int_eq(r.status, 1);
    ASSERT_HAS(r.err, "pre.lua:2: unknown preset 'huge' (valid: big, cpu)");
    tp_cmd_result_free(&r);

    recipe("typo.lua", "local tp = require 'tempera'\nlocal P = tp.params{ beta = 1 }\nprint(P.bta)\n");
    r = RUN("run", "typo.lua");
    ck_assert_int_eq(r.status, 1);
    ASSERT_HAS(r.err, "typo.lua:3: unknown parameter 'bta' (declared: beta, seed)");
    tp_cmd_result_free(&r);
}
END_TEST

START_TEST(test_same_seed_same_output) {
    recipe("p.lua", PARAMS_RECIPE);
    tp_cmd_result a = RUN("run", "p.lua", "--seed", "5");
    tp_cmd_result b = RUN("run", "p.lua", "--seed", "5");
    tp_cmd_result c = RUN("run", "p.lua", "--seed", "6");
    ck_assert_int_eq(a.status, 0);
    ck_assert_str_eq(a.out, b.out);
    ck_assert_str_ne(a.out, c.out);
    tp_cmd_result_free(&a);
    tp_cmd_result_free(&b);
    tp_cmd_result_free(&c);
    /* without params, the seed is still announced */
    recipe("s.lua", "local tp = require 'tempera'\nprint(tp.rng(0):u32())\n");
    a = RUN("run", "s.lua", "--seed", "77");
    ck_assert_int_eq(a.status, 0);
    ASSERT_HAS(a.out, "# seed: 77 (--seed)\n");
    tp_cmd_result_free(&a);
}
END_TEST

START_TEST(test_out_dir_records_run) {
    recipe("p.lua", PARAMS_RECIPE);
    tp_cmd_result r = RUN("run", "p.lua", "--out", "res/a", "--seed", "3", "--set", "L=6");
    ck_assert_int_eq(r.status, 0);
    tp_cmd_result_free(&r);
    char path[4096];
    snprintf(path, sizeof path, "%s/res/a/run.txt", dir);
    char *info = tp_test_read_file(path);
    ck_assert_ptr_nonnull(info);
    ASSERT_HAS(info, "seed 3 (--seed)");
    ASSERT_HAS(info, "param L 6");
    ASSERT_HAS(info, "recipe p.lua");
    free(info);
    snprintf(path, sizeof path, "%s/res/a/recipe.lua", dir);
    char *copy = tp_test_read_file(path);
    ck_assert_ptr_nonnull(copy);
    ck_assert_str_eq(copy, PARAMS_RECIPE);
    free(copy);
}
END_TEST

START_TEST(test_eval_and_args) {
    tp_cmd_result r = RUN("-e", "print(1 + 2)");
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.out, "3\n");
    tp_cmd_result_free(&r);
    r = RUN("-e", "error('bad thing')");
    ck_assert_int_eq(r.status, 1);
    ASSERT_HAS(r.err, "tempera: (command line):1: bad thing");
    tp_cmd_result_free(&r);
    recipe("args.lua", "print(arg[0], #arg, arg[1], arg[2])\n");
    r = RUN("run", "args.lua", "--quiet", "--", "a", "b");
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.out, "args.lua\t2\ta\tb\n");
    tp_cmd_result_free(&r);
}
END_TEST

START_TEST(test_repl_piped) {
    const char *in =
        "=1+1\n"
        "x = { a = 1, b = { 2, 3 } }\n"
        "x\n"
        "for i = 1, 2 do\n"
        "  print('i', i)\n"
        "end\n"
        "tp.rng(4)\n"
        "help(tp.seed)\n";
    tp_cmd_result r = tp_test_run_cmd(dir, in, (const char *const[]){ "tempera", "repl", "--seed", "2", NULL });
    ck_assert_msg(r.status == 0, "status %d, stderr:\n%s", r.status, r.err);
    ASSERT_HAS(r.out, "2\n{a = 1, b = {2, 3}}\ni\t1\ni\t2\n");
    ASSERT_HAS(r.out, "tp.rng(seed=2, stream=4)");
    ASSERT_HAS(r.out, "tp.seed() -> the run's seed");
    tp_cmd_result_free(&r);
    /* IPython habits: _ holds the last result, estimates print as mean +- err,
     * help() lists the modules, help(obj) shows an object's methods and
     * fields, a text plot is drawn once */
    in = "m = tp.model.ising{ lattice = tp.lattice.square(4) }\n"
         "r = tp.mc.sample{ model = m, beta = 0.3, samples = 200, progress = false }\n"
         "r.energy\n"
         "=2+3\n"
         "=_ * 2\n"
         "help(m)\n"
         "help()\n"
         "tp.plot.terminal{ y = { 1, 4, 9, 16 }, title = 'squares' }\n";
    r = tp_test_run_cmd(dir, in, (const char *const[]){ "tempera", "repl", "--seed", "3", NULL });
    ck_assert_msg(r.status == 0, "status %d, stderr:\n%s", r.status, r.err);
    ck_assert_msg(strstr(r.out, " +- ") && strstr(r.out, "(tau "), "no mean +- err:\n%s", r.out);
    ASSERT_HAS(r.out, "5\n10\n");
    ASSERT_HAS(r.out, "methods: check, correlations, de, de_swap, energies, energy");
    ASSERT_HAS(r.out, "Modules (help(tp.NAME) for each): analysis, bias, cv");
    {
        const char *a = strstr(r.out, "squares");
        ck_assert_msg(!a || !strstr(a + 1, "squares"), "the text plot was drawn twice:\n%s", r.out);
    }
    tp_cmd_result_free(&r);
    /* an error does not end the session, but piped input reports it in the status */
    r = tp_test_run_cmd(dir, "error('oops')\nprint('after')\n", (const char *const[]){ "tempera", "repl", NULL });
    ck_assert_int_eq(r.status, 1);
    ASSERT_HAS(r.err, "stdin:1: oops");
    ASSERT_HAS(r.out, "after\n");
    tp_cmd_result_free(&r);
}
END_TEST

START_TEST(test_interrupt_flag_from_c) {
    /* what a C kernel returning TP_ABORTED looks like to a recipe */
    recipe("int.lua",
           "local tp = require 'tempera'\n"
           "local C = require('tempera.ffi').C\n"
           "local f = io.open('partial.txt', 'w'); f:write('kept\\n'); f:close()\n"
           "C.tp_interrupt_raise()\n"
           "tp.check_interrupt()\n"
           "print('not reached')\n");
    tp_cmd_result r = RUN("run", "int.lua");
    ck_assert_int_eq(r.status, 130);
    ASSERT_HAS(r.err, "tempera: interrupted: int.lua:5: interrupted");
    ck_assert_ptr_null(strstr(r.out, "not reached"));
    tp_cmd_result_free(&r);
    char path[4096];
    snprintf(path, sizeof path, "%s/partial.txt", dir);
    char *kept = tp_test_read_file(path);
    ck_assert_ptr_nonnull(kept);
    ck_assert_str_eq(kept, "kept\n");
    free(kept);
}
END_TEST

/* Start tempera on a recipe, wait for it to create 'started', send SIGINT. */
static int run_and_interrupt(const char *name, char **err_out) {
    char errp[4096];
    snprintf(errp, sizeof errp, "%s/stderr.txt", dir);
    pid_t pid = fork();
    if (pid == 0) {
        if (chdir(dir) != 0) _exit(127);
        int e = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int o = open("/dev/null", O_WRONLY);
        dup2(o, 1); dup2(e, 2);
        signal(SIGINT, SIG_DFL);
        execl(getenv("TEMPERA_BIN"), "tempera", "run", name, (char *)NULL);
        _exit(127);
    }
    char started[4096];
    snprintf(started, sizeof started, "%s/started", dir);
    struct stat st;
    for (int k = 0; k < 1000 && stat(started, &st) != 0; k++) {
        struct timespec ts = { 0, 10 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    struct timespec ts = { 0, 50 * 1000 * 1000 };
    nanosleep(&ts, NULL);
    kill(pid, SIGINT);
    int status = 0;
    waitpid(pid, &status, 0);
    *err_out = tp_test_read_file(errp);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

START_TEST(test_sigint_stops_lua_loop) {
    /* interpreted loop: the Lua hook raises "interrupted!" */
    recipe("spin.lua",
           "jit.off()\n"
           "local f = io.open('started', 'w'); f:close()\n"
           "local x = 0\n"
           "while true do x = x + 1 end\n");
    char *err = NULL;
    int st = run_and_interrupt("spin.lua", &err);
    ck_assert_msg(st == 130, "status %d, stderr: %s", st, err ? err : "");
    ASSERT_HAS(err, "tempera: interrupted");
    ASSERT_HAS(err, "every result written before the interrupt is kept");
    free(err);
}
END_TEST

START_TEST(test_sigint_stops_compiled_loop) {
    /* JIT-compiled loop: the hook cannot fire; the loop polls check_interrupt */
    recipe("spin2.lua",
           "local tp = require 'tempera'\n"
           "local f = io.open('started', 'w'); f:close()\n"
           "local x = 0\n"
           "while true do x = x + 1; if x % 1000 == 0 then tp.check_interrupt() end end\n");
    char *err = NULL;
    int st = run_and_interrupt("spin2.lua", &err);
    ck_assert_msg(st == 130, "status %d, stderr: %s", st, err ? err : "");
    ASSERT_HAS(err, "spin2.lua:4: interrupted");
    free(err);
}
END_TEST

START_TEST(test_progress_lines) {
    recipe("prog.lua",
           "local tp = require 'tempera'\n"
           "require('tempera.ffi').C.tp_progress_set_interval(0)\n"
           "local p = tp.progress{ label = 'sweeps', total = 4 }\n"
           "for i = 1, 4 do p:update(i) end\n"
           "p:finish()\n");
    tp_cmd_result r = RUN("run", "prog.lua");
    ck_assert_int_eq(r.status, 0);
    ASSERT_HAS(r.err, "sweeps: 1/4  25%");
    ASSERT_HAS(r.err, "sweeps: 4/4 100%");
    ASSERT_HAS(r.err, "in 0:00");
    ck_assert_str_eq(r.out, "");
    tp_cmd_result_free(&r);
    r = RUN("run", "prog.lua", "--quiet");
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.err, "");
    tp_cmd_result_free(&r);
}
END_TEST

/* copy the source stdlib to dir/lib (cp -r) and return that path */
static const char *copy_stdlib(void) {
    static char lib[4096];
    char cmd[9000];
    snprintf(lib, sizeof lib, "%s/lib", dir);
    snprintf(cmd, sizeof cmd, "cp -r '%s' '%s'", tp_test_src_path("stdlib"), lib);
    ck_assert_int_eq(system(cmd), 0);
    return lib;
}

START_TEST(test_stdlib_path_override) {
    const char *lib = copy_stdlib();
    char path[4096];
    snprintf(path, sizeof path, "%s/tempera/extra.lua", lib);
    ck_assert_int_eq(tp_test_write_file(path, "return { answer = 42 }\n"), 0);
    setenv("TEMPERA_STDLIB_PATH", lib, 1);
    tp_cmd_result r = RUN("-e", "print(require('tempera').extra.answer)");
    ck_assert_msg(r.status == 0, "stderr: %s", r.err);
    ck_assert_str_eq(r.out, "42\n");
    tp_cmd_result_free(&r);
    /* errors raised by on-disk stdlib code still point at the caller */
    recipe("rng.lua", "local tp = require 'tempera'\nlocal r = tp.rng(-1)\n");
    r = RUN("run", "rng.lua");
    ck_assert_int_eq(r.status, 1);
    ASSERT_HAS(r.err, "tempera: rng.lua:2: tp.rng: stream must be");
    tp_cmd_result_free(&r);
    unsetenv("TEMPERA_STDLIB_PATH");
    /* without the override, the embedded copy has no 'extra' */
    r = RUN("-e", "print(require('tempera').extra)");
    ck_assert_int_eq(r.status, 1);
    ASSERT_HAS(r.err, "tempera has no 'extra'");
    tp_cmd_result_free(&r);
}
END_TEST

START_TEST(test_abi_mismatch_is_reported) {
    const char *lib = copy_stdlib();
    char path[4096], cmd[9000];
    snprintf(path, sizeof path, "%s/tempera/ffi.lua", lib);
    snprintf(cmd, sizeof cmd, "sed -i 's/^local ABI = [0-9]*/local ABI = 999/' '%s'", path);
    ck_assert_int_eq(system(cmd), 0);
    setenv("TEMPERA_STDLIB_PATH", lib, 1);
    tp_cmd_result r = RUN("-e", "require 'tempera'");
    unsetenv("TEMPERA_STDLIB_PATH");
    ck_assert_int_eq(r.status, 1);
    ASSERT_HAS(r.err, "tempera stdlib expects ABI 999 but the binary has ABI");
    ASSERT_HAS(r.err, "TEMPERA_STDLIB_PATH");
    tp_cmd_result_free(&r);
}
END_TEST

/* the table rows of a paper-scale recipe (method, then numbers), each
 * without its last field (wall minutes), one after another */
static void table_rows(const char *out, char *buf, size_t cap) {
    buf[0] = 0;
    for (const char *l = out; l && *l;) {
        const char *e = strchr(l, '\n');
        size_t n = e ? (size_t)(e - l) : strlen(l);
        if ((!strncmp(l, "MDNS ", 5) || !strncmp(l, "MetaDNS ", 8) || !strncmp(l, "MetaDNS+warm ", 13)) &&
            !strstr(l, " after ")) {
            size_t k = n;
            while (k > 0 && l[k - 1] != ' ') k--;
            strncat(buf, l, k < cap - strlen(buf) - 2 ? k : cap - strlen(buf) - 2);
            strcat(buf, "\n");
        }
        l = e ? e + 1 : NULL;
    }
}

START_TEST(test_recipe_in_pieces_same_table) {
    /* ising16_metadns at tiny settings: 10 steps in one run, and 5 + 5 in
     * two runs resuming from checkpoints, print the same table */
    const char *r = tp_test_src_path("recipes/ising16_metadns.lua");
#define TINY "--threads", "1", "--quiet", "--set", "L=4", "--set", "embed=8", "--set", "heads=2", "--set", "batch=16", \
    "--set", "replicates=2", "--set", "resample_every=5", "--set", "samples=64", "--set", "chains=16",            \
    "--set", "burn_in=100", "--set", "sw_samples=100", "--set", "warm_cycles=40", "--set", "warm_from=10",        \
    "--set", "warm_every=5", "--set", "pretrain=5", "--set", "ref_cycles=100", "--set", "ref_frozen=20",          \
    "--set", "checkpoint_every=5"
    tp_cmd_result a = RUN("run", r, TINY, "--set", "steps=10", "--out", "one");
    ck_assert_msg(a.status == 0, "%s", a.err);
    tp_cmd_result b = RUN("run", r, TINY, "--set", "steps=5", "--set", "resume=true", "--out", "two");
    ck_assert_msg(b.status == 0, "%s", b.err);
    tp_cmd_result_free(&b);
    b = RUN("run", r, TINY, "--set", "steps=10", "--set", "resume=true", "--out", "two");
    ck_assert_msg(b.status == 0, "%s", b.err);
    ASSERT_HAS(b.out, "# MetaDNS+warm resumed at step 5\n");
    ASSERT_HAS(b.out, "# MDNS resumed at step 5\n");
#undef TINY
    static char ta[4096], tb[4096];
    table_rows(a.out, ta, sizeof ta);
    table_rows(b.out, tb, sizeof tb);
    ck_assert_msg(strstr(ta, "MetaDNS+warm ") != NULL, "no table in:\n%s", a.out);
    ck_assert_msg(strcmp(ta, tb) == 0, "one run:\n%s\nin pieces:\n%s", ta, tb);
    tp_cmd_result_free(&a);
    tp_cmd_result_free(&b);
}
END_TEST


/* tempera rerun: a shared run directory or dump reproduced from its own
 * record (recipe text, seed, threads, parameters) into a new directory,
 * every output compared; a changed output is named and the exit status is 1 */
START_TEST(test_rerun_reproduces_a_shared_run) {
    recipe("share.lua",
           "local tp = require 'tempera'\n"
           "local P = tp.params{ n = tp.params.int(40), beta = 0.4, label = 'a b' }\n"
           "local m = tp.model.ising{ lattice = tp.lattice.square(4) }\n"
           "local r = tp.mc.sample{ model = m, beta = P.beta, chains = 4, samples = P.n, seed = tp.seed(),\n"
           "  progress = false, warn = false }\n"
           "local f = tp.util.open_write(tp.out('result.txt'))\n"
           "f:write(string.format('%s %.17g\\n', P.label, r.energy.mean))\n"
           "f:close()\n"
           "local w = tp.dump.open(tp.out('e.tpd'), { fields = { { name = 'e', type = 'f64' } } })\n"
           "for i = 0, P.n * 4 - 1 do w:append{ e = r.series.energy[i] } end\n"
           "w:close()\n");
    tp_cmd_result r = RUN("run", "share.lua", "--out", "shared", "--seed", "9", "--set", "n=30", "--set", "beta=0.3",
                          "--set", "label=x y", "--threads", "1", "-q");
    ck_assert_msg(r.status == 0, "%s", r.err);
    tp_cmd_result_free(&r);
    char rpath[4200];
    snprintf(rpath, sizeof rpath, "%s/share.lua", dir);
    ck_assert_int_eq(unlink(rpath), 0);   /* the receiver has the directory only */
    r = RUN("rerun", "shared", "-o", "again");
    ck_assert_msg(r.status == 0, "%d %s %s", r.status, r.out, r.err);
    ASSERT_HAS(r.out, "--seed '9' --threads '1' --set 'beta=0.3'");
    ASSERT_HAS(r.out, "--set 'label=x y' --set 'n=30'");
    ASSERT_HAS(r.out, "4 files bit-identical to shared (in again)");
    tp_cmd_result_free(&r);
    r = RUN("rerun", "shared/e.tpd", "-o", "again2");
    ck_assert_msg(r.status == 0, "%d %s %s", r.status, r.out, r.err);
    ASSERT_HAS(r.out, "1 file bit-identical to shared/e.tpd");
    tp_cmd_result_free(&r);
    char path[4200];
    snprintf(path, sizeof path, "%s/shared/result.txt", dir);
    FILE *f = fopen(path, "a");
    ck_assert_ptr_nonnull(f);
    fputs("changed\n", f);
    fclose(f);
    r = RUN("rerun", "shared", "-o", "again3");
    ck_assert_int_eq(r.status, 1);
    ASSERT_HAS(r.out, "3 files identical, 1 differ:");
    ASSERT_HAS(r.out, "result.txt");
    tp_cmd_result_free(&r);
    r = RUN("rerun", "shared", "-o", "again");   /* not into a directory with files */
    ck_assert_int_eq(r.status, 2);
    tp_cmd_result_free(&r);
    r = RUN("help");
    ASSERT_HAS(r.out, "tempera rerun RUN_DIR|DUMP");
    ASSERT_HAS(r.out, "tempera dump info|head|csv|verify|recipe FILE");
    tp_cmd_result_free(&r);
}
END_TEST


/* Tab completion through a pseudo-terminal: "tp.mc.sa<TAB>" completes to
 * tp.mc.sample, "m:ene<TAB><TAB>" offers energies and energy */
static int pty_wait_for(int fd, char *buf, size_t cap, size_t *len, const char *want, int ms) {
    for (int waited = 0; waited < ms; waited += 50) {
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll(&p, 1, 50) > 0) {
            ssize_t n = read(fd, buf + *len, cap - 1 - *len);
            if (n <= 0) break;
            *len += (size_t)n;
            buf[*len] = 0;
        }
        if (strstr(buf, want)) return 1;
    }
    return 0;
}

START_TEST(test_repl_tab_completion) {
    int master;
    pid_t pid = forkpty(&master, NULL, NULL, NULL);
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        setenv("HOME", dir, 1);
        setenv("TERM", "dumb", 1);
        execl(getenv("TEMPERA_BIN"), "tempera", "repl", (char *)NULL);
        _exit(127);
    }
    static char buf[65536];
    size_t len = 0;
    buf[0] = 0;
    ck_assert_msg(pty_wait_for(master, buf, sizeof buf, &len, "Ctrl-D to quit", 20000), "no banner:\n%s", buf);
    ck_assert_int_eq(write(master, "tp.mc.sa\t", 9), 9);
    ck_assert_msg(pty_wait_for(master, buf, sizeof buf, &len, "tp.mc.sample", 10000), "no completion:\n%s", buf);
    const char *m = "\nm = tp.model.ising{ lattice = tp.lattice.square(4) }\nm:ene\t\t";
    ck_assert_int_eq(write(master, m, strlen(m)), (ssize_t)strlen(m));
    ck_assert_msg(pty_wait_for(master, buf, sizeof buf, &len, "energies", 10000), "no method completion:\n%s", buf);
    ck_assert_int_eq(write(master, "\x15\x04", 2), 2);   /* clear the line, then end of input */
    pty_wait_for(master, buf, sizeof buf, &len, "\x01never", 2000);
    int st;
    if (waitpid(pid, &st, WNOHANG) == 0) { kill(pid, SIGKILL); waitpid(pid, &st, 0); }
    close(master);
}
END_TEST

Suite *cli_suite(void) {
    Suite *s = suite_create("cli");
    TCase *tc = tp_test_tcase("command", 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_no_args_is_usage_error);
    tcase_add_test(tc, test_help_and_version);
    tcase_add_test(tc, test_traceback_user_frames);
    tcase_add_test(tc, test_stdout_write_error);
    tcase_add_test(tc, test_usage_errors);
    tcase_add_test(tc, test_load_errors);
    tcase_add_test(tc, test_run_error_names_recipe_line);
    tcase_add_test(tc, test_params_and_seed);
    tcase_add_test(tc, test_same_seed_same_output);
    tcase_add_test(tc, test_out_dir_records_run);
    tcase_add_test(tc, test_rerun_reproduces_a_shared_run);
    tcase_add_test(tc, test_repl_tab_completion);
    tcase_add_test(tc, test_eval_and_args);
    tcase_add_test(tc, test_repl_piped);
    tcase_add_test(tc, test_interrupt_flag_from_c);
    tcase_add_test(tc, test_sigint_stops_lua_loop);
    tcase_add_test(tc, test_sigint_stops_compiled_loop);
    tcase_add_test(tc, test_progress_lines);
    tcase_add_test(tc, test_stdlib_path_override);
    tcase_add_test(tc, test_abi_mismatch_is_reported);
    tcase_add_test(tc, test_recipe_in_pieces_same_table);
    suite_add_tcase(s, tc);
    return s;
}
