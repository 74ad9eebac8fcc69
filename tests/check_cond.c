/*
 * tests/check_cond.c -- conditioning of the transformer on per-row
 * conditions (kernels/cond.h, the cemb path of kernels/transformer_cpu.c,
 * tp_net_set_conditions and tp_net_order_grad in kernels/net.c):
 * finite-difference checks of every backward (condition MLP, the
 * per-row embedding gradient, the whole conditioned network through the
 * net object), the exact identity sum_r dcemb[r] = dwte[mask] on all-masked
 * rows, a NULL / zero embedding reproducing the unconditioned forward bit
 * for bit, and argument errors.
 */
#include "check_util.h"
#include "tolerance.h"
#include "cond.h"
#include "net.h"
#include "backend.h"
#include "philox.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


#define FD_H 1e-2f
enum { L = 2, T = 4, Q = 2, D = 8, K = 2, ROWS = 3 };

static tp_tf_config cfg(void) { return (tp_tf_config){ Q, T, D, 1, 2, 2, 0, K }; }

static void coords(float *u) {
    for (int s = 0; s < T; s++) { u[2 * s] = (float)(s / L) / L; u[2 * s + 1] = (float)(s % L) / L; }
}

static void randn(float *x, int64_t n, uint64_t stream, float scale) {
    tp_rng g;
    tp_rng_seed(&g, 99, stream);
    for (int64_t i = 0; i < n; i++) x[i] = scale * (2.0f * tp_rng_next_float(&g) - 1.0f);
}

/* everything one forward pass of the conditioned transformer needs */
typedef struct {
    tp_tf_config c;
    tp_tf_layout lay;
    float *params, *grads, *acts, *cacts, *scratch, *logp, *dlogp, *rope, *cemb, *dcemb, *cond, *gw;
    uint8_t tok[ROWS * T];
} fixture;

static void fx_init(fixture *f) {
    f->c = cfg();
    tp_tf_layout_init(&f->lay, &f->c);
    tp_tf_act_layout al;
    tp_tf_act_layout_init(&al, &f->c, ROWS);
    int64_t np = f->lay.n_params;
    f->params = malloc(sizeof(float) * np);
    f->grads = calloc(np, sizeof(float));
    f->acts = malloc(sizeof(float) * al.n_acts);
    f->cacts = malloc(sizeof(float) * tp_cond_act_size(&f->c, ROWS));
    f->scratch = malloc(sizeof(float) * tp_tf_scratch_size(&f->c, ROWS));
    f->logp = malloc(sizeof(float) * ROWS * T * Q);
    f->dlogp = malloc(sizeof(float) * ROWS * T * Q);
    f->gw = malloc(sizeof(float) * ROWS * T * Q);
    f->rope = malloc(sizeof(float) * T * (D / 2 / 2) * 2);
    f->cemb = malloc(sizeof(float) * ROWS * D);
    f->dcemb = malloc(sizeof(float) * ROWS * D);
    f->cond = malloc(sizeof(float) * ROWS * K);
    float u[2 * T];
    coords(u);
    tp_tf_rope_table(f->rope, u, &f->c);
    tp_tf_init_params(f->params, &f->c, 5, 1.0f);
    /* larger head and output weights than the init so every path matters */
    randn(f->params + f->lay.cond_w2, D * D, 1, 0.5f);
    randn(f->params + f->lay.head_w, D * Q, 2, 0.5f);
    randn(f->gw, ROWS * T * Q, 3, 1.0f);
    randn(f->cond, ROWS * K, 4, 1.0f);
    for (int i = 0; i < ROWS * T; i++) f->tok[i] = (uint8_t)((i * 7 + 3) % (Q + 1));
}

static void fx_free(fixture *f) {
    free(f->params); free(f->grads); free(f->acts); free(f->cacts); free(f->scratch); free(f->logp);
    free(f->dlogp); free(f->gw); free(f->rope); free(f->cemb); free(f->dcemb); free(f->cond);
}

/* loss = sum gw .* logp of the conditioned network, in double */
static double fx_loss(fixture *f) {
    ck_assert_int_eq(tp_cond_forward_cpu(f->cemb, f->cacts, f->cond, f->params, &f->c, ROWS), TP_OK);
    ck_assert_int_eq(tp_tf_forward_cond_cpu(f->acts, f->logp, f->tok, f->cemb, f->params, f->rope, &f->c, ROWS), TP_OK);
    double s = 0;
    for (int i = 0; i < ROWS * T * Q; i++) s += (double)f->gw[i] * f->logp[i];
    return s;
}

/* analytic gradients of fx_loss into f->grads (and f->dcemb) */
static void fx_grad(fixture *f) {
    fx_loss(f);
    memset(f->grads, 0, sizeof(float) * f->lay.n_params);
    memcpy(f->dlogp, f->gw, sizeof(float) * ROWS * T * Q);
    ck_assert_int_eq(tp_tf_backward_cond_cpu(f->grads, f->dcemb, f->scratch, f->dlogp, f->logp, f->acts,
                                             f->tok, f->params, f->rope, &f->c, ROWS), TP_OK);
    ck_assert_int_eq(tp_cond_backward_cpu(f->grads, f->dcemb, f->cacts, f->params, &f->c, ROWS), TP_OK);
}

/* The condition MLP alone: loss = sum G .* cemb (G random), gradients from
 * tp_cond_backward_cpu with dcemb = G, against central differences of the
 * float forward (which accumulates in double) with h = FD_H: tolerance
 * TP_TOL_FD_F32 (see tolerance.h). */
static double mlp_loss(fixture *f) {
    ck_assert_int_eq(tp_cond_forward_cpu(f->cemb, f->cacts, f->cond, f->params, &f->c, ROWS), TP_OK);
    double s = 0;
    for (int i = 0; i < ROWS * D; i++) s += (double)f->gw[i] * f->cemb[i];
    return s;
}

START_TEST(test_cond_mlp_backward_fd) {
    fixture f;
    fx_init(&f);
    mlp_loss(&f);
    memset(f.grads, 0, sizeof(float) * f.lay.n_params);
    ck_assert_int_eq(tp_cond_backward_cpu(f.grads, f.gw, f.cacts, f.params, &f.c, ROWS), TP_OK);
    const int F = tp_cond_features(K);
    const struct { const char *name; int64_t off, n; } t[] = {
        { "cond_w1", f.lay.cond_w1, (int64_t)F * D }, { "cond_b1", f.lay.cond_b1, D },
        { "cond_w2", f.lay.cond_w2, (int64_t)D * D }, { "cond_b2", f.lay.cond_b2, D },
    };
    int checked = 0;
    for (size_t k = 0; k < sizeof t / sizeof t[0]; k++)
        for (int64_t i = 0; i < t[k].n; i++) {
            float *p = f.params + t[k].off + i, keep = *p;
            *p = keep + FD_H; double lp = mlp_loss(&f);
            *p = keep - FD_H; double lm = mlp_loss(&f);
            *p = keep;
            double num = (lp - lm) / (2.0 * FD_H), ana = f.grads[t[k].off + i];
            ck_assert_msg(tp_close(ana, num, TP_TOL_FD_F32), "%s[%lld]: analytic %.7g, finite difference %.7g",
                          t[k].name, (long long)i, ana, num);
            checked++;
        }
    ck_assert_int_eq(checked, F * D + D + D * D + D);
    /* the features of row 0: c, sin(2^m c), cos(2^m c) */
    ck_assert(f.cacts[0] == f.cond[0]);
    ck_assert(fabs(f.cacts[3] - sin(2.0 * f.cond[0])) < 1e-6);
    ck_assert(fabs(f.cacts[4] - cos(2.0 * f.cond[0])) < 1e-6);
    fx_free(&f);
}
END_TEST

/* all-masked rows: x0 = wte[mask] + cemb[r], so row r's dcemb equals the
 * wte[mask] gradient of row r alone (the wte gradient is checked against
 * finite differences of a double model in check_transformer.c); a NULL
 * embedding equals the plain forward, a zero one too, bit for bit */
START_TEST(test_cond_identities) {
    fixture f;
    fx_init(&f);
    memset(f.tok, Q, sizeof f.tok);
    fx_grad(&f);
    float batch[ROWS * D], one[D];
    memcpy(batch, f.dcemb, sizeof batch);
    for (int r = 0; r < ROWS; r++) {
        memset(f.grads, 0, sizeof(float) * f.lay.n_params);
        ck_assert_int_eq(tp_tf_forward_cond_cpu(f.acts, f.logp, f.tok, f.cemb + r * D, f.params, f.rope, &f.c, 1), TP_OK);
        ck_assert_int_eq(tp_tf_backward_cond_cpu(f.grads, one, f.scratch, f.gw + r * T * Q, f.logp, f.acts, f.tok,
                                                 f.params, f.rope, &f.c, 1), TP_OK);
        for (int j = 0; j < D; j++) {
            ck_assert_msg(tp_close(batch[r * D + j], f.grads[f.lay.wte + Q * D + j], TP_TOL_F32),
                          "row %d column %d: dcemb %g, dwte[mask] %g", r, j, batch[r * D + j],
                          f.grads[f.lay.wte + Q * D + j]);
            ck_assert(tp_close(one[j], batch[r * D + j], TP_TOL_F32));
        }
    }
    float *a = malloc(sizeof(float) * ROWS * T * Q);
    tp_tf_config plain = f.c;
    plain.conds = 0;   /* same layout prefix: the transformer ignores the cond tensors */
    ck_assert_int_eq(tp_tf_forward_cpu(f.acts, a, f.tok, f.params, f.rope, &plain, ROWS), TP_OK);
    memset(f.cemb, 0, sizeof(float) * ROWS * D);
    ck_assert_int_eq(tp_tf_forward_cond_cpu(f.acts, f.logp, f.tok, f.cemb, f.params, f.rope, &f.c, ROWS), TP_OK);
    ck_assert(memcmp(a, f.logp, sizeof(float) * ROWS * T * Q) == 0);
    ck_assert_int_eq(tp_tf_forward_cond_cpu(f.acts, f.logp, f.tok, NULL, f.params, f.rope, &f.c, ROWS), TP_OK);
    ck_assert(memcmp(a, f.logp, sizeof(float) * ROWS * T * Q) == 0);
    free(a);
    fx_free(&f);
}
END_TEST

/* The net object: the order gradient of a conditioned network against
 * finite differences of its own log-likelihood along the same orders, and
 * conditions steering the output. */
START_TEST(test_cond_net_order_grad_fd) {
    float u[2 * T];
    coords(u);
    tp_tf_config c = cfg();
    tp_net *n = tp_net_init(&c, u, 3, 1.0f, "cpu", 5);
    ck_assert_ptr_nonnull(n);
    const int B = 4;
    float cond[4 * K] = { 0.2f, 0.0f, 0.5f, 0.3f, 0.9f, -0.5f, 1.4f, 1.0f };
    ck_assert_int_eq(tp_net_set_conditions(n, cond, B), TP_OK);
    uint8_t x[4 * T];
    double lq[4], lq2[4], a[4] = { 1.0, -0.5, 0.25, 2.0 }, loss;
    ck_assert_int_eq(tp_net_sample(n, x, lq, B, 8, 40, 0, 0), TP_OK);
    ck_assert_int_eq(tp_net_order_grad(n, &loss, lq2, x, a, B, 8, 40), TP_OK);
    for (int b = 0; b < B; b++) ck_assert(fabs(lq[b] - lq2[b]) < 1e-5);
    int64_t np = tp_net_num_params(n);
    float *p = malloc(sizeof(float) * np), *g = malloc(sizeof(float) * np);
    ck_assert_int_eq(tp_net_get(n, TP_NET_PARAMS, p, np), TP_OK);
    ck_assert_int_eq(tp_net_get(n, TP_NET_GRADS, g, np), TP_OK);
    tp_tf_layout lay;
    tp_tf_layout_init(&lay, &c);
    int64_t offs[] = { lay.cond_w1, lay.cond_w1 + 9, lay.cond_b1 + 1, lay.cond_w2 + 3, lay.cond_w2 + 20,
                       lay.cond_b2 + 2, lay.wte + 5, lay.head_w + 1 };
    for (size_t k = 0; k < sizeof offs / sizeof offs[0]; k++) {
        int64_t i = offs[k];
        float keep = p[i], h = FD_H;
        double l[2];
        for (int s = 0; s < 2; s++) {
            p[i] = keep + (s ? -h : h);
            ck_assert_int_eq(tp_net_set(n, TP_NET_PARAMS, p, np), TP_OK);
            double dummy, lqs[4];
            ck_assert_int_eq(tp_net_order_grad(n, &dummy, lqs, x, a, B, 8, 40), TP_OK);
            l[s] = 0;
            for (int b = 0; b < B; b++) l[s] += a[b] * lqs[b];
        }
        p[i] = keep;
        double num = (l[0] - l[1]) / (2.0 * h);
        ck_assert_msg(tp_close(g[i], num, TP_TOL_FD_NET), "param %lld: analytic %.7g, fd %.7g", (long long)i, g[i], num);
    }
    ck_assert_int_eq(tp_net_set(n, TP_NET_PARAMS, p, np), TP_OK);
    /* conditions change the output */
    uint8_t m[T];
    float o1[T * Q], o2[T * Q];
    memset(m, Q, sizeof m);
    ck_assert_int_eq(tp_net_forward(n, o1, m, 1, 0), TP_OK);
    ck_assert_int_eq(tp_net_set_conditions(n, cond + 6, 1), TP_OK);
    ck_assert_int_eq(tp_net_forward(n, o2, m, 1, 0), TP_OK);
    ck_assert(memcmp(o1, o2, sizeof o1) != 0);
    /* errors */
    ck_assert_int_eq(tp_net_forward(n, o2, x, 2, 0), TP_ERR_ARG);
    ck_assert(strstr(tp_last_error(), "row 1 needs condition 1 but 1 are set"));
    float bad[2] = { NAN, 0 };
    ck_assert_int_eq(tp_net_set_conditions(n, bad, 1), TP_ERR_ARG);
    ck_assert(strstr(tp_last_error(), "not finite"));
    a[1] = INFINITY;
    ck_assert_int_eq(tp_net_order_grad(n, &loss, NULL, x, a, B, 8, 40), TP_ERR_ARG);
    ck_assert(strstr(tp_last_error(), "weight 1 is inf"));
    free(p); free(g);
    tp_net_free(n);
    /* "auto" picks the default backend for conditioned networks too (CUDA
     * when present: check_backend_ops.c compares it with the CPU); no
     * conditions on a plain network */
    tp_net *an = tp_net_init(&c, u, 3, 1.0f, "auto", 5);
    ck_assert_ptr_nonnull(an);
    ck_assert_str_eq(tp_net_backend_name(an), tp_backend_default_name());
    ck_assert_int_eq(tp_net_conditions(an), K);
    tp_net_free(an);
    tp_tf_config pc = c;
    pc.conds = 0;
    tp_net *pn = tp_net_init(&pc, u, 3, 1.0f, "cpu", 5);
    ck_assert_ptr_nonnull(pn);
    ck_assert_int_eq(tp_net_set_conditions(pn, cond, 1), TP_ERR_ARG);
    ck_assert(strstr(tp_last_error(), "without conditions"));
    tp_net_free(pn);
    pc.conds = 9;
    ck_assert_ptr_null(tp_net_init(&pc, u, 3, 1.0f, "cpu", 5));
    ck_assert(strstr(tp_last_error(), "conditions must be in 0..8"));
}
END_TEST

Suite *cond_suite(void) {
    Suite *s = suite_create("cond");
    TCase *tc = tp_test_tcase("cpu", 60);
    tcase_add_test(tc, test_cond_mlp_backward_fd);
    tcase_add_test(tc, test_cond_identities);
    tcase_add_test(tc, test_cond_net_order_grad_fd);
    suite_add_tcase(s, tc);
    return s;
}
