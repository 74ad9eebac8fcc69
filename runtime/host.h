/*
 * runtime/host.h -- the LuaJIT host (named host.h: a runtime/lua.h would shadow LuaJIT's <lua.h>): one lua_State per run, the embedded
 * stdlib, protected calls with tracebacks, Ctrl-C, and the error reports
 * the CLI prints.  The CLI (main.c), the REPL (repl.c) and the Lua-level
 * tests all go through these entry points.
 */
#ifndef TP_HOST_H
#define TP_HOST_H

#include <stdint.h>
#include <lua.h>

/* What the command line tells a run.  Strings are borrowed. */
typedef struct tp_run_opts {
    const char *mode;         /* "run", "repl", "eval", or a subcommand name */
    const char *recipe;       /* recipe path (run), or NULL */
    int has_seed;             /* --seed given */
    uint64_t seed;
    const char **sets;        /* --set name=value, nsets of them */
    int nsets;
    const char *out_dir;      /* --out DIR, or NULL */
    int quiet;                /* --quiet */
    int threads;              /* --threads N, 0 = default */
    int nargs;                /* script arguments (after FILE or '--') */
    char **args;
} tp_run_opts;

/* A fresh state with the standard libraries, the stdlib searcher and the
 * 'tempera.cli' table built from opts.  NULL (message on stderr) on failure. */
lua_State *tp_lua_init(const tp_run_opts *opts);
void tp_lua_free(lua_State *L);

/* Run a recipe file / a chunk of text; print any error as
 *   tempera: FILE:LINE: message   (+ traceback)
 * and return a TP_EXIT_* status. */
int tp_lua_run_file(lua_State *L, const char *path);
int tp_lua_run_string(lua_State *L, const char *chunk, const char *chunkname);
/* Call require(module).main(args...) for Lua-implemented subcommands.
 * Returns TP_EXIT_USAGE with a message if the module does not exist. */
int tp_lua_run_command(lua_State *L, const char *module, int nargs, char **args);

/* lua_pcall with the traceback handler and Ctrl-C armed: the function and
 * narg arguments are on the stack.  Returns the lua_pcall status. */
int tp_lua_docall(lua_State *L, int narg, int nres);
/* Print the error on top of the stack ("tempera: " + message + traceback)
 * and pop it; returns TP_EXIT_RUN or TP_EXIT_INTERRUPT. */
int tp_lua_report(lua_State *L, const char *phase);

/* 1 if a stdlib module of that name exists (embedded or on TEMPERA_STDLIB_PATH). */
int tp_lua_module_exists(const char *name);

/* REPL (runtime/repl.c).  Returns an exit status. */
int tp_repl(lua_State *L);

#endif /* TP_HOST_H */
