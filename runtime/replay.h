/*
 * runtime/replay.h -- the CV-stratified replay buffer of MetaDNS
 * (man tempera-train(5)).
 *
 * The CV box [lo_k, hi_k] of each of dim dimensions is cut into 'bins'
 * equal bins (8 by default in the stdlib), giving bins^dim cells; a CV value
 * outside the box goes to the nearest edge bin.  Every cell is a FIFO of
 * capacity max(1, size / bins^dim) entries (size = 1024 by default): adding
 * to a full cell evicts that cell's oldest entry, so rare CV regions are
 * never flushed out by frequent ones.  An entry is one configuration
 * (sites tokens) and its CV value (dim doubles).
 *
 * Drawing n entries (with replacement): for each, a cell chosen uniformly
 * among the non-empty ones, then an entry uniformly within the cell.
 * Random numbers come from Philox stream (seed, stream) only, so a draw is
 * a pure function of the buffer contents and (seed, stream): the buffer
 * itself holds no RNG state and a checkpoint of its contents (get_state /
 * set_state) resumes it exactly.
 *
 * State as doubles (for checkpoint slots): [magic 0x7265706c, version 1,
 * sites, dim, bins, cap, ncells, then per cell: count, then count entries
 * oldest first, each dim CV doubles and ceil(sites/4) doubles holding four
 * tokens each as an exact integer (little-endian bytes)].
 *
 * Ownership: tp_replay_init returns an owned buffer; tp_replay_free(NULL) is
 * a no-op.  Not thread-safe.
 */
#ifndef TP_REPLAY_H
#define TP_REPLAY_H

#include <stdint.h>
#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ffi:begin */
typedef struct tp_replay tp_replay;

/* New empty buffer: sites >= 1 tokens per entry, dim 1..8 CV dimensions,
 * lo, hi (dim) [in] the CV box (hi > lo), bins >= 1 per dimension,
 * size >= 1 total capacity (bins^dim at most 2^20).  Caller owns the result;
 * NULL with a message on bad arguments. */
TP_FFI tp_replay *tp_replay_init(int32_t sites, int32_t dim, const double *lo, const double *hi,
                                 int32_t bins, int64_t size);
TP_FFI void tp_replay_free(tp_replay *rb);
/* Add n entries: x (n, sites) [in], cv (n, dim) [in], in order. */
TP_FFI tp_status tp_replay_add(tp_replay *rb, const uint8_t *x, const double *cv, int64_t n);
/* Entries held, and the number of non-empty cells. */
TP_FFI int64_t tp_replay_count(const tp_replay *rb);
TP_FFI int64_t tp_replay_nonempty(const tp_replay *rb);
/* Capacity of one cell. */
TP_FFI int64_t tp_replay_cell_capacity(const tp_replay *rb);
/* Cell (flat, last dimension fastest) of a CV value cv (dim) [in]. */
TP_FFI int64_t tp_replay_cell(const tp_replay *rb, const double *cv);
/* counts (ncells) [out]: entries per cell; ncells must equal bins^dim. */
TP_FFI tp_status tp_replay_cell_counts(const tp_replay *rb, int64_t *counts, int64_t ncells);
/* Draw n entries (see above): x (n, sites) [out], cv (n, dim) [out,
 * optional].  Fails on an empty buffer. */
TP_FFI tp_status tp_replay_draw(const tp_replay *rb, uint8_t *x, double *cv, int64_t n,
                                uint64_t seed, uint64_t stream);
/* Fraction of cells hit by n CV values cv (n, dim) [in] (the buffer's
 * binning; the buffer's contents are not used) -> *out. */
TP_FFI tp_status tp_replay_coverage(const tp_replay *rb, double *out, const double *cv, int64_t n);
/* The same without a buffer: the fraction of the bins^dim cells over the
 * box lo..hi (dim each) hit by cv (n, dim) -> *out. */
TP_FFI tp_status tp_cv_coverage(double *out, const double *cv, int64_t n, int32_t dim, const double *lo,
                                const double *hi, int32_t bins);
/* Serialised contents (header comment): size in doubles, copy out, restore. */
TP_FFI int64_t tp_replay_state_size(const tp_replay *rb);
TP_FFI tp_status tp_replay_get_state(const tp_replay *rb, double *out, int64_t n);
TP_FFI tp_status tp_replay_set_state(tp_replay *rb, const double *in, int64_t n);
/* ffi:end */

#ifdef __cplusplus
}
#endif
#endif /* TP_REPLAY_H */
