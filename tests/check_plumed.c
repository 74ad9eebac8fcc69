/*
 * tests/check_plumed.c -- PLUMED-style files (runtime/plumed.h): writer and
 * reader round trip, malformed input, the well-tempered height convention,
 * and "a HILLS file summed gives the same bias as the grid": a tp_bias
 * (runtime/bias.h) is built by well-tempered deposits recorded hill by
 * hill, the hills go through a HILLS file and back, and their Gaussians
 * summed on the grid must equal the bias's own values.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "check_util.h"
#include "tolerance.h"
#include "tp_ffi.h"

START_TEST(test_plumed_roundtrip)
{
    char *dir = tp_test_scratch_dir("plumed");
    char path[512];
    snprintf(path, sizeof path, "%s/COLVAR", dir);
    double t[3] = { 0, 0.5, 1 }, m[6] = { -0.25, 9, 1e-300, 9, 1.0 / 3.0, 9 }, bias[3] = { 0, 1e10, -2.5 };
    const char *fields[3] = { "time", "m", "metad.bias" };
    const double *cols[3] = { t, m, bias };
    int32_t strides[3] = { 1, 2, 1 };
    const char *k[1] = { "min_m" }, *v[1] = { "-pi" };
    ck_assert_int_eq(tp_plumed_write(path, fields, 3, k, v, 1, cols, strides, 2, 0), TP_OK);
    ck_assert_int_eq(tp_plumed_write(path, fields, 3, k, v, 1, cols, strides, 3, 1) , TP_OK);  /* append: no 2nd header */
    char *text = tp_test_read_file(path);
    ck_assert(!strncmp(text, "#! FIELDS time m metad.bias\n#! SET min_m -pi\n", 44));
    ck_assert(strstr(text + 10, "#! FIELDS") == NULL);
    free(text);
    tp_plumed *p = tp_plumed_read(path);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(tp_plumed_nfields(p), 3);
    ck_assert_str_eq(tp_plumed_field(p, 2), "metad.bias");
    ck_assert_int_eq(tp_plumed_find(p, "m"), 1);
    ck_assert_int_eq(tp_plumed_find(p, "nope"), -1);
    ck_assert_int_eq(tp_plumed_rows(p), 5);
    ck_assert_str_eq(tp_plumed_set(p, "min_m"), "-pi");
    const double *cm = tp_plumed_column(p, 1), *cb = tp_plumed_column(p, 2);
    for (int r = 0; r < 5; r++) {
        int i = r < 2 ? r : r - 2;
        ck_assert(cm[r] == m[2 * i] && cb[r] == bias[i]);     /* %.17g: exact */
    }
    tp_plumed_free(p);
    tp_plumed_free(NULL);
    /* malformed files name path:line */
    tp_test_write_file(path, "#! FIELDS time x\n1 2\n3\n");
    ck_assert_ptr_null(tp_plumed_read(path));
    ck_assert(strstr(tp_last_error(), "COLVAR:3: 1 values, expected 2") != NULL);
    tp_test_write_file(path, "#! FIELDS time x\n1 2x\n");
    ck_assert_ptr_null(tp_plumed_read(path));
    ck_assert(strstr(tp_last_error(), ":2: field x: '2x' is not a number") != NULL);
    tp_test_write_file(path, "1 2\n");
    ck_assert_ptr_null(tp_plumed_read(path));
    tp_test_write_file(path, "#! FIELDS a b\n#! FIELDS a c\n");
    ck_assert_ptr_null(tp_plumed_read(path));
    ck_assert_ptr_null(tp_plumed_read("/nonexistent/HILLS"));
    free(dir);
}
END_TEST

static void hills_vs_grid(int dim) {
    const double beta = 0.4407, gamma = 10.0, W = 1.1345;
    double lo[2] = { -1, -0.6 }, hi[2] = { 1, 1.1 }, sigma[2] = { 0.05, 0.1 };
    int32_t points[2] = { dim == 1 ? 257 : 33, 17 };
    tp_bias *b = tp_bias_init(dim, lo, hi, points, sigma, W, gamma, 1.0 / beta, TP_BIAS_GAUSSIAN);
    ck_assert_ptr_nonnull(b);
    tp_bias *ref = tp_bias_clone(b);
    const int cycles = 6, B = 16;
    double *hs = malloc(sizeof(double) * cycles * B), *cs = malloc(sizeof(double) * cycles * B * dim);
    double s[16 * 2];
    tp_rng r; tp_rng_seed(&r, 77, dim);
    for (int c = 0; c < cycles; c++) {
        for (int i = 0; i < B * dim; i++) {
            int k = i % dim;
            s[i] = lo[k] + (hi[k] - lo[k]) * (0.3 + 0.4 * tp_rng_next_double(&r));   /* overlapping hills */
        }
        if (c == 2) s[0] = hi[0] + 0.5;                      /* outside: clamped (default policy) */
        if (c == 4) {                                        /* an importance-weighted cycle */
            double lw[16];
            for (int i = 0; i < B; i++) lw[i] = i == 3 ? -INFINITY : 0.1 * i;
            ck_assert_int_eq(tp_bias_deposit_record(b, s, lw, B, hs + c * B, cs + c * B * dim), TP_OK);
            ck_assert_int_eq(tp_bias_deposit_weighted(ref, s, lw, B), TP_OK);
            ck_assert(hs[c * B + 3] == 0.0);                 /* weight 0: no hill, height 0 */
        } else {
            ck_assert_int_eq(tp_bias_deposit_record(b, s, NULL, B, hs + c * B, cs + c * B * dim), TP_OK);
            ck_assert_int_eq(tp_bias_deposit(ref, s, B), TP_OK);
        }
    }
    /* the recorded deposit is the bias's own cycle deposit, bit for bit */
    const double *v = tp_bias_values(b), *vr = tp_bias_values(ref);
    int64_t size = tp_bias_size(b);
    for (int64_t j = 0; j < size; j++) ck_assert(v[j] == vr[j]);
    tp_bias_info ib_, ir_;
    ck_assert_int_eq(tp_bias_get_info(b, &ib_), TP_OK);
    ck_assert_int_eq(tp_bias_get_info(ref, &ir_), TP_OK);
    ck_assert(ib_.nhills == ir_.nhills && ib_.ncycles == cycles && ir_.ncycles == cycles);
    ck_assert(cs[2 * B * dim] == hi[0]);                     /* the clamped centre is recorded */
    /* later hills are lower (well-tempered) */
    ck_assert(hs[cycles * B - 1] < hs[0] && hs[0] == W / B);

    char *dir = tp_test_scratch_dir("hills");
    char path[512];
    snprintf(path, sizeof path, "%s/HILLS", dir);
    const char *names[2] = { "x", "y" };
    const char *sk[2] = { "energy_unit", "time_unit" }, *sv[2] = { "J", "sweep" };
    ck_assert_int_eq(tp_plumed_write_hills(path, names, NULL, cs, sigma, hs, gamma, dim, 3 * B, sk, sv, 2, 0), TP_OK);
    ck_assert_int_eq(tp_plumed_write_hills(path, names, NULL, cs + 3 * B * dim, sigma, hs + 3 * B, gamma, dim,
                                           (cycles - 3) * B, sk, sv, 2, 1), TP_OK);
    tp_plumed *p = tp_plumed_read(path);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(tp_plumed_rows(p), cycles * B);
    ck_assert_str_eq(tp_plumed_set(p, "multivariate"), "false");
    ck_assert_str_eq(tp_plumed_set(p, "energy_unit"), "J");
    ck_assert_str_eq(tp_plumed_set(p, "time_unit"), "sweep");
    int32_t ih = tp_plumed_find(p, "height"), ib = tp_plumed_find(p, "biasf");
    ck_assert(ih >= 0 && ib >= 0 && tp_plumed_find(p, dim == 1 ? "sigma_x" : "sigma_y") >= 0);
    /* PLUMED convention: the file holds gamma/(gamma-1) times the deposited height */
    const double *hc = tp_plumed_column(p, ih);
    ck_assert(tp_close(hc[0], hs[0] * gamma / (gamma - 1), TP_TOL_F64));
    double scale = tp_plumed_hills_scale(tp_plumed_column(p, ib)[0]);
    ck_assert(tp_close(scale, 0.9, TP_TOL_F64));
    double *h = malloc(sizeof(double) * cycles * B);
    for (int i = 0; i < cycles * B; i++) h[i] = hc[i] * scale;
    const double *cen[2], *sig[2];
    for (int k = 0; k < dim; k++) {
        cen[k] = tp_plumed_column(p, tp_plumed_find(p, names[k]));
        char sn[16]; snprintf(sn, sizeof sn, "sigma_%s", names[k]);
        sig[k] = tp_plumed_column(p, tp_plumed_find(p, sn));
    }
    double *V = malloc(sizeof(double) * size);
    ck_assert_int_eq(tp_plumed_sum_hills(V, cen, sig, h, lo, hi, points, 1, dim, cycles * B), TP_OK);
    double vmax = 0;
    for (int64_t j = 0; j < size; j++) {
        ck_assert_msg(tp_close(V[j], v[j], TP_TOL_F64), "grid %lld: hills %.17g vs bias %.17g", (long long)j, V[j], v[j]);
        if (v[j] > vmax) vmax = v[j];
    }
    ck_assert(vmax > 0.5);                   /* a real bias, not zeros compared with zeros */
    tp_plumed_free(p);
    tp_bias_free(b); tp_bias_free(ref);
    free(hs); free(cs); free(h); free(V); free(dir);
}

START_TEST(test_plumed_hills_sum_equals_bias_grid_1d) { hills_vs_grid(1); }
END_TEST
START_TEST(test_plumed_hills_sum_equals_bias_grid_2d) { hills_vs_grid(2); }
END_TEST

Suite *plumed_suite(void) {
    Suite *s = suite_create("plumed");
    TCase *tc = tp_test_tcase("files", 30);
    tcase_add_test(tc, test_plumed_roundtrip);
    tcase_add_test(tc, test_plumed_hills_sum_equals_bias_grid_1d);
    tcase_add_test(tc, test_plumed_hills_sum_equals_bias_grid_2d);
    suite_add_tcase(s, tc);
    return s;
}
