/*
 * kernels/rw_boot.h -- the Poisson(1) multiplicities of the streaming
 * bootstrap (reweight.h), header-only so reweight_cpu.c and
 * reweight_cuda.cu draw the same numbers: replicate j of the sample block
 * blk gets k = Poisson(1) from the j-th 32-bit word of the Philox stream
 * (seed, blk) (kernels/philox.h).
 */
#ifndef TP_RW_BOOT_H
#define TP_RW_BOOT_H

#include <stdint.h>
#include "common.h"
#include "philox.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The argument checks of the bootstrap entry points (host side, both
 * backends). */
static inline tp_status tp_rw_boot_args(const double *shift, const void *acc, int64_t first, int64_t block, int32_t R,
                                        int64_t n) {
    if (!acc || !shift || n < 0) return TP_ERROR(TP_ERR_ARG, "bootstrap: NULL array or n < 0");
    if (R < 1 || R > 100000 || block < 1 || first < 0)
        return TP_ERROR(TP_ERR_ARG, "bootstrap: need 1 <= R <= 100000, block >= 1, first >= 0");
    return TP_OK;
}

/* k ~ Poisson(1) by inverting the CDF with one 32-bit draw u: the
 * thresholds are floor(2^32 P(K <= k)); k > 12 has probability < 2^-32 and
 * is cut there.  Written as a sum of comparisons (no table) so that device
 * code can use it too. */
TP_HD int tp_rw_poisson1(uint32_t u) {
    return (u >= 1580030168u) + (u >= 3160060337u) + (u >= 3950075421u) + (u >= 4213413783u) +
           (u >= 4279248373u) + (u >= 4292415291u) + (u >= 4294609777u) + (u >= 4294923276u) +
           (u >= 4294962463u) + (u >= 4294966817u) + (u >= 4294967252u) + (u >= 4294967292u);
}

/* Multiplicities k[0..R) of sample block blk: the first R words of the
 * Philox stream (seed, blk), in order (the CPU's sequential form). */
TP_HD void tp_rw_boot_counts(uint8_t *k, uint64_t seed, int64_t blk, int32_t R) {
    tp_rng r;
    tp_rng_seed(&r, seed, (uint64_t)blk);
    for (int32_t j = 0; j < R; j++) k[j] = (uint8_t)tp_rw_poisson1(tp_rng_next_u32(&r));
}

/* Multiplicity of replicate j alone (the same number as
 * tp_rw_boot_counts(...)[j]): word j % 4 of Philox block j / 4, so each
 * GPU thread can draw its own replicate without the words before it. */
TP_HD int tp_rw_boot_count(uint64_t seed, int64_t blk, int32_t j) {
    uint32_t ctr[4], key[2], out[4];
    key[0] = (uint32_t)seed; key[1] = (uint32_t)(seed >> 32);
    ctr[0] = (uint32_t)(j >> 2); ctr[1] = 0;
    ctr[2] = (uint32_t)(uint64_t)blk; ctr[3] = (uint32_t)((uint64_t)blk >> 32);
    tp_philox4x32_10_block(out, ctr, key);
    return tp_rw_poisson1(out[j & 3]);
}

#ifdef __cplusplus
}
#endif
#endif /* TP_RW_BOOT_H */
