/*
 * kernels/philox.h -- Philox4x32-10 counter-based RNG (Salmon et al., SC'11),
 * header-only so CPU kernels and CUDA kernels draw the same numbers.
 *
 * A stream is keyed by (seed, stream id): key = seed (64 bits), counter =
 * (block index: 64 bits, stream id: 64 bits).  Every stream has 2^64 blocks
 * of four 32-bit words, and a stream's numbers depend only on (seed, stream,
 * position): never on thread count or backend.  Convention: one stream per
 * chain or per sample row.
 */
#ifndef TP_PHILOX_H
#define TP_PHILOX_H

#include <stdint.h>

#if defined(__CUDACC__)
#define TP_HD __host__ __device__ __forceinline__
#else
#define TP_HD static inline
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ffi:begin */
/* Generator state; treat as opaque.  tp_rng_init() sets it up. */
typedef struct tp_rng {
    uint32_t key[2];   /* seed */
    uint32_t ctr[4];   /* ctr[0..1]: block index, ctr[2..3]: stream id */
    uint32_t buf[4];   /* current block */
    uint32_t idx;      /* next unused word of buf (4 = empty) */
    uint32_t pad_;
} tp_rng;
/* ffi:end */

/* One Philox4x32 round pair: 32x32->64 products, Feistel-like mix. */
TP_HD void tp_philox_round(uint32_t c[4], const uint32_t k[2]) {
    uint64_t p0 = (uint64_t)0xD2511F53u * c[0];
    uint64_t p1 = (uint64_t)0xCD9E8D57u * c[2];
    uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
    uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
    uint32_t n0 = hi1 ^ c[1] ^ k[0], n2 = hi0 ^ c[3] ^ k[1];
    c[0] = n0; c[1] = lo1; c[2] = n2; c[3] = lo0;
}

/* out = Philox4x32-10(ctr, key): ten rounds, key bumped by the Weyl
 * constants between rounds. */
TP_HD void tp_philox4x32_10_block(uint32_t out[4], const uint32_t ctr[4], const uint32_t key[2]) {
    uint32_t c[4] = {ctr[0], ctr[1], ctr[2], ctr[3]};
    uint32_t k[2] = {key[0], key[1]};
#if defined(__CUDA_ARCH__)
#pragma unroll
#elif defined(__GNUC__) && !defined(__CUDACC__)
#pragma GCC unroll 10
#endif
    for (int r = 0; r < 10; r++) {
        if (r) { k[0] += 0x9E3779B9u; k[1] += 0xBB67AE85u; }
        tp_philox_round(c, k);
    }
    out[0] = c[0]; out[1] = c[1]; out[2] = c[2]; out[3] = c[3];
}

TP_HD void tp_rng_seed(tp_rng *r, uint64_t seed, uint64_t stream) {
    r->key[0] = (uint32_t)seed; r->key[1] = (uint32_t)(seed >> 32);
    r->ctr[0] = 0; r->ctr[1] = 0;
    r->ctr[2] = (uint32_t)stream; r->ctr[3] = (uint32_t)(stream >> 32);
    r->idx = 4; r->pad_ = 0;
}

TP_HD uint32_t tp_rng_next_u32(tp_rng *r) {
    if (r->idx >= 4) {
        tp_philox4x32_10_block(r->buf, r->ctr, r->key);
        if (++r->ctr[0] == 0) ++r->ctr[1];
        r->idx = 0;
    }
    return r->buf[r->idx++];
}

/* Uniform double in [0, 1) with 53 random bits. */
TP_HD double tp_rng_next_double(tp_rng *r) {
    uint32_t a = tp_rng_next_u32(r) >> 5, b = tp_rng_next_u32(r) >> 6;
    return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0);
}

/* Uniform float in [0, 1) with 24 random bits. */
TP_HD float tp_rng_next_float(tp_rng *r) {
    return (float)(tp_rng_next_u32(r) >> 8) * (1.0f / 16777216.0f);
}

/* Uniform integer in [0, n), n >= 1, without modulo bias (Lemire). */
TP_HD uint32_t tp_rng_next_below(tp_rng *r, uint32_t n) {
    uint64_t m = (uint64_t)tp_rng_next_u32(r) * n;
    uint32_t lo = (uint32_t)m;
    if (lo < n) {
        uint32_t t = (uint32_t)(-n) % n;
        while (lo < t) { m = (uint64_t)tp_rng_next_u32(r) * n; lo = (uint32_t)m; }
    }
    return (uint32_t)(m >> 32);
}

#ifdef __cplusplus
}
#endif
#endif /* TP_PHILOX_H */
