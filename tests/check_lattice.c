/*
 * tests/check_lattice.c -- lattices (runtime/lattice.c): site numbering,
 * neighbour shells and coordination numbers of known lattices, bond lists,
 * images in tiny cells, 2-colouring, position lookup, and bad input.
 */
#include "check_util.h"
#include "tp_ffi.h"

#include <math.h>
#include <string.h>

START_TEST(test_lattice_square_neighbours) {
    int L = 5;
    tp_lattice *lat = tp_lattice_init_square(L, 3);
    ck_assert_ptr_nonnull(lat);
    ck_assert_int_eq(lat->n, 25);
    ck_assert_int_eq(lat->dim, 2);
    ck_assert_int_eq(lat->shell_z[0], 4);
    ck_assert_int_eq(lat->shell_z[1], 4);
    ck_assert_int_eq(lat->shell_z[2], 4);
    ck_assert(fabs(lat->shell_dist[1] - sqrt(2)) < 1e-12);
    ck_assert(fabs(lat->shell_dist[2] - 2) < 1e-12);
    /* offsets sorted lexicographically: (-1,0), (0,-1), (0,1), (1,0) */
    for (int y = 0; y < L; y++)
        for (int x = 0; x < L; x++) {
            int i = x + L * y;
            const int32_t *nb = lat->nb[0] + 4 * i;
            ck_assert_int_eq(nb[0], (x + L - 1) % L + L * y);
            ck_assert_int_eq(nb[1], x + L * ((y + L - 1) % L));
            ck_assert_int_eq(nb[2], x + L * ((y + 1) % L));
            ck_assert_int_eq(nb[3], (x + 1) % L + L * y);
            ck_assert(lat->pos[3 * i] == x && lat->pos[3 * i + 1] == y && lat->pos[3 * i + 2] == 0);
        }
    ck_assert_int_eq(lat->nbond[0], 2 * L * L);
    ck_assert_int_eq(lat->bipartite, 0);          /* odd L */
    ck_assert_ptr_null(lat->color);
    tp_lattice_free(lat);

    lat = tp_lattice_init_square(4, 1);
    ck_assert_int_eq(lat->bipartite, 1);
    for (int i = 0; i < 16; i++) {
        ck_assert_int_eq(lat->color[i], ((i % 4) + (i / 4)) % 2);
        for (int k = 0; k < 4; k++) ck_assert_int_ne(lat->color[lat->nb[0][4 * i + k]], lat->color[i]);
    }
    /* every bond once: each site appears in exactly 4 bond ends */
    int deg[16] = {0};
    for (int b = 0; b < lat->nbond[0]; b++) { deg[lat->bonds[0][2 * b]]++; deg[lat->bonds[0][2 * b + 1]]++; }
    for (int i = 0; i < 16; i++) ck_assert_int_eq(deg[i], 4);
    tp_lattice_free(lat);

    /* 2 x 2 torus: both x-neighbours are the same site (two images), 2L^2 bonds */
    lat = tp_lattice_init_square(2, 1);
    ck_assert_int_eq(lat->nb[0][0], 1);
    ck_assert_int_eq(lat->nb[0][3], 1);
    ck_assert_int_eq(lat->nbond[0], 8);
    tp_lattice_free(lat);
}
END_TEST

START_TEST(test_lattice_coordination_numbers) {
    struct { tp_lattice *lat; int z[4]; double d2[4]; } cases[5];
    cases[0].lat = tp_lattice_init_cubic(4, 3);
    int zc[4] = {6, 12, 8, 0}; double dc[4] = {1, 2, 3, 0};
    cases[1].lat = tp_lattice_init_fcc(4, 4, 4, 4);
    int zf[4] = {12, 6, 24, 12}; double df[4] = {2, 4, 6, 8};   /* (a/2)^2 units */
    /* triangular: prim (1,0), (1/2, sqrt3/2) */
    double tri[4] = {1, 0, 0.5, sqrt(3) / 2}, b0[2] = {0, 0};
    int32_t s6[2] = {6, 6};
    cases[2].lat = tp_lattice_init(2, tri, 1, b0, s6, 3, "triangular");
    int zt[4] = {6, 6, 6, 0}; double dt[4] = {1, 3, 4, 0};
    /* honeycomb: triangular cell with a two-site basis */
    double hb[4] = {0, 0, 1.0 / 3, 1.0 / 3};
    cases[3].lat = tp_lattice_init(2, tri, 2, hb, s6, 3, "honeycomb");
    int zh[4] = {3, 6, 3, 0}; double dh[4] = {1.0 / 3, 1, 4.0 / 3, 0};
    /* BCC: cubic cell with basis (0,0,0), (1/2,1/2,1/2) */
    double cub[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1}, bb[6] = {0, 0, 0, 0.5, 0.5, 0.5};
    int32_t s3[3] = {3, 3, 3};
    cases[4].lat = tp_lattice_init(3, cub, 2, bb, s3, 2, "bcc");
    int zb[4] = {8, 6, 0, 0}; double db[4] = {0.75, 1, 0, 0};
    int *zs[5] = {zc, zf, zt, zh, zb};
    double *ds[5] = {dc, df, dt, dh, db};
    for (int c = 0; c < 5; c++) {
        tp_lattice *lat = cases[c].lat;
        ck_assert_msg(lat != NULL, "case %d: %s", c, tp_last_error());
        for (int s = 0; s < lat->nshell; s++) {
            ck_assert_msg(lat->shell_z[s] == zs[c][s], "%s shell %d: z = %d, want %d", lat->kind, s + 1, lat->shell_z[s], zs[c][s]);
            ck_assert_msg(fabs(lat->shell_dist[s] * lat->shell_dist[s] - ds[c][s]) < 1e-9, "%s shell %d: d^2 = %g",
                          lat->kind, s + 1, lat->shell_dist[s] * lat->shell_dist[s]);
            ck_assert_int_eq(lat->nbond[s], (int64_t)lat->n * lat->shell_z[s] / 2);
            /* neighbour relation is symmetric (as a multiset) */
            for (int i = 0; i < lat->n; i++)
                for (int k = 0; k < lat->shell_z[s]; k++) {
                    int j = lat->nb[s][i * lat->shell_z[s] + k], back = 0;
                    for (int u = 0; u < lat->shell_z[s]; u++) back += lat->nb[s][j * lat->shell_z[s] + u] == i;
                    ck_assert_int_gt(back, 0);
                }
        }
    }
    ck_assert_int_eq(cases[3].lat->bipartite, 1);   /* honeycomb */
    ck_assert_int_eq(cases[2].lat->bipartite, 0);   /* triangular */
    ck_assert_int_eq(cases[4].lat->bipartite, 1);   /* bcc */
    for (int c = 0; c < 5; c++) tp_lattice_free(cases[c].lat);
}
END_TEST

START_TEST(test_lattice_fcc_sites_and_lookup) {
    tp_lattice *lat = tp_lattice_init_fcc(2, 2, 4, 2);
    ck_assert_int_eq(lat->n, 16);
    for (int i = 0; i < lat->n; i++) {
        double s = lat->pos[3 * i] + lat->pos[3 * i + 1] + lat->pos[3 * i + 2];
        ck_assert(fabs(s - 2 * round(s / 2)) < 1e-12);     /* even coordinate sum */
        ck_assert_int_eq(tp_lattice_find_site(lat, lat->pos + 3 * i), i);
        double img[3];
        for (int k = 0; k < 3; k++) img[k] = lat->pos[3 * i + k] + 2 * lat->cell[3 + k] - lat->cell[6 + k];
        ck_assert_int_eq(tp_lattice_find_site(lat, img), i);
    }
    double off[3] = {1, 1, 0}, bad[3] = {1, 0, 0};
    int32_t map[16];
    ck_assert_int_eq(tp_lattice_shift(lat, map, off), TP_OK);
    for (int i = 0; i < 16; i++) {
        double p[3] = {lat->pos[3 * i] + 1, lat->pos[3 * i + 1] + 1, lat->pos[3 * i + 2]};
        ck_assert_int_eq(map[i], tp_lattice_find_site(lat, p));
    }
    ck_assert_int_eq(tp_lattice_shift(lat, map, bad), TP_ERR_ARG);
    ck_assert(strstr(tp_last_error(), "does not land on a site") != NULL);
    tp_lattice_retain(lat);
    tp_lattice_free(lat);
    ck_assert_int_eq(lat->n, 16);     /* still alive: one reference left */
    tp_lattice_free(lat);
    tp_lattice_free(NULL);
}
END_TEST

START_TEST(test_lattice_rejects_bad_input) {
    ck_assert_ptr_null(tp_lattice_init_square(0, 1));
    ck_assert(strstr(tp_last_error(), "L must be >= 1") != NULL);
    ck_assert_ptr_null(tp_lattice_init_square(4, 9));
    ck_assert(strstr(tp_last_error(), "shells must be in 1..8") != NULL);
    double prim[4] = {1, 0, 2, 0}, b[2] = {0, 0};
    int32_t sz[2] = {3, 3};
    ck_assert_ptr_null(tp_lattice_init(2, prim, 1, b, sz, 1, NULL));
    ck_assert(strstr(tp_last_error(), "linearly dependent") != NULL);
    /* non-finite geometry is an error, not an endless neighbour search */
    double nanc[4] = {NAN, 0, 0, 1}, infc[4] = {1, 0, 0, INFINITY};
    ck_assert_ptr_null(tp_lattice_init(2, nanc, 1, b, sz, 1, NULL));
    ck_assert_msg(strstr(tp_last_error(), "cell vector 1, component 1 is not finite"), "%s", tp_last_error());
    ck_assert_ptr_null(tp_lattice_init(2, infc, 1, b, sz, 1, NULL));
    ck_assert_msg(strstr(tp_last_error(), "cell vector 2, component 2 is not finite"), "%s", tp_last_error());
    double sq[4] = {1, 0, 0, 1}, b2[4] = {0, 0, 1, 1};
    ck_assert_ptr_null(tp_lattice_init(2, sq, 2, b2, sz, 1, NULL));
    ck_assert(strstr(tp_last_error(), "coincide") != NULL);
    /* inequivalent basis sites (the Lieb lattice: corner z = 4, edge z = 2) */
    double b3[6] = {0, 0, 0.5, 0, 0, 0.5};
    ck_assert_ptr_null(tp_lattice_init(2, sq, 3, b3, sz, 1, NULL));
    ck_assert(strstr(tp_last_error(), "inequivalent") != NULL);
    ck_assert_ptr_null(tp_lattice_init(4, sq, 1, b, sz, 1, NULL));
    ck_assert(strstr(tp_last_error(), "dimension") != NULL);
}
END_TEST

Suite *lattice_suite(void) {
    Suite *s = suite_create("lattice");
    TCase *tc = tp_test_tcase("lattice", 30);
    tcase_add_test(tc, test_lattice_square_neighbours);
    tcase_add_test(tc, test_lattice_coordination_numbers);
    tcase_add_test(tc, test_lattice_fcc_sites_and_lookup);
    tcase_add_test(tc, test_lattice_rejects_bad_input);
    suite_add_tcase(s, tc);
    return s;
}
