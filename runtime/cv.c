/*
 * runtime/cv.c -- built-in collective variables as functions of per-group
 * token counts (see runtime/cv.h); batched evaluation over rows with OpenMP.
 */
#include "tp_ffi.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *cv_names[] = {"", "magnetization", "fraction", "fractions", "simplex", "order"};

tp_cv *tp_cv_init(int32_t kind, const tp_lattice *lat, int32_t q, int32_t token) {
    if (!lat) { TP_ERROR(TP_ERR_ARG, "cv: no lattice"); return NULL; }
    if (kind < TP_CV_MAGNETIZATION || kind > TP_CV_ORDER) { TP_ERROR(TP_ERR_ARG, "cv: unknown kind %d", (int)kind); return NULL; }
    const char *name = cv_names[kind];
    if (q < 2 || q > 255) { TP_ERROR(TP_ERR_ARG, "cv %s: q must be in 2..255, got %d", name, (int)q); return NULL; }
    if (kind == TP_CV_MAGNETIZATION && q != 2) { TP_ERROR(TP_ERR_ARG, "cv magnetization: needs q = 2, got %d", (int)q); return NULL; }
    if (kind == TP_CV_SIMPLEX && q != 3) { TP_ERROR(TP_ERR_ARG, "cv simplex: needs q = 3, got %d", (int)q); return NULL; }
    if ((kind == TP_CV_FRACTION || kind == TP_CV_ORDER) && (token < 0 || token >= q)) {
        TP_ERROR(TP_ERR_ARG, "cv %s: token must be in 0..%d, got %d", name, (int)q - 1, (int)token);
        return NULL;
    }
    tp_cv *cv = calloc(1, sizeof *cv);
    if (cv) cv->group = calloc((size_t)lat->n, 1);
    if (!cv || !cv->group) { free(cv); TP_ERROR(TP_ERR_NOMEM, "cv: out of memory"); return NULL; }
    cv->kind = kind;
    cv->n = lat->n;
    cv->q = q;
    cv->token = token;
    cv->ngroup = 1;
    cv->dim = kind == TP_CV_FRACTIONS ? q : kind == TP_CV_SIMPLEX ? 2 : 1;
    snprintf(cv->name, sizeof cv->name, "%s", name);
    if (kind == TP_CV_ORDER) {
        /* sublattice by parity of the a/2 coordinates: alpha (e,e,e), beta (o,o,e),
         * gamma (o,e,o), delta (e,o,o); needs an even-integer supercell */
        for (int k = 0; k < 9; k++) {
            double v = lat->cell[k];
            if (fabs(v - 2 * round(v / 2)) > 1e-9) {
                free(cv->group); free(cv);
                TP_ERROR(TP_ERR_ARG, "cv order: the supercell is not commensurate with the conventional cubic cell "
                         "(needs integer a/2 coordinates and even supercell vectors, e.g. fcc 2x2x4 or 4x4x4)");
                return NULL;
            }
        }
        cv->ngroup = 4;
        for (int32_t i = 0; i < lat->n; i++) {
            int p[3];
            for (int k = 0; k < 3; k++) {
                double v = lat->pos[3 * i + k];
                if (fabs(v - round(v)) > 1e-9) {
                    free(cv->group); free(cv);
                    TP_ERROR(TP_ERR_ARG, "cv order: site %d has non-integer coordinates (needs an fcc lattice in a/2 units)", (int)i + 1);
                    return NULL;
                }
                p[k] = ((long)round(v)) & 1;
            }
            int g = (!p[0] && !p[1] && !p[2]) ? 0 : (p[0] && p[1] && !p[2]) ? 1 : (p[0] && !p[1] && p[2]) ? 2
                  : (!p[0] && p[1] && p[2]) ? 3 : -1;
            if (g < 0) {
                free(cv->group); free(cv);
                TP_ERROR(TP_ERR_ARG, "cv order: site %d is not an fcc site (odd coordinate sum)", (int)i + 1);
                return NULL;
            }
            cv->group[i] = (uint8_t)g;
        }
    }
    for (int32_t i = 0; i < lat->n; i++) cv->group_n[cv->group[i]]++;
    for (int g = 0; g < cv->ngroup; g++)
        if (cv->group_n[g] == 0) {
            free(cv->group); free(cv);
            TP_ERROR(TP_ERR_ARG, "cv %s: sublattice %d has no sites", name, g + 1);
            return NULL;
        }
    return cv;
}

void tp_cv_free(tp_cv *cv) {
    if (!cv) return;
    free(cv->group);
    free(cv);
}

void tp_cv_from_counts(const tp_cv *cv, double *out, const int32_t *counts) {
    double n = cv->n;
    switch (cv->kind) {
    case TP_CV_MAGNETIZATION:
        out[0] = (counts[1] - counts[0]) / n;
        break;
    case TP_CV_FRACTION:
        out[0] = counts[cv->token] / n;
        break;
    case TP_CV_FRACTIONS:
        for (int k = 0; k < cv->q; k++) out[k] = counts[k] / n;
        break;
    case TP_CV_SIMPLEX: {
        double c0 = counts[0] / n, c1 = counts[1] / n, c2 = counts[2] / n;
        out[0] = c0 - 0.5 * (c1 + c2);
        out[1] = 0.8660254037844386 * (c1 - c2);
        break;
    }
    case TP_CV_ORDER: {
        double a = (double)counts[0 * cv->q + cv->token] / cv->group_n[0];
        double b = (double)counts[1 * cv->q + cv->token] / cv->group_n[1];
        double g = (double)counts[2 * cv->q + cv->token] / cv->group_n[2];
        double d = (double)counts[3 * cv->q + cv->token] / cv->group_n[3];
        double sz = 0.5 * fabs(a + b - g - d), sy = 0.5 * fabs(a - b + g - d), sx = 0.5 * fabs(a - b - g + d);
        out[0] = sqrt(sx * sx + sy * sy + sz * sz);
        break;
    }
    }
}

tp_status tp_cv_eval(const tp_cv *cv, double *out, const uint8_t *x, int64_t B) {
    if (!cv) return TP_ERROR(TP_ERR_ARG, "cv: NULL");
    if (B < 0 || (B > 0 && (!out || !x))) return TP_ERROR(TP_ERR_ARG, "cv %s: bad buffers (B = %lld)", cv->name, (long long)B);
    int64_t n = cv->n;
    for (int64_t k = 0; k < B * n; k++)
        if (x[k] >= cv->q)
            return TP_ERROR(TP_ERR_ARG, "cv %s: configuration %lld, site %lld has token %d, must be < q = %d", cv->name,
                            (long long)(k / n + 1), (long long)(k % n + 1), (int)x[k], (int)cv->q);
    #pragma omp parallel for schedule(static) if (B * n > 65536)
    for (int64_t b = 0; b < B; b++) {
        int32_t counts[4 * 256];
        memset(counts, 0, sizeof(int32_t) * (size_t)cv->ngroup * (size_t)cv->q);
        const uint8_t *xb = x + b * n;
        for (int64_t i = 0; i < n; i++) counts[cv->group[i] * cv->q + xb[i]]++;
        tp_cv_from_counts(cv, out + b * cv->dim, counts);
    }
    return TP_OK;
}
