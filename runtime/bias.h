/*
 * runtime/bias.h -- the well-tempered metadynamics bias on a grid (tp_bias_*).
 * man tempera-mc(5).
 *
 * A bias is V(s) stored on a regular grid over a box in CV space:
 * dim (1..8) dimensions, points[k] >= 2 grid points along dimension k
 * including both ends, spacing[k] = (hi[k] - lo[k]) / (points[k] - 1).
 * Values are double, row-major with the LAST dimension fastest:
 *   flat(i_0, ..., i_{d-1}) = ((i_0 * points[1] + i_1) * points[2] + i_2) ...
 * V is in energy units (the model's unit), as in pi_V ~ exp(-beta (E + V(s))).
 *
 * Deposition (well-tempered):
 *   dT = (gamma - 1) kT;  a cycle of B hills at s_1..s_B (in order) gives
 *   each hill raw height w = W / B (W = "height per cycle");
 *   i* = nearest grid point to s_b; h = w exp(-V[i*] / dT);
 *   Gaussian kernel: V[j] += h exp(-sum_k (g_jk - s_bk)^2 / (2 sigma_k^2))
 *   for every grid point j; delta kernel: V[i*] += h.
 *   gamma <= 1 (or infinite) is plain metadynamics: h = w.
 * Evaluation: V(s) = V at the nearest grid point of s clamped to the box.
 * Free energy: F(s) = -gamma/(gamma - 1) V(s) + const (plain: F = -V).
 *
 * Out-of-grid policy (set with tp_bias_set_policy; never silent):
 *   TP_BIAS_OUT_CLAMP (default): a deposit point outside the box is moved
 *     to the nearest point of the box (the hill is centred there);
 *   TP_BIAS_OUT_SKIP: such a hill is not deposited;
 *   TP_BIAS_OUT_ERROR: tp_bias_deposit/tp_bias_eval fail with TP_ERR_ARG
 *     before changing anything if any point of the batch is outside.
 *   Evaluation always clamps (except ERROR in tp_bias_eval).  Both cases
 *   are counted (out_deposit, out_eval in tp_bias_info) and the stdlib
 *   reports nonzero counts.  "Outside" means beyond the box by more than
 *   1e-9 of a grid spacing (so m = 1.0 computed in floating point is in).
 *
 * Threads: tp_bias_value/tp_bias_index are pure and may be called
 * concurrently; everything that modifies the bias (deposit, set, load,
 * counters in tp_bias_eval) must not run concurrently with anything else
 * on the same bias.  Snapshot with tp_bias_clone for a consistent view.
 *
 * Ownership: tp_bias_init/clone/load return an owned bias; tp_bias_free(NULL)
 * is a no-op.  tp_bias_values returns a pointer into the bias (valid until
 * it is freed); writing through it is allowed (e.g. to import a PMF).
 *
 * File format (tp_bias_save/tp_bias_load), text, versioned:
 *   tempera-bias 1
 *   dim D
 *   kernel gaussian|delta
 *   policy clamp|skip|error
 *   height W
 *   bias_factor GAMMA
 *   kT KT
 *   nhills N
 *   ncycles N
 *   axis K LO HI POINTS SIGMA           (one line per dimension)
 *   walls K LO_WALL HI_WALL             (0/1; only for dimensions with a wall)
 *   values
 *   V_0 ... (one value per line, %.17g, flat order above)
 * Lines starting with '#' are comments.  Unknown versions and malformed
 * lines are TP_ERR_FORMAT naming path:line.
 */
#ifndef TP_BIAS_H
#define TP_BIAS_H

#include <stdint.h>
#include <stddef.h>
#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TP_BIAS_MAX_DIM 8

/* ffi:begin */
/* ---- metadynamics bias on a grid (runtime/bias.c) ------------------------ */
typedef struct tp_bias tp_bias;

typedef enum tp_bias_kernel {
    TP_BIAS_GAUSSIAN = 0,
    TP_BIAS_DELTA    = 1
} tp_bias_kernel;

typedef enum tp_bias_policy {
    TP_BIAS_OUT_CLAMP = 0,
    TP_BIAS_OUT_SKIP  = 1,
    TP_BIAS_OUT_ERROR = 2
} tp_bias_policy;

/* A snapshot of a bias's parameters and counters (arrays: first dim used,
 * at most 8 = TP_BIAS_MAX_DIM). */
typedef struct tp_bias_info {
    int32_t dim;
    int32_t kernel;          /* tp_bias_kernel */
    int32_t policy;          /* tp_bias_policy */
    int32_t pad_;
    int32_t points[8];       /* grid points per dimension, incl. both ends */
    double lo[8], hi[8];     /* the box */
    double spacing[8];       /* (hi - lo) / (points - 1) */
    double sigma[8];         /* Gaussian widths (CV units) */
    double height;           /* W: height per cycle (energy units) */
    double bias_factor;      /* gamma; <= 1 or inf: plain metadynamics */
    double kT;               /* k_B T (energy units) */
    int64_t size;            /* total grid points = prod points */
    int64_t nhills;          /* hills deposited so far */
    int64_t ncycles;         /* tp_bias_deposit calls that deposited */
    int64_t out_deposit;     /* deposit points found outside the box */
    int64_t out_eval;        /* evaluation points found outside (tp_bias_eval) */
    int32_t wall_lo[8], wall_hi[8];   /* 1: a reflecting wall at that end of the box */
} tp_bias_info;

/* New zero bias.  lo, hi, sigma: (dim); points: (dim), each >= 2;
 * sigma may be NULL for the delta kernel (else each > 0); height >= 0;
 * kT > 0; kernel: tp_bias_kernel.  Grid size at most 2^28 points.
 * Caller owns the result (NULL and a message on bad arguments). */
TP_FFI tp_bias *tp_bias_init(int32_t dim, const double *lo, const double *hi,
                             const int32_t *points, const double *sigma,
                             double height, double bias_factor, double kT,
                             int32_t kernel);
TP_FFI void tp_bias_free(tp_bias *b);
/* Deep copy (values, parameters, counters).  Caller owns the result. */
TP_FFI tp_bias *tp_bias_clone(const tp_bias *b);

TP_FFI tp_status tp_bias_get_info(const tp_bias *b, tp_bias_info *out);
TP_FFI int32_t tp_bias_dim(const tp_bias *b);
TP_FFI int64_t tp_bias_size(const tp_bias *b);
TP_FFI int32_t tp_bias_points(const tp_bias *b, int32_t k);
/* The grid values (size doubles, flat order in the header comment). */
TP_FFI double *tp_bias_values(tp_bias *b);
/* coords: (dim) [out] CV coordinates of grid point flat. */
TP_FFI tp_status tp_bias_grid_point(const tp_bias *b, double *coords, int64_t flat);

/* Schedule parameters: may change between deposits. */
TP_FFI tp_status tp_bias_set_height(tp_bias *b, double height);
/* sigma: (dim), each > 0 */
TP_FFI tp_status tp_bias_set_sigma(tp_bias *b, const double *sigma);
TP_FFI tp_status tp_bias_set_bias_factor(tp_bias *b, double bias_factor);
TP_FFI tp_status tp_bias_set_kT(tp_bias *b, double kT);
TP_FFI tp_status tp_bias_set_kernel(tp_bias *b, int32_t kernel);
/* Reflecting walls: lo_walls, hi_walls: (dim), nonzero where that end of
 * the box is a hard edge of the CV (m = +-1, a fraction at 0 or 1).  A
 * Gaussian hill at s then also deposits its mirror images 2 lo - s and
 * 2 hi - s, so the mass a hill would put beyond the wall stays in the box
 * and the bias has zero slope there: the PMF near the wall converges like
 * the interior one (without: about 1 kT too high at the wall for sigma
 * comparable to the distance from it).  NULL: none.  Default: none. */
TP_FFI tp_status tp_bias_set_walls(tp_bias *b, const int32_t *lo_walls, const int32_t *hi_walls);
TP_FFI tp_status tp_bias_set_policy(tp_bias *b, int32_t policy);
/* V = 0 everywhere, hill and out-of-grid counters zero. */
TP_FFI void tp_bias_reset(tp_bias *b);
/* Out-of-grid counters to zero. */
TP_FFI void tp_bias_clear_counts(tp_bias *b);

/* One cycle: B hills at s: (B, dim), in order, each of raw height
 * current W / B.  B >= 1. */
TP_FFI tp_status tp_bias_deposit(tp_bias *b, const double *s, int64_t B);
/* One hill at s: (dim) with raw height w (before the well-tempered factor)
 * and the current sigma/kernel.  Counts as a hill, not a cycle. */
TP_FFI tp_status tp_bias_deposit_one(tp_bias *b, const double *s, double w);
/* One cycle of B hills at s: (B, dim), hill b of raw height
 * W * exp(logw_b) / sum_c exp(logw_c) (current W; the heights of a cycle
 * add up to W, as in tp_bias_deposit, which equal logw reproduces).
 * Importance-weighted deposition: with logw the log of pi_V(x)/q(x) for
 * samples x drawn from q, the hills follow the CV marginal of the biased
 * target pi_V in expectation, whatever q is.  logw: (B) [in], finite or
 * -inf (weight 0), at least one finite.  B >= 1. */
TP_FFI tp_status tp_bias_deposit_weighted(tp_bias *b, const double *s, const double *logw, int64_t B);
/* The same cycle (logw NULL: tp_bias_deposit, else tp_bias_deposit_weighted),
 * recording what it deposited, for a PLUMED HILLS file: heights: (B) [out]
 * each hill's height after the well-tempered factor (0 where no hill went
 * down: weight 0, or skipped by the out-of-grid policy); centers: (B, dim)
 * [out] where it went (clamped into the box by the policy 'clamp'). */
TP_FFI tp_status tp_bias_deposit_record(tp_bias *b, const double *s, const double *logw, int64_t B, double *heights,
                                        double *centers);

/* Nearest grid point of s: (dim), clamped to the box (flat index).  Pure. */
TP_FFI int64_t tp_bias_index(const tp_bias *b, const double *s);
/* V(s), nearest grid point, clamped.  Pure, hot-loop safe. */
TP_FFI double tp_bias_value(const tp_bias *b, const double *s);
/* out: (B) [out] V(s_b) for s: (B, dim); counts points outside the box
 * (out_eval); with policy ERROR fails on the first one. */
TP_FFI tp_status tp_bias_eval(tp_bias *b, double *out, const double *s, int64_t B);
/* logw: (B) [out] reweighting log-weights beta V(s_b) (man tempera-analysis(5)). */
TP_FFI tp_status tp_bias_log_weights(tp_bias *b, double *logw, const double *s, int64_t B,
                                     double beta);
/* pmf: (size) [out] F = -gamma/(gamma-1) V (plain metadynamics: -V),
 * shifted so that min F = 0. */
TP_FFI tp_status tp_bias_pmf(const tp_bias *b, double *pmf);

/* Everything about a bias (parameters, walls, counters, values) as doubles,
 * for a checkpoint slot: its size, a copy out (n must equal the size), and
 * a restore into a bias with the same grid (dimensions, points, box),
 * checked before anything changes. */
TP_FFI int64_t tp_bias_state_size(const tp_bias *b);
TP_FFI tp_status tp_bias_get_state(const tp_bias *b, double *out, int64_t n);
TP_FFI tp_status tp_bias_set_state(tp_bias *b, const double *in, int64_t n);

/* Save to / load from the versioned text format (header comment). */
TP_FFI tp_status tp_bias_save(const tp_bias *b, const char *path);
TP_FFI tp_bias *tp_bias_load(const char *path);
/* ffi:end */

#ifdef __cplusplus
}
#endif
#endif /* TP_BIAS_H */
