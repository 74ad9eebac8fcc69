/*
 * tests/check_optim.c -- kernels/optim_cpu.c: Adam and AdamW against the
 * update written out in double here, the EMA decay schedule of tempera-nn(5)
 * and the EMA update, the sum of squares and gradient-norm clipping through
 * a network's update.
 */
#include "check_util.h"
#include "tolerance.h"
#include "optim.h"
#include "net.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void adam_case(float wd) {
    enum { N = 37, STEPS = 5 };
    float p[N], m[N], v[N], g[N];
    double pd[N], md[N], vd[N];
    tp_adam_config c = { 1e-2f, 0.9f, 0.999f, 1e-8f, wd, 0 };
    for (int i = 0; i < N; i++) { p[i] = pd[i] = 0.1 * (i - 18); m[i] = v[i] = 0; md[i] = vd[i] = 0; }
    for (int t = 1; t <= STEPS; t++) {
        for (int i = 0; i < N; i++) g[i] = (float)(sin(i * 0.7 + t) * (i % 5 == 0 ? 1e-3 : 1.0));
        ck_assert_int_eq(tp_optim_adam_cpu(p, m, v, g, &c, t, N), TP_OK);
        for (int i = 0; i < N; i++) {
            double gi = g[i];
            pd[i] -= 1e-2 * wd * pd[i];
            md[i] = 0.9 * md[i] + 0.1 * gi;
            vd[i] = 0.999 * vd[i] + 0.001 * gi * gi;
            double mh = md[i] / (1 - pow(0.9, t)), vh = vd[i] / (1 - pow(0.999, t));
            pd[i] -= 1e-2 * mh / (sqrt(vh) + 1e-8);
        }
    }
    for (int i = 0; i < N; i++) {
        ck_assert_msg(tp_close(p[i], pd[i], TP_TOL_F32), "p[%d] %.9g vs %.9g", i, p[i], pd[i]);
        ck_assert(tp_close(m[i], md[i], TP_TOL_F32));
        ck_assert(tp_close(v[i], vd[i], TP_TOL_F32));
    }
}

START_TEST(test_optim_adam_matches_formula) { adam_case(0.0f); }
END_TEST
START_TEST(test_optim_adamw_matches_formula) { adam_case(0.1f); }
END_TEST

START_TEST(test_optim_adam_rejects_step0) {
    float x = 0;
    tp_adam_config c = { 1e-4f, 0.9f, 0.999f, 1e-8f, 0, 0 };
    ck_assert_int_eq(tp_optim_adam_cpu(&x, &x, &x, &x, &c, 0, 1), TP_ERR_ARG);
}
END_TEST

START_TEST(test_optim_ema) {
    ck_assert(tp_close(tp_optim_ema_decay(0, 0.9999), 0.1, TP_TOL_F64));
    ck_assert(tp_close(tp_optim_ema_decay(10, 0.9999), 11.0 / 20.0, TP_TOL_F64));
    ck_assert(tp_close(tp_optim_ema_decay(1000000, 0.9999), 0.9999, TP_TOL_F64));
    ck_assert(tp_close(tp_optim_ema_decay(89990, 0.9999), 0.9999, TP_TOL_F64));
    float e[3] = { 1, 2, 3 }, p[3] = { 3, 2, 1 };
    ck_assert_int_eq(tp_optim_ema_cpu(e, p, 0.75f, 3), TP_OK);
    ck_assert(tp_close(e[0], 1.5, TP_TOL_F32) && tp_close(e[1], 2, TP_TOL_F32) && tp_close(e[2], 2.5, TP_TOL_F32));
}
END_TEST

START_TEST(test_optim_sumsq_scale) {
    enum { N = 100003 };
    float *x = malloc(sizeof(float) * N);
    double want = 0;
    for (int i = 0; i < N; i++) { x[i] = (float)((i % 17) - 8) * 0.01f; want += (double)x[i] * x[i]; }
    double got;
    ck_assert_int_eq(tp_optim_sumsq_cpu(&got, x, N), TP_OK);
    ck_assert(tp_close(got, want, TP_TOL_F64));
    ck_assert_int_eq(tp_optim_scale_cpu(x, 0.5f, N), TP_OK);
    ck_assert_int_eq(tp_optim_sumsq_cpu(&got, x, N), TP_OK);
    ck_assert(tp_close(got, want / 4, TP_TOL_F64));
    free(x);
}
END_TEST

/* A network update: with clipping the applied Adam step is the same as with
 * the gradient scaled to norm 'clip' by hand; EMA follows the schedule. */
START_TEST(test_optim_net_update_clip_ema) {
    enum { T = 4, Q = 2 };
    float coords[T] = { 0, 0.25f, 0.5f, 0.75f };
    tp_tf_config c = { Q, T, 8, 1, 2, 1, 0, 0 };
    tp_net *a = tp_net_init(&c, coords, 3, 1.0f, "cpu", 0);
    tp_net *b = tp_net_init(&c, coords, 3, 1.0f, "cpu", 0);
    ck_assert_ptr_nonnull(a);
    int64_t np = tp_net_num_params(a);
    float *g = malloc(sizeof(float) * np), *p0 = malloc(sizeof(float) * np);
    float *pa = malloc(sizeof(float) * np), *pb = malloc(sizeof(float) * np), *ea = malloc(sizeof(float) * np);
    double ss = 0;
    for (int64_t i = 0; i < np; i++) { g[i] = (float)sin(0.37 * i); ss += (double)g[i] * g[i]; }
    tp_net_get(a, TP_NET_PARAMS, p0, np);
    tp_adam_config ac;
    tp_net_get_adam(a, &ac);
    ck_assert(ac.lr == 1e-4f && ac.beta1 == 0.9f && ac.beta2 == 0.999f && ac.eps == 1e-8f && ac.weight_decay == 0);
    ac.clip = 1.0f;
    ck_assert_int_eq(tp_net_set_adam(a, &ac), TP_OK);
    tp_net_set(a, TP_NET_GRADS, g, np);
    double gn;
    ck_assert_int_eq(tp_net_update(a, &gn), TP_OK);
    ck_assert(tp_close(gn, sqrt(ss), TP_TOL_F64));
    float s = (float)(1.0 / (sqrt(ss) + 1e-6));
    for (int64_t i = 0; i < np; i++) g[i] *= s;
    tp_net_set(b, TP_NET_GRADS, g, np);
    ck_assert_int_eq(tp_net_update(b, NULL), TP_OK);
    tp_net_get(a, TP_NET_PARAMS, pa, np);
    tp_net_get(b, TP_NET_PARAMS, pb, np);
    tp_net_get(a, TP_NET_EMA, ea, np);
    for (int64_t i = 0; i < np; i++) {
        ck_assert(tp_close(pa[i], pb[i], TP_TOL_F32));
        /* first update: decay (1+0)/(10+0) = 0.1 */
        ck_assert(tp_close(ea[i], 0.1 * p0[i] + 0.9 * pa[i], TP_TOL_F32));
    }
    ck_assert_int_eq(tp_net_step_count(a), 1);
    ck_assert_int_eq(tp_net_set_adam(a, &(tp_adam_config){ -1, 0.9f, 0.999f, 1e-8f, 0, 0 }), TP_ERR_ARG);
    free(g); free(p0); free(pa); free(pb); free(ea);
    tp_net_free(a); tp_net_free(b);
}
END_TEST

Suite *optim_suite(void) {
    Suite *s = suite_create("optim");
    TCase *tc = tp_test_tcase("cpu", 30);
    tcase_add_test(tc, test_optim_adam_matches_formula);
    tcase_add_test(tc, test_optim_adamw_matches_formula);
    tcase_add_test(tc, test_optim_adam_rejects_step0);
    tcase_add_test(tc, test_optim_ema);
    tcase_add_test(tc, test_optim_sumsq_scale);
    tcase_add_test(tc, test_optim_net_update_clip_ema);
    suite_add_tcase(s, tc);
    return s;
}
