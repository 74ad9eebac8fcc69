/*
 * runtime/rng.c -- FFI entry points over the Philox4x32-10 generator of
 * kernels/philox.h (same numbers on every backend and thread count).
 */
#include "tp_ffi.h"

#include <math.h>
#include <string.h>

void tp_rng_init(tp_rng *r, uint64_t seed, uint64_t stream) { tp_rng_seed(r, seed, stream); }
uint32_t tp_rng_u32(tp_rng *r) { return tp_rng_next_u32(r); }
double tp_rng_uniform(tp_rng *r) { return tp_rng_next_double(r); }
uint32_t tp_rng_below(tp_rng *r, uint32_t n) { return n ? tp_rng_next_below(r, n) : 0; }

/* Box-Muller; 1 - u lies in (0, 1] so the log is finite. */
double tp_rng_normal(tp_rng *r) {
    double u = 1.0 - tp_rng_next_double(r), v = tp_rng_next_double(r);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

tp_status tp_rng_fill_uniform(tp_rng *r, double *out, int64_t n) {
    if (n < 0 || (n > 0 && !out)) return TP_ERROR(TP_ERR_ARG, "tp_rng_fill_uniform: bad buffer (n = %lld)", (long long)n);
    for (int64_t i = 0; i < n; i++) out[i] = tp_rng_next_double(r);
    return TP_OK;
}

tp_status tp_rng_pick_rows(uint8_t *out, const uint8_t *src, int64_t n, int64_t width, int64_t count,
                           uint64_t seed, uint64_t stream) {
    if (n < 1 || width < 1 || count < 0) return TP_ERROR(TP_ERR_ARG, "tp_rng_pick_rows: n %lld, width %lld, count %lld "
                                                         "(n, width >= 1, count >= 0)", (long long)n, (long long)width, (long long)count);
    if (count > 0 && (!out || !src)) return TP_ERROR(TP_ERR_ARG, "tp_rng_pick_rows: NULL array");
    tp_rng r;
    tp_rng_seed(&r, seed, stream);
    for (int64_t k = 0; k < count; k++) {
        int64_t i = (int64_t)(tp_rng_next_double(&r) * (double)n);
        memcpy(out + k * width, src + i * width, (size_t)width);
    }
    return TP_OK;
}

void tp_philox4x32_10(uint32_t *out4, const uint32_t *ctr4, const uint32_t *key2) {
    tp_philox4x32_10_block(out4, ctr4, key2);
}
