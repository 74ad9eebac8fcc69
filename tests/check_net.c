/*
 * tests/check_net.c -- the network object (kernels/net.c) and checkpoints
 * (runtime/checkpoint.c): ancestral sampling and teacher forcing along
 * random orders (exact likelihoods, normalisation over all configurations
 * of a tiny lattice), independence from the chunk size, training reducing
 * the loss, and the checkpoint round trip reproducing the next training
 * step bit for bit.
 */
#include "check_util.h"
#include "tolerance.h"
#include "net.h"
#include "checkpoint.h"
#include "philox.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void square_coords(float *u, int L) {
    for (int s = 0; s < L * L; s++) { u[2 * s] = (float)(s / L) / L; u[2 * s + 1] = (float)(s % L) / L; }
}

static tp_net *tiny_net(int L, int q, int chunk, int layerscale) {
    float u[2 * 64];
    square_coords(u, L);
    tp_tf_config c = { q, L * L, 8, 2, 2, 2, layerscale, 0 };
    tp_net *n = tp_net_init(&c, u, 17, 0.5f, "cpu", chunk);
    ck_assert_ptr_nonnull(n);
    return n;
}

/* sampled log q equals the teacher-forced log q along the same order (same
 * streams), and the chunk size changes nothing */
START_TEST(test_net_sample_teacher_consistent) {
    enum { L = 3, T = 9, ROWS = 5 };
    tp_net *a = tiny_net(L, 3, 2, 0), *b = tiny_net(L, 3, 64, 0);
    uint8_t x[ROWS * T], y[ROWS * T];
    double lq[ROWS], lq2[ROWS], lt[ROWS];
    ck_assert_int_eq(tp_net_sample(a, x, lq, ROWS, 7, 300, 0, 0), TP_OK);
    ck_assert_int_eq(tp_net_sample(b, y, lq2, ROWS, 7, 300, 0, 0), TP_OK);
    ck_assert(memcmp(x, y, sizeof x) == 0);
    for (int i = 0; i < ROWS * T; i++) ck_assert(x[i] < 3);
    ck_assert_int_eq(tp_net_sample(a, x, lt, ROWS, 7, 300, 1, 0), TP_OK);
    for (int r = 0; r < ROWS; r++) {
        ck_assert(lq[r] < 0);
        ck_assert(tp_close(lq2[r], lq[r], TP_TOL_F64));
        ck_assert(tp_close(lt[r], lq[r], TP_TOL_F64));
    }
    /* a different seed gives a different sample */
    ck_assert_int_eq(tp_net_sample(a, y, lq2, ROWS, 8, 300, 0, 0), TP_OK);
    ck_assert(memcmp(x, y, sizeof x) != 0);
    tp_net_free(a); tp_net_free(b);
}
END_TEST

/* Sampling runs the site forward (only logp at each row's next site,
 * kernels/transformer.h): the drawn log q equals the sum along the row's
 * order of full-forward log-probabilities (tp_net_forward on the partly
 * drawn configuration), bit for bit for depth 2 and within float tolerance
 * for depth 1 (the sampling table), with and without LayerScale, over
 * several chunks; teacher forcing gives the same bits as drawing. */
START_TEST(test_net_sample_site_forward_exact) {
    enum { L = 4, T = 16, ROWS = 5, Q = 3 };
    float u[2 * T];
    square_coords(u, L);
    for (int k = 0; k < 2; k++) {
        tp_tf_config c = { Q, T, 8, 1 + k, 2, 2, k, 0 };
        tp_net *n = tp_net_init(&c, u, 19, 0.5f, "cpu", 2);
        ck_assert_ptr_nonnull(n);
        uint8_t x[ROWS * T];
        double lq[ROWS], lt[ROWS];
        ck_assert_int_eq(tp_net_sample(n, x, lq, ROWS, 9, 40, 0, 0), TP_OK);
        ck_assert_int_eq(tp_net_sample(n, x, lt, ROWS, 9, 40, 1, 0), TP_OK);
        for (int r = 0; r < ROWS; r++) {
            /* the order of tp_net_sample: Fisher-Yates on stream (seed, stream0 + r) */
            tp_rng g;
            tp_rng_seed(&g, 9, 40 + (uint64_t)r);
            int o[T];
            for (int i = 0; i < T; i++) o[i] = i;
            for (int i = T - 1; i > 0; i--) {
                int j = (int)tp_rng_next_below(&g, (uint32_t)(i + 1));
                int t = o[i]; o[i] = o[j]; o[j] = t;
            }
            uint8_t cur[T];
            float lp[T * Q];
            memset(cur, Q, sizeof cur);
            double want = 0;
            for (int i = 0; i < T; i++) {
                ck_assert_int_eq(tp_net_forward(n, lp, cur, 1, 0), TP_OK);
                want += lp[o[i] * Q + x[r * T + o[i]]];
                cur[o[i]] = x[r * T + o[i]];
            }
            /* depth 1 samples through the sampling table, whose attention
             * sums in another order: float tolerance there */
            ck_assert_msg(lt[r] == lq[r] && (k == 0 ? tp_close(lq[r], want, TP_TOL_F32_NET) : lq[r] == want),
                          "depth %d row %d: %.17g %.17g vs %.17g", 1 + k, r, lq[r], lt[r], want);
        }
        tp_net_free(n);
    }
}
END_TEST

/* For one fixed order (the same stream for every configuration), exp(log q)
 * summed over all 2^(2*2) configurations is 1: an exact likelihood. */
START_TEST(test_net_likelihood_normalised) {
    enum { L = 2, T = 4, N = 16 };
    tp_net *a = tiny_net(L, 2, 0, 1);
    uint8_t x[N * T];
    for (int c = 0; c < N; c++)
        for (int i = 0; i < T; i++) x[c * T + i] = (uint8_t)((c >> i) & 1);
    double z = 0;
    for (int c = 0; c < N; c++) {
        double lq;
        ck_assert_int_eq(tp_net_sample(a, x + c * T, &lq, 1, 3, 77, 1, 0), TP_OK);
        z += exp(lq);
    }
    ck_assert_msg(tp_close(z, 1.0, TP_TOL_F32), "sum of p(x | order) = %.9g", z);
    /* teacher forcing refuses masked tokens */
    uint8_t m[T] = { 0, 2, 1, 0 };
    double lq;
    ck_assert_int_eq(tp_net_sample(a, m, &lq, 1, 3, 77, 1, 0), TP_ERR_ARG);
    tp_net_free(a);
}
END_TEST

/* A few Adam steps of WDCE on a fixed batch lower the loss. */
START_TEST(test_net_training_reduces_loss) {
    enum { L = 2, T = 4, B = 8, R = 4 };
    tp_net *a = tiny_net(L, 2, 0, 0);
    tp_adam_config ac;
    tp_net_get_adam(a, &ac);
    ac.lr = 1e-2f;
    tp_net_set_adam(a, &ac);
    uint8_t x[B * T];
    for (int i = 0; i < B * T; i++) x[i] = (uint8_t)(i / T % 2);   /* all-0 and all-1 configurations */
    double lr[B] = { 0 }, first = 0, last = 0;
    for (int it = 0; it < 40; it++) {
        double loss;
        /* the same masks every step: a deterministic objective */
        ck_assert_int_eq(tp_net_wdce_step(a, &loss, NULL, x, lr, B, R, 1, 0), TP_OK);
        if (it == 0) first = loss;
        last = loss;
    }
    ck_assert_msg(last < 0.7 * first, "loss %.6g -> %.6g", first, last);
    ck_assert_int_eq(tp_net_step_count(a), 40);
    tp_net_free(a);
}
END_TEST

/* Save after a step, load into a fresh network, take the next step on both:
 * parameters, Adam state and EMA agree bit for bit. */
START_TEST(test_net_checkpoint_roundtrip) {
    enum { L = 3, T = 9, B = 4, R = 2 };
    tp_net *a = tiny_net(L, 3, 3, 1);
    uint8_t x[B * T];
    for (int i = 0; i < B * T; i++) x[i] = (uint8_t)((i * 5 + 1) % 3);
    double lr[B] = { 0.1, -0.5, 0.3, 0.0 }, la, lb;
    ck_assert_int_eq(tp_net_wdce_step(a, &la, NULL, x, lr, B, R, 1, 0), TP_OK);
    char *dir = tp_test_scratch_dir("ckpt");
    char path[4096];
    snprintf(path, sizeof path, "%s/net.ckpt", dir);
    tp_ckpt *ck = tp_ckpt_init();
    double grid[5] = { 0, 1.5, -2, 3e300, 1e-300 };
    ck_assert_int_eq(tp_ckpt_set_slot(ck, "bias.grid", grid, 5), TP_OK);
    ck_assert_int_eq(tp_ckpt_set_net(ck, a), TP_OK);
    ck_assert_int_eq(tp_ckpt_save(ck, path), TP_OK);
    tp_ckpt_free(ck);

    tp_ckpt *ld = tp_ckpt_load(path);
    ck_assert_ptr_nonnull(ld);
    ck_assert_int_eq(tp_ckpt_slot_count(ld), 1);
    ck_assert_str_eq(tp_ckpt_slot_name(ld, 0), "bias.grid");
    ck_assert_int_eq(tp_ckpt_slot_size(ld, "bias.grid"), 5);
    ck_assert_int_eq(tp_ckpt_slot_size(ld, "nope"), -1);
    double g2[5];
    ck_assert_int_eq(tp_ckpt_get_slot(ld, "bias.grid", g2, 5), TP_OK);
    ck_assert(memcmp(grid, g2, sizeof grid) == 0);
    tp_net *b = tp_ckpt_new_net(ld, "cpu", 3);   /* same chunk: same summation order */
    ck_assert_ptr_nonnull(b);
    tp_ckpt_free(ld);
    ck_assert_int_eq(tp_net_step_count(b), 1);

    ck_assert_int_eq(tp_net_wdce_step(a, &la, NULL, x, lr, B, R, 2, 0), TP_OK);
    ck_assert_int_eq(tp_net_wdce_step(b, &lb, NULL, x, lr, B, R, 2, 0), TP_OK);
    ck_assert(la == lb);
    int64_t np = tp_net_num_params(a);
    float *pa = malloc(sizeof(float) * np), *pb = malloc(sizeof(float) * np);
    for (int w = 0; w < 5; w++) {
        tp_net_get(a, w, pa, np);
        tp_net_get(b, w, pb, np);
        ck_assert_msg(memcmp(pa, pb, sizeof(float) * np) == 0, "slab %d differs after the next step", w);
    }
    free(pa); free(pb);

    /* corruption and truncation are detected */
    FILE *f = fopen(path, "r+b");
    fseek(f, 100, SEEK_SET);
    fputc(0x5a, f);
    fclose(f);
    ck_assert_ptr_null(tp_ckpt_load(path));
    ck_assert_int_eq(truncate(path, 40), 0);
    ck_assert_ptr_null(tp_ckpt_load(path));
    ck_assert_ptr_null(tp_ckpt_load("/nonexistent/x.ckpt"));
    unlink(path);
    rmdir(dir);
    free(dir);
    tp_net_free(a); tp_net_free(b);
}
END_TEST

/* Tiled attention through the net object (tp_tf_tiled, forced): sampled
 * and teacher-forced log q agree, and a network whose activations were
 * sized for one attention layout refuses to run under the other instead
 * of overrunning them. */
START_TEST(test_net_tiled_attention) {
    enum { L = 3, T = 9, ROWS = 4 };
    tp_tf_set_tiled_min(1);
    tp_net *a = tiny_net(L, 3, 2, 1);
    uint8_t x[ROWS * T];
    double lq[ROWS], lt[ROWS];
    float lp[ROWS * T * 3];
    ck_assert_int_eq(tp_net_sample(a, x, lq, ROWS, 7, 300, 0, 0), TP_OK);
    ck_assert_int_eq(tp_net_sample(a, x, lt, ROWS, 7, 300, 1, 0), TP_OK);
    for (int r = 0; r < ROWS; r++) ck_assert(lq[r] < 0 && tp_close(lt[r], lq[r], TP_TOL_F64));
    tp_tf_set_tiled_min(0);
    ck_assert_int_eq(tp_net_forward(a, lp, x, ROWS, 0), TP_ERR_ARG);
    ck_assert_msg(strstr(tp_last_error(), "tiled attention was on") != NULL, "%s", tp_last_error());
    tp_tf_set_tiled_min(1);
    ck_assert_int_eq(tp_net_forward(a, lp, x, ROWS, 0), TP_OK);
    tp_tf_set_tiled_min(0);
    tp_net_free(a);
}
END_TEST

/* in-painting over several chunks (chunk 2, 7 rows): fully masked rows
 * equal tp_net_sample bit for bit, ragged masks equal the rows drawn one
 * at a time, given and hidden sites never change, teacher forcing returns
 * the drawn logq; bad input fails with TP_ERR_ARG */
START_TEST(test_net_inpaint_chunks) {
    enum { L = 3, T = 9, ROWS = 7, Q = 3 };
    tp_net *a = tiny_net(L, Q, 2, 0);
    uint8_t all[ROWS * T], xs[ROWS * T];
    double lq[ROWS], ls[ROWS];
    memset(all, Q, sizeof all);
    ck_assert_int_eq(tp_net_inpaint(a, all, lq, NULL, NULL, ROWS, 5, 70, 1), TP_OK);
    ck_assert_int_eq(tp_net_sample(a, xs, ls, ROWS, 5, 70, 0, 1), TP_OK);
    ck_assert(memcmp(all, xs, sizeof xs) == 0);
    for (int r = 0; r < ROWS; r++) ck_assert(lq[r] == ls[r]);
    uint8_t part[ROWS * T], fill[ROWS * T], x[ROWS * T];
    for (int i = 0; i < ROWS * T; i++) {
        int r = i / T;
        part[i] = r == 2 ? (uint8_t)(i % Q) : ((i * 7 + r) % (r + 2) == 0 ? Q : (uint8_t)(i % Q));
        fill[i] = (uint8_t)!(r == 5 && i % 3 == 0);
    }
    memcpy(x, part, sizeof x);
    ck_assert_int_eq(tp_net_inpaint(a, x, lq, NULL, fill, ROWS, 5, 70, 0), TP_OK);
    ck_assert(lq[2] == 0);
    for (int r = 0; r < ROWS; r++) {
        uint8_t one[T], tf[T];
        double l1;
        memcpy(one, part + r * T, T);
        ck_assert_int_eq(tp_net_inpaint(a, one, &l1, NULL, fill + r * T, 1, 5, 70 + r, 0), TP_OK);
        ck_assert(memcmp(one, x + r * T, T) == 0);
        ck_assert(l1 == lq[r]);
        for (int i = 0; i < T; i++)
            if (part[r * T + i] < Q || !fill[r * T + i]) ck_assert_int_eq(x[r * T + i], part[r * T + i]);
        memcpy(tf, part + r * T, T);
        ck_assert_int_eq(tp_net_inpaint(a, tf, &l1, x + r * T, fill + r * T, 1, 5, 70 + r, 0), TP_OK);
        ck_assert(memcmp(tf, x + r * T, T) == 0);
        ck_assert(l1 == lq[r]);
    }
    part[3] = Q + 1;
    ck_assert_int_eq(tp_net_inpaint(a, part, lq, NULL, NULL, ROWS, 5, 70, 0), TP_ERR_ARG);
    part[3] = Q;
    memset(all, Q, sizeof all);
    ck_assert_int_eq(tp_net_inpaint(a, part, lq, all, NULL, ROWS, 5, 70, 0), TP_ERR_ARG);
    ck_assert(strstr(tp_last_error(), "truth in 0..2"));
    tp_net_free(a);
}
END_TEST

Suite *net_suite(void) {
    Suite *s = suite_create("net");
    TCase *tc = tp_test_tcase("cpu", 60);
    tcase_add_test(tc, test_net_sample_teacher_consistent);
    tcase_add_test(tc, test_net_sample_site_forward_exact);
    tcase_add_test(tc, test_net_likelihood_normalised);
    tcase_add_test(tc, test_net_training_reduces_loss);
    tcase_add_test(tc, test_net_checkpoint_roundtrip);
    tcase_add_test(tc, test_net_inpaint_chunks);
    tcase_add_test(tc, test_net_tiled_attention);
    suite_add_tcase(s, tc);
    return s;
}
