/*
 * runtime/host.c -- the LuaJIT host (see host.h).
 *
 * Module loading: a searcher placed right after package.preload finds
 * "tempera" and "tempera.*" first on TEMPERA_STDLIB_PATH (development: edit
 * Lua without rebuilding), then in the sources embedded by tools/embed.c,
 * with chunk names such as "@stdlib/tempera/cv.lua" so tracebacks show real
 * files and lines.  The generated FFI text is the module "tempera.cdef" and
 * always comes from the binary it describes.
 *
 * Errors: chunks run under lua_pcall with a handler that appends a
 * traceback.  Ctrl-C sets tp_abort_flag (polled by C loops) and a count hook
 * that raises "interrupted!" at the next Lua instruction; a second Ctrl-C
 * kills the process (the hook cannot fire inside JIT-compiled loops, which
 * poll tempera.check_interrupt() instead).
 */
#include "host.h"
#include "error.h"
#include "tp_ffi.h"

#include <lauxlib.h>
#include <lualib.h>
#include <luajit.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct { const char *name, *chunk; const unsigned char *data; size_t len; } tp_embedded_file;
extern const tp_embedded_file tp_stdlib_files[];

static lua_State *signal_L = NULL;

/* ---- module search --------------------------------------------------- */

static const tp_embedded_file *find_embedded(const char *name) {
    for (const tp_embedded_file *f = tp_stdlib_files; f->name; f++)
        if (strcmp(f->name, name) == 0) return f;
    return NULL;
}

/* TEMPERA_STDLIB_PATH/tempera/x/y.lua or .../init.lua for module tempera.x.y */
static int stdlib_disk_path(const char *name, char *buf, size_t n) {
    const char *root = getenv("TEMPERA_STDLIB_PATH");
    if (!root || !*root || strcmp(name, "tempera.cdef") == 0) return 0;
    if (strcmp(name, "tempera") != 0 && strncmp(name, "tempera.", 8) != 0) return 0;
    char rel[512];
    snprintf(rel, sizeof rel, "%s", name);
    for (char *c = rel; *c; c++) if (*c == '.') *c = '/';
    struct stat st;
    snprintf(buf, n, "%s/%s.lua", root, rel);
    if (stat(buf, &st) == 0) return 1;
    snprintf(buf, n, "%s/%s/init.lua", root, rel);
    return stat(buf, &st) == 0;
}

int tp_lua_module_exists(const char *name) {
    char path[1024];
    return find_embedded(name) != NULL || stdlib_disk_path(name, path, sizeof path);
}

static int searcher(lua_State *L) {
    const char *name = luaL_checkstring(L, 1);
    char path[1024];
    if (stdlib_disk_path(name, path, sizeof path)) {
        if (luaL_loadfile(L, path) != 0)
            return luaL_error(L, "error loading module '%s' from %s:\n\t%s", name, path, lua_tostring(L, -1));
        return 1;
    }
    const tp_embedded_file *f = find_embedded(name);
    if (!f) {
        lua_pushfstring(L, "\n\tno embedded stdlib module '%s'", name);
        return 1;
    }
    if (luaL_loadbuffer(L, (const char *)f->data, f->len, f->chunk) != 0)
        return luaL_error(L, "error loading embedded module '%s':\n\t%s", name, lua_tostring(L, -1));
    return 1;
}

static void install_searcher(lua_State *L) {
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "loaders");
    int n = (int)lua_objlen(L, -1);
    for (int i = n; i >= 2; i--) { lua_rawgeti(L, -1, i); lua_rawseti(L, -2, i + 1); }
    lua_pushcfunction(L, searcher);
    lua_rawseti(L, -2, 2);
    lua_pop(L, 2);
}

/* ---- runtime services for the stdlib (luaL_Reg: they need the VM) -------- */

static int l_module_exists(lua_State *L) {
    lua_pushboolean(L, tp_lua_module_exists(luaL_checkstring(L, 1)));
    return 1;
}

/* list of embedded module names */
static int l_modules(lua_State *L) {
    lua_newtable(L);
    int i = 1;
    for (const tp_embedded_file *f = tp_stdlib_files; f->name; f++) {
        lua_pushstring(L, f->name);
        lua_rawseti(L, -2, i++);
    }
    return 1;
}

static const luaL_Reg host_funcs[] = {
    {"module_exists", l_module_exists},
    {"modules", l_modules},
    {NULL, NULL}
};

static int open_host(lua_State *L) {
    lua_newtable(L);
    luaL_register(L, NULL, host_funcs);
    return 1;
}

/* ---- the 'tempera.cli' table -------------------------------------------- */

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) break;
        char *nb = realloc(buf, cap *= 2);
        if (!nb) { free(buf); buf = NULL; }
        else buf = nb;
    }
    fclose(f);
    if (buf) *len = n;
    return buf;
}

static void push_cli(lua_State *L, const tp_run_opts *o) {
    lua_newtable(L);
    lua_pushstring(L, o->mode ? o->mode : "run");
    lua_setfield(L, -2, "mode");
    if (o->recipe) {
        lua_pushstring(L, o->recipe);
        lua_setfield(L, -2, "recipe");
        size_t len = 0;
        char *text = read_file(o->recipe, &len);
        if (text) {
            lua_pushlstring(L, text, len);
            lua_setfield(L, -2, "recipe_text");
            free(text);
        }
    }
    if (o->has_seed) {
        lua_pushnumber(L, (lua_Number)o->seed);
        lua_setfield(L, -2, "seed");
    }
    lua_newtable(L);
    for (int i = 0; i < o->nsets; i++) {
        const char *eq = strchr(o->sets[i], '=');
        if (!eq) continue; /* main.c has rejected it already */
        lua_pushlstring(L, o->sets[i], (size_t)(eq - o->sets[i]));
        lua_pushstring(L, eq + 1);
        lua_settable(L, -3);
    }
    lua_setfield(L, -2, "set");
    if (o->out_dir) {
        lua_pushstring(L, o->out_dir);
        lua_setfield(L, -2, "out");
    }
    lua_pushboolean(L, o->quiet);
    lua_setfield(L, -2, "quiet");
    lua_newtable(L);
    for (int i = 0; i < o->nargs; i++) {
        lua_pushstring(L, o->args[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "args");
}

lua_State *tp_lua_init(const tp_run_opts *o) {
    lua_State *L = luaL_newstate();
    if (!L) {
        fprintf(stderr, "tempera: cannot create a Lua state (out of memory?)\n");
        return NULL;
    }
    luaL_openlibs(L);
    luaJIT_setmode(L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_ON);
    install_searcher(L);

    lua_getglobal(L, "package");
    lua_getfield(L, -1, "preload");
    lua_pushcfunction(L, open_host);
    lua_setfield(L, -2, "tempera.host");
    lua_pop(L, 2);

    /* package.loaded["tempera.cli"] = {...} */
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "loaded");
    push_cli(L, o);
    lua_setfield(L, -2, "tempera.cli");
    lua_pop(L, 2);

    /* arg: like luajit's, arg[0] = recipe, arg[1..] = script arguments */
    lua_newtable(L);
    if (o->recipe) { lua_pushstring(L, o->recipe); lua_rawseti(L, -2, 0); }
    for (int i = 0; i < o->nargs; i++) { lua_pushstring(L, o->args[i]); lua_rawseti(L, -2, i + 1); }
    lua_setglobal(L, "arg");

    /* a recipe can require files that sit next to it */
    if (o->recipe) {
        const char *slash = strrchr(o->recipe, '/');
        lua_getglobal(L, "package");
        if (slash) lua_pushlstring(L, o->recipe, (size_t)(slash - o->recipe));
        else lua_pushstring(L, ".");
        lua_pushstring(L, "/?.lua;");
        lua_getfield(L, -3, "path");
        lua_concat(L, 3);
        lua_setfield(L, -2, "path");
        lua_pop(L, 1);
    }

    if (o->threads > 0 && tp_threads_set(o->threads) != TP_OK) {
        fprintf(stderr, "tempera: %s\n", tp_last_error());
        lua_close(L);
        return NULL;
    }
    tp_threads_get();   /* the default team, with subnormals flushed (kernels/common.h) */
    tp_log_set_quiet(o->quiet);
    return L;
}

void tp_lua_free(lua_State *L) {
    if (L) lua_close(L);
}

/* ---- protected calls ------------------------------------------------------ */

static void lstop(lua_State *L, lua_Debug *ar) {
    (void)ar;
    lua_sethook(L, NULL, 0, 0);
    luaL_error(L, "interrupted!");
}

static void laction(int sig) {
    signal(sig, SIG_DFL); /* a second Ctrl-C terminates */
    tp_abort_flag = 1;
    if (signal_L) lua_sethook(signal_L, lstop, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

/* Is a chunk source one of the stdlib's (embedded, generated, or on
 * TEMPERA_STDLIB_PATH)?  The Lua side has the same rule (util.is_stdlib). */
static int stdlib_source(const char *src) {
    if (!src || src[0] != '@') return 0;
    if (!strncmp(src, "@stdlib/tempera/", 16) || !strncmp(src, "@build/gen/tempera/", 19)) return 1;
    const char *root = getenv("TEMPERA_STDLIB_PATH");
    size_t n = root ? strlen(root) : 0;
    return n && !strncmp(src + 1, root, n);
}

/* An error the stdlib raised through its own mistake or an unchecked input
 * ("stdlib/tempera/nn.lua:231: bad argument #1 to 'u8_t' ..."), not through
 * util.raise (which already points at the recipe): put the recipe's file
 * and line first, say which tempera call it came from, and keep the stdlib
 * position in brackets.  Leaves the message on the stack top. */
static void blame_recipe(lua_State *L, const char *msg) {
    lua_Debug ar;
    int level = 0, inner = -1;
    /* the innermost Lua frame: did the message come from the stdlib? */
    for (; lua_getstack(L, level, &ar); level++) {
        lua_getinfo(L, "S", &ar);
        if (ar.what[0] != 'C') { inner = level; break; }
    }
    if (inner < 0 || !stdlib_source(ar.source) || strstr(msg, "interrupted!")) { lua_pushstring(L, msg); return; }
    size_t sl = strlen(ar.short_src);
    if (strncmp(msg, ar.short_src, sl) != 0 || msg[sl] != ':') { lua_pushstring(L, msg); return; }
    const char *rest = strchr(msg + sl + 1, ':');   /* past "src:line" */
    if (!rest) { lua_pushstring(L, msg); return; }
    size_t poslen = (size_t)(rest - msg);
    rest++;
    while (*rest == ' ') rest++;
    /* the recipe's frame, and the stdlib function it called */
    char entry[128] = "";
    for (level = inner + 1; lua_getstack(L, level, &ar); level++) {
        lua_getinfo(L, "Sl", &ar);
        if (ar.what[0] == 'C' || stdlib_source(ar.source)) continue;
        lua_Debug callee;
        if (lua_getstack(L, level - 1, &callee) && lua_getinfo(L, "n", &callee) && callee.name)
            snprintf(entry, sizeof entry, " (in %s%s)", callee.name,
                     callee.namewhat && !strcmp(callee.namewhat, "method") ? "()" : "");
        char pos[256];
        snprintf(pos, sizeof pos, "%.*s", (int)poslen, msg);
        lua_pushfstring(L, "%s:%d: error inside tempera%s: %s [at %s: an input tempera should have refused, or a "
                        "bug; please report it.  TEMPERA_DEBUG=1 shows the full traceback]",
                        ar.short_src, ar.currentline, entry, rest, pos);
        return;
    }
    lua_pushstring(L, msg);   /* no recipe frame (the REPL's own code): as is */
}

static int traceback(lua_State *L) {
    if (!lua_isstring(L, 1)) {
        if (lua_isnoneornil(L, 1) || !luaL_callmeta(L, 1, "__tostring") || !lua_isstring(L, -1))
            return 1; /* keep the non-string error object as is */
        lua_remove(L, 1);
    }
    blame_recipe(L, lua_tostring(L, 1));
    luaL_traceback(L, L, lua_tostring(L, -1), 1);
    return 1;
}

int tp_lua_docall(lua_State *L, int narg, int nres) {
    int base = lua_gettop(L) - narg;
    lua_pushcfunction(L, traceback);
    lua_insert(L, base);
    signal_L = L;
    signal(SIGINT, laction);
    int status = lua_pcall(L, narg, nres, base);
    signal(SIGINT, SIG_DFL);
    lua_sethook(L, NULL, 0, 0);
    lua_remove(L, base);
    return status;
}

/* Drop the frames of the host's own machinery from a traceback, and the
 * stdlib's own frames (and the C functions they call) unless TEMPERA_DEBUG
 * is set: the message already names the recipe's line, and the traceback
 * shows the user's frames only. */
static void print_traceback(const char *msg) {
    const char *tb = strstr(msg, "\nstack traceback:");
    if (!tb) { fprintf(stderr, "%s\n", msg); return; }
    const char *dbg = getenv("TEMPERA_DEBUG");
    const int all = dbg && *dbg && strcmp(dbg, "0") != 0;
    fprintf(stderr, "%.*s", (int)(tb - msg), msg);
    const char *line = tb + strlen("\nstack traceback:");
    int shown = 0;
    while (*line) {
        const char *end = strchr(line + 1, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        /* "[C]: in function 'error'" and "[C]: at 0x..." carry no information */
        int skip = (memmem(line, len, "[C]: in function 'error'", 24) != NULL) ||
                   (memmem(line, len, "[C]: at 0x", 10) != NULL) ||
                   (memmem(line, len, "[C]: in function 'xpcall'", 25) != NULL);
        if (!all && (memmem(line, len, "stdlib/tempera/", 15) != NULL || memmem(line, len, "[C]:", 4) != NULL)) skip = 1;
        if (!skip) {
            if (!shown++) fputs("\nstack traceback:", stderr);
            fprintf(stderr, "%.*s", (int)len, line);
        }
        if (!end) break;
        line = end;
    }
    fputc('\n', stderr);
}

int tp_lua_report(lua_State *L, const char *phase) {
    const char *msg = lua_tostring(L, -1);
    if (!msg) msg = "(error object is not a string)";
    int interrupted = tp_interrupted() || strstr(msg, "interrupted!") != NULL;
    fflush(stdout);
    if (interrupted) {
        /* first line only: where it stopped */
        const char *nl = strchr(msg, '\n');
        fprintf(stderr, "tempera: interrupted: %.*s\n", nl ? (int)(nl - msg) : (int)strlen(msg), msg);
        fprintf(stderr, "tempera: every result written before the interrupt is kept\n");
    } else if (phase) {
        fprintf(stderr, "tempera: %s: ", phase);
        print_traceback(msg);
    } else {
        fputs("tempera: ", stderr);
        print_traceback(msg);
    }
    fflush(stderr);
    lua_pop(L, 1);
    return interrupted ? TP_EXIT_INTERRUPT : TP_EXIT_RUN;
}

static int finish_run(lua_State *L) {
    int status = tp_lua_docall(L, 0, 0);
    if (status != 0) return tp_lua_report(L, NULL);
    fflush(stdout);
    return TP_EXIT_OK;
}

int tp_lua_run_file(lua_State *L, const char *path) {
    if (tp_is_dir(path)) {
        fprintf(stderr, "tempera: %s: load error: is a directory, not a recipe file\n", path);
        return TP_EXIT_LOAD;
    }
    char chunk[1100];
    snprintf(chunk, sizeof chunk, "@%s", path);
    size_t len = 0;
    char *text = read_file(path, &len);
    if (!text) {
        fprintf(stderr, "tempera: %s: load error: cannot open file: %s\n", path, strerror(errno));
        return TP_EXIT_LOAD;
    }
    /* skip a '#!' line but keep line numbers */
    const char *src = text;
    if (len >= 2 && text[0] == '#' && text[1] == '!') { text[0] = '-'; text[1] = '-'; }
    int st = luaL_loadbuffer(L, src, len, chunk);
    free(text);
    if (st != 0) {
        fprintf(stderr, "tempera: %s: load error: %s\n", path, lua_tostring(L, -1));
        lua_pop(L, 1);
        return TP_EXIT_LOAD;
    }
    return finish_run(L);
}

int tp_lua_run_string(lua_State *L, const char *chunk, const char *chunkname) {
    if (luaL_loadbuffer(L, chunk, strlen(chunk), chunkname) != 0) {
        fprintf(stderr, "tempera: %s: load error: %s\n", chunkname[0] == '=' ? chunkname + 1 : chunkname,
                lua_tostring(L, -1));
        lua_pop(L, 1);
        return TP_EXIT_LOAD;
    }
    return finish_run(L);
}

int tp_lua_run_command(lua_State *L, const char *module, int nargs, char **args) {
    if (!tp_lua_module_exists(module)) return -1;
    lua_getglobal(L, "require");
    lua_pushstring(L, module);
    if (tp_lua_docall(L, 1, 1) != 0) return tp_lua_report(L, NULL);
    lua_getfield(L, -1, "main");
    lua_remove(L, -2);
    if (!lua_isfunction(L, -1)) {
        lua_pop(L, 1);
        fprintf(stderr, "tempera: internal error: %s has no main()\n", module);
        return TP_EXIT_RUN;
    }
    for (int i = 0; i < nargs; i++) lua_pushstring(L, args[i]);
    if (tp_lua_docall(L, nargs, 1) != 0) return tp_lua_report(L, NULL);
    int code = lua_isnumber(L, -1) ? (int)lua_tointeger(L, -1) : TP_EXIT_OK;
    lua_pop(L, 1);
    fflush(stdout);
    return code;
}
