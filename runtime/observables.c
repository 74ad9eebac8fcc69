/*
 * runtime/observables.c -- error bars and simple observables for MC output
 * (runtime/observables.h).
 *
 * tau_int: the pooled normalised autocorrelation rho(t) over chains (global
 * mean), tau(W) = 1/2 + sum_{t=1..W} rho(t), with Sokal's window: the
 * smallest W >= 5 tau(W) (capped at T/2).  The reported error is
 * sqrt(var * 2 tau / N).  Blocking follows Flyvbjerg & Petersen (1989).
 */
#include "tp_ffi.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* tau with the Sokal window for (B, T) series around mean mu with variance c0
 * (population, pooled). */
static double tau_pooled(const double *x, int64_t B, int64_t T, double mu, int32_t *window) {
    double c0 = 0.0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t i = 0; i < T; i++) { double d = x[b * T + i] - mu; c0 += d * d; }
    c0 /= (double)(B * T);
    *window = 0;
    if (!(c0 > 0)) return 0.5;
    double tau = 0.5;
    int64_t wmax = T / 2;
    for (int64_t t = 1; t <= wmax; t++) {
        double c = 0.0;
        for (int64_t b = 0; b < B; b++) {
            const double *xb = x + b * T;
            for (int64_t i = 0; i + t < T; i++) c += (xb[i] - mu) * (xb[i + t] - mu);
        }
        c /= (double)(B * (T - t));
        tau += c / c0;
        *window = (int32_t)t;
        if ((double)t >= 5.0 * tau) break;
    }
    return tau < 0.5 ? 0.5 : tau;
}

tp_status tp_obs_tau_int(double *tau, const double *x, int64_t T) {
    if (!tau || !x || T < 2) return TP_ERROR(TP_ERR_ARG, "tau_int: need at least 2 samples");
    double mu = 0.0;
    for (int64_t i = 0; i < T; i++) mu += x[i];
    mu /= (double)T;
    int32_t w;
    *tau = tau_pooled(x, 1, T, mu, &w);
    return TP_OK;
}

tp_status tp_obs_blocking(double *err, const double *x, int64_t T) {
    if (!err || !x || T < 2) return TP_ERROR(TP_ERR_ARG, "blocking: need at least 2 samples");
    double *y = malloc((size_t)T * sizeof(double));
    if (!y) return TP_ERROR(TP_ERR_NOMEM, "blocking: out of memory");
    memcpy(y, x, (size_t)T * sizeof(double));
    int64_t m = T;
    double best = 0.0;
    while (m >= 2) {
        double mu = 0.0, v = 0.0;
        for (int64_t i = 0; i < m; i++) mu += y[i];
        mu /= (double)m;
        for (int64_t i = 0; i < m; i++) v += (y[i] - mu) * (y[i] - mu);
        double se = sqrt(v / ((double)m * (double)(m - 1)));
        if (se > best) best = se;
        if (m / 2 < 32) break;
        for (int64_t i = 0; i < m / 2; i++) y[i] = 0.5 * (y[2 * i] + y[2 * i + 1]);
        m /= 2;
    }
    free(y);
    *err = best;
    return TP_OK;
}

tp_status tp_obs_series(tp_obs_stats *out, const double *x, int64_t B, int64_t T) {
    if (!out || !x) return TP_ERROR(TP_ERR_ARG, "series: NULL argument");
    if (B < 1 || T < 2) return TP_ERROR(TP_ERR_ARG, "series: need B >= 1 chains of T >= 2 samples, got %lld x %lld",
                                        (long long)B, (long long)T);
    memset(out, 0, sizeof *out);
    int64_t N = B * T;
    double mu = 0.0;
    for (int64_t i = 0; i < N; i++) mu += x[i];
    mu /= (double)N;
    double v = 0.0;
    for (int64_t i = 0; i < N; i++) v += (x[i] - mu) * (x[i] - mu);
    out->mean = mu;
    out->var = v / (double)(N - 1);
    out->n = N;
    out->tau = tau_pooled(x, B, T, mu, &out->window);
    out->err = sqrt(out->var * 2.0 * out->tau / (double)N);
    /* blocking per chain, combined as independent means */
    double s2 = 0.0;
    for (int64_t b = 0; b < B; b++) {
        double e;
        TP_TRY(tp_obs_blocking(&e, x + b * T, T));
        s2 += e * e;
    }
    out->err_blocking = sqrt(s2) / (double)B;
    if (B >= 2) {
        double cm = 0.0;
        for (int64_t b = 0; b < B; b++) {
            double m = 0.0;
            for (int64_t i = 0; i < T; i++) m += x[b * T + i];
            m /= (double)T;
            cm += (m - mu) * (m - mu);
        }
        out->err_chains = sqrt(cm / (double)(B - 1) / (double)B);
    } else {
        out->err_chains = NAN;
    }
    return TP_OK;
}

tp_status tp_obs_corr_rows(double *out, const tp_lattice *lat, const uint8_t *x, int64_t B,
                           int32_t kind, int32_t q, int32_t rmax) {
    if (!out || !lat || !x) return TP_ERROR(TP_ERR_ARG, "corr: NULL argument");
    if (lat->nbasis != 1) return TP_ERROR(TP_ERR_ARG, "corr: needs a lattice with one site per cell (got %d)", lat->nbasis);
    if (kind != 0 && kind != 1) return TP_ERROR(TP_ERR_ARG, "corr: kind must be 0 (Ising) or 1 (Potts)");
    if (kind == 1 && q < 2) return TP_ERROR(TP_ERR_ARG, "corr: Potts needs q >= 2");
    if (B < 1) return TP_ERROR(TP_ERR_ARG, "corr: no samples");
    for (int a = 0; a < lat->dim; a++)
        if (rmax < 0 || rmax >= lat->size[a])
            return TP_ERROR(TP_ERR_ARG, "corr: rmax must be in 0..%d, got %d", lat->size[a] - 1, rmax);
    int64_t n = lat->n, R = rmax + 1, D = lat->dim;
    /* maps[(a * R + r) * n + i] = the site r cells from i along axis a */
    int32_t *maps = malloc((size_t)(D * R * n) * sizeof(int32_t));
    if (!maps) return TP_ERROR(TP_ERR_NOMEM, "corr: out of memory");
    for (int a = 0; a < D; a++) {
        int32_t *m0 = maps + (int64_t)a * R * n;
        for (int64_t i = 0; i < n; i++) m0[i] = (int32_t)i;
        for (int64_t r = 1; r < R; r++)
            for (int64_t i = 0; i < n; i++) {
                int32_t j = m0[(r - 1) * n + i];
                int32_t c[3] = { lat->cellidx[3 * j], lat->cellidx[3 * j + 1], lat->cellidx[3 * j + 2] };
                c[a] = (c[a] + 1) % lat->size[a];
                m0[r * n + i] = c[0] + lat->size[0] * (c[1] + lat->size[1] * c[2]);
            }
    }
    for (int64_t b = 0; b < B; b++) {
        const uint8_t *xb = x + b * n;
        for (int64_t r = 0; r < R; r++) {
            int64_t s = 0;
            for (int a = 0; a < D; a++) {
                const int32_t *mp = maps + ((int64_t)a * R + r) * n;
                for (int64_t i = 0; i < n; i++) s += xb[i] == xb[mp[i]];
            }
            double f = (double)s / (double)(n * D);   /* mean delta */
            out[b * R + r] = kind == 0 ? 2.0 * f - 1.0 : f - 1.0 / q;
        }
    }
    free(maps);
    return TP_OK;
}

tp_status tp_obs_token_counts(int32_t *counts, const uint8_t *x, int64_t B, int32_t n, int32_t q) {
    if (!counts || !x || B < 0 || n < 1 || q < 1 || q > 256) return TP_ERROR(TP_ERR_ARG, "token_counts: bad arguments");
    for (int64_t b = 0; b < B; b++) {
        int32_t *c = counts + b * q;
        for (int k = 0; k < q; k++) c[k] = 0;
        const uint8_t *xb = x + b * n;
        for (int32_t i = 0; i < n; i++) if (xb[i] < q) c[xb[i]]++;
    }
    return TP_OK;
}

