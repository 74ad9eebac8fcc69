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

/* The per-site flip entries behind tp_model_ce_de_flip, for the vector
 * kernels (runtime/mc_vec.c): entries ent_start[i] .. ent_start[i + 1] - 1
 * of site i, each a coefficient and up to *max_oth other sites (ent_len of
 * them) whose spins multiply it; dref = E_Au - E_Cu.  dE of flipping i is
 *   -2 si s + (si / n) dref + 2 h si,  s = sum of coef * prod sigma(others),
 * evaluated as tp_model_ce_de_flip writes it. */
typedef struct {
    const int32_t *start, *oth;
    const double *coef;
    const uint8_t *len;
    int max_oth;
    double dref;
} tp_model_ce_flip_entries;
void tp_model_ce_entries(const tp_model *m, tp_model_ce_flip_entries *out);

#endif /* TP_MODEL_IMPL_H */
