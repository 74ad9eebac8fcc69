/*
 * tests/check_transformer.c -- the CPU transformer (kernels/transformer_cpu.c)
 * against a naive double-precision implementation written here from
 * tempera-nn(5); the backward against central finite differences of that
 * naive model in double (every parameter of a tiny model, with and without
 * LayerScale); periodic RoPE translation equivariance in 1-D, 2-D and 3-D.
 * The CUDA sampling forward against the CUDA full forward and the CPU
 * sampling forward (skipped without a device).
 */
#include "check_util.h"
#include "tolerance.h"
#include "transformer.h"
#include "tensor.h"
#include "cuda.h"
#include "tf_math.h"
#include "philox.h"

#include <omp.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- naive reference (double, one row at a time, no shared helpers) ------- */

static void naive_ln(double *out, const double *x, const double *w, const double *b, int d) {
    double m = 0, v = 0;
    for (int j = 0; j < d; j++) m += x[j];
    m /= d;
    for (int j = 0; j < d; j++) v += (x[j] - m) * (x[j] - m);
    v /= d;
    for (int j = 0; j < d; j++) out[j] = (x[j] - m) / sqrt(v + 1e-6) * w[j] + b[j];
}

/* y (n_out) = x (n_in) W (n_in, n_out) + b */
static void naive_lin(double *y, const double *x, const double *W, const double *b, int nin, int nout) {
    for (int o = 0; o < nout; o++) {
        double s = b[o];
        for (int i = 0; i < nin; i++) s += x[i] * W[(long)i * nout + o];
        y[o] = s;
    }
}

/* Angle of pair p (of hd/2) at a site: pairs split over axes, earlier axes
 * taking the remainder, harmonics 1, 2, ... per axis (tempera-nn(5)). */
static double naive_angle(int p, int npairs, int axes, const float *u) {
    int start = 0;
    for (int a = 0; a < axes; a++) {
        int cnt = npairs / axes + (a < npairs % axes);
        if (p < start + cnt) return 2 * M_PI * (p - start + 1) * (double)u[a];
        start += cnt;
    }
    return 0;
}

static void naive_forward(double *logp, const double *P, const uint8_t *tok, const float *coords,
                          const tp_tf_config *c, int rows) {
    tp_tf_layout L;
    tp_tf_layout_init(&L, c);
    int T = c->sites, d = c->embed, H = c->heads, hd = d / H, q = c->states;
    double *x = malloc(sizeof(double) * T * d), *a = malloc(sizeof(double) * T * d);
    double *qkv = malloc(sizeof(double) * T * 3 * d), *y = malloc(sizeof(double) * T * d);
    double *t1 = malloc(sizeof(double) * 4 * d), *t2 = malloc(sizeof(double) * 4 * d);
    double *s = malloc(sizeof(double) * T);
    for (int r = 0; r < rows; r++) {
        for (int t = 0; t < T; t++)
            for (int j = 0; j < d; j++) x[t * d + j] = P[L.wte + tok[r * T + t] * d + j];
        for (int l = 0; l < c->depth; l++) {
            const tp_tf_block_off *B = &L.blk[l];
            for (int t = 0; t < T; t++) {
                naive_ln(a + t * d, x + t * d, P + B->ln1_w, P + B->ln1_b, d);
                naive_lin(qkv + t * 3 * d, a + t * d, P + B->wqkv, P + B->bqkv, d, 3 * d);
                for (int part = 0; part < 2; part++)
                    for (int h = 0; h < H; h++)
                        for (int p = 0; p < hd / 2; p++) {
                            double ang = naive_angle(p, hd / 2, c->axes, coords + t * c->axes);
                            double *v = qkv + t * 3 * d + part * d + h * hd + 2 * p;
                            double v0 = v[0], v1 = v[1];
                            v[0] = v0 * cos(ang) - v1 * sin(ang);
                            v[1] = v0 * sin(ang) + v1 * cos(ang);
                        }
            }
            for (int h = 0; h < H; h++)
                for (int t = 0; t < T; t++) {
                    double mx = -1e300, z = 0;
                    for (int u = 0; u < T; u++) {
                        double dot = 0;
                        for (int e = 0; e < hd; e++)
                            dot += qkv[t * 3 * d + h * hd + e] * qkv[u * 3 * d + d + h * hd + e];
                        s[u] = dot / sqrt((double)hd);
                        if (s[u] > mx) mx = s[u];
                    }
                    for (int u = 0; u < T; u++) { s[u] = exp(s[u] - mx); z += s[u]; }
                    for (int e = 0; e < hd; e++) {
                        double acc = 0;
                        for (int u = 0; u < T; u++) acc += s[u] / z * qkv[u * 3 * d + 2 * d + h * hd + e];
                        y[t * d + h * hd + e] = acc;
                    }
                }
            for (int t = 0; t < T; t++) {
                naive_lin(t1, y + t * d, P + B->wo, P + B->bo, d, d);
                for (int j = 0; j < d; j++) x[t * d + j] += (c->layerscale ? P[B->ls1 + j] : 1.0) * t1[j];
                naive_ln(t2, x + t * d, P + B->ln2_w, P + B->ln2_b, d);
                naive_lin(t1, t2, P + B->w1, P + B->b1, d, 4 * d);
                for (int j = 0; j < 4 * d; j++) t1[j] = 0.5 * t1[j] * (1 + erf(t1[j] / sqrt(2.0)));
                naive_lin(t2, t1, P + B->w2, P + B->b2, 4 * d, d);
                for (int j = 0; j < d; j++) x[t * d + j] += (c->layerscale ? P[B->ls2 + j] : 1.0) * t2[j];
            }
        }
        for (int t = 0; t < T; t++) {
            naive_ln(a, x + t * d, P + L.lnf_w, P + L.lnf_b, d);
            double *z = logp + ((long)r * T + t) * q;
            naive_lin(z, a, P + L.head_w, P + L.head_b, d, q);
            double mx = z[0], sum = 0;
            for (int k = 1; k < q; k++) if (z[k] > mx) mx = z[k];
            for (int k = 0; k < q; k++) sum += exp(z[k] - mx);
            for (int k = 0; k < q; k++) z[k] -= mx + log(sum);
        }
    }
    free(x); free(a); free(qkv); free(y); free(t1); free(t2); free(s);
}

/* ---- fixtures --------------------------------------------------------------- */

/* coords of a periodic box with the given periods (row-major, last axis fastest) */
static float *box_coords(const int *per, int axes, int *T_out) {
    int T = 1;
    for (int a = 0; a < axes; a++) T *= per[a];
    float *u = malloc(sizeof(float) * T * axes);
    for (int s = 0; s < T; s++) {
        int rem = s;
        for (int a = axes - 1; a >= 0; a--) { u[s * axes + a] = (float)(rem % per[a]) / per[a]; rem /= per[a]; }
    }
    *T_out = T;
    return u;
}

/* parameters with every entry of order 0.1-1, so no part of the network is
 * near-trivial (LayerNorm weights and LayerScale away from 1, biases nonzero) */
static float *random_params(const tp_tf_config *c, uint64_t seed, int64_t *np) {
    tp_tf_layout L;
    tp_tf_layout_init(&L, c);
    float *p = malloc(sizeof(float) * L.n_params);
    tp_tf_init_params(p, c, seed, 0.5f);
    tp_rng r;
    tp_rng_seed(&r, seed, 99);
    for (int64_t i = 0; i < L.n_params; i++) p[i] += 0.3f * (tp_rng_next_float(&r) - 0.5f);
    *np = L.n_params;
    return p;
}

static uint8_t *random_tokens(int rows, int T, int q, uint64_t seed) {
    uint8_t *t = malloc((size_t)rows * T);
    tp_rng r;
    tp_rng_seed(&r, seed, 7);
    for (int i = 0; i < rows * T; i++) t[i] = (uint8_t)tp_rng_next_below(&r, q + 1);
    return t;
}

static float *cpu_forward(const float *par, const uint8_t *tok, const float *coords,
                          const tp_tf_config *c, int rows, float **acts_out) {
    tp_tf_act_layout al;
    tp_tf_act_layout_init(&al, c, rows);
    int hd = c->embed / c->heads;
    float *rope = malloc(sizeof(float) * c->sites * hd);
    tp_tf_rope_table(rope, coords, c);
    float *acts = malloc(sizeof(float) * al.n_acts);
    float *logp = malloc(sizeof(float) * rows * c->sites * c->states);
    ck_assert_int_eq(tp_tf_forward_cpu(acts, logp, tok, par, rope, c, rows), TP_OK);
    free(rope);
    if (acts_out) *acts_out = acts; else free(acts);
    return logp;
}

/* ---- tests ----------------------------------------------------------------- */

static void forward_vs_naive(int layerscale, int axes) {
    int per[3] = { 3, 2, 2 }, T;
    float *coords = box_coords(per, axes, &T);
    tp_tf_config c = { 3, T, 12, 2, 2, axes, layerscale, 0 };
    int rows = 3;
    int64_t np;
    float *par = random_params(&c, 11, &np);
    uint8_t *tok = random_tokens(rows, T, c.states, 5);
    float *logp = cpu_forward(par, tok, coords, &c, rows, NULL);
    double *pd = malloc(sizeof(double) * np), *want = malloc(sizeof(double) * rows * T * c.states);
    for (int64_t i = 0; i < np; i++) pd[i] = par[i];
    naive_forward(want, pd, tok, coords, &c, rows);
    for (int i = 0; i < rows * T * c.states; i++)
        ck_assert_msg(tp_close(logp[i], want[i], TP_TOL_F32_NET), "logp[%d] = %.9g, naive %.9g", i, logp[i], want[i]);
    /* log-softmax is normalised over the q real states */
    for (int n = 0; n < rows * T; n++) {
        double z = 0;
        for (int k = 0; k < c.states; k++) z += exp(logp[n * c.states + k]);
        ck_assert(tp_close(z, 1.0, TP_TOL_F32));
    }
    free(coords); free(par); free(tok); free(logp); free(pd); free(want);
}

START_TEST(test_tf_forward_matches_naive) { forward_vs_naive(0, 1); forward_vs_naive(0, 2); }
END_TEST
START_TEST(test_tf_forward_matches_naive_layerscale) { forward_vs_naive(1, 3); }
END_TEST

/* Loss L = sum_n,k cw[n,k] logp[n,k] with random cw: dL/dlogp = cw.  The
 * analytic gradient of every parameter against central differences of the
 * naive double model. */
static void backward_fd(int layerscale, int depth) {
    int per[2] = { 3, 4 }, T;   /* periods > 2: sin(2 pi j u) must not vanish */
    float *coords = box_coords(per, 2, &T);
    tp_tf_config c = { 3, T, 8, depth, 2, 2, layerscale, 0 };
    int rows = 2;
    int64_t np;
    float *par = random_params(&c, 21, &np);
    uint8_t *tok = random_tokens(rows, T, c.states, 9);
    int nl = rows * T * c.states;
    float *cw = malloc(sizeof(float) * nl);
    tp_rng r;
    tp_rng_seed(&r, 3, 3);
    for (int i = 0; i < nl; i++) cw[i] = tp_rng_next_float(&r) - 0.5f;
    float *acts;
    float *logp = cpu_forward(par, tok, coords, &c, rows, &acts);
    float *grads = calloc(np, sizeof(float));
    float *scratch = malloc(sizeof(float) * tp_tf_scratch_size(&c, rows));
    int hd = c.embed / c.heads;
    float *rope = malloc(sizeof(float) * T * hd);
    tp_tf_rope_table(rope, coords, &c);
    ck_assert_int_eq(tp_tf_backward_cpu(grads, scratch, cw, logp, acts, tok, par, rope, &c, rows), TP_OK);

    double *pd = malloc(sizeof(double) * np), *lp = malloc(sizeof(double) * nl);
    for (int64_t i = 0; i < np; i++) pd[i] = par[i];
    const double h = 1e-5;
    int checked = 0;
    double worst = 0;
    for (int64_t i = 0; i < np; i++) {
        double keep = pd[i], lplus = 0, lminus = 0;
        pd[i] = keep + h;
        naive_forward(lp, pd, tok, coords, &c, rows);
        for (int k = 0; k < nl; k++) lplus += cw[k] * lp[k];
        pd[i] = keep - h;
        naive_forward(lp, pd, tok, coords, &c, rows);
        for (int k = 0; k < nl; k++) lminus += cw[k] * lp[k];
        pd[i] = keep;
        double fd = (lplus - lminus) / (2 * h);
        double err = fabs(grads[i] - fd);
        if (err > worst) worst = err;
        ck_assert_msg(tp_close(grads[i], fd, TP_TOL_GRAD_F32),
                      "param %lld: analytic %.9g, finite difference %.9g", (long long)i, grads[i], fd);
        checked++;
    }
    ck_assert_int_eq(checked, np);
    free(coords); free(par); free(tok); free(cw); free(acts); free(logp); free(grads);
    free(scratch); free(rope); free(pd); free(lp);
}

START_TEST(test_tf_backward_fd) { backward_fd(0, 2); }
END_TEST
START_TEST(test_tf_backward_fd_layerscale) { backward_fd(1, 1); }
END_TEST
/* the baseline-ISA attention/GELU kernels (the AVX2 ones are chosen at run
 * time where the CPU has them): each test runs in its own process */
START_TEST(test_tf_baseline_isa) {
    setenv("TEMPERA_CPU_BASELINE", "1", 1);
    forward_vs_naive(1, 2);
    backward_fd(0, 1);
}
END_TEST

/* The branch-free erf and exp of kernels/tf_math.h against libm in double:
 * a dense grid over [-12, 12] (erf saturates at |x| = 4 in float) and a
 * geometric sweep down to tiny arguments, where erf(x) ~ 2x/sqrt(pi). */
START_TEST(test_tf_fast_erf_accuracy) {
    double worst = 0, worst_rel = 0;
    for (int i = -1200000; i <= 1200000; i++) {
        float x = (float)(i * 1e-5);
        double want = erf((double)x), got = gelu_erf(x);
        ck_assert_msg(tp_close(got, want, TP_TOL_FAST_ERF), "erf(%.9g): %.9g, libm %.9g", x, got, want);
        if (fabs(got - want) > worst) worst = fabs(got - want);
    }
    for (float x = 1e-30f; x < 12.0f; x *= 1.0001f)
        for (int sg = -1; sg <= 1; sg += 2) {
            double want = erf((double)(sg * x)), got = gelu_erf(sg * x);
            ck_assert_msg(tp_close(got, want, TP_TOL_FAST_ERF_REL), "erf(%.9g): %.9g, libm %.9g (relative)",
                          sg * x, got, want);
            if (fabs(got - want) / fabs(want) > worst_rel) worst_rel = fabs(got - want) / fabs(want);
        }
    /* a looser approximation (Abramowitz-Stegun 7.1.26, 5e-7 near 0) fails both */
    ck_assert_msg(worst > 1e-8 && worst < 2e-7 && worst_rel < 2.5e-7, "worst %.3g, relative %.3g", worst, worst_rel);
    ck_assert(gelu_erf(INFINITY) == 1.0f && gelu_erf(-INFINITY) == -1.0f && gelu_erf(0.0f) == 0.0f);
    for (int i = 0; i <= 870000; i++) {
        float x = (float)(-i * 1e-4);
        ck_assert_msg(tp_close(softmax_exp(x), exp((double)x), TP_TOL_FAST_EXP), "exp(%.9g): %.9g",
                      x, softmax_exp(x));
    }
}
END_TEST

/* The kernels exist once per instruction set (kernels/transformer_vec.h)
 * and must agree bit for bit; the forward pass runs in tiles of whole rows,
 * so its results do not depend on the thread count either.  rows spans
 * several tiles (256 tokens each). */
static void isa_threads_case(void) {
    int per[2] = { 3, 4 }, T;
    float *coords = box_coords(per, 2, &T);
    tp_tf_config c = { 3, T, 16, 2, 2, 2, 1, 0 };
    const int rows = 50;
    int64_t np;
    float *par = random_params(&c, 5, &np);
    uint8_t *tok = random_tokens(rows, T, c.states, 6);
    const int nl = rows * T * c.states;
    float *cw = malloc(sizeof(float) * nl);
    for (int i = 0; i < nl; i++) cw[i] = (float)(i % 5) * 0.25f - 0.5f;
    float *rope = malloc(sizeof(float) * T * (c.embed / c.heads));
    tp_tf_rope_table(rope, coords, &c);
    float *scratch = malloc(sizeof(float) * tp_tf_scratch_size(&c, rows));
    const char *isa[3] = { "0", "avx2", "1" };   /* best available, at most AVX2, baseline */
    float *lp[4], *gr[4];
    int nth = omp_get_max_threads();
    for (int k = 0; k < 4; k++) {
        setenv("TEMPERA_CPU_BASELINE", isa[k < 3 ? k : 0], 1);
        if (k == 3) omp_set_num_threads(nth > 1 ? 1 : 2);   /* forward only: other thread count */
        float *acts;
        lp[k] = cpu_forward(par, tok, coords, &c, rows, &acts);
        gr[k] = calloc(np, sizeof(float));
        if (k < 3)
            ck_assert_int_eq(tp_tf_backward_cpu(gr[k], scratch, cw, lp[k], acts, tok, par, rope, &c, rows), TP_OK);
        free(acts);
    }
    omp_set_num_threads(nth);
    unsetenv("TEMPERA_CPU_BASELINE");
    for (int k = 1; k < 4; k++) {
        ck_assert_msg(memcmp(lp[0], lp[k], sizeof(float) * nl) == 0, "forward %d differs", k);
        if (k < 3) ck_assert_msg(memcmp(gr[0], gr[k], sizeof(float) * np) == 0, "backward %s differs", isa[k]);
    }
    for (int k = 0; k < 4; k++) { free(lp[k]); free(gr[k]); }
    free(coords); free(par); free(tok); free(cw); free(rope); free(scratch);
}

START_TEST(test_tf_isa_and_threads_bit_identical) { isa_threads_case(); }
END_TEST

/* The sampling forward (tp_tf_forward_site_cpu) gives logp at each row's
 * site as the full forward does: random tokens (mask included) and sites,
 * with and without LayerScale, 1-D/2-D/3-D RoPE, depth 1 and 3, row
 * counts below, at and across tile boundaries (256 tokens a tile; T = 256
 * gives one row a tile), every instruction set and two thread counts.
 * Deeper networks agree bit for bit: each row of a matrix product is
 * computed the same way whatever the number of rows (single-threaded
 * OpenBLAS, the same kernels).  One block goes through the sampling table
 * (each state's q, k, v at each position) and its own attention loop:
 * within float tolerance of the full pass, and bit for bit the same on
 * every instruction set and thread count. */
static void site_vs_full(int layerscale, int axes, int depth, int *per, int embed, int heads,
                         const int *rowsv, int nrows, uint64_t seed) {
    int T;
    float *coords = box_coords(per, axes, &T);
    tp_tf_config c = { 3, T, embed, depth, heads, axes, layerscale, 0 };
    int64_t np;
    float *par = random_params(&c, seed, &np);
    float *rope = malloc(sizeof(float) * T * (embed / heads));
    tp_tf_rope_table(rope, coords, &c);
    const char *isa[3] = { "0", "avx2", "1" };
    int nth = omp_get_max_threads();
    for (int i = 0; i < nrows; i++) {
        const int rows = rowsv[i];
        uint8_t *tok = random_tokens(rows, T, c.states, seed + 10 + i);
        int32_t *site = malloc(sizeof(int32_t) * rows);
        tp_rng g;
        tp_rng_seed(&g, seed, 100 + i);
        for (int r = 0; r < rows; r++) site[r] = (int32_t)tp_rng_next_below(&g, (uint32_t)T);
        setenv("TEMPERA_CPU_BASELINE", "0", 1);
        float *want = cpu_forward(par, tok, coords, &c, rows, NULL);
        tp_tf_act_layout al;
        tp_tf_act_layout_init(&al, &c, rows);
        float *acts = malloc(sizeof(float) * al.n_acts);
        float *lp = malloc(sizeof(float) * rows * T * c.states), *lp0 = malloc(sizeof(float) * rows * T * c.states);
        for (int k = 0; k < 4; k++) {
            setenv("TEMPERA_CPU_BASELINE", isa[k < 3 ? k : 0], 1);
            if (k == 3) omp_set_num_threads(nth > 1 ? 1 : 2);
            ck_assert_int_eq(tp_tf_forward_site_cpu(acts, lp, tok, site, par, rope, &c, rows), TP_OK);
            omp_set_num_threads(nth);
            for (int r = 0; r < rows; r++) {
                const int64_t at = ((int64_t)r * T + site[r]) * c.states;
                for (int s = 0; s < c.states; s++) {
                    if (k == 0) lp0[at + s] = lp[at + s];
                    /* depth 1 (the table): the attention sums run in another
                     * order than the full pass's, but the same on every ISA
                     * and thread count */
                    ck_assert_msg(depth == 1 ? lp[at + s] == lp0[at + s] && tp_close(lp[at + s], want[at + s],
                                                                                   TP_TOL_F32_NET)
                                             : lp[at + s] == want[at + s],
                                  "ls %d axes %d depth %d rows %d isa %d: row %d site %d state %d: %.9g vs %.9g",
                                  layerscale, axes, depth, rows, k, r, site[r], s, lp[at + s], want[at + s]);
                }
            }
        }
        free(tok); free(site); free(want); free(acts); free(lp); free(lp0);
    }
    unsetenv("TEMPERA_CPU_BASELINE");
    free(coords); free(par); free(rope);
}

START_TEST(test_tf_site_forward_matches_full) {
    int p1[1] = { 12 }, p2[2] = { 3, 4 }, p3[3] = { 4, 4, 4 }, p16[2] = { 16, 16 };
    const int r12[5] = { 1, 20, 21, 22, 50 }, r64[4] = { 1, 4, 5, 9 }, r256[2] = { 1, 3 };
    for (int ls = 0; ls < 2; ls++)
        for (int depth = 1; depth <= 3; depth += 2) {
            site_vs_full(ls, 1, depth, p1, 16, 2, r12, 5, 11 + ls + depth);
            site_vs_full(ls, 2, depth, p2, 16, 2, r12, 5, 21 + ls + depth);
            site_vs_full(ls, 3, depth, p3, 24, 2, r64, 4, 31 + ls + depth);
        }
    site_vs_full(1, 2, 2, p16, 16, 1, r256, 2, 41);
    site_vs_full(0, 2, 1, p16, 32, 4, r256, 2, 43);   /* one block: the sampling table, T = 256 */
    /* sites outside 0..T-1 are refused */
    tp_tf_config c = { 2, 4, 8, 1, 2, 1, 0, 0 };
    int64_t np;
    float *par = random_params(&c, 1, &np);
    tp_tf_act_layout al;
    tp_tf_act_layout_init(&al, &c, 1);
    float *acts = malloc(sizeof(float) * al.n_acts), logp[8], rope[16] = { 0 };
    uint8_t tok[4] = { 0, 1, 2, 0 };
    int32_t bad = 4;
    ck_assert_int_eq(tp_tf_forward_site_cpu(acts, logp, tok, &bad, par, rope, &c, 1), TP_ERR_ARG);
    free(par); free(acts);
}
END_TEST

/* The CUDA sampling forward (tp_tf_forward_site_cuda) at each row's site
 * against (a) the CUDA full forward and (b) the CPU sampling forward, on
 * random tokens (mask included) and sites.  Neither is bit for bit: the
 * products of the last block run on other shapes in cuBLAS (K/V only, one
 * query a row), and the CPU sums in other orders, so both comparisons use
 * the whole-network CUDA tolerance. */
static void site_cuda_case(int layerscale, int axes, int depth, const int *per, int states, int embed, int heads,
                           int rows, uint64_t seed) {
    int T;
    float *coords = box_coords(per, axes, &T);
    tp_tf_config c = { states, T, embed, depth, heads, axes, layerscale, 0 };
    int64_t np;
    float *par = random_params(&c, seed, &np);
    float *rope = malloc(sizeof(float) * T * (embed / heads));
    tp_tf_rope_table(rope, coords, &c);
    uint8_t *tok = random_tokens(rows, T, c.states, seed + 1);
    int32_t *site = malloc(sizeof(int32_t) * rows);
    tp_rng g;
    tp_rng_seed(&g, seed, 200);
    for (int r = 0; r < rows; r++) site[r] = (int32_t)tp_rng_next_below(&g, (uint32_t)T);
    if (rows > 1) { site[0] = 0; site[rows - 1] = T - 1; }   /* both ends of the row */
    tp_tf_act_layout al;
    tp_tf_act_layout_init(&al, &c, rows);
    const int64_t nl = (int64_t)rows * T * c.states;
    float *acts = malloc(sizeof(float) * al.n_acts), *want = malloc(sizeof(float) * nl);
    ck_assert_int_eq(tp_tf_forward_site_cpu(acts, want, tok, site, par, rope, &c, rows), TP_OK);

    const tp_device D = TP_DEVICE_CUDA;
    float *d_par = tp_mem_alloc(D, sizeof(float) * np), *d_rope = tp_mem_alloc(D, sizeof(float) * T * (embed / heads));
    uint8_t *d_tok = tp_mem_alloc(D, (size_t)rows * T);
    int32_t *d_site = tp_mem_alloc(D, sizeof(int32_t) * rows);
    float *d_acts = tp_mem_alloc(D, sizeof(float) * al.n_acts);
    float *d_full = tp_mem_alloc(D, sizeof(float) * nl), *d_lp = tp_mem_alloc(D, sizeof(float) * nl);
    ck_assert(d_par && d_rope && d_tok && d_site && d_acts && d_full && d_lp);
    ck_assert_int_eq(tp_mem_copy(d_par, D, par, TP_DEVICE_CPU, sizeof(float) * np), TP_OK);
    ck_assert_int_eq(tp_mem_copy(d_rope, D, rope, TP_DEVICE_CPU, sizeof(float) * T * (embed / heads)), TP_OK);
    ck_assert_int_eq(tp_mem_copy(d_tok, D, tok, TP_DEVICE_CPU, (size_t)rows * T), TP_OK);
    ck_assert_int_eq(tp_mem_copy(d_site, D, site, TP_DEVICE_CPU, sizeof(int32_t) * rows), TP_OK);
    ck_assert_int_eq(tp_tf_forward_cuda(d_acts, d_full, d_tok, d_par, d_rope, &c, rows, NULL), TP_OK);
    ck_assert_int_eq(tp_tf_forward_site_cuda(d_acts, d_lp, d_tok, d_site, d_par, d_rope, &c, rows, NULL), TP_OK);
    ck_assert_int_eq(tp_cuda_sync(), TP_OK);
    float *full = malloc(sizeof(float) * nl), *lp = malloc(sizeof(float) * nl);
    ck_assert_int_eq(tp_mem_copy(full, TP_DEVICE_CPU, d_full, D, sizeof(float) * nl), TP_OK);
    ck_assert_int_eq(tp_mem_copy(lp, TP_DEVICE_CPU, d_lp, D, sizeof(float) * nl), TP_OK);
    for (int r = 0; r < rows; r++) {
        const int64_t at = ((int64_t)r * T + site[r]) * c.states;
        double z = 0;
        for (int s = 0; s < c.states; s++) {
            ck_assert_msg(tp_close(lp[at + s], full[at + s], TP_TOL_CUDA_F32_NET),
                          "ls %d axes %d depth %d rows %d: row %d site %d state %d: site %.9g, cuda full %.9g",
                          layerscale, axes, depth, rows, r, site[r], s, lp[at + s], full[at + s]);
            ck_assert_msg(tp_close(lp[at + s], want[at + s], TP_TOL_CUDA_F32_NET),
                          "ls %d axes %d depth %d rows %d: row %d site %d state %d: cuda %.9g, cpu %.9g",
                          layerscale, axes, depth, rows, r, site[r], s, lp[at + s], want[at + s]);
            z += exp(lp[at + s]);
        }
        ck_assert(tp_close(z, 1.0, TP_TOL_F32));
    }
    /* no rows: nothing to do; rows without sites: refused */
    ck_assert_int_eq(tp_tf_forward_site_cuda(d_acts, d_lp, d_tok, d_site, d_par, d_rope, &c, 0, NULL), TP_OK);
    ck_assert_int_eq(tp_tf_forward_site_cuda(d_acts, d_lp, d_tok, NULL, d_par, d_rope, &c, rows, NULL), TP_ERR_ARG);
    tp_mem_free(D, d_par); tp_mem_free(D, d_rope); tp_mem_free(D, d_tok); tp_mem_free(D, d_site);
    tp_mem_free(D, d_acts); tp_mem_free(D, d_full); tp_mem_free(D, d_lp);
    free(coords); free(par); free(rope); free(tok); free(site); free(acts); free(want); free(full); free(lp);
}

/* Configurations: depth 1 (no shared blocks), 2 and 3, with and without
 * LayerScale, 1-D/2-D/3-D RoPE, one and two heads, 1 to 21 rows, 7 states
 * (a wider head), and a 16x16 lattice (256 keys: more keys than threads
 * in the attention block). */
START_TEST(test_tf_site_forward_cuda) {
    if (!tp_cuda_compiled() || tp_cuda_device_count() == 0) TP_TEST_SKIP("no CUDA device");
    int p1[1] = { 12 }, p2[2] = { 3, 4 }, p3[3] = { 4, 4, 4 }, p4[1] = { 4 }, p16[2] = { 16, 16 };
    for (int ls = 0; ls < 2; ls++)
        for (int depth = 1; depth <= 3; depth += 2) {
            site_cuda_case(ls, 1, depth, p1, 3, 16, 2, 21, 11 + ls + depth);
            site_cuda_case(ls, 2, depth, p2, 3, 16, 2, 1, 21 + ls + depth);
            site_cuda_case(ls, 3, depth, p3, 3, 24, 2, 9, 31 + ls + depth);
        }
    site_cuda_case(1, 1, 2, p4, 7, 8, 1, 5, 41);
    site_cuda_case(1, 2, 2, p16, 3, 16, 1, 3, 51);
    /* tiled attention (forced) in the shared blocks */
    tp_tf_set_tiled_min(1);
    site_cuda_case(0, 1, 3, p1, 3, 16, 2, 21, 61);
    site_cuda_case(1, 3, 2, p3, 3, 24, 2, 9, 62);
    tp_tf_set_tiled_min(0);
}
END_TEST

/* Tiled attention (tp_tf_tiled: no (T, T) matrix kept, probabilities
 * recomputed in the backward) forced at small sizes: the forward against
 * the naive double model, every gradient against central differences,
 * bit-identical results on every ISA and thread count, and the sampling
 * forward at each row's site equal to the full pass bit for bit (the
 * sampling table of one block as before). */
START_TEST(test_tf_tiled_small) {
    tp_tf_set_tiled_min(1);
    tp_tf_config c0 = { 3, 12, 8, 1, 2, 1, 0, 0 };
    tp_tf_act_layout al;
    tp_tf_act_layout_init(&al, &c0, 2);
    ck_assert_msg(al.tiled == 1, "tiled attention not selected");
    forward_vs_naive(0, 2);
    forward_vs_naive(1, 3);
    backward_fd(0, 2);
    backward_fd(1, 1);
    isa_threads_case();
    int p1[1] = { 12 }, p3[3] = { 4, 4, 4 };
    const int r12[3] = { 1, 21, 50 }, r64[2] = { 1, 5 };
    site_vs_full(0, 1, 3, p1, 16, 2, r12, 3, 51);
    site_vs_full(1, 3, 2, p3, 24, 2, r64, 2, 52);
    site_vs_full(0, 1, 1, p1, 16, 2, r12, 3, 53);
    tp_tf_set_tiled_min(0);
    ck_assert_int_eq(tp_tf_tiled_min(), TP_TF_TILED_MIN);
}
END_TEST

/* From TP_TF_TILED_MIN sites on, attention is tiled by default: at T = 520
 * (a 1-D chain) the activations shrink by the (T, T) matrices, and logp
 * and every gradient agree with the full pass (forced) to float rounding. */
START_TEST(test_tf_tiled_long_rows) {
    int per[1] = { 520 }, T;
    float *coords = box_coords(per, 1, &T);
    tp_tf_config c = { 3, T, 16, 2, 2, 1, 1, 0 };
    const int rows = 2;
    ck_assert(tp_tf_tiled(&c));
    int64_t np;
    float *par = random_params(&c, 61, &np);
    uint8_t *tok = random_tokens(rows, T, c.states, 62);
    const int nl = rows * T * c.states;
    float *cw = malloc(sizeof(float) * nl);
    for (int i = 0; i < nl; i++) cw[i] = (float)(i % 7) * 0.125f - 0.375f;
    float *rope = malloc(sizeof(float) * T * (c.embed / c.heads));
    tp_tf_rope_table(rope, coords, &c);
    float *scratch = malloc(sizeof(float) * tp_tf_scratch_size(&c, rows));
    float *lp[2], *gr[2];
    int64_t nacts[2];
    for (int k = 0; k < 2; k++) {
        tp_tf_set_tiled_min(k == 0 ? 0 : 100000);   /* k = 0 tiled (default), 1 the full matrices */
        tp_tf_act_layout al;
        tp_tf_act_layout_init(&al, &c, rows);
        ck_assert_int_eq(al.tiled, k == 0);
        nacts[k] = al.n_acts;
        float *acts;
        lp[k] = cpu_forward(par, tok, coords, &c, rows, &acts);
        gr[k] = calloc(np, sizeof(float));
        ck_assert_int_eq(tp_tf_backward_cpu(gr[k], scratch, cw, lp[k], acts, tok, par, rope, &c, rows), TP_OK);
        free(acts);
    }
    tp_tf_set_tiled_min(0);
    ck_assert_int_eq(nacts[1] - nacts[0], (int64_t)2 * rows * c.heads * T * (T - 1));
    for (int i = 0; i < nl; i++)
        ck_assert_msg(tp_close(lp[0][i], lp[1][i], TP_TOL_F32_NET), "logp[%d]: tiled %.9g, full %.9g", i,
                      lp[0][i], lp[1][i]);
    double gmax = 0;
    for (int64_t i = 0; i < np; i++) gmax = fmax(gmax, fabs(gr[1][i]));
    for (int64_t i = 0; i < np; i++)
        ck_assert_msg(fabs(gr[0][i] - gr[1][i]) <= 1e-4 * gmax + 1e-3 * fabs(gr[1][i]),
                      "grad[%lld]: tiled %.9g, full %.9g (max %.3g)", (long long)i, gr[0][i], gr[1][i], gmax);
    for (int k = 0; k < 2; k++) { free(lp[k]); free(gr[k]); }
    free(coords); free(par); free(tok); free(cw); free(rope); free(scratch);
}
END_TEST

/* The backward accumulates (+=) into grads: two calls give twice the gradient
 * (used to process big batches chunk by chunk). */
START_TEST(test_tf_backward_accumulates) {
    int per[1] = { 5 }, T;
    float *coords = box_coords(per, 1, &T);
    tp_tf_config c = { 2, T, 8, 1, 2, 1, 0, 0 };
    int64_t np;
    float *par = random_params(&c, 4, &np);
    uint8_t *tok = random_tokens(2, T, 2, 1);
    float *acts;
    float *logp = cpu_forward(par, tok, coords, &c, 2, &acts);
    float *cw = malloc(sizeof(float) * 2 * T * 2);
    for (int i = 0; i < 2 * T * 2; i++) cw[i] = (float)(i % 3) - 1.0f;
    float *g1 = calloc(np, sizeof(float)), *g2 = calloc(np, sizeof(float));
    float *scratch = malloc(sizeof(float) * tp_tf_scratch_size(&c, 2));
    float *rope = malloc(sizeof(float) * T * 4);
    tp_tf_rope_table(rope, coords, &c);
    tp_tf_backward_cpu(g1, scratch, cw, logp, acts, tok, par, rope, &c, 2);
    tp_tf_backward_cpu(g2, scratch, cw, logp, acts, tok, par, rope, &c, 2);
    tp_tf_backward_cpu(g2, scratch, cw, logp, acts, tok, par, rope, &c, 2);
    for (int64_t i = 0; i < np; i++) ck_assert(tp_close(g2[i], 2.0 * g1[i], TP_TOL_F32));
    free(coords); free(par); free(tok); free(acts); free(logp); free(cw); free(g1); free(g2);
    free(scratch); free(rope);
}
END_TEST

/* Translation equivariance: shifting the configuration by t along an axis
 * shifts every site's output with it.  Also checks the converse, that the
 * network is NOT invariant under a non-translation permutation (a model
 * without positional information would pass the first check trivially). */
static void equivariance(int axes, const int *per) {
    int T;
    float *coords = box_coords(per, axes, &T);
    tp_tf_config c = { 3, T, 24, 2, 2, axes, 1, 0 };
    int rows = 2;
    int64_t np;
    float *par = random_params(&c, 31, &np);
    uint8_t *tok = random_tokens(rows, T, c.states, 13);
    float *lp0 = cpu_forward(par, tok, coords, &c, rows, NULL);
    int strides[3];
    strides[axes - 1] = 1;
    for (int a = axes - 2; a >= 0; a--) strides[a] = strides[a + 1] * per[a + 1];
    uint8_t *sh = malloc((size_t)rows * T);
    int q = c.states;
    for (int a = 0; a < axes; a++)
        for (int shift = 1; shift < per[a]; shift++) {
            /* site s moves to s' with coordinate_a + shift (mod per[a]) */
            int *dst = malloc(sizeof(int) * T);
            for (int s = 0; s < T; s++) {
                int xa = (s / strides[a]) % per[a];
                dst[s] = s + (((xa + shift) % per[a]) - xa) * strides[a];
            }
            for (int r = 0; r < rows; r++)
                for (int s = 0; s < T; s++) sh[r * T + dst[s]] = tok[r * T + s];
            float *lp1 = cpu_forward(par, sh, coords, &c, rows, NULL);
            for (int r = 0; r < rows; r++)
                for (int s = 0; s < T; s++)
                    for (int k = 0; k < q; k++) {
                        float got = lp1[((long)r * T + dst[s]) * q + k], want = lp0[((long)r * T + s) * q + k];
                        ck_assert_msg(tp_close(got, want, TP_TOL_F32_NET),
                                      "axis %d shift %d site %d: %.9g vs %.9g", a, shift, s, got, want);
                    }
            free(lp1); free(dst);
        }
    /* swap sites 0 and 1 (not a translation) in configurations where they
     * differ: outputs must not simply follow the permutation */
    memcpy(sh, tok, (size_t)rows * T);
    for (int r = 0; r < rows; r++) {
        if (sh[r * T] == sh[r * T + 1]) sh[r * T + 1] = (uint8_t)((sh[r * T] + 1) % q);
    }
    memcpy(tok, sh, (size_t)rows * T);
    free(lp0);
    lp0 = cpu_forward(par, tok, coords, &c, rows, NULL);
    for (int r = 0; r < rows; r++) { sh[r * T] = tok[r * T + 1]; sh[r * T + 1] = tok[r * T]; }
    float *lp2 = cpu_forward(par, sh, coords, &c, rows, NULL);
    double maxdiff = 0;
    for (int r = 0; r < rows; r++)
        for (int s = 0; s < T; s++) {
            int ps = s == 0 ? 1 : s == 1 ? 0 : s;
            for (int k = 0; k < q; k++)
                maxdiff = fmax(maxdiff, fabs(lp2[((long)r * T + ps) * q + k] - lp0[((long)r * T + s) * q + k]));
        }
    ck_assert_msg(maxdiff > 1e-4, "network output insensitive to a site permutation");
    free(lp2); free(sh); free(coords); free(par); free(tok); free(lp0);
}

START_TEST(test_tf_rope_equivariance_1d) { int per[1] = { 7 }; equivariance(1, per); }
END_TEST
START_TEST(test_tf_rope_equivariance_2d) { int per[2] = { 3, 4 }; equivariance(2, per); }
END_TEST
START_TEST(test_tf_rope_equivariance_3d) { int per[3] = { 2, 3, 2 }; equivariance(3, per); }
END_TEST

/* Fractional coordinates are periodic with period 1 (FCC supercells): u and
 * u + 1 (and u - 2) give the same rotation table exactly; the pair split
 * follows tempera-nn(5) (head dim 16 over 3 axes: 6/6/4 features). */
START_TEST(test_tf_rope_table_periodic) {
    tp_tf_config c = { 2, 2, 32, 1, 2, 3, 0, 0 };   /* head dim 16 */
    float u[6] = { 0.25f, 0.5f, 0.125f, 1.25f, -1.5f, 2.125f };
    float rope[2 * 8 * 2];
    tp_tf_rope_table(rope, u, &c);
    for (int i = 0; i < 16; i++) ck_assert_float_eq(rope[i], rope[16 + i]);
    /* pair 0..2 -> axis 0 harmonics 1..3, 3..5 -> axis 1, 6..7 -> axis 2 */
    int axis_of[8] = { 0, 0, 0, 1, 1, 1, 2, 2 }, harm[8] = { 1, 2, 3, 1, 2, 3, 1, 2 };
    for (int p = 0; p < 8; p++) {
        double ang = 2 * M_PI * harm[p] * u[axis_of[p]];
        ck_assert(tp_close(rope[2 * p], cos(ang), TP_TOL_F32));
        ck_assert(tp_close(rope[2 * p + 1], sin(ang), TP_TOL_F32));
    }
}
END_TEST

START_TEST(test_tf_config_rejects_bad) {
    tp_tf_config ok = { 2, 4, 8, 1, 2, 2, 0, 0 };
    ck_assert_int_eq(tp_tf_config_check(&ok), TP_OK);
    tp_tf_config c = ok; c.heads = 3;
    ck_assert_int_eq(tp_tf_config_check(&c), TP_ERR_ARG);
    c = ok; c.axes = 4;
    ck_assert_int_eq(tp_tf_config_check(&c), TP_ERR_ARG);
    c = ok; c.embed = 4; c.heads = 2; c.axes = 2;   /* head dim 2 < 2*axes */
    ck_assert_int_eq(tp_tf_config_check(&c), TP_ERR_ARG);
    c = ok; c.states = 1;
    ck_assert_int_eq(tp_tf_config_check(&c), TP_ERR_ARG);
    /* a token above the mask is refused, not read out of bounds */
    float coords[4] = { 0, 0.5f, 0.25f, 0.75f };
    int64_t np;
    tp_tf_config c1 = { 2, 4, 8, 1, 2, 1, 0, 0 };
    float *par = random_params(&c1, 1, &np);
    uint8_t tok[4] = { 0, 1, 2, 3 };
    tp_tf_act_layout al;
    tp_tf_act_layout_init(&al, &c1, 1);
    float *acts = malloc(sizeof(float) * al.n_acts), logp[8], rope[16];
    tp_tf_rope_table(rope, coords, &c1);
    ck_assert_int_eq(tp_tf_forward_cpu(acts, logp, tok, par, rope, &c1, 1), TP_ERR_ARG);
    free(par); free(acts);
}
END_TEST

/* subnormal floats are flushed to zero on every thread of the team (they
 * made a training step with spread-out log-weights 5x slower) */
START_TEST(test_subnormals_flushed) {
    tp_cpu_flush_subnormals();
    int kept = 0;
    #pragma omp parallel num_threads(3) reduction(+ : kept)
    {
        volatile float a = 1e-30f, b = 1e-10f;
        volatile float p = a * b;        /* 1e-40: subnormal */
        volatile float d = 1e-40f;       /* a subnormal operand */
        kept += (p != 0.0f) + (d * 1.0f != 0.0f);
    }
    ck_assert_int_eq(kept, 0);
}
END_TEST

Suite *transformer_suite(void) {
    Suite *s = suite_create("transformer");
    TCase *tc = tp_test_tcase("cpu", 60);
    tcase_add_test(tc, test_tf_forward_matches_naive);
    tcase_add_test(tc, test_subnormals_flushed);
    tcase_add_test(tc, test_tf_forward_matches_naive_layerscale);
    tcase_add_test(tc, test_tf_backward_fd);
    tcase_add_test(tc, test_tf_backward_fd_layerscale);
    tcase_add_test(tc, test_tf_baseline_isa);
    tcase_add_test(tc, test_tf_fast_erf_accuracy);
    tcase_add_test(tc, test_tf_isa_and_threads_bit_identical);
    tcase_add_test(tc, test_tf_site_forward_matches_full);
    tcase_add_test(tc, test_tf_tiled_small);
    tcase_add_test(tc, test_tf_tiled_long_rows);
    tcase_add_test(tc, test_tf_backward_accumulates);
    tcase_add_test(tc, test_tf_rope_equivariance_1d);
    tcase_add_test(tc, test_tf_rope_equivariance_2d);
    tcase_add_test(tc, test_tf_rope_equivariance_3d);
    tcase_add_test(tc, test_tf_rope_table_periodic);
    tcase_add_test(tc, test_tf_config_rejects_bad);
    suite_add_tcase(s, tc);
    /* CUDA against CPU (skipped without a device) */
    TCase *tg = tp_test_tcase("cuda", 120);
    tcase_add_test(tg, test_tf_site_forward_cuda);
    suite_add_tcase(s, tg);
    return s;
}
