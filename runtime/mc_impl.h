/*
 * runtime/mc_impl.h -- private to runtime/mc*.c: the tp_mc struct, the
 * per-attempt random block, and inline local energy differences.
 */
#ifndef TP_MC_IMPL_H
#define TP_MC_IMPL_H

#include "tp_ffi.h"
#include "mc.h"

#include <math.h>
#include <stdint.h>

#define TP_MC_KEY_SITE    0x6d63ull   /* 'mc': per-attempt blocks */
#define TP_MC_KEY_SITE4   0x6d34ull   /* 'm4': single-shell Ising, 4 attempts per block */
#define TP_MC_KEY_SITE2   0x6d32ull   /* 'm2': single-shell Potts Metropolis, 2 per block */
#define TP_MC_KEY_CLUSTER 0x636cull   /* 'cl': cluster streams */
#define TP_MC_KEY_WL      0x776cull   /* 'wl': Wang-Landau */

struct tp_mc {
    const tp_model *m;
    int64_t B;
    int64_t first;       /* global index of chain 0: random streams are keyed by first + c */
    int32_t n, q;
    uint64_t seed;
    uint8_t *x;          /* (B, n) */
    uint64_t *t;         /* (B) attempts done per chain (single-site and swap) */
    tp_rng *crng;        /* (B) cluster streams */
    int32_t *order;      /* (n) sweep order */
    int32_t ncolor0;     /* checkerboard: sites of colour 0 at the front of order; 0 if none */
    int64_t *acc, *att;  /* (B) acceptance counters */
};

/* One Philox block for attempt t of chain c. */
static inline void tp_mc_block(uint32_t out[4], uint64_t seed, uint64_t t, uint64_t c) {
    uint32_t ctr[4] = { (uint32_t)t, (uint32_t)(t >> 32), (uint32_t)c, (uint32_t)(c >> 32) };
    uint64_t k = seed ^ TP_MC_KEY_SITE;
    uint32_t key[2] = { (uint32_t)k, (uint32_t)(k >> 32) };
    tp_philox4x32_10_block(out, ctr, key);
}

/* uniform [0,1) from 32 bits; integer in [0, n) from 32 bits (bias <= n / 2^32) */
static inline double tp_mc_u01(uint32_t w) { return w * (1.0 / 4294967296.0); }
static inline uint32_t tp_mc_below(uint32_t w, uint32_t n) { return (uint32_t)(((uint64_t)w * n) >> 32); }

/* H(x with x[i] = b) - H(x) for Ising/Potts inline (all shells), CE via the model. */
static inline double tp_mc_de(const tp_model *m, const uint8_t *x, int32_t i, int32_t b) {
    int32_t a = x[i];
    if (a == b) return 0.0;
    const tp_lattice *lat = m->lat;
    if (m->kind == TP_MODEL_ISING) {
        double f = 0.0;
        for (int s = 0; s < m->nshell; s++) {
            const int32_t *nb = lat->nb[s] + (int64_t)i * lat->shell_z[s];
            int sum = 0;
            for (int k = 0; k < lat->shell_z[s]; k++) {
                int32_t j = nb[k];
                if (j != i) sum += 2 * x[j] - 1;
            }
            f += m->J[s] * sum;
        }
        return 2.0 * (2 * a - 1) * (f + m->h);
    }
    if (m->kind == TP_MODEL_POTTS) {
        double d = 0.0;
        for (int s = 0; s < m->nshell; s++) {
            const int32_t *nb = lat->nb[s] + (int64_t)i * lat->shell_z[s];
            int c = 0;
            for (int k = 0; k < lat->shell_z[s]; k++) {
                int32_t j = nb[k];
                if (j != i) c += (x[j] == b) - (x[j] == a);
            }
            d -= m->J[s] * c;
        }
        return d - m->h * ((b == 0) - (a == 0));
    }
    return tp_model_de(m, x, i, b);
}

/* Accepting with probability p by one 32-bit word w: w < threshold, where
 * threshold = ceil(p 2^32) (the same decision as w / 2^32 < p), and
 * UINT32_MAX stands for "always" (p >= 1; a p within 2^-32 of 1 too). */
static inline uint32_t tp_mc_threshold(double p) {
    if (!(p < 1.0)) return UINT32_MAX;
    double t = ceil(p * 4294967296.0);
    return t >= 4294967295.0 ? UINT32_MAX : t > 0 ? (uint32_t)t : 0;
}
static inline int tp_mc_accept(uint32_t w, uint32_t thr) { return w < thr || thr == UINT32_MAX; }

#define TP_MC_HB_MAX 4096   /* (z + 1)^(q - 1) (q - 1) entries at most */

/* Thresholds for single-shell Ising and Potts (no exp in the hot loop):
 *   Ising Metropolis: thr[a][sum + z], a = token of the site, sum = sum of
 *     neighbour spins (self-images excluded) in [-z, z];
 *   Ising heat bath: thr[0][sum + z] for "token 1";
 *   Potts Metropolis: thr[f + 1][d + z], d = (neighbours equal to the new
 *     state) - (equal to the old one) in [-z, z], f = delta(b,0) - delta(a,0).
 * on = 0 where none applies (several shells, other methods). */
typedef struct {
    int on, z;
    uint32_t thr[3][65];
    /* Potts heat bath (hb = 1; no self-images): the new state is the number
     * of k < q - 1 with w >= cum[idx (q - 1) + k] (thresholds of the
     * cumulative conditional probabilities), idx = sum over b < q - 1 of
     * n_b (z + 1)^b, n_b the neighbours in state b; one word per attempt as
     * for Ising (word t & 3 of block t >> 2, key seed XOR 0x6d34). */
    int hb;
    uint32_t cum[TP_MC_HB_MAX];
} tp_mc_site_table;
void tp_mc_site_table_init(tp_mc_site_table *tb, const tp_model *m, int32_t method, double beta);

/* Checkerboard sweeps 16 sites at a time (mc_vec.c): returns 1 and sets
 * *st when it ran the sweeps, 0 when the model, lattice or chains do not
 * suit it (the caller then runs the scalar path, with the same results). */
int tp_mc_checker(tp_mc *mc, int32_t method, int64_t nsweeps, const tp_mc_site_table *tb,
                  tp_status *st);

/* Biased Metropolis with a count-valued CV (mc.c counted_init). */
typedef struct {
    int on, kt, z, ising;
    int ce;         /* cluster expansion with a fraction CV: v only, dE from the model */
    int32_t n, q;
    double *v;      /* (n + 1) V at count k */
    double *de;     /* Ising: (2, 2z + 1) by (a, sum + z); Potts: (3, 2z + 1) by (f + 1, d + z) */
    uint32_t *thr;  /* NULL, or acceptance thresholds by (k, move class): see counted_init */
    int zshift, cshift;
} counted_bias;


/* Sweeps of 16 chains side by side (mc_vec.c), same contract. */
int tp_mc_lanes(tp_mc *mc, int32_t method, double beta, int64_t nsweeps, const tp_mc_site_table *tb, tp_status *st);
/* nattempts biased attempts of every chain, 16 chains side by side, with the
 * thresholds of cb (cb->thr); returns 1 and sets *st when it ran, with k
 * (B) [out] each chain's final count; 0 when it does not apply. */
int tp_mc_lanes_biased(tp_mc *mc, const counted_bias *cb, double beta, int64_t nattempts, int32_t *k, tp_status *st);

/* cluster updates (mc_cluster.c) */
tp_status tp_mc_sw_chain(tp_mc *mc, int64_t c, double beta, int32_t *parent, int32_t *size);
tp_status tp_mc_wolff_chain(tp_mc *mc, int64_t c, double beta, int32_t *stack);

#endif /* TP_MC_IMPL_H */
