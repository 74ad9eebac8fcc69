/*
 * tests/check_rng.c -- Philox4x32-10: the published known-answer vectors
 * (Random123 kat_vectors), stream independence and reproducibility, and
 * distribution checks with tolerances stated in standard errors.
 */
#include "check_util.h"
#include "tp_ffi.h"

#include <math.h>
#include <string.h>

START_TEST(test_philox_known_answers) {
    /* ctr[4], key[2] -> out[4], from Random123's kat_vectors */
    static const uint32_t kat[3][10] = {
        { 0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8 },
        { 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff,
          0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd },
        { 0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0,
          0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1 },
    };
    for (int k = 0; k < 3; k++) {
        uint32_t out[4];
        tp_philox4x32_10(out, kat[k], kat[k] + 4);
        for (int i = 0; i < 4; i++)
            ck_assert_msg(out[i] == kat[k][6 + i], "vector %d word %d: got %08x want %08x", k, i, out[i], kat[k][6 + i]);
    }
}
END_TEST

START_TEST(test_stream_layout) {
    /* word j of block b of stream s is Philox(ctr = (b, 0, s, 0), key = seed) */
    tp_rng r;
    tp_rng_init(&r, 0x1234567890abcdefULL, 7);
    for (uint32_t b = 0; b < 3; b++) {
        uint32_t ctr[4] = { b, 0, 7, 0 }, key[2] = { 0x90abcdef, 0x12345678 }, want[4];
        tp_philox4x32_10(want, ctr, key);
        for (int j = 0; j < 4; j++) ck_assert_uint_eq(tp_rng_u32(&r), want[j]);
    }
}
END_TEST

START_TEST(test_streams_reproducible_and_distinct) {
    tp_rng a, b, c;
    tp_rng_init(&a, 42, 0);
    tp_rng_init(&b, 42, 0);
    tp_rng_init(&c, 42, 1);
    int same_ac = 0;
    for (int i = 0; i < 1000; i++) {
        uint32_t x = tp_rng_u32(&a), y = tp_rng_u32(&b), z = tp_rng_u32(&c);
        ck_assert_uint_eq(x, y);
        same_ac += x == z;
    }
    ck_assert_int_lt(same_ac, 3);
}
END_TEST

START_TEST(test_uniform_moments) {
    /* mean 1/2 (var 1/12) and E[u^2] = 1/3 (var 4/45), each within 5 SE */
    tp_rng r;
    tp_rng_init(&r, 1, 0);
    const int n = 1000000;
    double s = 0, s2 = 0, lo = 1, hi = 0;
    for (int i = 0; i < n; i++) {
        double u = tp_rng_uniform(&r);
        ck_assert(u >= 0 && u < 1);
        s += u; s2 += u * u;
        if (u < lo) lo = u;
        if (u > hi) hi = u;
    }
    double se_mean = sqrt(1.0 / 12 / n), se_sq = sqrt(4.0 / 45 / n);
    ck_assert_msg(fabs(s / n - 0.5) < 5 * se_mean, "mean %.6f", s / n);
    ck_assert_msg(fabs(s2 / n - 1.0 / 3) < 5 * se_sq, "E[u^2] %.6f", s2 / n);
    ck_assert(lo < 1e-4 && hi > 1 - 1e-4);
}
END_TEST

START_TEST(test_below_chi_square) {
    /* 7 bins, 700000 draws: chi^2 with 6 dof; P(chi^2 > 22.46) = 0.001 */
    tp_rng r;
    tp_rng_init(&r, 3, 5);
    int counts[7] = { 0 };
    const int n = 700000;
    for (int i = 0; i < n; i++) {
        uint32_t k = tp_rng_below(&r, 7);
        ck_assert_uint_lt(k, 7);
        counts[k]++;
    }
    double chi2 = 0, e = n / 7.0;
    for (int k = 0; k < 7; k++) chi2 += (counts[k] - e) * (counts[k] - e) / e;
    ck_assert_msg(chi2 < 22.46, "chi2 = %.2f", chi2);
    ck_assert_uint_eq(tp_rng_below(&r, 1), 0);
}
END_TEST

START_TEST(test_normal_moments) {
    /* mean 0 (SE 1/sqrt n), variance 1 (SE sqrt(2/n)), within 5 SE */
    tp_rng r;
    tp_rng_init(&r, 9, 2);
    const int n = 500000;
    double s = 0, s2 = 0;
    for (int i = 0; i < n; i++) {
        double z = tp_rng_normal(&r);
        ck_assert(isfinite(z));
        s += z; s2 += z * z;
    }
    double mean = s / n, var = s2 / n - mean * mean;
    ck_assert_msg(fabs(mean) < 5 / sqrt(n), "mean %.5f", mean);
    ck_assert_msg(fabs(var - 1) < 5 * sqrt(2.0 / n), "var %.5f", var);
}
END_TEST

START_TEST(test_fill_rejects_bad_args) {
    tp_rng r;
    tp_rng_init(&r, 1, 0);
    ck_assert_int_eq(tp_rng_fill_uniform(&r, NULL, 5), TP_ERR_ARG);
    ck_assert_int_eq(tp_rng_fill_uniform(&r, NULL, -1), TP_ERR_ARG);
    double buf[4];
    ck_assert_int_eq(tp_rng_fill_uniform(&r, buf, 4), TP_OK);
    tp_rng r2;
    tp_rng_init(&r2, 1, 0);
    for (int i = 0; i < 4; i++) ck_assert(buf[i] == tp_rng_uniform(&r2));
}
END_TEST

START_TEST(test_pick_rows) {
    /* rows of a 5 x 3 table, 20000 picks: each row's count within 5 SE of
     * 4000 (binomial), every picked row intact, the k-th pick from the k-th
     * uniform of the stream */
    uint8_t src[15];
    for (int i = 0; i < 15; i++) src[i] = (uint8_t)(10 * (i / 3) + i % 3);
    enum { K = 20000 };
    static uint8_t out[K * 3];
    ck_assert_int_eq(tp_rng_pick_rows(out, src, 5, 3, K, 9, 4), TP_OK);
    int cnt[5] = { 0 };
    tp_rng r;
    tp_rng_init(&r, 9, 4);
    for (int k = 0; k < K; k++) {
        int row = out[3 * k] / 10;
        ck_assert(row >= 0 && row < 5);
        ck_assert_int_eq(row, (int)(tp_rng_uniform(&r) * 5));
        ck_assert(memcmp(out + 3 * k, src + 3 * row, 3) == 0);
        cnt[row]++;
    }
    double se = sqrt(K * 0.2 * 0.8);
    for (int i = 0; i < 5; i++) ck_assert_msg(fabs(cnt[i] - K * 0.2) < 5 * se, "row %d picked %d times", i, cnt[i]);
    ck_assert_int_eq(tp_rng_pick_rows(out, src, 0, 3, 1, 9, 4), TP_ERR_ARG);
    ck_assert_int_eq(tp_rng_pick_rows(out, NULL, 5, 3, 1, 9, 4), TP_ERR_ARG);
    ck_assert_int_eq(tp_rng_pick_rows(out, src, 5, 3, -1, 9, 4), TP_ERR_ARG);
    ck_assert_int_eq(tp_rng_pick_rows(NULL, NULL, 5, 3, 0, 9, 4), TP_OK);
    /* token range check (kernels/common.c) */
    uint8_t t[4] = { 0, 1, 2, 1 };
    ck_assert_int_eq(tp_tokens_check("t", t, 4, 3), TP_OK);
    ck_assert_int_eq(tp_tokens_check("t", t, 4, 2), TP_ERR_ARG);
    ck_assert_msg(strstr(tp_last_error(), "t: token 2 at index 2 is not a real state") != NULL, "%s", tp_last_error());
    ck_assert_int_eq(tp_tokens_check("t", NULL, 1, 2), TP_ERR_ARG);
}
END_TEST

Suite *rng_suite(void) {
    Suite *s = suite_create("rng");
    TCase *tc = tp_test_tcase("philox", 30);
    tcase_add_test(tc, test_philox_known_answers);
    tcase_add_test(tc, test_stream_layout);
    tcase_add_test(tc, test_streams_reproducible_and_distinct);
    tcase_add_test(tc, test_uniform_moments);
    tcase_add_test(tc, test_below_chi_square);
    tcase_add_test(tc, test_normal_moments);
    tcase_add_test(tc, test_fill_rejects_bad_args);
    tcase_add_test(tc, test_pick_rows);
    suite_add_tcase(s, tc);
    return s;
}
