/*
 * runtime/cv.h -- built-in collective variables (tp_cv_*), man tempera-models(5).
 *
 * Every built-in CV is a function of the token counts per sublattice group:
 * counts (ngroup, q) -> dim values.  So they are cheap to update
 * incrementally (exact enumeration, samplers) and easy to batch.
 *
 *   TP_CV_MAGNETIZATION  dim 1   m = mean(2x - 1)                       (q = 2)
 *   TP_CV_FRACTION       dim 1   fraction of sites with token `token` (up fraction, x_Au)
 *   TP_CV_FRACTIONS      dim q   c_k = fraction of sites with token k
 *   TP_CV_SIMPLEX        dim 2   (c0 - (c1 + c2)/2, sqrt(3)/2 (c1 - c2))  (q = 3)
 *   TP_CV_ORDER          dim 1   L1_2/L1_0 order parameter Q from the four simple-cubic
 *                                sublattice fractions of `token` (FCC with integer
 *                                a/2 coordinates and a supercell commensurate with
 *                                the conventional cube)
 *
 * Ownership: tp_cv_init returns an owned CV (it copies what it needs from the
 * lattice).  tp_cv_free(NULL) is a no-op.
 */
#ifndef TP_CV_H
#define TP_CV_H

#include <stdint.h>
#include "common.h"
#include "lattice.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ffi:begin */
/* ---- collective variables (runtime/cv.c) --------------------------------- */
typedef enum tp_cv_kind {
    TP_CV_MAGNETIZATION = 1,
    TP_CV_FRACTION      = 2,
    TP_CV_FRACTIONS     = 3,
    TP_CV_SIMPLEX       = 4,
    TP_CV_ORDER         = 5
} tp_cv_kind;

typedef struct tp_cv {
    int32_t kind;          /* tp_cv_kind */
    int32_t dim;           /* values per configuration */
    int32_t n;             /* sites */
    int32_t q;             /* states per site */
    int32_t token;         /* FRACTION, ORDER: the counted token */
    int32_t ngroup;        /* sublattice groups (4 for ORDER, else 1) */
    uint8_t *group;        /* (n) group of each site */
    int32_t group_n[4];    /* sites per group */
    char name[32];
} tp_cv;

/* q: states per site; token: for FRACTION and ORDER (else ignored). */
TP_FFI tp_cv *tp_cv_init(int32_t kind, const tp_lattice *lat, int32_t q, int32_t token);
TP_FFI void tp_cv_free(tp_cv *cv);
/* out: (B, dim) [out] CV values of x: (B, n).  Tokens must be < q. */
TP_FFI tp_status tp_cv_eval(const tp_cv *cv, double *out, const uint8_t *x, int64_t B);
/* out: (dim) [out] from counts: (ngroup, q) token counts per group. */
TP_FFI void tp_cv_from_counts(const tp_cv *cv, double *out, const int32_t *counts);
/* ffi:end */

#ifdef __cplusplus
}
#endif
#endif /* TP_CV_H */
