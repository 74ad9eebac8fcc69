/*
 * runtime/marginal.c -- consistency rows, reductions and gradient weights
 * of a marginalization model (runtime/marginal.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tp_ffi.h"

static tp_status check_shape(const char *fname, int32_t rows, int32_t T, int32_t q) {
    if (rows < 0 || T < 1 || q < 2 || q > 255)
        return TP_ERROR(TP_ERR_ARG, "%s: bad shape (rows %d, sites %d, states %d)", fname, rows, T, q);
    return TP_OK;
}

tp_status tp_mam_prefix(uint8_t *before, uint8_t *upto, int32_t *site, const uint8_t *x,
                        uint64_t seed, uint64_t stream0, int32_t rows, int32_t T, int32_t q) {
    tp_status st = check_shape("marginal prefix", rows, T, q);
    if (st) return st;
    if (!before || !upto || !site || !x) return TP_ERROR(TP_ERR_ARG, "marginal prefix: NULL array");
    for (int64_t i = 0; i < (int64_t)rows * T; i++)
        if (x[i] >= q)
            return TP_ERROR(TP_ERR_ARG, "marginal prefix: token %d at row %lld site %lld is not a state below %d",
                            x[i], (long long)(i / T), (long long)(i % T), q);
    int32_t *orders = malloc(sizeof(int32_t) * (size_t)rows * (size_t)T + 1);
    if (!orders) return TP_ERROR(TP_ERR_NOMEM, "marginal prefix: out of memory");
#pragma omp parallel for schedule(static)
    for (int32_t r = 0; r < rows; r++) {
        int32_t *order = orders + (int64_t)r * T;
        tp_rng g;
        tp_rng_seed(&g, seed, stream0 + (uint64_t)r);
        for (int32_t i = 0; i < T; i++) order[i] = i;
        for (int32_t i = T - 1; i > 0; i--) {   /* Fisher-Yates */
            int32_t j = (int32_t)tp_rng_next_below(&g, (uint32_t)i + 1);
            int32_t t = order[i]; order[i] = order[j]; order[j] = t;
        }
        int32_t d = (int32_t)tp_rng_next_below(&g, (uint32_t)T);   /* 0-based: sigma(d) is revealed last */
        const uint8_t *xr = x + (int64_t)r * T;
        uint8_t *b = before + (int64_t)r * T, *u = upto + (int64_t)r * T;
        memset(b, q, (size_t)T);
        for (int32_t k = 0; k < d; k++) b[order[k]] = xr[order[k]];
        memcpy(u, b, (size_t)T);
        u[order[d]] = xr[order[d]];
        site[r] = order[d];
    }
    free(orders);
    return TP_OK;
}

tp_status tp_mam_reduce(double *f, const float *logp, int32_t rows, int32_t T, int32_t q) {
    tp_status st = check_shape("marginal reduce", rows, T, q);
    if (st) return st;
    for (int32_t r = 0; r < rows; r++) {
        const float *l = logp + (int64_t)r * T * q;
        double s = 0;
        for (int32_t i = 0; i < T; i++) s += l[(int64_t)i * q];
        f[r] = s;
    }
    return TP_OK;
}

tp_status tp_mam_pick(double *c, const float *logp, const uint8_t *x, const int32_t *site,
                      int32_t rows, int32_t T, int32_t q) {
    tp_status st = check_shape("marginal pick", rows, T, q);
    if (st) return st;
    for (int32_t r = 0; r < rows; r++) {
        int32_t i = site[r];
        if (i < 0 || i >= T) return TP_ERROR(TP_ERR_ARG, "marginal pick: site %d of row %d outside 0..%d", i, r, T - 1);
        uint8_t v = x[(int64_t)r * T + i];
        if (v >= q) return TP_ERROR(TP_ERR_ARG, "marginal pick: row %d site %d holds %d, not a state below %d", r, i, v, q);
        c[r] = logp[((int64_t)r * T + i) * q + v];
    }
    return TP_OK;
}

tp_status tp_mam_weights(double *loss, double *rw, const double *fb, const double *fu,
                         const double *c, int32_t rows) {
    if (rows < 1) return TP_ERROR(TP_ERR_ARG, "marginal weights: rows must be >= 1");
    double s = 0;
    for (int32_t r = 0; r < rows; r++) {
        double d = fb[r] + c[r] - fu[r];
        if (!isfinite(d)) return TP_ERROR(TP_ERR_ARG, "marginal weights: row %d is not finite", r);
        s += d * d;
        rw[r] = -2.0 * d / rows;
        rw[rows + r] = 2.0 * d / rows;
    }
    *loss = s / rows;
    return TP_OK;
}
