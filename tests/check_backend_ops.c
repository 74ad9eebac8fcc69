/*
 * tests/check_backend_ops.c -- the cross-backend table (tempera-nn(5), Backends): every
 * CUDA kernel against its CPU reference on the same random inputs, plus a
 * whole WDCE training step and sampling through two networks, one per
 * backend.  Each case initialises CUDA itself (Check forks) and is skipped
 * with "skipped: no CUDA device" when none exists.
 */
#include "check_util.h"
#include "tolerance.h"
#include "backend.h"
#include "cuda.h"
#include "net.h"
#include "cond.h"
#include "philox.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NEED_CUDA() do { \
        if (!tp_cuda_compiled() || tp_cuda_device_count() == 0) TP_TEST_SKIP("no CUDA device"); \
    } while (0)

static void *to_dev(const void *h, size_t bytes) {
    void *d = tp_mem_alloc(TP_DEVICE_CUDA, bytes);
    ck_assert_ptr_nonnull(d);
    ck_assert_int_eq(tp_mem_copy(d, TP_DEVICE_CUDA, h, TP_DEVICE_CPU, bytes), TP_OK);
    return d;
}

static void *from_dev(const void *d, size_t bytes) {
    void *h = malloc(bytes);
    ck_assert_int_eq(tp_mem_copy(h, TP_DEVICE_CPU, d, TP_DEVICE_CUDA, bytes), TP_OK);
    return h;
}

static void fill(float *x, int64_t n, uint64_t seed, float lo, float hi) {
    tp_rng r;
    tp_rng_seed(&r, seed, 1);
    for (int64_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * tp_rng_next_float(&r);
}

/* max violation of tol, reported by name */
static void compare(const char *what, const float *got, const float *want, int64_t n, tp_tol tol) {
    for (int64_t i = 0; i < n; i++)
        ck_assert_msg(tp_close(got[i], want[i], tol), "%s[%lld]: cuda %.9g, cpu %.9g", what, (long long)i,
                      got[i], want[i]);
}

/* whole-tensor normalised mean squared error (ggml's NMSE) */
static double nmse(const float *got, const float *want, int64_t n) {
    double e = 0, s = 0;
    for (int64_t i = 0; i < n; i++) { e += (got[i] - want[i]) * (double)(got[i] - want[i]); s += (double)want[i] * want[i]; }
    return s > 0 ? e / s : e;
}

static tp_tf_config tf_case(int T, int axes, int layerscale) {
    tp_tf_config c = { 3, T, 32, 2, 4, axes, layerscale, 0 };
    return c;
}

static void transformer_case(int layerscale) {
    enum { ROWS = 3 };
    const int L = 4, T = L * L;
    tp_tf_config c = tf_case(T, 2, layerscale);
    tp_tf_layout lay;
    tp_tf_layout_init(&lay, &c);
    tp_tf_act_layout al;
    tp_tf_act_layout_init(&al, &c, ROWS);
    int64_t np = lay.n_params, na = al.n_acts, ns = tp_tf_scratch_size(&c, ROWS), nl = (int64_t)ROWS * T * c.states;
    float *par = malloc(sizeof(float) * np), coords[2 * 16], rope[16 * 4 * 2];
    tp_tf_init_params(par, &c, 3, 0.5f);
    fill(par, np, 4, -0.2f, 0.2f);
    for (int s = 0; s < T; s++) { coords[2 * s] = (float)(s / L) / L; coords[2 * s + 1] = (float)(s % L) / L; }
    tp_tf_rope_table(rope, coords, &c);
    uint8_t tok[ROWS * 16];
    for (int i = 0; i < ROWS * T; i++) tok[i] = (uint8_t)((i * 7 + 3) % (c.states + 1));
    float *acts = malloc(sizeof(float) * na), *logp = malloc(sizeof(float) * nl);
    float *dlogp = malloc(sizeof(float) * nl), *grads = calloc(np, sizeof(float)), *scr = malloc(sizeof(float) * ns);
    fill(dlogp, nl, 5, -1, 1);
    ck_assert_int_eq(tp_tf_forward_cpu(acts, logp, tok, par, rope, &c, ROWS), TP_OK);
    ck_assert_int_eq(tp_tf_backward_cpu(grads, scr, dlogp, logp, acts, tok, par, rope, &c, ROWS), TP_OK);

    float *d_par = to_dev(par, sizeof(float) * np), *d_rope = to_dev(rope, sizeof rope);
    uint8_t *d_tok = to_dev(tok, sizeof tok);
    float *d_acts = tp_mem_alloc(TP_DEVICE_CUDA, sizeof(float) * na);
    float *d_logp = tp_mem_alloc(TP_DEVICE_CUDA, sizeof(float) * nl), *d_dlogp = to_dev(dlogp, sizeof(float) * nl);
    float *d_grads = tp_mem_alloc(TP_DEVICE_CUDA, sizeof(float) * np), *d_scr = tp_mem_alloc(TP_DEVICE_CUDA, sizeof(float) * ns);
    ck_assert_int_eq(tp_tf_forward_cuda(d_acts, d_logp, d_tok, d_par, d_rope, &c, ROWS, NULL), TP_OK);
    ck_assert_int_eq(tp_tf_backward_cuda(d_grads, d_scr, d_dlogp, d_logp, d_acts, d_tok, d_par, d_rope, &c, ROWS, NULL), TP_OK);
    ck_assert_int_eq(tp_cuda_sync(), TP_OK);
    float *h_acts = from_dev(d_acts, sizeof(float) * na), *h_logp = from_dev(d_logp, sizeof(float) * nl);
    float *h_grads = from_dev(d_grads, sizeof(float) * np);
    compare("logp", h_logp, logp, nl, TP_TOL_CUDA_F32_NET);
    compare("activations", h_acts, acts, na, TP_TOL_CUDA_F32_NET);
    compare("grads", h_grads, grads, np, TP_TOL_CUDA_F32_GRAD);
    ck_assert(nmse(h_grads, grads, np) < 1e-9);
    tp_mem_free(TP_DEVICE_CUDA, d_par); tp_mem_free(TP_DEVICE_CUDA, d_rope); tp_mem_free(TP_DEVICE_CUDA, d_tok);
    tp_mem_free(TP_DEVICE_CUDA, d_acts); tp_mem_free(TP_DEVICE_CUDA, d_logp); tp_mem_free(TP_DEVICE_CUDA, d_dlogp);
    tp_mem_free(TP_DEVICE_CUDA, d_grads); tp_mem_free(TP_DEVICE_CUDA, d_scr);
    free(par); free(acts); free(logp); free(dlogp); free(grads); free(scr); free(h_acts); free(h_logp); free(h_grads);
}

START_TEST(test_backend_transformer) { NEED_CUDA(); transformer_case(0); }
END_TEST
START_TEST(test_backend_transformer_layerscale) { NEED_CUDA(); transformer_case(1); }
END_TEST
/* tiled attention (kernels/transformer.h, forced at T = 16): log-sum-exp
 * instead of the (T, T) matrices, probabilities recomputed in the backward */
START_TEST(test_backend_transformer_tiled) {
    NEED_CUDA();
    tp_tf_set_tiled_min(1);
    transformer_case(1);
    transformer_case(0);
    tp_tf_set_tiled_min(0);
}
END_TEST

START_TEST(test_backend_masked_nll) {
    NEED_CUDA();
    enum { ROWS = 7, T = 33, Q = 3 };
    float logp[ROWS * T * Q], g_cpu[ROWS * T * Q];
    uint8_t tgt[ROWS * T], in[ROWS * T];
    double rw[ROWS], l_cpu, l_cuda;
    fill(logp, ROWS * T * Q, 8, -4, 0);
    for (int i = 0; i < ROWS * T; i++) { tgt[i] = (uint8_t)(i % Q); in[i] = (i % 3 == 0) ? Q : tgt[i]; }
    for (int r = 0; r < ROWS; r++) rw[r] = 0.1 * (r + 1);
    for (int all = 0; all < 2; all++) {
        ck_assert_int_eq(tp_loss_masked_nll_cpu(&l_cpu, g_cpu, logp, tgt, in, rw, ROWS, T, Q, all), TP_OK);
        float *d_lp = to_dev(logp, sizeof logp), *d_g = tp_mem_alloc(TP_DEVICE_CUDA, sizeof g_cpu);
        uint8_t *d_t = to_dev(tgt, sizeof tgt), *d_i = to_dev(in, sizeof in);
        double *d_rw = to_dev(rw, sizeof rw);
        ck_assert_int_eq(tp_loss_masked_nll_cuda(&l_cuda, d_g, d_lp, d_t, d_i, d_rw, ROWS, T, Q, all, NULL), TP_OK);
        float *g = from_dev(d_g, sizeof g_cpu);
        ck_assert(tp_close(l_cuda, l_cpu, TP_TOL_F64));   /* double sums of the same floats */
        compare("dlogp", g, g_cpu, ROWS * T * Q, TP_TOL_CUDA_F32);
        free(g);
        tp_mem_free(TP_DEVICE_CUDA, d_lp); tp_mem_free(TP_DEVICE_CUDA, d_g); tp_mem_free(TP_DEVICE_CUDA, d_t);
        tp_mem_free(TP_DEVICE_CUDA, d_i); tp_mem_free(TP_DEVICE_CUDA, d_rw);
    }
}
END_TEST

START_TEST(test_backend_sample_step) {
    NEED_CUDA();
    enum { ROWS = 64, T = 5, Q = 3 };
    float logp[ROWS * T * Q], u[ROWS];
    for (int n = 0; n < ROWS * T; n++) {
        float a = 0.1f + 0.8f * (n % 7) / 7.0f, b = (1 - a) * 0.3f;
        logp[n * Q] = logf(a); logp[n * Q + 1] = logf(b); logp[n * Q + 2] = logf(1 - a - b);
    }
    fill(u, ROWS, 9, 0, 1);
    int32_t site[ROWS];
    for (int r = 0; r < ROWS; r++) site[r] = r % T;
    uint8_t w_cpu[ROWS * T], truth[ROWS * T];
    memset(w_cpu, Q, sizeof w_cpu);
    for (int i = 0; i < ROWS * T; i++) truth[i] = (uint8_t)(i % Q);
    for (int teacher = 0; teacher < 2; teacher++) {
        double lq_cpu[ROWS] = { 0 }, lq0[ROWS] = { 0 };
        uint8_t *d_w = to_dev(w_cpu, sizeof w_cpu), *d_truth = to_dev(truth, sizeof truth);
        double *d_lq = to_dev(lq0, sizeof lq0);
        float *d_lp = to_dev(logp, sizeof logp), *d_u = to_dev(u, sizeof u);
        int32_t *d_site = to_dev(site, sizeof site);
        ck_assert_int_eq(tp_loss_sample_step_cpu(w_cpu, lq_cpu, logp, teacher ? truth : NULL, site, u, ROWS, T, Q), TP_OK);
        ck_assert_int_eq(tp_loss_sample_step_cuda(d_w, d_lq, d_lp, teacher ? d_truth : NULL, d_site, d_u, ROWS, T, Q, NULL), TP_OK);
        uint8_t *w = from_dev(d_w, sizeof w_cpu);
        double *lq = from_dev(d_lq, sizeof lq0);
        ck_assert(memcmp(w, w_cpu, sizeof w_cpu) == 0);
        for (int r = 0; r < ROWS; r++) ck_assert(tp_close(lq[r], lq_cpu[r], TP_TOL_F64));
        free(w); free(lq);
        tp_mem_free(TP_DEVICE_CUDA, d_w); tp_mem_free(TP_DEVICE_CUDA, d_truth); tp_mem_free(TP_DEVICE_CUDA, d_lq);
        tp_mem_free(TP_DEVICE_CUDA, d_lp); tp_mem_free(TP_DEVICE_CUDA, d_u); tp_mem_free(TP_DEVICE_CUDA, d_site);
    }
}
END_TEST

START_TEST(test_backend_optim) {
    NEED_CUDA();
    enum { N = 10007 };
    float *p = malloc(sizeof(float) * N), *m = malloc(sizeof(float) * N), *v = malloc(sizeof(float) * N);
    float *g = malloc(sizeof(float) * N);
    fill(p, N, 1, -1, 1); fill(m, N, 2, -0.1f, 0.1f); fill(v, N, 3, 0, 0.01f); fill(g, N, 4, -1, 1);
    float *dp = to_dev(p, sizeof(float) * N), *dm = to_dev(m, sizeof(float) * N), *dv = to_dev(v, sizeof(float) * N);
    float *dg = to_dev(g, sizeof(float) * N);
    tp_adam_config ac = { 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 0 };
    ck_assert_int_eq(tp_optim_adam_cpu(p, m, v, g, &ac, 3, N), TP_OK);
    ck_assert_int_eq(tp_optim_adam_cuda(dp, dm, dv, dg, &ac, 3, N, NULL), TP_OK);
    float *hp = from_dev(dp, sizeof(float) * N), *hm = from_dev(dm, sizeof(float) * N), *hv = from_dev(dv, sizeof(float) * N);
    compare("adam p", hp, p, N, TP_TOL_CUDA_F32);
    compare("adam m", hm, m, N, TP_TOL_CUDA_F32);
    compare("adam v", hv, v, N, TP_TOL_CUDA_F32);
    ck_assert_int_eq(tp_optim_ema_cpu(m, p, 0.95f, N), TP_OK);
    ck_assert_int_eq(tp_optim_ema_cuda(dm, dp, 0.95f, N, NULL), TP_OK);
    free(hm);
    hm = from_dev(dm, sizeof(float) * N);
    compare("ema", hm, m, N, TP_TOL_CUDA_F32);
    double s_cpu, s_cuda;
    ck_assert_int_eq(tp_optim_sumsq_cpu(&s_cpu, g, N), TP_OK);
    ck_assert_int_eq(tp_optim_sumsq_cuda(&s_cuda, dg, N, NULL), TP_OK);
    ck_assert(tp_close(s_cuda, s_cpu, TP_TOL_F64));
    ck_assert_int_eq(tp_optim_scale_cpu(g, 0.3f, N), TP_OK);
    ck_assert_int_eq(tp_optim_scale_cuda(dg, 0.3f, N, NULL), TP_OK);
    float *hg = from_dev(dg, sizeof(float) * N);
    compare("scale", hg, g, N, TP_TOL_CUDA_F32);
    free(p); free(m); free(v); free(g); free(hp); free(hm); free(hv); free(hg);
    tp_mem_free(TP_DEVICE_CUDA, dp); tp_mem_free(TP_DEVICE_CUDA, dm); tp_mem_free(TP_DEVICE_CUDA, dv);
    tp_mem_free(TP_DEVICE_CUDA, dg);
}
END_TEST

/* Whole training steps and sampling through a CPU and a CUDA network with
 * the same seed: losses, parameters, EMA agree; samples agree token for
 * token while the two models' probabilities stay away from the inverse-CDF
 * thresholds (checked loosely: at most 1% of tokens may differ). */
START_TEST(test_backend_training_step) {
    NEED_CUDA();
    enum { L = 4, T = 16, B = 8, R = 4 };
    float coords[2 * T];
    for (int s = 0; s < T; s++) { coords[2 * s] = (float)(s / L) / L; coords[2 * s + 1] = (float)(s % L) / L; }
    tp_tf_config c = { 2, T, 32, 2, 4, 2, 1, 0 };
    tp_net *a = tp_net_init(&c, coords, 7, 0.5f, "cpu", 16);
    tp_net *b = tp_net_init(&c, coords, 7, 0.5f, "cuda", 16);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_str_eq(tp_net_backend_name(b), "cuda");
    uint8_t x[B * T];
    for (int i = 0; i < B * T; i++) x[i] = (uint8_t)((i * 3 + i / 7) % 2);
    double lr[B] = { 0, -1, 0.5, 0.2, -0.3, 1, 0, 0.1 };
    for (int it = 0; it < 3; it++) {
        double la, lb, na, nb;
        ck_assert_int_eq(tp_net_wdce_step(a, &la, &na, x, lr, B, R, 11, (uint64_t)it * 1000), TP_OK);
        ck_assert_int_eq(tp_net_wdce_step(b, &lb, &nb, x, lr, B, R, 11, (uint64_t)it * 1000), TP_OK);
        ck_assert_msg(tp_close(lb, la, TP_TOL_CUDA_F32_NET), "step %d loss cuda %.9g cpu %.9g", it, lb, la);
        ck_assert(na == nb);
    }
    int64_t np = tp_net_num_params(a);
    float *pa = malloc(sizeof(float) * np), *pb = malloc(sizeof(float) * np);
    const int which[3] = { TP_NET_PARAMS, TP_NET_EMA, TP_NET_ADAM_M };
    for (int k = 0; k < 3; k++) {
        tp_net_get(a, which[k], pa, np);
        tp_net_get(b, which[k], pb, np);
        compare(k == 0 ? "params" : k == 1 ? "ema" : "adam m", pb, pa, np, TP_TOL_CUDA_F32_STEP);
    }
    uint8_t sa[B * T], sb[B * T];
    double qa[B], qb[B];
    ck_assert_int_eq(tp_net_sample(a, sa, qa, B, 5, 0, 0, 1), TP_OK);
    ck_assert_int_eq(tp_net_sample(b, sb, qb, B, 5, 0, 0, 1), TP_OK);
    int diff = 0;
    for (int i = 0; i < B * T; i++) diff += sa[i] != sb[i];
    ck_assert_msg(diff <= B * T / 100, "%d of %d sampled tokens differ", diff, B * T);
    if (diff == 0)
        for (int r = 0; r < B; r++) ck_assert(tp_close(qb[r], qa[r], TP_TOL_CUDA_F32_NET));
    free(pa); free(pb);
    tp_net_free(a); tp_net_free(b);
}
END_TEST

/* conditioned transformer (a per-row embedding on every token) and the
 * condition MLP, CUDA against the CPU reference on the same inputs */
START_TEST(test_backend_transformer_cond) {
    NEED_CUDA();
    enum { ROWS = 3, K = 2 };
    const int L = 4, T = L * L;
    tp_tf_config c = tf_case(T, 2, 1);
    c.conds = K;
    tp_tf_layout lay;
    tp_tf_layout_init(&lay, &c);
    tp_tf_act_layout al;
    tp_tf_act_layout_init(&al, &c, ROWS);
    const int d = c.embed;
    int64_t np = lay.n_params, na = al.n_acts, ns = tp_tf_scratch_size(&c, ROWS), nl = (int64_t)ROWS * T * c.states;
    int64_t nca = tp_cond_act_size(&c, ROWS);
    float *par = malloc(sizeof(float) * np), coords[2 * 16], rope[16 * 4 * 2];
    tp_tf_init_params(par, &c, 3, 0.5f);
    fill(par, np, 4, -0.2f, 0.2f);
    for (int s = 0; s < T; s++) { coords[2 * s] = (float)(s / L) / L; coords[2 * s + 1] = (float)(s % L) / L; }
    tp_tf_rope_table(rope, coords, &c);
    uint8_t tok[ROWS * 16];
    for (int i = 0; i < ROWS * T; i++) tok[i] = (uint8_t)((i * 7 + 3) % (c.states + 1));
    float cond[ROWS * K] = { 0.3f, 0.0f, 0.45f, -0.2f, 1.1f, 0.7f };
    float *cemb = malloc(sizeof(float) * ROWS * d), *cacts = malloc(sizeof(float) * nca);
    float *dcemb = malloc(sizeof(float) * ROWS * d);
    float *acts = malloc(sizeof(float) * na), *logp = malloc(sizeof(float) * nl);
    float *dlogp = malloc(sizeof(float) * nl), *grads = calloc(np, sizeof(float)), *scr = malloc(sizeof(float) * ns);
    fill(dlogp, nl, 5, -1, 1);
    ck_assert_int_eq(tp_cond_forward_cpu(cemb, cacts, cond, par, &c, ROWS), TP_OK);
    ck_assert_int_eq(tp_tf_forward_cond_cpu(acts, logp, tok, cemb, par, rope, &c, ROWS), TP_OK);
    ck_assert_int_eq(tp_tf_backward_cond_cpu(grads, dcemb, scr, dlogp, logp, acts, tok, par, rope, &c, ROWS), TP_OK);
    ck_assert_int_eq(tp_cond_backward_cpu(grads, dcemb, cacts, par, &c, ROWS), TP_OK);

    float *d_par = to_dev(par, sizeof(float) * np), *d_rope = to_dev(rope, sizeof rope);
    uint8_t *d_tok = to_dev(tok, sizeof tok);
    float *d_cond = to_dev(cond, sizeof cond);
    float *d_cemb = tp_mem_alloc(TP_DEVICE_CUDA, sizeof(float) * ROWS * d);
    float *d_dcemb = tp_mem_alloc(TP_DEVICE_CUDA, sizeof(float) * ROWS * d);
    float *d_cacts = tp_mem_alloc(TP_DEVICE_CUDA, sizeof(float) * nca);
    float *d_acts = tp_mem_alloc(TP_DEVICE_CUDA, sizeof(float) * na);
    float *d_logp = tp_mem_alloc(TP_DEVICE_CUDA, sizeof(float) * nl), *d_dlogp = to_dev(dlogp, sizeof(float) * nl);
    float *d_grads = tp_mem_alloc(TP_DEVICE_CUDA, sizeof(float) * np), *d_scr = tp_mem_alloc(TP_DEVICE_CUDA, sizeof(float) * ns);
    ck_assert_int_eq(tp_mem_zero(TP_DEVICE_CUDA, d_grads, sizeof(float) * np), TP_OK);
    ck_assert_int_eq(tp_cond_forward_cuda(d_cemb, d_cacts, d_cond, d_par, &c, ROWS, NULL), TP_OK);
    ck_assert_int_eq(tp_tf_forward_cond_cuda(d_acts, d_logp, d_tok, d_cemb, d_par, d_rope, &c, ROWS, NULL), TP_OK);
    ck_assert_int_eq(tp_tf_backward_cond_cuda(d_grads, d_dcemb, d_scr, d_dlogp, d_logp, d_acts, d_tok, d_par, d_rope,
                                              &c, ROWS, NULL), TP_OK);
    ck_assert_int_eq(tp_cond_backward_cuda(d_grads, d_dcemb, d_cacts, d_par, &c, ROWS, NULL), TP_OK);
    ck_assert_int_eq(tp_cuda_sync(), TP_OK);
    float *h_cemb = from_dev(d_cemb, sizeof(float) * ROWS * d), *h_cacts = from_dev(d_cacts, sizeof(float) * nca);
    float *h_dcemb = from_dev(d_dcemb, sizeof(float) * ROWS * d);
    float *h_logp = from_dev(d_logp, sizeof(float) * nl), *h_grads = from_dev(d_grads, sizeof(float) * np);
    /* the MLP alone: same double sums of the same floats, device sin/erf */
    compare("cond acts", h_cacts, cacts, nca, TP_TOL_CUDA_F32);
    compare("cemb", h_cemb, cemb, ROWS * d, TP_TOL_CUDA_F32);
    compare("logp", h_logp, logp, nl, TP_TOL_CUDA_F32_NET);
    compare("dcemb", h_dcemb, dcemb, ROWS * d, TP_TOL_CUDA_F32_GRAD);
    compare("grads", h_grads, grads, np, TP_TOL_CUDA_F32_GRAD);
    compare("cond grads", h_grads + lay.cond_w1, grads + lay.cond_w1, np - lay.cond_w1, TP_TOL_CUDA_F32_GRAD);
    ck_assert(nmse(h_grads, grads, np) < 1e-9);
    void *dev[] = { d_par, d_rope, d_tok, d_cond, d_cemb, d_dcemb, d_cacts, d_acts, d_logp, d_dlogp, d_grads, d_scr };
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++) tp_mem_free(TP_DEVICE_CUDA, dev[i]);
    free(par); free(cemb); free(cacts); free(dcemb); free(acts); free(logp); free(dlogp); free(grads); free(scr);
    free(h_cemb); free(h_cacts); free(h_dcemb); free(h_logp); free(h_grads);
}
END_TEST

/* A whole conditioned REINFORCE step (sample along random orders, the
 * order gradient, Adam) through a CPU and a CUDA network with the same
 * seed and conditions: samples, log-likelihoods, losses and parameters
 * agree (samples loosely, as in test_backend_training_step). */
START_TEST(test_backend_reinforce_cond) {
    NEED_CUDA();
    enum { L = 3, T = 9, B = 8, K = 2 };
    float coords[2 * T], cond[B * K];
    for (int s = 0; s < T; s++) { coords[2 * s] = (float)(s / L) / L; coords[2 * s + 1] = (float)(s % L) / L; }
    for (int b = 0; b < B; b++) { cond[b * K] = 0.2f + 0.05f * b; cond[b * K + 1] = (b % 3) * 0.1f; }
    tp_tf_config c = { 2, T, 32, 2, 4, 2, 1, K };
    tp_net *a = tp_net_init(&c, coords, 7, 0.5f, "cpu", 16);
    tp_net *g = tp_net_init(&c, coords, 7, 0.5f, "cuda", 16);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(g);
    ck_assert_str_eq(tp_net_backend_name(g), "cuda");
    ck_assert_int_eq(tp_net_set_conditions(a, cond, B), TP_OK);
    ck_assert_int_eq(tp_net_set_conditions(g, cond, B), TP_OK);
    for (int it = 0; it < 3; it++) {
        uint8_t xa[B * T], xg[B * T];
        double qa[B], qg[B], la, lg, wa[B];
        ck_assert_int_eq(tp_net_sample(a, xa, qa, B, 5, (uint64_t)it * 100, 0, 0), TP_OK);
        ck_assert_int_eq(tp_net_sample(g, xg, qg, B, 5, (uint64_t)it * 100, 0, 0), TP_OK);
        int diff = 0;
        for (int i = 0; i < B * T; i++) diff += xa[i] != xg[i];
        ck_assert_msg(diff <= B * T / 50, "step %d: %d of %d sampled tokens differ", it, diff, B * T);
        /* the CPU's samples through both: REINFORCE weights from a fixed energy */
        for (int b = 0; b < B; b++) {
            int m = 0;
            for (int i = 0; i < T; i++) m += xa[b * T + i] ? 1 : -1;
            wa[b] = 0.1 * m - 0.3 * (b % 2);
        }
        double oa[B], og[B];
        ck_assert_int_eq(tp_net_order_grad(a, &la, oa, xa, wa, B, 5, (uint64_t)it * 100), TP_OK);
        ck_assert_int_eq(tp_net_order_grad(g, &lg, og, xa, wa, B, 5, (uint64_t)it * 100), TP_OK);
        ck_assert_msg(tp_close(lg, la, TP_TOL_CUDA_F32_NET), "step %d loss cuda %.9g cpu %.9g", it, lg, la);
        for (int b = 0; b < B; b++) {
            ck_assert(tp_close(og[b], oa[b], TP_TOL_CUDA_F32_NET));
            if (diff == 0) ck_assert(tp_close(qg[b], qa[b], TP_TOL_CUDA_F32_NET));
        }
        ck_assert_int_eq(tp_net_update(a, NULL), TP_OK);
        ck_assert_int_eq(tp_net_update(g, NULL), TP_OK);
    }
    int64_t np = tp_net_num_params(a);
    float *pa = malloc(sizeof(float) * np), *pg = malloc(sizeof(float) * np);
    tp_net_get(a, TP_NET_PARAMS, pa, np);
    tp_net_get(g, TP_NET_PARAMS, pg, np);
    compare("params", pg, pa, np, TP_TOL_CUDA_F32_STEP);
    free(pa); free(pg);
    tp_net_free(a); tp_net_free(g);
}
END_TEST

/* In-painting through a CPU and a CUDA network: rows with different masks
 * (one with nothing to fill, one with hidden sites), drawn and teacher
 * forced; given sites never change on either backend. */
START_TEST(test_backend_inpaint) {
    NEED_CUDA();
    enum { L = 3, T = 9, B = 6, Q = 2 };
    float coords[2 * T];
    for (int s = 0; s < T; s++) { coords[2 * s] = (float)(s / L) / L; coords[2 * s + 1] = (float)(s % L) / L; }
    tp_tf_config c = { Q, T, 32, 2, 4, 2, 1, 0 };
    tp_net *a = tp_net_init(&c, coords, 9, 0.5f, "cpu", 4);
    tp_net *g = tp_net_init(&c, coords, 9, 0.5f, "cuda", 4);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(g);
    uint8_t part[B * T], fill[B * T], xa[B * T], xg[B * T];
    for (int i = 0; i < B * T; i++) {
        int r = i / T;
        part[i] = r == 1 ? (uint8_t)(i % Q) : ((i * 5 + r) % 3 == 0 ? (uint8_t)(i % Q) : Q);
        fill[i] = (uint8_t)!(r == 4 && i % 4 == 0);
    }
    double qa[B], qg[B];
    memcpy(xa, part, sizeof part);
    memcpy(xg, part, sizeof part);
    ck_assert_int_eq(tp_net_inpaint(a, xa, qa, NULL, fill, B, 3, 10, 0), TP_OK);
    ck_assert_int_eq(tp_net_inpaint(g, xg, qg, NULL, fill, B, 3, 10, 0), TP_OK);
    int diff = 0;
    for (int i = 0; i < B * T; i++) {
        diff += xa[i] != xg[i];
        if (part[i] < Q || !fill[i]) ck_assert(xa[i] == part[i] && xg[i] == part[i]);
    }
    ck_assert_msg(diff <= B * T / 50, "%d of %d in-painted tokens differ", diff, B * T);
    ck_assert(qa[1] == 0 && qg[1] == 0);
    /* the CPU's completions scored on both */
    uint8_t ta[B * T], tg[B * T];
    memcpy(ta, part, sizeof part);
    memcpy(tg, part, sizeof part);
    ck_assert_int_eq(tp_net_inpaint(a, ta, qa, xa, fill, B, 3, 10, 0), TP_OK);
    ck_assert_int_eq(tp_net_inpaint(g, tg, qg, xa, fill, B, 3, 10, 0), TP_OK);
    ck_assert(memcmp(ta, tg, sizeof ta) == 0);
    for (int r = 0; r < B; r++) ck_assert(tp_close(qg[r], qa[r], TP_TOL_CUDA_F32_NET));
    tp_net_free(a); tp_net_free(g);
}
END_TEST

/* the backend table: CPU always; TEMPERA_BACKEND=cpu forces it */
START_TEST(test_backend_table) {
    ck_assert_ptr_nonnull(tp_backend_get("cpu"));
    ck_assert_str_eq(tp_backend_get("cpu")->name, "cpu");
    ck_assert_ptr_null(tp_backend_get("tpu"));
    ck_assert(tp_backend_available("cpu"));
    ck_assert_int_eq(tp_backend_available("cuda"), tp_cuda_compiled() && tp_cuda_device_count() > 0);
    setenv("TEMPERA_BACKEND", "cpu", 1);
    ck_assert_str_eq(tp_backend_default_name(), "cpu");
    ck_assert_str_eq(tp_backend_get(NULL)->name, "cpu");
    unsetenv("TEMPERA_BACKEND");
    if (!tp_backend_available("cuda")) ck_assert_ptr_null(tp_backend_get("cuda"));
}
END_TEST

/* the device probes and the sgemm rate the benchmarks divide by */
START_TEST(test_backend_device_probes) {
    NEED_CUDA();
    char name[256];
    ck_assert_int_eq(tp_cuda_device_name(0, name, sizeof name), TP_OK);
    ck_assert(strlen(name) > 0);
    ck_assert_int_ne(tp_cuda_device_name(tp_cuda_device_count(), name, sizeof name), TP_OK);
    ck_assert_int_ne(tp_cuda_device_name(0, name, 0), TP_OK);
    ck_assert_int_ge(tp_cuda_runtime_version(), 10000);
    double g = tp_tf_sgemm_gflops("cuda", 64, 2);
    ck_assert_msg(g > 0 && isfinite(g), "sgemm rate %g", g);
}
END_TEST

Suite *backend_ops_suite(void) {
    Suite *s = suite_create("backend_ops");
    TCase *tc = tp_test_tcase("cuda-vs-cpu", 120);
    tcase_add_test(tc, test_backend_table);
    tcase_add_test(tc, test_backend_transformer);
    tcase_add_test(tc, test_backend_transformer_layerscale);
    tcase_add_test(tc, test_backend_transformer_tiled);
    tcase_add_test(tc, test_backend_masked_nll);
    tcase_add_test(tc, test_backend_sample_step);
    tcase_add_test(tc, test_backend_optim);
    tcase_add_test(tc, test_backend_training_step);
    tcase_add_test(tc, test_backend_transformer_cond);
    tcase_add_test(tc, test_backend_reinforce_cond);
    tcase_add_test(tc, test_backend_inpaint);
    tcase_add_test(tc, test_backend_device_probes);
    suite_add_tcase(s, tc);
    return s;
}
