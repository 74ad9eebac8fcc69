/*
 * tests/tolerance.h -- every floating-point tolerance used by the tests, in
 * one place: |got - want| <= abs + rel * |want|.
 * A tolerance that is not derived from the precision involved carries a
 * comment saying why.
 */
#ifndef TP_TOLERANCE_H
#define TP_TOLERANCE_H

#include <math.h>
#include <float.h>

typedef struct { double abs, rel; } tp_tol;

/* double-precision results of the same maths computed two ways */
static const tp_tol TP_TOL_F64 = { 1e-12, 1e-10 };
/* float32 kernels against a double reference: a few ulps of float, growing
 * with reduction length; 1e-5 relative */
static const tp_tol TP_TOL_F32 = { 1e-6, 1e-5 };
/* CUDA float32 against the CPU float32 reference */
static const tp_tol TP_TOL_CUDA_F32 = { 1e-5, 1e-5 };
/* exact log Z against Kaufman's closed form: 1e-10 relative, the issue's
 * requirement (double sums of 2^25 terms lose a few ulps, far below it) */
static const tp_tol TP_TOL_LOGZ = { 1e-12, 1e-10 };
/* dE against E(after) - E(before): the difference of two O(n z)-term totals
 * carries a few ulps of the totals, so the relative part is taken on
 * |E0| + |E1| rather than on the (possibly tiny) difference */
static const tp_tol TP_TOL_DE = { 1e-11, 1e-10 };

/* the transformer's branch-free float erf (kernels/tf_math.h, GELU) against
 * erf in double: the issue asks for max |error| < 2e-7, about 3 ulps of
 * float near 1; relative 2.5e-7 holds down to denormal arguments */
static const tp_tol TP_TOL_FAST_ERF = { 2e-7, 0 };
static const tp_tol TP_TOL_FAST_ERF_REL = { 0, 2.5e-7 };
/* its exp for softmax arguments (x <= 0, degree-6 polynomial): relative,
 * a few float ulps */
static const tp_tol TP_TOL_FAST_EXP = { 0, 3e-7 };

static inline int tp_close(double got, double want, tp_tol t) {
    if (isnan(got) || isnan(want)) return 0;
    return fabs(got - want) <= t.abs + t.rel * fabs(want);
}

/* float32 network forward (several LayerNorm/attention/MLP layers) against
 * the naive double model, and translated configurations through RoPE
 * (cos/sin of different angles round differently): rounding accumulates
 * over depth and LayerNorm divides by small standard deviations, so allow
 * 10x the single-kernel float tolerance. */
static const tp_tol TP_TOL_F32_NET = { 1e-5, 1e-4 };
/* float32 analytic gradients against central finite differences of the
 * double model (FD error ~1e-10): the analytic side carries float rounding
 * of the whole backward pass, relative ~1e-4 of each gradient, and
 * absolute ~1e-5 for gradients that nearly cancel. */
static const tp_tol TP_TOL_GRAD_F32 = { 2e-5, 1e-3 };

/* float32 analytic gradients against central differences (h = 1e-2) of
 * the float32 forward itself, loss summed in double (check_cond.c):
 * truncation ~h^2 |f'''|/6 ~ 1e-5 and float rounding of the loss
 * ~1e-7 * |loss| / h ~ 1e-5; 1e-4 absolute and 1e-3 relative leave room
 * for LayerNorm's amplification of both. */
static const tp_tol TP_TOL_FD_F32 = { 1e-4, 1e-3 };

/* The same through the net object (check_cond.c, tp_net_order_grad): the
 * loss sums T teacher-forced float forwards per sample, |loss| ~ 10, so
 * float rounding of the loss over 2h = 2e-2 reaches ~1e-4 and LayerNorm
 * curvature makes the h^2 term ~1e-2 relative on some weights.  The
 * components are checked tightly elsewhere (TP_TOL_FD_F32, exact
 * identities); this bound catches wrong plumbing (rows given the wrong
 * condition move gradients by O(1)). */
static const tp_tol TP_TOL_FD_NET = { 5e-4, 3e-2 };

/* CUDA against CPU through a whole network (cuBLAS and OpenBLAS sum
 * products in different orders, device expf/erff differ by an ulp): the
 * same reasoning and bound as TP_TOL_F32_NET. */
static const tp_tol TP_TOL_CUDA_F32_NET = { 1e-5, 1e-4 };
/* CUDA against CPU parameter gradients: reductions over all rows in
 * different orders, on top of TP_TOL_CUDA_F32_NET's forward differences. */
static const tp_tol TP_TOL_CUDA_F32_GRAD = { 2e-5, 1e-3 };
/* parameters after a few Adam steps on both backends: Adam's step
 * m/sqrt(v) has magnitude ~lr (1e-4) whatever the gradient size, so a
 * parameter whose gradient is at rounding level may move by up to lr per
 * step in different directions on the two backends; 3 steps -> 3e-4. */
static const tp_tol TP_TOL_CUDA_F32_STEP = { 3e-4, 1e-4 };

/* Reweighting statistics (check_reweight.c), statistical not rounding:
 * a bootstrap standard error from R = 400 replicates has a relative
 * sampling error of about 1/sqrt(2R) = 3.5%, plus O(1/sqrt(n)) between the
 * estimate and sigma/sqrt(n); 20% is more than 5 standard deviations. */
#define TP_TOL_RW_BOOT_REL 0.20
/* PMF of the 4x4 Ising model from 200000 biased exact samples: each bin's F
 * is good to about kT/sqrt(n/17) = 0.02 (kT = 2.27), so an RMSE above 0.08
 * (4 sigma) means a bug; per bin, 6 bootstrap standard errors. */
#define TP_TOL_RW_PMF_RMSE 0.08
#define TP_TOL_RW_PMF_SIGMAS 6.0

#endif /* TP_TOLERANCE_H */
