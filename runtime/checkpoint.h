/*
 * runtime/checkpoint.h -- versioned checkpoints of a network and its
 * training state (parameters, Adam m and v, EMA, step count, optimiser
 * settings, architecture and site coordinates) plus named slots of doubles
 * for sampler state such as a bias grid.  Files hold host floats in a fixed
 * little-endian layout, so a checkpoint written from a CUDA network loads
 * into a CPU one and back.
 *
 * File layout (all little-endian): "TPCKPT\0\0", uint32 version (1),
 * uint32 flags (bit 0: a network follows); network: tp_tf_config (8 int32),
 * int64 n_params, int64 step, double ema_max, tp_adam_config (6 float),
 * coords (sites*axes float), params, adam m, adam v, ema (n_params float
 * each); uint32 n_slots, per slot: uint32 name length, name bytes, int64 n,
 * n doubles; finally uint64 FNV-1a hash of every byte before it.
 */
#ifndef TP_CHECKPOINT_H
#define TP_CHECKPOINT_H

#include "common.h"
#include "net.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ffi:begin */
typedef struct tp_ckpt tp_ckpt;
/* An empty checkpoint (no network, no slots).  Caller owns the result. */
TP_FFI tp_ckpt *tp_ckpt_init(void);
TP_FFI void tp_ckpt_free(tp_ckpt *ck);
/* Set (copy in) slot 'name' = data (n doubles); replaces a slot of that name. */
TP_FFI tp_status tp_ckpt_set_slot(tp_ckpt *ck, const char *name, const double *data, int64_t n);
/* Slot length, or -1 when absent. */
TP_FFI int64_t tp_ckpt_slot_size(const tp_ckpt *ck, const char *name);
/* out (n doubles) [out]; n must equal the slot length. */
TP_FFI tp_status tp_ckpt_get_slot(const tp_ckpt *ck, const char *name, double *out, int64_t n);
TP_FFI int32_t tp_ckpt_slot_count(const tp_ckpt *ck);
/* Name of slot i (0-based) or NULL. */
TP_FFI const char *tp_ckpt_slot_name(const tp_ckpt *ck, int32_t i);
/* Capture net's state into ck (replacing any network state it holds). */
TP_FFI tp_status tp_ckpt_set_net(tp_ckpt *ck, const tp_net *net);
/* 1 when ck holds a network. */
TP_FFI int32_t tp_ckpt_has_net(const tp_ckpt *ck);
/* Write ck to path (atomically: path.tmp, then rename). */
TP_FFI tp_status tp_ckpt_save(const tp_ckpt *ck, const char *path);
/* Read a checkpoint; NULL with a message (missing file, bad magic, version,
 * truncation, hash mismatch).  Caller owns the result. */
TP_FFI tp_ckpt *tp_ckpt_load(const char *path);
/* A new network on backend with the saved state.  Caller owns the result. */
TP_FFI tp_net *tp_ckpt_new_net(const tp_ckpt *ck, const char *backend, int32_t chunk);
/* Copy the saved state into net (same architecture and sites required). */
TP_FFI tp_status tp_ckpt_restore(const tp_ckpt *ck, tp_net *net);
/* ffi:end */

#ifdef __cplusplus
}
#endif
#endif /* TP_CHECKPOINT_H */
