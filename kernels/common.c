/*
 * kernels/common.c -- the thread-local error buffer and status names.
 * Every FFI-callable function reports failure through TP_ERROR; the caller
 * reads tp_last_error() and raises at the recipe's line.
 */
#include "common.h"

#include <stdarg.h>
#include <stdio.h>
#if defined(__x86_64__) || defined(__SSE2__)
#include <xmmintrin.h>
#define TP_MXCSR_FTZ_DAZ 0x8040u
#endif
#include <stdlib.h>
#include <string.h>

static __thread char err_msg[1024];
static __thread char err_where[128];
volatile int tp_abort_flag = 0;

const char *tp_status_str(tp_status st) {
    switch (st) {
    case TP_OK:           return "ok";
    case TP_ERR_ARG:      return "bad argument";
    case TP_ERR_NOMEM:    return "out of memory";
    case TP_ERR_CUDA:     return "CUDA error";
    case TP_ERR_NO_CUDA:  return "CUDA not available";
    case TP_ERR_IO:       return "I/O error";
    case TP_ERR_FORMAT:   return "malformed data";
    case TP_ERR_INTERNAL: return "internal error";
    case TP_ABORTED:      return "interrupted";
    }
    return "unknown status";
}

tp_status tp_error_set_at(tp_status st, const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_msg, sizeof err_msg, fmt, ap);
    va_end(ap);
    /* keep the path from the source root: "runtime/x.c", not "/abs/.../runtime/x.c" */
    const char *base = file;
    for (const char *p = file; *p; p++)
        if (p[0] == '/' && (strncmp(p + 1, "runtime/", 8) == 0 || strncmp(p + 1, "kernels/", 8) == 0))
            base = p + 1;
    snprintf(err_where, sizeof err_where, "%s:%d", base, line);
    return st;
}

const char *tp_last_error(void) { return err_msg; }
const char *tp_last_error_where(void) { return err_where; }
void tp_error_clear(void) { err_msg[0] = 0; err_where[0] = 0; }

tp_status tp_tokens_check(const char *what, const uint8_t *x, int64_t len, int32_t states) {
    if (!what) what = "tokens";
    if (len < 0 || (len > 0 && !x)) return TP_ERROR(TP_ERR_ARG, "%s: NULL token array or negative length", what);
    for (int64_t i = 0; i < len; i++)
        if (x[i] >= states)
            return TP_ERROR(TP_ERR_ARG, "%s: token %d at index %lld is not a real state", what, x[i], (long long)i);
    return TP_OK;
}

void tp_cpu_flush_subnormals(void) {
#ifdef TP_MXCSR_FTZ_DAZ
    _mm_setcsr(_mm_getcsr() | TP_MXCSR_FTZ_DAZ);
    #pragma omp parallel
    _mm_setcsr(_mm_getcsr() | TP_MXCSR_FTZ_DAZ);
#endif
}

void tp_assert_fail(const char *expr, const char *file, int line) {
    fprintf(stderr, "tempera: internal error: assertion '%s' failed at %s:%d\n", expr, file, line);
    abort();
}

int tp_cpu_isa(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    static int hw = -1;
    if (hw < 0) {
        __builtin_cpu_init();
        hw = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") ? 2
           : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 1 : 0;
    }
    const char *e = getenv("TEMPERA_CPU_BASELINE");
    if (e && strcmp(e, "avx2") == 0) return hw < 1 ? hw : 1;
    if (e && *e && strcmp(e, "0") != 0) return 0;
    return hw;
#else
    return 0;
#endif
}
