/*
 * kernels/tf_math.h -- branch-free float exp and erf for the transformer's
 * CPU kernels (transformer_cpu.c, transformer_vec.h): written so that loops
 * calling them vectorise (the libm calls would keep them scalar).  A header
 * so that tests/check_transformer.c can measure their accuracy directly.
 */
#ifndef TP_TF_MATH_H
#define TP_TF_MATH_H

#include <stdint.h>
#include <string.h>

/* exp(x) for x <= 0 (softmax arguments after subtracting the row maximum):
 * 2^k * p(r) with k = round(x / ln 2), r = x - k ln 2, |r| <= ln2/2, a
 * degree-6 Taylor polynomial (relative error < 3e-7, within float rounding
 * of expf).  Branch-free so that the loops calling it vectorise. */
#define ALWAYS_INLINE static inline __attribute__((always_inline))
ALWAYS_INLINE float softmax_exp(float x) {
    x = x > -87.0f ? x : -87.0f;   /* not fmaxf: a libm call blocks vectorisation */
    /* x/ln2 + 0.5 + 1000 > 0, so truncation is floor: k = round(x/ln2) */
    int k = (int)(x * 1.44269504088896341f + 1000.5f) - 1000;
    float r = x - (float)k * 0.693145751953125f - (float)k * 1.428606765330187e-06f;
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (0.16666667f + r * (0.041666668f + r * (0.008333334f + r * 0.0013888889f)))));
    int32_t bits = (k + 127) << 23;
    float scale2;
    memcpy(&scale2, &bits, sizeof scale2);
    return p * scale2;
}

#define INV_SQRT2 0.70710678118654752f
#define INV_SQRT2PI 0.39894228040143268f

/* erf(x) in float without branches (so GELU loops vectorise; libm's erff
 * would keep them scalar), fitted here for relative error:
 *   |x| < 1:      x P(x^2), P of degree 6 (fit error 1.2e-9 relative);
 *   1 <= |x| < 4: 1 - exp(-x^2) R(t), t = 1/(1 + |x|/2), R of degree 7
 *                 (erfc relative fit error 4e-10);
 *   |x| >= 4:     +-1 (1 - erf(4) = 1.5e-8 is below float resolution).
 * Computed in float: max |error| 1.5e-7 absolute and 1.8e-7 relative
 * over the whole line (tests/check_transformer.c checks < 2e-7 against
 * erf in double); this keeps GELU the exact-erf form, not the tanh one. */
ALWAYS_INLINE float gelu_erf(float x) {
    float ax = x < 0 ? -x : x;
    ax = ax < 4.0f ? ax : 4.0f;
    const float s = ax * ax;
    const float ps = 1.128379166e+00f + s * (-3.761262582e-01f + s * (1.128358512e-01f + s * (-2.685381080e-02f
                   + s * (5.188325537e-03f + s * (-8.010174761e-04f + s * 7.853799093e-05f)))));
    const float t = 1.0f / (1.0f + 0.5f * ax);
    const float R = -1.554727796e-04f + t * (2.849316225e-01f + t * (2.595690775e-01f + t * (3.482029476e-01f
                  + t * (-1.044041078e-01f + t * (5.641900992e-01f + t * (-4.717827389e-01f + t * 1.195035417e-01f))))));
    const float big = 1.0f - softmax_exp(-s) * R;
    const float r = ax < 1.0f ? ax * ps : big;
    return x < 0 ? -r : r;
}

#endif /* TP_TF_MATH_H */
