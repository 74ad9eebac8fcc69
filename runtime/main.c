/*
 * runtime/main.c -- the tempera command line.
 *
 *   tempera run FILE [--seed N] [--set name=value]... [--out DIR] [--quiet]
 *                    [--threads N] [-- ARGS...]
 *   tempera FILE.lua [options]        same as 'run'
 *   tempera repl [options]            interactive prompt
 *   tempera -e CHUNK [options]        run a chunk of Lua
 *   tempera version                   versions and usable backends
 *   tempera help [TOPIC]              usage, or the help text of a stdlib object
 *   tempera COMMAND ...               commands written in the stdlib
 *                                     (module tempera.cmd.COMMAND)
 * Exit status: 0 ok, 1 run error, 2 usage error, 3 load error, 130 Ctrl-C.
 */
#include "error.h"
#include "host.h"
#include "tp_ffi.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f) {
    fputs("usage: tempera run FILE [options] [-- ARGS...]\n"
          "       tempera repl [options]\n"
          "       tempera -e CHUNK [options]\n"
          "       tempera version\n"
          "       tempera help [TOPIC]\n"
          "       tempera dump info|head|csv|verify|recipe FILE   inspect a sample dump\n"
          "       tempera report RUN_DIR|DUMP [-o OUT]            Markdown + HTML report\n"
          "       tempera rerun RUN_DIR|DUMP [-o NEWDIR]          reproduce a shared run, compare\n"
          "options:\n"
          "  --seed N           seed of every random stream (overrides the recipe's)\n"
          "  --set NAME=VALUE   override a parameter declared with tp.params{...}\n"
          "  --out DIR          directory for the run's outputs (default: .)\n"
          "  --threads N        CPU worker threads (default: all cores)\n"
          "  -q, --quiet        no progress lines or informational messages\n"
          "see tempera(1) and tempera-recipe(5)\n", f);
}

static int usage_error(const char *fmt, const char *arg) {
    fputs("tempera: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\n", stderr);
    usage(stderr);
    return TP_EXIT_USAGE;
}

static int print_version(void) {
    printf("tempera %s (ABI %d)\n", tp_version(), tp_abi_version());
    printf("LuaJIT   %s\n", tp_version_luajit() + (strncmp(tp_version_luajit(), "LuaJIT ", 7) ? 0 : 7));
    printf("zstd     %s\n", tp_version_zstd());
    printf("OpenBLAS %s\n", tp_version_openblas());
    if (tp_cuda_compiled()) {
        int v = tp_cuda_runtime_version();
        printf("CUDA     runtime %d.%d (compiled in)\n", v / 1000, (v % 1000) / 10);
    } else {
        printf("CUDA     not compiled in\n");
    }
    printf("backends: cpu (%d threads)", tp_threads_get());
    int n = tp_cuda_compiled() ? tp_cuda_device_count() : 0;
    if (n > 0) {
        char name[256];
        tp_cuda_device_name(0, name, sizeof name);
        printf(", cuda (%d device%s: %s)\n", n, n > 1 ? "s" : "", name);
    } else {
        printf("; cuda unusable: %s\n", tp_cuda_compiled() ? "no CUDA device" : "not compiled in");
    }
    return TP_EXIT_OK;
}

static int parse_int(const char *s, long long lo, long long hi, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

/*
 * OpenMP worker threads that spin while idle compete with OpenBLAS's own
 * threads (and with any other process) for the cores: small kernels then run
 * many times slower.  libgomp reads OMP_WAIT_POLICY once, when it is loaded
 * (before main), so the first start sets PASSIVE and re-executes itself.  A
 * value the user set is respected; if the re-exec fails, tempera carries on.
 */
static void passive_openmp(char **argv) {
    if (getenv("OMP_WAIT_POLICY")) return;
    if (setenv("OMP_WAIT_POLICY", "PASSIVE", 1) != 0) return;
    execv("/proc/self/exe", argv);
}

static int run_main(int argc, char **argv) {
    tp_run_opts o;
    memset(&o, 0, sizeof o);
    const char **sets = calloc((size_t)argc + 1, sizeof *sets);
    const char *chunk = NULL, *cmd = NULL;
    if (!sets) return TP_EXIT_RUN;
    o.sets = sets;

    if (argc < 2) { usage(stderr); free(sets); return TP_EXIT_USAGE; }
    int i = 1;
    cmd = argv[i];
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version") || !strcmp(cmd, "-v")) { free(sets); return print_version(); }
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || (!strcmp(cmd, "help") && argc == 2)) { usage(stdout); free(sets); return TP_EXIT_OK; }

    int rc;
    if (!strcmp(cmd, "-e")) {
        if (argc < 3) { free(sets); return usage_error("%s needs a chunk of Lua", "-e"); }
        chunk = argv[2];
        o.mode = "eval";
        i = 3;
    } else if (!strcmp(cmd, "run")) {
        if (argc < 3 || argv[2][0] == '-') { free(sets); return usage_error("%s needs a recipe FILE", "run"); }
        o.mode = "run";
        o.recipe = argv[2];
        i = 3;
    } else if (!strcmp(cmd, "repl")) {
        o.mode = "repl";
        i = 2;
    } else if (strlen(cmd) > 4 && !strcmp(cmd + strlen(cmd) - 4, ".lua")) {
        o.mode = "run";
        o.recipe = cmd;
        i = 2;
    } else if (cmd[0] == '-') {
        free(sets);
        return usage_error("unknown option '%s'", cmd);
    } else {
        /* help TOPIC and stdlib commands: everything after the name is theirs */
        o.mode = cmd;
        lua_State *L = tp_lua_init(&o);
        if (!L) { free(sets); return TP_EXIT_RUN; }
        char module[256];
        snprintf(module, sizeof module, "tempera.cmd.%s", cmd);
        rc = tp_lua_run_command(L, module, argc - 2, argv + 2);
        tp_lua_free(L);
        free(sets);
        if (rc == -1) return usage_error("unknown command '%s'", cmd);
        return rc;
    }

    for (; i < argc; i++) {
        const char *a = argv[i];
        long long v;
        if (!strcmp(a, "--")) { o.nargs = argc - i - 1; o.args = argv + i + 1; break; }
        else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) o.quiet = 1;
        else if (!strcmp(a, "--seed") || !strcmp(a, "--set") || !strcmp(a, "--out") || !strcmp(a, "--threads")) {
            if (i + 1 >= argc) { free(sets); return usage_error("%s needs a value", a); }
            const char *val = argv[++i];
            if (!strcmp(a, "--seed")) {
                char *end;
                errno = 0;
                unsigned long long s = strtoull(val, &end, 10);
                if (errno || end == val || *end || val[0] == '-' || s > (1ULL << 53)) {
                    free(sets);
                    return usage_error("--seed expects an integer in 0..2^53, got '%s'", val);
                }
                o.has_seed = 1;
                o.seed = s;
            } else if (!strcmp(a, "--set")) {
                const char *eq = strchr(val, '=');
                if (!eq || eq == val) { free(sets); return usage_error("--set expects NAME=VALUE, got '%s'", val); }
                sets[o.nsets++] = val;
            } else if (!strcmp(a, "--out")) {
                o.out_dir = val;
            } else {
                if (!parse_int(val, 1, 4096, &v)) { free(sets); return usage_error("--threads expects an integer in 1..4096, got '%s'", val); }
                o.threads = (int)v;
            }
        } else if (a[0] == '-') {
            free(sets);
            return usage_error("unknown option '%s'", a);
        } else if (o.recipe && !strcmp(o.mode, "run")) {
            /* extra words after FILE are script arguments */
            o.nargs = argc - i;
            o.args = argv + i;
            break;
        } else {
            free(sets);
            return usage_error("unexpected argument '%s'", a);
        }
    }

    if (tp_mpi_rank() > 0) o.quiet = 1;   /* rank 0 reports progress for the run */
    lua_State *L = tp_lua_init(&o);
    if (!L) { free(sets); return TP_EXIT_RUN; }
    if (!strcmp(o.mode, "run")) rc = tp_lua_run_file(L, o.recipe);
    else if (!strcmp(o.mode, "eval")) rc = tp_lua_run_string(L, chunk, "=(command line)");
    else rc = tp_repl(L);
    tp_lua_free(L);
    free(sets);
    return rc;
}

/* Output sent to a full disk (tempera dump csv F > file on a full file
 * system, > /dev/full) is an error, not a silent success.  A file size
 * limit (ulimit -f) makes writes fail with EFBIG, reported like a full
 * disk, instead of killing the process with SIGXFSZ half-way through. */
/* Under mpirun every rank runs the recipe; ranks other than 0 compute
 * what rank 0 computes and write nothing (muted files, standard output to
 * /dev/null unless TEMPERA_MPI_OUTPUT=all); a rank that fails ends the job
 * with its message (MPI_Abort: no rank waits forever in a collective). */
int main(int argc, char **argv) {
    signal(SIGXFSZ, SIG_IGN);
    passive_openmp(argv);   /* before MPI starts: the re-executed process initialises it */
    if (tp_mpi_init(&argc, &argv) != TP_OK) {
        fprintf(stderr, "tempera: %s\n", tp_last_error());
        return TP_EXIT_RUN;
    }
    if (tp_mpi_size() > 1) {
        /* several ranks on a node with GPUs: each takes its own */
        const char *lr = getenv("OMPI_COMM_WORLD_LOCAL_RANK");
        int ndev = tp_cuda_device_count();
        if (lr && ndev > 0 && tp_cuda_select_device(atoi(lr) % ndev) != TP_OK)
            fprintf(stderr, "tempera: rank %d: %s\n", tp_mpi_rank(), tp_last_error());
    }
    if (tp_mpi_rank() > 0) {
        tp_io_set_muted(1);
        const char *all = getenv("TEMPERA_MPI_OUTPUT");
        if (!(all && !strcmp(all, "all")) && !freopen("/dev/null", "w", stdout)) {
            fprintf(stderr, "tempera: rank %d: cannot silence the standard output\n", tp_mpi_rank());
        }
    }
    int rc = run_main(argc, argv);
    errno = 0;
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "tempera: error writing the standard output: %s\n", errno ? strerror(errno) : "write failed");
        if (rc == TP_EXIT_OK) rc = TP_EXIT_RUN;
    }
    if (rc != TP_EXIT_OK && tp_mpi_size() > 1) {
        fprintf(stderr, "tempera: rank %d of %d failed (exit status %d): ending every rank\n", tp_mpi_rank(),
                tp_mpi_size(), rc);
        tp_mpi_abort(rc);
    }
    tp_mpi_finalize();
    return rc;
}
