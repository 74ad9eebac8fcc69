/*
 * runtime/tp_ffi.h -- the one C surface reachable from Lua through the FFI.
 *
 * The build compiles this header (every runtime .c includes it, so the
 * compiler checks each definition against it) and turns its marked FFI
 * region into the text stdlib/tempera/ffi.lua passes to ffi.cdef
 * (tools/cdef.sh); a from-marker splices in a kernel header's own
 * region.  Rules for the region: declarations only, fixed-width types, no
 * macros in declarations, opaque handles as 'typedef struct tp_x tp_x;'.
 * Every function returns tp_status or a pointer (NULL on failure, message in
 * tp_last_error()); none raises, exits or calls back into Lua.
 * Ownership: tp_x_init* returns an owned pointer; tp_x_free(NULL) is a no-op.
 *
 * Sections: add a module's declarations in its own section below.
 */
#ifndef TP_FFI_H
#define TP_FFI_H

#include <stdint.h>
#include <stdio.h>
#include <stddef.h>
#include "common.h"
#include "philox.h"
#include "cuda.h"
#include "transformer.h"
#include "loss.h"
#include "optim.h"
#include "backend.h"
#include "net.h"
#include "checkpoint.h"
#include "lattice.h"
#include "model.h"
#include "cv.h"
#include "exact.h"
#include "dump.h"
#include "reweight.h"
#include "bias.h"
#include "plumed.h"
#include "mc.h"
#include "observables.h"
#include "replay.h"
#include "marginal.h"
#include "tp_mpi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ffi:begin */
/* ffi:from kernels/common.h */
/* ffi:from kernels/philox.h */
/* ffi:from kernels/cuda.h */
/* ffi:from kernels/transformer.h */
/* ffi:from kernels/loss.h */
/* ffi:from kernels/optim.h */
/* ffi:from kernels/backend.h */
/* ffi:from kernels/net.h */
/* ffi:from runtime/checkpoint.h */
/* ffi:from runtime/lattice.h */
/* ffi:from runtime/model.h */
/* ffi:from runtime/cv.h */
/* ffi:from runtime/exact.h */
/* ffi:from runtime/dump.h */
/* ffi:from kernels/reweight.h */
/* ffi:from runtime/bias.h */
/* ffi:from runtime/plumed.h */
/* ffi:from runtime/mc.h */
/* ffi:from runtime/observables.h */
/* ffi:from runtime/replay.h */
/* ffi:from runtime/marginal.h */
/* ffi:from runtime/tp_mpi.h */

/* ---- version (runtime/version.c) ---------------------------------------- */
/* Bumped whenever this header changes incompatibly; stdlib checks it. */
TP_FFI int tp_abi_version(void);
TP_FFI const char *tp_version(void);

/* ---- interrupt (runtime/interrupt.c) ------------------------------------ */
/* 1 after Ctrl-C (SIGINT) until cleared.  Long C loops poll it and return
 * TP_ABORTED; Lua loops call tempera.check_interrupt(). */
TP_FFI int tp_interrupted(void);
TP_FFI void tp_interrupt_clear(void);
/* Behave as if Ctrl-C had been pressed (tests). */
TP_FFI void tp_interrupt_raise(void);

/* ---- rng (runtime/rng.c over kernels/philox.h) --------------------------- */
TP_FFI void tp_rng_init(tp_rng *r, uint64_t seed, uint64_t stream);
TP_FFI uint32_t tp_rng_u32(tp_rng *r);
/* uniform in [0,1), 53 bits */
TP_FFI double tp_rng_uniform(tp_rng *r);
/* standard normal (Box-Muller, one value per call) */
TP_FFI double tp_rng_normal(tp_rng *r);
/* uniform integer in [0, n); n >= 1 */
TP_FFI uint32_t tp_rng_below(tp_rng *r, uint32_t n);
/* out[0..n) = uniform [0,1) */
TP_FFI tp_status tp_rng_fill_uniform(tp_rng *r, double *out, int64_t n);
/* out (count, width) [out] = rows of src (n, width) [in] chosen uniformly
 * with replacement, row k by the k-th uniform of stream (seed, stream).
 * n >= 1, width >= 1, count >= 0. */
TP_FFI tp_status tp_rng_pick_rows(uint8_t *out, const uint8_t *src, int64_t n, int64_t width, int64_t count,
                                  uint64_t seed, uint64_t stream);
/* one raw Philox4x32-10 block (known-answer tests) */
TP_FFI void tp_philox4x32_10(uint32_t *out4, const uint32_t *ctr4, const uint32_t *key2);

/* ---- threads (runtime/threads.c) ----------------------------------------- */
/* Worker threads for CPU kernels (OpenMP and OpenBLAS). Default: all cores,
 * or TEMPERA_THREADS. */
TP_FFI int tp_threads_get(void);
TP_FFI tp_status tp_threads_set(int n);

/* ---- logging and progress (runtime/progress.c) --------------------------- */
/* quiet: no progress, no informational stderr lines */
TP_FFI void tp_log_set_quiet(int quiet);
TP_FFI int tp_log_quiet(void);
/* monotonic wall clock in seconds */
TP_FFI double tp_clock(void);
typedef struct tp_progress tp_progress;
/* total <= 0: unknown length (no percentage or ETA).  Caller owns the result. */
TP_FFI tp_progress *tp_progress_init(const char *label, int64_t total);
/* done = units completed so far; extra = short status text or NULL */
TP_FFI void tp_progress_update(tp_progress *p, int64_t done, const char *extra);
/* prints the final line (with total time and rate) unless quiet */
TP_FFI void tp_progress_finish(tp_progress *p);
TP_FFI void tp_progress_free(tp_progress *p);
/* how often a non-terminal stream gets a line, seconds (default 10) */
TP_FFI void tp_progress_set_interval(double seconds);

/* ---- library versions (runtime/version.c) -------------------------------- */
TP_FFI const char *tp_version_luajit(void);
TP_FFI const char *tp_version_zstd(void);
TP_FFI const char *tp_version_openblas(void);

/* ---- files (runtime/fs.c) ------------------------------------------------ */
/* mkdir -p */
TP_FFI tp_status tp_mkdir_p(const char *path);
TP_FFI int tp_is_dir(const char *path);
/* Replace path with len bytes of data atomically: written to a temporary
 * file of a unique name beside it, flushed to disk, renamed over path; on
 * any failure (with the path and the system's reason) path keeps its old
 * content and the temporary file is removed. */
TP_FFI tp_status tp_write_file_atomic(const char *path, const char *data, int64_t len);
/* Append len bytes to path, checked (for logs): an error names the path
 * and the reason. */
TP_FFI tp_status tp_append_file(const char *path, const char *data, int64_t len);
/* An advisory lock on path (created if missing) for the life of a run: the
 * descriptor that holds it, or -1 and a message naming the path when
 * another process holds it.  tp_lock_release(fd) drops it. */
TP_FFI int32_t tp_lock_acquire(const char *path, const char *what);
TP_FFI void tp_lock_release(int32_t fd);
/* Muted output (ranks other than 0 of an MPI run, which compute what rank
 * 0 computes): every writer above, tp_atomic_open, the dump writer, the
 * PLUMED appender and the locks write to this process's private shadow
 * directory (tempera-shadow-XXXXXX in mpirun's session directory for the
 * process, else $TMPDIR or /tmp; removed at exit) instead of
 * the path, without fsync, and readers of a path take its shadow when this
 * process wrote one, so a recipe that reads back its own file works on
 * every rank while only rank 0 touches the real outputs. */
TP_FFI void tp_io_set_muted(int32_t muted);
TP_FFI int32_t tp_io_muted(void);
/* path, or its shadow when muted and this process wrote one (reading) */
TP_FFI const char *tp_io_read_path(const char *path);
/* path, or its shadow when muted (writing, removing, renaming) */
TP_FFI const char *tp_io_shadow_path(const char *path);
/* ffi:end */

/* The same for C writers that stream with stdio: tp_atomic_open returns a
 * FILE on a fresh temporary file beside path (NULL and a message on
 * failure); tp_atomic_commit(a, bad) checks the stream, flushes it to
 * disk and renames it over path, or removes it when bad (1, or the errno
 * of the write that failed, for the message) or on error.  A
 * path that is not a regular file (/dev/null, /dev/stdout, a pipe) is
 * written in place: renaming over it would replace the device. */
typedef struct {
    FILE *f;
    int direct;   /* path is a device or a pipe (/dev/null, /dev/stdout): written in place */
    char path[4096], tmp[4200];
} tp_atomic_file;
FILE *tp_atomic_open(tp_atomic_file *a, const char *path);
tp_status tp_atomic_commit(tp_atomic_file *a, int bad);
/* fsync the directory holding path, making a rename into it durable (a
 * file system that refuses is not an error). */
void tp_fsync_parent(const char *path);
/* fopen(path, "a") of path's shadow when output is muted */
FILE *tp_open_append(const char *path);
/* the same with a caller's buffer (n >= 4352) */
const char *tp_io_write_path(const char *path, char *buf, size_t n);
const char *tp_io_read_path_buf(const char *path, char *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif /* TP_FFI_H */
