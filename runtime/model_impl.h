/*
 * runtime/model_impl.h -- private glue between runtime/model.c (dispatch,
 * Ising, Potts) and runtime/model_ce.c (cluster expansion).  Not part of the
 * FFI surface.
 */
#ifndef TP_MODEL_IMPL_H
#define TP_MODEL_IMPL_H

#include "tp_ffi.h"

/* Build the wrapped clusters of ce on lat; NULL + message on failure. */
tp_model_ce *tp_model_ce_build(tp_lattice *lat, const tp_ce *ce);
void tp_model_ce_destroy(tp_model_ce *mc);
/* H = E_form - h sum sigma (see model.h) */
double tp_model_ce_energy(const tp_model *m, const uint8_t *x);
/* H(x with x[i] flipped) - H(x); binary only */
double tp_model_ce_de_flip(const tp_model *m, const uint8_t *x, int32_t i);

#endif /* TP_MODEL_IMPL_H */
