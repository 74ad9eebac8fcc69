/*
 * runtime/exact.h -- exact enumeration of every configuration of a small
 * system (tp_exact_*): log Z, <E>, Var E and the exact marginal of a CV on a
 * grid, for several inverse temperatures in one pass.
 *
 * Configurations are visited in reflected q-ary Gray-code order (one site
 * changes by one step per state).  Ising and Potts models count states per
 * energy level (equal-token bonds per shell, field count) and CV grid
 * point in integers and sum Boltzmann weights over the levels at the end;
 * other models add each state's weight, its energy the previous one plus
 * a single-site dE.  The state space is split into chunks by fixing the
 * highest sites; chunks run on all OpenMP threads and are combined in a
 * fixed order, so results do not depend on the thread count.  Limit: q^n <= 2^26
 * states.  Polls the abort flag (Ctrl-C) between chunks: TP_ABORTED.
 */
#ifndef TP_EXACT_H
#define TP_EXACT_H

#include <stdint.h>
#include "common.h"
#include "model.h"
#include "cv.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ffi:begin */
/* ---- exact enumeration (runtime/exact.c) --------------------------------- */
/* beta: (nbeta) inverse temperatures.
 * log_z, mean_e, var_e: (nbeta) [out] log Z, <E>, <E^2> - <E>^2.
 * cv [optional]: a built-in CV over m's lattice; with it,
 *   lo, hi: (cv->dim) grid ranges; points: (cv->dim) grid points per
 *   dimension (>= 2, both ends included); hist: (nbeta, prod points) [out]
 *   the exact probability of each grid point (each state's CV is assigned to
 *   its nearest grid point, clamped to the box; the last dimension varies
 *   fastest). */
TP_FFI tp_status tp_exact_run(const tp_model *m, const double *beta, int32_t nbeta,
                              double *log_z, double *mean_e, double *var_e,
                              const tp_cv *cv, const double *lo, const double *hi,
                              const int32_t *points, double *hist);
/* number of states q^n, or -1 above the limit */
TP_FFI int64_t tp_exact_states(const tp_model *m);
/* out: (count, n) [out] configurations first .. first + count - 1 of n
 * sites with q states in counting order: configuration s has site i =
 * digit i of s in base q (site 0 fastest).  Needs 2 <= q <= 256, q^n
 * within the enumeration limit, first >= 0 and first + count <= q^n. */
TP_FFI tp_status tp_exact_configs(int32_t q, int32_t n, uint8_t *out, int64_t first, int64_t count);
/* The square-lattice Ising model beyond enumeration: L x L periodic (3 <=
 * L <= 10), nearest-neighbour coupling J, field h, E = -J sum_<ij> s_i s_j
 * - h sum_i s_i, by a row-to-row transfer matrix that carries the
 * magnetisation M = sum_i s_i.  log_z [out]; p (L*L + 1) [out] the exact
 * probability of M = -L^2 + 2k at index k.  Cost about 4^L L^3 per class
 * of first rows: 0.3 s for L = 8, 2.5 s for 9, 22 s for 10 on 2 cores. */
TP_FFI tp_status tp_exact_ising_m(int32_t L, double J, double h, double beta, double *log_z, double *p);
/* ffi:end */

#ifdef __cplusplus
}
#endif
#endif /* TP_EXACT_H */
