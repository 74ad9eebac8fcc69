/*
 * tests/check_util.h -- helpers shared by the Check suites.
 *   tp_test_tcase(name, timeout_s)   a TCase with an explicit timeout
 *   TP_TEST_SKIP(msg)                log "skipped: msg" and return (GPU-less)
 *   tp_test_run_cmd(...)             run bin/tempera, capture stdout/stderr/status
 *   tp_test_src_path(rel)            path of a file in the source tree
 * The environment (set by 'make check'): TEMPERA_BIN = the built binary,
 * TEMPERA_SRC = the source root.
 */
#ifndef TP_CHECK_UTIL_H
#define TP_CHECK_UTIL_H

#include <check.h>
#include <stdio.h>

TCase *tp_test_tcase(const char *name, double timeout_s);

#define TP_TEST_SKIP(msg) do { \
        fprintf(stderr, "%s: skipped: %s\n", __func__, (msg)); \
        return; \
    } while (0)

/* Captured result of running a command. */
typedef struct {
    int status;        /* exit status, or 128+signal */
    char *out, *err;   /* NUL-terminated, malloc'ed */
} tp_cmd_result;

/* Run argv (argv[0] "tempera" means $TEMPERA_BIN) in directory cwd (NULL:
 * current), with stdin from the string in (NULL: /dev/null). */
tp_cmd_result tp_test_run_cmd(const char *cwd, const char *in, const char *const *argv);
void tp_cmd_result_free(tp_cmd_result *r);

/* $TEMPERA_SRC/rel in a static buffer (valid until the next call). */
const char *tp_test_src_path(const char *rel);
/* A fresh scratch directory under $TMPDIR (malloc'ed path). */
char *tp_test_scratch_dir(const char *tag);
/* dir/name in one of four rotating static buffers (up to four may be used
 * in one call). */
const char *tp_test_join(const char *dir, const char *name);
/* Write text to path; 0 on success. */
int tp_test_write_file(const char *path, const char *text);
/* Read a whole file (malloc'ed, NUL-terminated) or NULL. */
char *tp_test_read_file(const char *path);
/* Names in $TEMPERA_SRC/rel ending in suffix (suffix removed when strip),
 * sorted, skipping names that start with '_'; at most max.  Returns the count. */
int tp_test_list_dir(const char *rel, const char *suffix, int strip, char **names, int max);

/* log Z of the Ising model on an m x n torus with isotropic coupling
 * K = beta J (Kaufman 1949), in log space (no overflow at 32 x 32). */
double tp_test_kaufman_log_z(int m, int n, double K);

#endif /* TP_CHECK_UTIL_H */
