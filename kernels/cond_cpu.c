/*
 * kernels/cond_cpu.c -- CPU reference of the condition embedding
 * (kernels/cond.h): sinusoidal features of each row's conditions, a
 * two-layer GELU MLP, and its backward.  Rows are few (one per sample in a
 * chunk) and the MLP is d wide, so plain loops; reductions over rows are
 * summed in double in row order (independent of the thread count).
 */
#include "cond.h"

#include <math.h>
#include <string.h>

static void features(float *phi, const float *c, int k) {
    int F = 1 + 2 * TP_COND_FREQS;
    for (int j = 0; j < k; j++) {
        float *f = phi + j * F;
        f[0] = c[j];
        for (int m = 0; m < TP_COND_FREQS; m++) {
            double a = ldexp((double)c[j], m);
            f[1 + 2 * m] = (float)sin(a);
            f[2 + 2 * m] = (float)cos(a);
        }
    }
}

tp_status tp_cond_forward_cpu(float *cemb, float *acts, const float *cond, const float *params,
                              const tp_tf_config *c, int32_t rows) {
    TP_TRY(tp_tf_config_check(c));
    if (c->conds < 1) return TP_ERROR(TP_ERR_ARG, "cond: the network has no conditions");
    if (rows < 0) return TP_ERROR(TP_ERR_ARG, "cond: rows must be >= 0, got %d", rows);
    tp_tf_layout L;
    tp_tf_layout_init(&L, c);
    const int k = c->conds, F = tp_cond_features(k), d = c->embed;
    for (int64_t i = 0; i < (int64_t)rows * k; i++)
        if (!isfinite(cond[i])) return TP_ERROR(TP_ERR_ARG, "cond: condition %lld is not finite", (long long)i);
    const float *W1 = params + L.cond_w1, *b1 = params + L.cond_b1;
    const float *W2 = params + L.cond_w2, *b2 = params + L.cond_b2;
    #pragma omp parallel for schedule(static)
    for (int32_t r = 0; r < rows; r++) {
        float *phi = acts + (int64_t)r * (F + 2 * d), *hc = phi + F, *g = hc + d;
        features(phi, cond + (int64_t)r * k, k);
        for (int o = 0; o < d; o++) {
            double s = b1[o];
            for (int i = 0; i < F; i++) s += (double)phi[i] * W1[(int64_t)i * d + o];
            hc[o] = (float)s;
            g[o] = (float)(0.5 * s * (1.0 + erf(s * 0.7071067811865476)));
        }
        float *e = cemb + (int64_t)r * d;
        for (int o = 0; o < d; o++) {
            double s = b2[o];
            for (int i = 0; i < d; i++) s += (double)g[i] * W2[(int64_t)i * d + o];
            e[o] = (float)s;
        }
    }
    return TP_OK;
}

tp_status tp_cond_backward_cpu(float *grads, const float *dcemb, const float *acts,
                               const float *params, const tp_tf_config *c, int32_t rows) {
    TP_TRY(tp_tf_config_check(c));
    if (c->conds < 1) return TP_ERROR(TP_ERR_ARG, "cond: the network has no conditions");
    if (rows < 0) return TP_ERROR(TP_ERR_ARG, "cond: rows must be >= 0, got %d", rows);
    tp_tf_layout L;
    tp_tf_layout_init(&L, c);
    const int F = tp_cond_features(c->conds), d = c->embed;
    const float *W2 = params + L.cond_w2;
    float *gW1 = grads + L.cond_w1, *gb1 = grads + L.cond_b1;
    float *gW2 = grads + L.cond_w2, *gb2 = grads + L.cond_b2;
    const int64_t stride = F + 2 * d;
    /* output layer: gW2[i,o] += sum_r g[r,i] de[r,o]; gb2[o] += sum_r de[r,o] */
    #pragma omp parallel for schedule(static)
    for (int o = 0; o < d; o++) {
        double sb = 0;
        for (int32_t r = 0; r < rows; r++) sb += dcemb[(int64_t)r * d + o];
        gb2[o] += (float)sb;
        for (int i = 0; i < d; i++) {
            double s = 0;
            for (int32_t r = 0; r < rows; r++)
                s += (double)acts[r * stride + F + d + i] * dcemb[(int64_t)r * d + o];
            gW2[(int64_t)i * d + o] += (float)s;
        }
    }
    /* hidden layer: dh[r,i] = (sum_o W2[i,o] de[r,o]) GELU'(hc[r,i]) */
    #pragma omp parallel for schedule(static)
    for (int i = 0; i < d; i++) {
        double sb = 0;
        for (int32_t r = 0; r < rows; r++) {
            double dg = 0;
            for (int o = 0; o < d; o++) dg += (double)W2[(int64_t)i * d + o] * dcemb[(int64_t)r * d + o];
            double x = acts[r * stride + F + i];
            double dh = dg * (0.5 * (1.0 + erf(x * 0.7071067811865476)) + x * exp(-0.5 * x * x) * 0.3989422804014327);
            sb += dh;
            for (int f = 0; f < F; f++) gW1[(int64_t)f * d + i] += (float)(dh * acts[r * stride + f]);
        }
        gb1[i] += (float)sb;
    }
    return TP_OK;
}
