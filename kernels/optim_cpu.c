/*
 * kernels/optim_cpu.c -- CPU reference of kernels/optim.h: Adam(W), EMA,
 * sum of squares for gradient clipping, scaling.  Element-wise loops with
 * OpenMP; the reduction uses a fixed block partition so its result does
 * not depend on the thread count.
 */
#include "optim.h"

#include <math.h>

double tp_optim_ema_decay(int64_t n, double max_decay) {
    double d = (1.0 + (double)n) / (10.0 + (double)n);
    return d < max_decay ? d : max_decay;
}

tp_status tp_optim_adam_cpu(float *params, float *m, float *v, const float *grads,
                            const tp_adam_config *c, int64_t t, int64_t n) {
    if (t < 1) return TP_ERROR(TP_ERR_ARG, "adam: step must be >= 1, got %lld", (long long)t);
    const float b1 = c->beta1, b2 = c->beta2, lr = c->lr, eps = c->eps, wd = c->weight_decay;
    const float bc1 = (float)(1.0 - pow(b1, (double)t)), bc2 = (float)(1.0 - pow(b2, (double)t));
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float g = grads[i], p = params[i];
        if (wd != 0.0f) p -= lr * wd * p;
        float mi = b1 * m[i] + (1.0f - b1) * g;
        float vi = b2 * v[i] + (1.0f - b2) * g * g;
        m[i] = mi; v[i] = vi;
        params[i] = p - lr * (mi / bc1) / (sqrtf(vi / bc2) + eps);
    }
    return TP_OK;
}

tp_status tp_optim_ema_cpu(float *ema, const float *params, float decay, int64_t n) {
    const float a = 1.0f - decay;
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) ema[i] = decay * ema[i] + a * params[i];
    return TP_OK;
}

tp_status tp_optim_sumsq_cpu(double *out, const float *x, int64_t n) {
    enum { NB = 1024 };
    double part[NB];
    int64_t chunk = (n + NB - 1) / NB;
    #pragma omp parallel for schedule(static)
    for (int b = 0; b < NB; b++) {
        double s = 0;
        int64_t lo = b * chunk, hi = lo + chunk < n ? lo + chunk : n;
        for (int64_t i = lo; i < hi; i++) s += (double)x[i] * x[i];
        part[b] = s;
    }
    double s = 0;
    for (int b = 0; b < NB; b++) s += part[b];
    *out = s;
    return TP_OK;
}

tp_status tp_optim_scale_cpu(float *x, float s, int64_t n) {
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) x[i] *= s;
    return TP_OK;
}
