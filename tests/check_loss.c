/*
 * tests/check_loss.c -- kernels/loss_cpu.c: softmax weights and NESS, WDCE
 * masks and row weights (man tempera-nn(5)), the weighted masked NLL and its
 * gradient against finite differences, the sampling step, REINFORCE
 * weights; and the WDCE loss of a whole network (kernels/net.c) against
 * the formula assembled here from its definition.
 */
#include "check_util.h"
#include "tolerance.h"
#include "loss.h"
#include "net.h"
#include "philox.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

START_TEST(test_loss_softmax_weights) {
    double lr[5] = { -1.0, 2.0, 0.5, -INFINITY, 2.0 }, w[5], ness;
    ck_assert_int_eq(tp_loss_softmax_weights(w, &ness, lr, 5), TP_OK);
    double z = exp(-1.0) + exp(2.0) + exp(0.5) + exp(2.0), s = 0, s2 = 0;
    for (int b = 0; b < 5; b++) {
        double want = b == 3 ? 0.0 : exp(lr[b]) / z;
        ck_assert(tp_close(w[b], want, TP_TOL_F64));
        ck_assert(w[b] >= 0);
        s += w[b]; s2 += w[b] * w[b];
    }
    ck_assert(tp_close(s, 1.0, TP_TOL_F64));
    ck_assert(tp_close(ness, 1.0 / (5 * s2), TP_TOL_F64));
    ck_assert(ness > 0 && ness <= 1.0);
    /* huge log weights do not overflow; equal weights give NESS 1 */
    double big[3] = { 1e5, 1e5, 1e5 };
    ck_assert_int_eq(tp_loss_softmax_weights(w, &ness, big, 3), TP_OK);
    ck_assert(tp_close(w[0], 1.0 / 3, TP_TOL_F64) && tp_close(ness, 1.0, TP_TOL_F64));
    double bad[2] = { NAN, 0 };
    ck_assert_int_eq(tp_loss_softmax_weights(w, NULL, bad, 2), TP_ERR_ARG);
    double none[2] = { -INFINITY, -INFINITY };
    ck_assert_int_eq(tp_loss_softmax_weights(w, NULL, none, 2), TP_ERR_ARG);
}
END_TEST

START_TEST(test_loss_wdce_mask) {
    enum { B = 6, R = 4, T = 400, Q = 3 };
    uint8_t tok[B * T], m1[B * R * T], m2[B * R * T];
    float lam1[B * R], lam2[B * R];
    for (int i = 0; i < B * T; i++) tok[i] = (uint8_t)(i % Q);
    ck_assert_int_eq(tp_loss_wdce_mask_cpu(m1, lam1, tok, 42, 1000, B, R, T, Q), TP_OK);
    for (int row = 0; row < B * R; row++) {
        ck_assert(lam1[row] > 0 && lam1[row] < 1);
        int masked = 0;
        for (int i = 0; i < T; i++) {
            uint8_t v = m1[row * T + i];
            if (v == Q) masked++;
            else ck_assert_int_eq(v, tok[(row / R) * T + i]);   /* unmasked sites keep x_b */
        }
        /* binomial(T, lambda): within 5 standard deviations */
        double mean = T * lam1[row], sd = sqrt(T * lam1[row] * (1 - lam1[row]));
        ck_assert_msg(fabs(masked - mean) <= 5 * sd + 1, "row %d: %d masked, expected %.1f", row, masked, mean);
    }
    /* rows draw from their own streams: the last B-1 samples of a batch
     * started one sample later (stream0 + R) get the same masks */
    ck_assert_int_eq(tp_loss_wdce_mask_cpu(m2, lam2, tok + T, 42, 1000 + R, B - 1, R, T, Q), TP_OK);
    ck_assert(memcmp(m2, m1 + R * T, (size_t)(B - 1) * R * T) == 0);
    ck_assert(memcmp(lam2, lam1 + R, sizeof(float) * (B - 1) * R) == 0);
    /* a different seed gives different masks */
    ck_assert_int_eq(tp_loss_wdce_mask_cpu(m2, lam2, tok, 43, 1000, B, R, T, Q), TP_OK);
    ck_assert(memcmp(m2, m1, sizeof m1) != 0);
}
END_TEST

START_TEST(test_loss_wdce_row_weights) {
    double w[2] = { 0.25, 0.75 }, rw[6];
    float lam[6] = { 0.5f, 1e-7f, 1.0f, 0.1f, 2e-5f, 1e-5f };
    ck_assert_int_eq(tp_loss_wdce_row_weights_cpu(rw, w, lam, 2, 3), TP_OK);
    for (int row = 0; row < 6; row++) {
        double inv = fmin(1.0 / (double)lam[row], 1e5);
        ck_assert(tp_close(rw[row], w[row / 3] * inv / 6.0, TP_TOL_F64));
    }
    ck_assert(tp_close(rw[1], 0.25 * 1e5 / 6, TP_TOL_F64));   /* clamped */
}
END_TEST

/* loss is linear in logp, so its gradient is exact: check it against a
 * central difference on every entry, and the value against a direct sum */
START_TEST(test_loss_masked_nll_fd) {
    enum { ROWS = 3, T = 5, Q = 3 };
    float logp[ROWS * T * Q], dlogp[ROWS * T * Q];
    uint8_t tgt[ROWS * T], in[ROWS * T];
    double rw[ROWS] = { 0.5, 1.5, 0.25 };
    tp_rng r;
    tp_rng_seed(&r, 1, 2);
    for (int i = 0; i < ROWS * T * Q; i++) logp[i] = -3.0f * tp_rng_next_float(&r);
    for (int i = 0; i < ROWS * T; i++) {
        tgt[i] = (uint8_t)tp_rng_next_below(&r, Q);
        in[i] = tp_rng_next_below(&r, 2) ? Q : tgt[i];
    }
    for (int all = 0; all < 2; all++) {
        double loss, want = 0;
        ck_assert_int_eq(tp_loss_masked_nll_cpu(&loss, dlogp, logp, tgt, in, rw, ROWS, T, Q, all), TP_OK);
        for (int row = 0; row < ROWS; row++)
            for (int i = 0; i < T; i++)
                if (all || in[row * T + i] == Q) want -= rw[row] * logp[(row * T + i) * Q + tgt[row * T + i]];
        ck_assert(tp_close(loss, want, TP_TOL_F64));
        for (int i = 0; i < ROWS * T * Q; i++) {
            float keep = logp[i];
            double lp, lm;
            float h = 0.125f;   /* exact in float: the loss is linear */
            logp[i] = keep + h;
            tp_loss_masked_nll_cpu(&lp, dlogp, logp, tgt, in, rw, ROWS, T, Q, all);
            logp[i] = keep - h;
            tp_loss_masked_nll_cpu(&lm, dlogp, logp, tgt, in, rw, ROWS, T, Q, all);
            logp[i] = keep;
            float g[ROWS * T * Q];
            double l0;
            tp_loss_masked_nll_cpu(&l0, g, logp, tgt, in, rw, ROWS, T, Q, all);
            ck_assert(tp_close(g[i], (lp - lm) / (2 * h), TP_TOL_F32));
        }
    }
}
END_TEST

START_TEST(test_loss_sample_step) {
    enum { ROWS = 4, T = 3, Q = 3 };
    float logp[ROWS * T * Q];
    for (int n = 0; n < ROWS * T; n++) {
        logp[n * Q + 0] = logf(0.2f); logp[n * Q + 1] = logf(0.5f); logp[n * Q + 2] = logf(0.3f);
    }
    uint8_t work[ROWS * T], truth[ROWS * T];
    memset(work, Q, sizeof work);
    int32_t site[ROWS] = { 0, 1, 2, 1 };
    float u[ROWS] = { 0.1f, 0.3f, 0.75f, 0.99f };   /* -> 0, 1, 2, 2 by the inverse CDF */
    double logq[ROWS] = { 0, 0, 0, -1 };
    ck_assert_int_eq(tp_loss_sample_step_cpu(work, logq, logp, NULL, site, u, ROWS, T, Q), TP_OK);
    int want[ROWS] = { 0, 1, 2, 2 };
    for (int r = 0; r < ROWS; r++) {
        ck_assert_int_eq(work[r * T + site[r]], want[r]);
        ck_assert(tp_close(logq[r], (r == 3 ? -1 : 0) + logp[(r * T + site[r]) * Q + want[r]], TP_TOL_F64));
    }
    /* teacher forcing: the given token is written and scored */
    for (int i = 0; i < ROWS * T; i++) truth[i] = (uint8_t)(i % Q);
    memset(logq, 0, sizeof logq);
    ck_assert_int_eq(tp_loss_sample_step_cpu(work, logq, logp, truth, site, u, ROWS, T, Q), TP_OK);
    for (int r = 0; r < ROWS; r++) {
        int n = r * T + site[r];
        ck_assert_int_eq(work[n], truth[n]);
        ck_assert(tp_close(logq[r], logp[n * Q + truth[n]], TP_TOL_F64));
    }
    int32_t bad[ROWS] = { 0, 3, 0, 0 };
    ck_assert_int_eq(tp_loss_sample_step_cpu(work, logq, logp, NULL, bad, u, ROWS, T, Q), TP_ERR_ARG);
}
END_TEST

START_TEST(test_loss_reinforce_weights) {
    double lp[4] = { -3, -2, -5, -1 }, be[4] = { 1, 0.5, 2, -1 }, a[4];
    ck_assert_int_eq(tp_loss_reinforce_weights(a, lp, be, 4), TP_OK);
    double f[4], m = 0, v = 0;
    for (int b = 0; b < 4; b++) { f[b] = lp[b] + be[b]; m += f[b] / 4; }
    for (int b = 0; b < 4; b++) v += (f[b] - m) * (f[b] - m) / 3;
    double sa = 0;
    for (int b = 0; b < 4; b++) {
        ck_assert(tp_close(a[b], (f[b] - m) / sqrt(v) / 4, TP_TOL_F64));
        sa += a[b];
    }
    ck_assert(fabs(sa) < 1e-12);
    double c[3] = { 1, 1, 1 }, z[3] = { 0, 0, 0 };
    ck_assert_int_eq(tp_loss_reinforce_weights(a, c, z, 3), TP_OK);
    ck_assert(a[0] == 0 && a[1] == 0 && a[2] == 0);
}
END_TEST

/* The WDCE loss of a network, assembled by hand from its definition: the
 * kernel masks (checked above), the network's log-probabilities on the
 * masked rows, w_b = softmax(log_rnd), min(1/lambda, 1e5), mean over B*R.
 * Chunking (2 rows per pass) must not change the loss or gradient. */
START_TEST(test_loss_wdce_network) {
    enum { B = 3, R = 2, L = 3, T = L * L, Q = 2 };
    float coords[T * 2];
    for (int s = 0; s < T; s++) { coords[2 * s] = (float)(s / L) / L; coords[2 * s + 1] = (float)(s % L) / L; }
    tp_tf_config c = { Q, T, 8, 1, 2, 2, 0, 0 };
    tp_net *net = tp_net_init(&c, coords, 5, 1.0f, "cpu", 2);
    tp_net *big = tp_net_init(&c, coords, 5, 1.0f, "cpu", 64);
    ck_assert_ptr_nonnull(net);
    ck_assert_ptr_nonnull(big);
    uint8_t tok[B * T];
    for (int i = 0; i < B * T; i++) tok[i] = (uint8_t)((i * 7 + i / 5) % Q);
    double log_rnd[B] = { -0.3, 1.2, 0.4 }, loss, ness, loss_big;
    ck_assert_int_eq(tp_net_wdce_grad(net, &loss, &ness, tok, log_rnd, B, R, 9, 100), TP_OK);
    ck_assert_int_eq(tp_net_wdce_grad(big, &loss_big, NULL, tok, log_rnd, B, R, 9, 100), TP_OK);

    uint8_t masked[B * R * T];
    float lam[B * R], logp[B * R * T * Q];
    double w[B];
    tp_loss_wdce_mask_cpu(masked, lam, tok, 9, 100, B, R, T, Q);
    tp_loss_softmax_weights(w, NULL, log_rnd, B);
    ck_assert_int_eq(tp_net_forward(net, logp, masked, B * R, 0), TP_OK);
    double want = 0;
    for (int b = 0; b < B; b++)
        for (int r = 0; r < R; r++) {
            int row = b * R + r;
            double ll = 0;
            for (int i = 0; i < T; i++)
                if (masked[row * T + i] == Q) ll += logp[(row * T + i) * Q + tok[b * T + i]];
            want += w[b] * fmin(1.0 / lam[row], 1e5) * ll;
        }
    want = -want / (B * R);
    ck_assert_msg(tp_close(loss, want, TP_TOL_F64), "wdce %.12g, by hand %.12g", loss, want);
    ck_assert(tp_close(loss_big, loss, TP_TOL_F64));
    int64_t np = tp_net_num_params(net);
    float *g1 = malloc(sizeof(float) * np), *g2 = malloc(sizeof(float) * np);
    tp_net_get(net, TP_NET_GRADS, g1, np);
    tp_net_get(big, TP_NET_GRADS, g2, np);
    double gn = 0;
    for (int64_t i = 0; i < np; i++) { ck_assert(tp_close(g1[i], g2[i], TP_TOL_F32)); gn += g1[i] * g1[i]; }
    ck_assert(gn > 0);
    free(g1); free(g2);
    tp_net_free(net);
    tp_net_free(big);
}
END_TEST

Suite *loss_suite(void) {
    Suite *s = suite_create("loss");
    TCase *tc = tp_test_tcase("cpu", 30);
    tcase_add_test(tc, test_loss_softmax_weights);
    tcase_add_test(tc, test_loss_wdce_mask);
    tcase_add_test(tc, test_loss_wdce_row_weights);
    tcase_add_test(tc, test_loss_masked_nll_fd);
    tcase_add_test(tc, test_loss_sample_step);
    tcase_add_test(tc, test_loss_reinforce_weights);
    tcase_add_test(tc, test_loss_wdce_network);
    suite_add_tcase(s, tc);
    return s;
}
