/*
 * kernels/common.h -- what every layer shares: status codes, the error
 * message buffer, the export marker.  kernels/ is the lowest layer (it never
 * includes runtime/ headers), so the error core lives here; runtime/error.h
 * adds conveniences on top.  Compiles as C99 and as CUDA C++.
 *
 * Contract: functions return tp_status (or a pointer, NULL on failure) and
 * leave a message with TP_ERROR; they never exit, abort or longjmp for
 * anything a user can trigger.
 */
#ifndef TP_COMMON_H
#define TP_COMMON_H

#include <stdint.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Exported through the executable's dynamic symbol table (see Makefile -Wl,-E). */
#ifndef TP_FFI
#define TP_FFI __attribute__((visibility("default")))
#endif

/* ffi:begin */
typedef enum tp_status {
    TP_OK           =  0,
    TP_ERR_ARG      = -1,   /* bad argument: a user error */
    TP_ERR_NOMEM    = -2,
    TP_ERR_CUDA     = -3,   /* a CUDA call failed */
    TP_ERR_NO_CUDA  = -4,   /* CUDA not compiled in, or no device */
    TP_ERR_IO       = -5,   /* file system */
    TP_ERR_FORMAT   = -6,   /* malformed or corrupt data */
    TP_ERR_INTERNAL = -7,   /* a bug in tempera */
    TP_ABORTED      =  1    /* interrupted (Ctrl-C): results so far are intact */
} tp_status;

/* A short fixed name for a status ("bad argument", ...). Never NULL. */
TP_FFI const char *tp_status_str(tp_status st);
/* The message left by the last failing call on this thread ("" if none). */
TP_FFI const char *tp_last_error(void);
/* "file.c:123" of the C line that set the last error ("" if none). */
TP_FFI const char *tp_last_error_where(void);
TP_FFI void tp_error_clear(void);
/* TP_OK when each of the len tokens x [in] is a real state (below states);
 * else TP_ERR_ARG "WHAT: token V at index I is not a real state" for the
 * first that is not (what: the caller's name). */
TP_FFI tp_status tp_tokens_check(const char *what, const uint8_t *x, int64_t len, int32_t states);
/* ffi:end */

/* Set the thread's error message and return st, e.g.
 *   return TP_ERROR(TP_ERR_ARG, "q must be >= 2, got %d", q); */
tp_status tp_error_set_at(tp_status st, const char *file, int line, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 4, 5)))
#endif
    ;
#define TP_ERROR(st, ...) tp_error_set_at((st), __FILE__, __LINE__, __VA_ARGS__)

/* Propagate a failing status. */
#define TP_TRY(expr) do { tp_status tp_st_ = (expr); if (tp_st_ != TP_OK) return tp_st_; } while (0)

/* Internal invariants only (never user input): report and abort. */
void tp_assert_fail(const char *expr, const char *file, int line);

/* Flush subnormal floats and doubles to zero (x86 MXCSR FTZ and DAZ) on the
 * calling thread and every thread of its OpenMP team; threads created
 * later inherit it.  Elsewhere a no-op.  Subnormal operands make float
 * arithmetic tens of times slower, and training produces them: a WDCE step
 * whose log-weights spread over ~90 has gradients in the subnormal range
 * and ran 5x slower without this.  Results change only where a value
 * would have been subnormal. */
void tp_cpu_flush_subnormals(void);

/* The widest vector instruction set the CPU offers for tempera's
 * per-instruction-set kernels: 0 baseline x86-64, 1 AVX2+FMA, 2 AVX-512
 * (F, VL, BW, DQ).  TEMPERA_CPU_BASELINE caps it (tests): "1" the
 * baseline, "avx2" at most AVX2.  Those kernels give the same results on
 * each. */
int tp_cpu_isa(void);
#define TP_ASSERT(x) do { if (!(x)) tp_assert_fail(#x, __FILE__, __LINE__); } while (0)

/* Long-running kernels poll this flag between steps and return TP_ABORTED
 * when it is set (runtime sets it on SIGINT). */
extern volatile int tp_abort_flag;

#ifdef __cplusplus
}
#endif
#endif /* TP_COMMON_H */
