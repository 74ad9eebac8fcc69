/*
 * kernels/loss_cpu.c -- CPU reference of kernels/loss.h: softmax weights,
 * WDCE masks and row weights, the weighted masked NLL and its gradient,
 * the sampling step, REINFORCE weights.  Sums over sites and rows are taken
 * in a fixed order (double accumulators), independent of thread count.
 */
#include "loss.h"
#include "philox.h"

#include <math.h>
#include <string.h>

tp_status tp_loss_softmax_weights(double *w, double *ness, const double *log_rnd, int32_t B) {
    if (B < 1) return TP_ERROR(TP_ERR_ARG, "softmax weights: batch must be >= 1, got %d", B);
    double mx = -INFINITY;
    for (int b = 0; b < B; b++) {
        if (isnan(log_rnd[b]) || log_rnd[b] == INFINITY)
            return TP_ERROR(TP_ERR_ARG, "softmax weights: log weight %d is %g", b, log_rnd[b]);
        if (log_rnd[b] > mx) mx = log_rnd[b];
    }
    if (mx == -INFINITY) return TP_ERROR(TP_ERR_ARG, "softmax weights: every log weight is -inf");
    double z = 0;
    for (int b = 0; b < B; b++) { w[b] = exp(log_rnd[b] - mx); z += w[b]; }
    double s2 = 0;
    for (int b = 0; b < B; b++) { w[b] /= z; s2 += w[b] * w[b]; }
    if (ness) *ness = 1.0 / (B * s2);
    return TP_OK;
}

tp_status tp_loss_reinforce_weights(double *a, const double *logp, const double *beta_e, int32_t B) {
    if (B < 1) return TP_ERROR(TP_ERR_ARG, "reinforce weights: batch must be >= 1, got %d", B);
    double m = 0;
    for (int b = 0; b < B; b++) m += logp[b] + beta_e[b];
    m /= B;
    double v = 0;
    for (int b = 0; b < B; b++) { double t = logp[b] + beta_e[b] - m; v += t * t; }
    double sd = B > 1 ? sqrt(v / (B - 1)) : 0.0;
    for (int b = 0; b < B; b++)
        a[b] = sd > 0 ? (logp[b] + beta_e[b] - m) / sd / B : 0.0;
    return TP_OK;
}

tp_status tp_loss_wdce_mask_cpu(uint8_t *masked, float *lam, const uint8_t *tokens,
                                uint64_t seed, uint64_t stream0, int32_t B, int32_t R,
                                int32_t T, int32_t q) {
    if (B < 1 || R < 1 || T < 1) return TP_ERROR(TP_ERR_ARG, "wdce mask: B, R, T must be >= 1");
    #pragma omp parallel for schedule(static)
    for (int64_t row = 0; row < (int64_t)B * R; row++) {
        tp_rng r;
        tp_rng_seed(&r, seed, stream0 + (uint64_t)row);
        /* lambda in (0,1): midpoints of a 2^24 grid, never 0 */
        float l = ((float)(tp_rng_next_u32(&r) >> 8) + 0.5f) * (1.0f / 16777216.0f);
        lam[row] = l;
        const uint8_t *x = tokens + (row / R) * T;
        uint8_t *m = masked + row * T;
        for (int i = 0; i < T; i++) m[i] = tp_rng_next_float(&r) < l ? (uint8_t)q : x[i];
    }
    return TP_OK;
}

tp_status tp_loss_wdce_row_weights_cpu(double *rw, const double *w, const float *lam,
                                       int32_t B, int32_t R) {
    return tp_loss_wdce_row_weights_range_cpu(rw, w, lam, B, R, 0, B);
}

tp_status tp_loss_wdce_row_weights_range_cpu(double *rw, const double *w, const float *lam, int32_t B, int32_t R,
                                             int32_t first, int32_t count) {
    if (B < 1 || R < 1) return TP_ERROR(TP_ERR_ARG, "wdce weights: B and R must be >= 1");
    if (first < 0 || count < 0 || (int64_t)first + count > B)
        return TP_ERROR(TP_ERR_ARG, "wdce weights: rows %d..%d of a batch of %d", first, first + count - 1, B);
    for (int64_t row = 0; row < (int64_t)count * R; row++) {
        double inv = 1.0 / (double)lam[row];
        if (inv > 1e5) inv = 1e5;
        rw[row] = w[first + row / R] * inv / ((double)B * R);
    }
    return TP_OK;
}

tp_status tp_loss_masked_nll_cpu(double *loss, float *dlogp, const float *logp,
                                 const uint8_t *targets, const uint8_t *input, const double *rw,
                                 int32_t rows, int32_t T, int32_t q, int32_t all_sites) {
    if (rows < 0 || T < 1 || q < 2) return TP_ERROR(TP_ERR_ARG, "masked nll: bad shape");
    #pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; r++)
        for (int i = 0; i < T; i++) {
            int64_t n = r * T + i;
            float *g = dlogp + n * q;
            for (int k = 0; k < q; k++) g[k] = 0;
            if (all_sites || input[n] == q) g[targets[n] < q ? targets[n] : 0] = (float)(-rw[r]);
        }
    /* the loss in row order, so it does not depend on the thread count */
    double s = 0;
    for (int64_t r = 0; r < rows; r++) {
        double lr = 0;
        for (int i = 0; i < T; i++) {
            int64_t n = r * T + i;
            if (all_sites || input[n] == q) lr += logp[n * q + (targets[n] < q ? targets[n] : 0)];
        }
        s += -rw[r] * lr;
    }
    *loss = s;
    return TP_OK;
}

tp_status tp_loss_sample_step_cpu(uint8_t *work, double *logq, const float *logp,
                                  const uint8_t *truth, const int32_t *site, const float *u,
                                  int32_t rows, int32_t T, int32_t q) {
    for (int r = 0; r < rows; r++)
        if (site[r] < 0 || site[r] >= T)
            return TP_ERROR(TP_ERR_ARG, "sample step: site %d of row %d out of range", site[r], r);
    #pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        int64_t n = r * T + site[r];
        const float *lp = logp + n * q;
        int x = tp_loss_pick(lp, truth ? truth[n] : -1, u[r], q);
        work[n] = (uint8_t)x;
        logq[r] += lp[x];
    }
    return TP_OK;
}
