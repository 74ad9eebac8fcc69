/*
 * tests/check_model.c -- energy models (runtime/model.c, model_ce.c) and
 * CVs (runtime/cv.c): dE == E(after) - E(before) for random configurations
 * and moves (many seeds, every model, CE on 2x2x4 and 4x4x4), swaps, the
 * Cu-Au ordered-structure formation energies (the published values), hand-checked
 * Ising/Potts energies, batches, CV values, and bad-input messages.
 */
#include "check_util.h"
#include "tolerance.h"
#include "tp_ffi.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


static tp_ce *cuau(void) {
    char *src = tp_test_read_file(tp_test_src_path("stdlib/tempera/data/cuau.lua"));
    ck_assert_ptr_nonnull(src);
    char *a = strstr(src, "[[\n"), *b = a ? strstr(a, "]]") : NULL;
    ck_assert(a && b);
    *b = 0;
    tp_ce *ce = tp_ce_parse(a + 3, "cuau");
    ck_assert_msg(ce != NULL, "%s", tp_last_error());
    free(src);
    return ce;
}

static void check_de_property(tp_model *m, int seeds, int moves) {
    int n = m->n;
    uint8_t *x = malloc((size_t)n);
    for (int seed = 0; seed < seeds; seed++) {
        tp_rng r;
        tp_rng_init(&r, 1234, (uint64_t)seed);
        for (int i = 0; i < n; i++) x[i] = (uint8_t)tp_rng_below(&r, (uint32_t)m->q);
        double e = tp_model_energy(m, x);
        for (int t = 0; t < moves; t++) {
            if (t % 3 == 2) {
                int i = (int)tp_rng_below(&r, (uint32_t)n), j = (int)tp_rng_below(&r, (uint32_t)n);
                uint8_t before[1024];
                memcpy(before, x, (size_t)n);
                double de = tp_model_de_swap(m, x, i, j);
                ck_assert(memcmp(before, x, (size_t)n) == 0);   /* restored */
                uint8_t a = x[i]; x[i] = x[j]; x[j] = a;
                double e1 = tp_model_energy(m, x);
                ck_assert_msg(fabs(de - (e1 - e)) <= TP_TOL_DE.abs + TP_TOL_DE.rel * (fabs(e) + fabs(e1)),
                              "%s seed %d: swap dE %.15g, E1 - E0 %.15g", m->name, seed, de, e1 - e);
                e = e1;
            } else {
                int i = (int)tp_rng_below(&r, (uint32_t)n), s = (int)tp_rng_below(&r, (uint32_t)m->q);
                double de = tp_model_de(m, x, i, s);
                x[i] = (uint8_t)s;
                double e1 = tp_model_energy(m, x);
                ck_assert_msg(fabs(de - (e1 - e)) <= TP_TOL_DE.abs + TP_TOL_DE.rel * (fabs(e) + fabs(e1)),
                              "%s seed %d move %d: dE %.15g, E1 - E0 %.15g", m->name, seed, t, de, e1 - e);
                e = e1;
            }
        }
    }
    free(x);
}

START_TEST(test_model_de_matches_energy_difference) {
    double J3[3] = {1.0, -0.35, 0.2};
    tp_lattice *sq = tp_lattice_init_square(6, 3);
    tp_lattice *sq2 = tp_lattice_init_square(2, 3);    /* images and self-neighbours */
    tp_lattice *cub = tp_lattice_init_cubic(3, 2);
    tp_model *ms[] = {
        tp_model_init_ising(sq, 1, J3, 0),
        tp_model_init_ising(sq, 3, J3, 0.3),
        tp_model_init_ising(sq2, 3, J3, -0.2),
        tp_model_init_ising(cub, 2, J3, 0.1),
        tp_model_init_potts(sq, 3, 1, J3, 0),
        tp_model_init_potts(sq, 4, 2, J3, 0.25),
        tp_model_init_potts(sq2, 3, 3, J3, 0.5),
    };
    for (size_t k = 0; k < sizeof ms / sizeof ms[0]; k++) {
        ck_assert_msg(ms[k] != NULL, "model %d: %s", (int)k, tp_last_error());
        check_de_property(ms[k], 20, 60);
        tp_model_free(ms[k]);
    }
    tp_lattice_free(sq); tp_lattice_free(sq2); tp_lattice_free(cub);
}
END_TEST

START_TEST(test_model_ce_de_matches_energy_difference) {
    tp_ce *ce = cuau();
    int sizes[2][3] = {{2, 2, 4}, {4, 4, 4}};
    double hs[2] = {0.0, 0.013};
    for (int c = 0; c < 2; c++) {
        tp_lattice *lat = tp_lattice_init_fcc(sizes[c][0], sizes[c][1], sizes[c][2], 1);
        tp_model *m = tp_model_init_ce(lat, ce, hs[c]);
        ck_assert_msg(m != NULL, "%s", tp_last_error());
        tp_lattice_free(lat);          /* the model keeps its own reference */
        check_de_property(m, 20, 60);
        tp_model_free(m);
    }
    tp_ce_free(ce);
}
END_TEST

/* Au sites of the ordered structures, from integer a/2 coordinates */
static void ordered(const tp_lattice *lat, int which, uint8_t *x) {
    for (int i = 0; i < lat->n; i++) {
        long X = lround(lat->pos[3 * i]), Y = lround(lat->pos[3 * i + 1]), Z = lround(lat->pos[3 * i + 2]);
        int corner = !(X & 1) && !(Y & 1) && !(Z & 1);
        x[i] = which == 0 ? corner : which == 1 ? !(Z & 1) : !corner;
    }
}

START_TEST(test_model_cuau_formation_energies) {
    const double want[3] = {-0.034167194237, -0.036182488075, -0.018754351040};
    const double want_x[3] = {0.25, 0.5, 0.75};
    tp_ce *ce = cuau();
    int sizes[2][3] = {{2, 2, 4}, {4, 4, 4}};
    for (int c = 0; c < 2; c++) {
        tp_lattice *lat = tp_lattice_init_fcc(sizes[c][0], sizes[c][1], sizes[c][2], 1);
        tp_model *m = tp_model_init_ce(lat, ce, 0);
        ck_assert_ptr_nonnull(m);
        const int mult[11] = {1, 1, 12, 6, 24, 12, 24, 36, 8, 12, 48};
        ck_assert_int_eq(tp_model_ce_ncluster(m), 11);
        for (int k = 0; k < 11; k++) ck_assert_int_eq(tp_model_ce_multiplicity(m, k), mult[k]);
        tp_cv *xau = tp_cv_init(TP_CV_FRACTION, lat, 2, 1);
        tp_cv *Q = tp_cv_init(TP_CV_ORDER, lat, 2, 1);
        ck_assert_msg(Q != NULL, "%s", tp_last_error());
        uint8_t x[64];
        for (int s = 0; s < 3; s++) {
            ordered(lat, s, x);
            double e = tp_model_energy(m, x) / lat->n;
            ck_assert_msg(fabs(e - want[s]) <= 1e-10 * fabs(want[s]), "structure %d on %d sites: %.15f eV/atom, want %.12f",
                          s, lat->n, e, want[s]);
            double v, qv;
            ck_assert_int_eq(tp_cv_eval(xau, &v, x, 1), TP_OK);
            ck_assert(tp_close(v, want_x[s], TP_TOL_F64));
            ck_assert_int_eq(tp_cv_eval(Q, &qv, x, 1), TP_OK);
            /* L1_2: sublattice fractions (1,0,0,0) -> S = (1/2,1/2,1/2), Q = sqrt(3)/2; L1_0: Q = 1 */
            ck_assert(tp_close(qv, s == 1 ? 1.0 : sqrt(3) / 2, TP_TOL_F64));
        }
        /* pure elements: zero formation energy, and the correlations of all-Au are 1 */
        memset(x, 0, 64);
        ck_assert(fabs(tp_model_energy(m, x)) < 1e-14);
        memset(x, 1, 64);
        ck_assert(fabs(tp_model_energy(m, x)) < 1e-14);
        double cf[11];
        ck_assert_int_eq(tp_model_ce_correlations(m, cf, x), TP_OK);
        for (int k = 0; k < 11; k++) ck_assert(tp_close(cf[k], 1.0, TP_TOL_F64));
        tp_cv_free(xau); tp_cv_free(Q);
        tp_model_free(m);
        tp_lattice_free(lat);
    }
    tp_ce_free(ce);
}
END_TEST

START_TEST(test_model_ising_potts_known_values_and_batch) {
    tp_lattice *lat = tp_lattice_init_square(4, 1);
    double J = 1;
    tp_model *is = tp_model_init_ising(lat, 1, &J, 0.5);
    tp_model *po = tp_model_init_potts(lat, 3, 1, &J, 0);
    uint8_t x[3 * 16];
    memset(x, 1, 16);                       /* all up: -32 - 0.5*16 */
    for (int i = 0; i < 16; i++) x[16 + i] = (uint8_t)((i % 4 + i / 4) % 2);   /* Neel: +32 */
    for (int i = 0; i < 16; i++) x[32 + i] = (uint8_t)(i / 4 == 0);             /* one up row */
    double e[3];
    ck_assert_int_eq(tp_model_energy_batch(is, e, x, 3), TP_OK);
    ck_assert(e[0] == -40 && e[1] == 32);
    ck_assert(e[2] == -(32 - 2 * 8) - 0.5 * (4 - 12));   /* 8 broken vertical bonds */
    ck_assert_int_eq(tp_model_energy_batch(po, e, x, 3), TP_OK);
    ck_assert(e[0] == -32 && e[1] == 0 && e[2] == -24);
    int32_t site[3] = {0, 5, 15};
    uint8_t st[3] = {0, 2, 2};
    double de[3];
    ck_assert_int_eq(tp_model_de_batch(po, de, x, site, st, 3), TP_OK);
    for (int b = 0; b < 3; b++) ck_assert(de[b] == tp_model_de(po, x + 16 * b, site[b], st[b]));
    ck_assert(de[0] == 4);
    /* errors name the row and site */
    x[16 + 3] = 3;
    ck_assert_int_eq(tp_model_energy_batch(po, e, x, 3), TP_ERR_ARG);
    ck_assert_msg(strstr(tp_last_error(), "configuration 2, site 4 has token 3") != NULL, "%s", tp_last_error());
    x[16 + 3] = 0;
    st[1] = 7;
    ck_assert_int_eq(tp_model_de_batch(po, de, x, site, st, 3), TP_ERR_ARG);
    ck_assert(strstr(tp_last_error(), "row 2: state 7") != NULL);
    tp_model_free(is); tp_model_free(po);
    ck_assert_ptr_null(tp_model_init_potts(lat, 1, 1, &J, 0));
    ck_assert(strstr(tp_last_error(), "q must be in 2..255, got 1") != NULL);
    ck_assert_ptr_null(tp_model_init_ising(lat, 2, (double[]){1, 1}, 0));
    ck_assert(strstr(tp_last_error(), "lattice has 1 neighbour shells") != NULL);
    tp_lattice_free(lat);
}
END_TEST

START_TEST(test_model_cv_values) {
    tp_lattice *lat = tp_lattice_init_square(3, 1);
    tp_cv *mag = tp_cv_init(TP_CV_MAGNETIZATION, lat, 2, 0);
    tp_cv *fr = tp_cv_init(TP_CV_FRACTIONS, lat, 3, 0);
    tp_cv *sx = tp_cv_init(TP_CV_SIMPLEX, lat, 3, 0);
    uint8_t x[18] = {1, 1, 1, 0, 0, 0, 1, 1, 0,   0, 0, 0, 0, 0, 0, 0, 0, 0};
    double v[6];
    ck_assert_int_eq(tp_cv_eval(mag, v, x, 2), TP_OK);
    ck_assert(tp_close(v[0], 1.0 / 9, TP_TOL_F64) && v[1] == -1);
    uint8_t y[18] = {0, 1, 2, 2, 2, 2, 1, 1, 0,   0, 0, 0, 0, 0, 0, 0, 0, 0};
    ck_assert_int_eq(tp_cv_eval(fr, v, y, 2), TP_OK);
    ck_assert(tp_close(v[0], 2.0 / 9, TP_TOL_F64) && tp_close(v[1], 3.0 / 9, TP_TOL_F64) && tp_close(v[2], 4.0 / 9, TP_TOL_F64));
    ck_assert(v[3] == 1 && v[4] == 0 && v[5] == 0);
    ck_assert_int_eq(tp_cv_eval(sx, v, y, 2), TP_OK);
    ck_assert(tp_close(v[0], 2.0 / 9 - 3.5 / 9, TP_TOL_F64) && tp_close(v[1], sqrt(3) / 2 * (-1.0 / 9), TP_TOL_F64));
    ck_assert(v[2] == 1 && v[3] == 0);     /* ordered phase 0 -> vertex (1, 0) */
    ck_assert_ptr_null(tp_cv_init(TP_CV_SIMPLEX, lat, 2, 0));
    ck_assert(strstr(tp_last_error(), "needs q = 3") != NULL);
    ck_assert_ptr_null(tp_cv_init(TP_CV_ORDER, lat, 2, 1));
    ck_assert(strstr(tp_last_error(), "commensurate") != NULL);
    tp_cv_free(mag); tp_cv_free(fr); tp_cv_free(sx);
    tp_lattice_free(lat);
}
END_TEST

START_TEST(test_model_ce_file_errors) {
    struct { const char *text, *msg; } bad[] = {
        {"", "t.ce:1: empty file"},
        {"tempera-ce 2\n", "t.ce:1: unsupported format version '2'"},
        {"# c\ntempera-ce 1\nname x\nclustr a 1 1\n", "t.ce:4: unknown keyword"},
        {"tempera-ce 1\ncluster a 0.1 2 0 0 0 1 1\n", "t.ce:2: cluster points need 3 coordinates each"},
        {"tempera-ce 1\ncluster a zz 1\n", "t.ce:2: bad ECI 'zz'"},
        {"tempera-ce 1\ncluster a 1 0\n", "t.ce:2: multiplicity must be"},
        {"tempera-ce 1\ncluster a 1 1\ncluster a 1 1\n", "t.ce:3: duplicate cluster 'a'"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        ck_assert_ptr_null(tp_ce_parse(bad[k].text, "t.ce"));
        ck_assert_msg(strstr(tp_last_error(), bad[k].msg) != NULL, "case %d: got '%s', want '%s'", (int)k, tp_last_error(), bad[k].msg);
    }
    /* errors found when wrapping onto a lattice name the file line too */
    tp_lattice *lat = tp_lattice_init_fcc(2, 2, 4, 1);
    tp_ce *ce = tp_ce_parse("tempera-ce 1\nlattice fcc\ncluster p 0.1 6 0 0 0 1 1 0\n", "t.ce");
    ck_assert_ptr_nonnull(ce);
    ck_assert_ptr_null(tp_model_init_ce(lat, ce, 0));
    ck_assert_msg(strstr(tp_last_error(), "t.ce:3: cluster p: the file gives multiplicity 6 but 12") != NULL, "%s", tp_last_error());
    tp_ce_free(ce);
    ce = tp_ce_parse("tempera-ce 1\ncluster p 0.1 auto 0 0 0 1 0 0\n", "t.ce");
    ck_assert_ptr_null(tp_model_init_ce(lat, ce, 0));
    ck_assert_msg(strstr(tp_last_error(), "t.ce:2: cluster p: point 2 is not a lattice vector") != NULL, "%s", tp_last_error());
    tp_ce_free(ce);
    ce = tp_ce_parse("tempera-ce 1\nlattice bcc\ncluster p 0.1 auto 0 0 0 1 1 0\n", "t.ce");
    ck_assert_ptr_null(tp_model_init_ce(lat, ce, 0));
    ck_assert(strstr(tp_last_error(), "written for a 'bcc' lattice") != NULL);
    tp_ce_free(ce);
    ck_assert_ptr_null(tp_ce_load("/nonexistent/x.ce"));
    ck_assert(strstr(tp_last_error(), "/nonexistent/x.ce: cannot open") != NULL);
    tp_lattice_free(lat);
}
END_TEST

START_TEST(test_model_ce_find_clusters) {
    /* the figure types and multiplicities of the Cu-Au expansion from cut-offs */
    tp_lattice *lat = tp_lattice_init_fcc(4, 4, 4, 4);
    char buf[8192];
    ck_assert_int_eq(tp_ce_find_clusters(lat, 2, lat->shell_dist[3] * (1 + 1e-9), buf, sizeof buf), TP_OK);
    ck_assert_msg(strstr(buf, "cluster c2_0 0 12 ") && strstr(buf, "cluster c2_1 0 6 ") && strstr(buf, "cluster c2_2 0 24 ")
                  && strstr(buf, "cluster c2_3 0 12 ") && !strstr(buf, "c2_4"), "%s", buf);
    ck_assert_int_eq(tp_ce_find_clusters(lat, 3, 2.0 * (1 + 1e-9), buf, sizeof buf), TP_OK);
    ck_assert_msg(strstr(buf, "cluster c3_0 0 24 ") && strstr(buf, "cluster c3_1 0 36 ") && !strstr(buf, "c3_2"), "%s", buf);
    ck_assert_int_eq(tp_ce_find_clusters(lat, 4, 2.0 * (1 + 1e-9), buf, sizeof buf), TP_OK);
    ck_assert_msg(strstr(buf, "cluster c4_0 0 8 ") && strstr(buf, "cluster c4_1 0 48 ") && strstr(buf, "cluster c4_2 0 12 ")
                  && !strstr(buf, "c4_3"), "%s", buf);
    /* the lines are a valid CE file whose multiplicities check on the lattice */
    char text[9000];
    snprintf(text, sizeof text, "tempera-ce 1\nlattice fcc\n%s", buf);
    tp_ce *ce = tp_ce_parse(text, "found");
    ck_assert_ptr_nonnull(ce);
    tp_model *m = tp_model_init_ce(lat, ce, 0);
    ck_assert_msg(m != NULL, "%s", tp_last_error());
    tp_model_free(m);
    tp_ce_free(ce);
    ck_assert_int_eq(tp_ce_find_clusters(lat, 4, 2.0, buf, 10), TP_ERR_ARG);
    ck_assert(strstr(tp_last_error(), "buffer too small") != NULL);
    tp_lattice_free(lat);
}
END_TEST

Suite *model_suite(void) {
    Suite *s = suite_create("model");
    TCase *tc = tp_test_tcase("model", 60);
    tcase_add_test(tc, test_model_de_matches_energy_difference);
    tcase_add_test(tc, test_model_ce_de_matches_energy_difference);
    tcase_add_test(tc, test_model_cuau_formation_energies);
    tcase_add_test(tc, test_model_ising_potts_known_values_and_batch);
    tcase_add_test(tc, test_model_cv_values);
    tcase_add_test(tc, test_model_ce_file_errors);
    tcase_add_test(tc, test_model_ce_find_clusters);
    suite_add_tcase(s, tc);
    return s;
}
