/*
 * runtime/repl.c -- 'tempera repl': an interactive LuaJIT prompt with the
 * stdlib loaded as 'tp' (and 'tempera').
 *
 * Lines are read with libedit (history in ~/.tempera_history) when stdin is
 * a terminal, plainly otherwise (so tests can pipe input).  "=expr" and a
 * bare expression print their values; a chunk whose syntax error ends at
 * '<eof>' is incomplete and continues on the next line (">> ").  Results are
 * printed by tempera.repl.show, which knows tables and tempera objects.
 * Ctrl-C during a statement interrupts that statement; at the prompt it
 * discards the line; Ctrl-D (end of input) leaves.
 */
#include "host.h"
#include "error.h"

#include <editline/readline.h>
#include <lauxlib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t prompt_interrupted = 0;

static void on_prompt_sigint(int sig) {
    (void)sig;
    prompt_interrupted = 1;
}

/* One line without its newline, malloc'ed; NULL at end of input. */
static char *read_line(int tty, const char *prompt) {
    if (tty) {
        struct sigaction sa, old;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_prompt_sigint; /* no SA_RESTART: read() returns */
        sigaction(SIGINT, &sa, &old);
        char *line = readline(prompt);
        sigaction(SIGINT, &old, NULL);
        return line;
    }
    size_t cap = 0;
    char *line = NULL;
    ssize_t n = getline(&line, &cap, stdin);
    if (n < 0) { free(line); return NULL; }
    if (n > 0 && line[n - 1] == '\n') line[n - 1] = 0;
    return line;
}

/* 1 if the error on top of the stack means "the chunk is not finished". */
static int incomplete(lua_State *L, int status) {
    if (status != LUA_ERRSYNTAX) return 0;
    size_t len;
    const char *msg = lua_tolstring(L, -1, &len);
    /* LuaJIT ends such messages with "near '<eof>'" */
    if (len >= 7 && strcmp(msg + len - 7, "'<eof>'") == 0) { lua_pop(L, 1); return 1; }
    return 0;
}

/* Compile buf: first as an expression whose values print, else as a
 * statement.  "return select(1, e)" keeps every value of e and, unlike
 * "return e", is not a tail call, so an error inside e keeps its position. */
static int compile(lua_State *L, const char *buf) {
    const char *src = buf[0] == '=' ? buf + 1 : buf;
    lua_pushfstring(L, "return select(1, %s\n)", src);
    int st = luaL_loadbuffer(L, lua_tostring(L, -1), lua_objlen(L, -1), "=stdin");
    lua_remove(L, -2);
    if (st == 0 || buf[0] == '=') return st;
    lua_pop(L, 1);
    return luaL_loadbuffer(L, buf, strlen(buf), "=stdin");
}

/* ---- tab completion: tempera.repl.complete(word) gives the candidates ---- */

static lua_State *comp_L;
static char **comp_list;
static int comp_n, comp_i;

static void comp_clear(void) {
    for (int i = 0; i < comp_n; i++) free(comp_list[i]);
    free(comp_list);
    comp_list = NULL;
    comp_n = comp_i = 0;
}

/* Fill comp_list with the completions of word from Lua (no error escapes). */
static void comp_fill(const char *word) {
    comp_clear();
    lua_State *L = comp_L;
    int top = lua_gettop(L);
    lua_getglobal(L, "require");
    lua_pushstring(L, "tempera.repl");
    if (lua_pcall(L, 1, 1, 0) == 0) {
        lua_getfield(L, -1, "complete");
        lua_pushstring(L, word);
        if (lua_pcall(L, 1, 1, 0) == 0 && lua_istable(L, -1)) {
            int n = (int)lua_objlen(L, -1);
            comp_list = calloc((size_t)(n > 0 ? n : 1), sizeof *comp_list);
            for (int i = 1; comp_list && i <= n; i++) {
                lua_rawgeti(L, -1, i);
                const char *s = lua_tostring(L, -1);
                if (s) comp_list[comp_n++] = strdup(s);
                lua_pop(L, 1);
            }
        }
    }
    lua_settop(L, top);
}

static char *comp_generator(const char *text, int state) {
    if (state == 0) comp_fill(text);
    return comp_i < comp_n ? strdup(comp_list[comp_i++]) : NULL;
}

static char **comp_attempt(const char *text, int start, int end) {
    (void)start; (void)end;
    rl_attempted_completion_over = 1;   /* no file-name completion */
    return rl_completion_matches(text, comp_generator);
}

/* Print the nres values on the stack through tempera.repl.show. */
static void show_results(lua_State *L, int nres) {
    if (nres == 0) return;
    lua_getglobal(L, "require");
    lua_pushstring(L, "tempera.repl");
    if (lua_pcall(L, 1, 1, 0) != 0) { lua_pop(L, 1 + nres); return; }
    lua_getfield(L, -1, "show");
    lua_remove(L, -2);
    lua_insert(L, -(nres + 1));
    if (tp_lua_docall(L, nres, 0) != 0) tp_lua_report(L, NULL);
}

int tp_repl(lua_State *L) {
    int tty = isatty(0) && isatty(1);
    char hist[1024] = "";
    const char *home = getenv("HOME");
    if (tty) {
        if (home) {
            snprintf(hist, sizeof hist, "%s/.tempera_history", home);
            read_history(hist);
        }
        /* tp.<TAB>, tp.mc.<TAB>, obj:<TAB>: '.' and ':' stay inside a word */
        comp_L = L;
        rl_attempted_completion_function = comp_attempt;
        rl_basic_word_break_characters = " \t\n\"\\'`@$><=;|&{(,+-*/[]";
        printf("tempera %s (%s) -- 'tp' is the tempera library; help() for help, Ctrl-D to quit\n",
               tp_version(), tp_version_luajit());
    }
    /* tp, tempera and help as globals */
    if (luaL_dostring(L, "tp = require 'tempera'; tempera = tp; help = tp.help") != 0) {
        fprintf(stderr, "tempera: %s\n", lua_tostring(L, -1));
        return TP_EXIT_RUN;
    }
    int errors = 0;
    for (;;) {
        prompt_interrupted = 0;
        char *line = read_line(tty, "tp> ");
        if (!line) {
            if (prompt_interrupted) { printf("\n"); continue; }
            break;
        }
        /* accumulate continuation lines */
        size_t cap = strlen(line) + 1;
        char *buf = malloc(cap);
        if (!buf) { free(line); break; }
        memcpy(buf, line, cap);
        free(line);
        int st;
        lua_settop(L, 0);
        while ((st = compile(L, buf)), incomplete(L, st)) {
            char *more = read_line(tty, ">> ");
            if (!more) break;
            size_t need = strlen(buf) + strlen(more) + 2;
            char *nb = realloc(buf, need);
            if (!nb) { free(more); break; }
            buf = nb;
            strcat(buf, "\n");
            strcat(buf, more);
            free(more);
        }
        if (tty && buf[0]) add_history(buf);
        free(buf);
        if (st != 0) {
            fprintf(stderr, "tempera: load error: %s\n", lua_tostring(L, -1));
            lua_pop(L, 1);
            errors++;
            continue;
        }
        tp_interrupt_clear();
        if (tp_lua_docall(L, 0, LUA_MULTRET) != 0) {
            tp_lua_report(L, NULL);
            tp_interrupt_clear();
            errors++;
            continue;
        }
        show_results(L, lua_gettop(L));
        fflush(stdout);
    }
    if (tty) {
        printf("\n");
        if (hist[0]) write_history(hist);
        comp_clear();
    }
    lua_settop(L, 0);
    /* piped input: a failing statement makes the exit status non-zero */
    return (!tty && errors) ? TP_EXIT_RUN : TP_EXIT_OK;
}
