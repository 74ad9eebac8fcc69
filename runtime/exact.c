/*
 * runtime/exact.c -- exact enumeration (contract in runtime/exact.h).
 *
 * Chunk c fixes the top nfix sites to the base-q digits of c; the remaining
 * k = n - nfix sites run through the reflected q-ary Gray code, each step
 * moving one site by +-1.  Two walks:
 *
 * Ising and Potts (energy levels): a state's energy is a function of its
 * number of equal-token bonds per coupled shell and, with a field, of its
 * count of token 1 (Ising) or 0 (Potts).  The walk keeps that level index
 * (and the CV's grid point, a function of the CV's group counts) up to
 * date and counts states per (level, grid point) in int64; after all
 * chunks, Z, <E>, Var E and the marginal come from the counts, each
 * level's energy by the model's own formula.  Integer counts make the
 * result exact and independent of the thread count.  Two states per site
 * with distinct neighbours walk by bits (neighbour masks and popcounts);
 * one coupled shell without a CV walks compact neighbour lists.
 *
 * Other models (the cluster expansion): E is updated by tp_model_de and,
 * per chunk and beta, we keep a running log-sum-exp shift mx and S0 = sum
 * w, S1 = sum w (E - Eref), S2 = sum w (E - Eref)^2 and the grid
 * histogram, w = exp(-beta (E - Eref) - mx), Eref = E(all zeros).  A
 * state's grid point depends on its CV group counts alone and is memoized
 * by them.  A thread walks a chunk in accumulators of its own (no cache
 * line shared with another thread) and stores the finished chunk in its
 * slot; chunks are merged in order after the parallel loop, so the results
 * do not depend on the thread count.
 */
#include "tp_ffi.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define EXACT_MAX_STATES (INT64_C(1) << 26)
#define EXACT_MAX_GRID (1 << 20)

int64_t tp_exact_states(const tp_model *m) {
    if (!m) return -1;
    int64_t s = 1;
    for (int32_t i = 0; i < m->n; i++) {
        s *= m->q;
        if (s > EXACT_MAX_STATES) return -1;
    }
    return s;
}

tp_status tp_exact_configs(int32_t q, int32_t n, uint8_t *out, int64_t first, int64_t count) {
    if (count > 0 && !out) return TP_ERROR(TP_ERR_ARG, "exact configs: NULL output");
    if (q < 2 || q > 256 || n < 1) return TP_ERROR(TP_ERR_ARG, "exact configs: need 2 <= q <= 256 and n >= 1");
    int64_t S = 1;
    for (int32_t i = 0; i < n; i++)
        if ((S *= q) > EXACT_MAX_STATES)
            return TP_ERROR(TP_ERR_ARG, "exact configs: %d^%d states exceed the enumeration limit", q, n);
    if (first < 0 || count < 0 || first > S - count)
        return TP_ERROR(TP_ERR_ARG, "exact configs: rows %lld..%lld outside 0..%lld", (long long)first,
                        (long long)(first + count - 1), (long long)(S - 1));
    #pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < count; r++) {
        int64_t s = first + r;
        uint8_t *row = out + r * n;
        for (int32_t i = 0; i < n; i++) { row[i] = (uint8_t)(s % q); s /= q; }
    }
    return TP_OK;
}

typedef struct {
    double mx, s0, s1, s2;
} acc;

/* (int64_t)floor(x) without the libm call: the same integer for every x
 * (|x| >= 2^52 and NaN are already whole or converted as before). */
static inline int64_t floor_to_int(double x) {
    if (!(fabs(x) < 4503599627370496.0)) return (int64_t)x;
    int64_t t = (int64_t)x;
    return t - ((double)t > x);
}

/* What every chunk reads: the model, the betas, the CV and its grid
 * (span[d] = hi[d] - lo[d], pm1[d] = points[d] - 1, hoisted out of the
 * state loop with the same values), and the grid-index memo's hash: key =
 * sum over count slots s of counts[s] mul[s] (mod 2^64), nmemo = 2^memo_bits
 * entries per thread. */
typedef struct {
    const tp_model *m;
    const tp_cv *cv;
    const double *beta, *lo;
    double span[8], pm1[8];
    const int32_t *points;
    int32_t nbeta, dim, hg, ng, k;
    int64_t steps;
    double eref;
    int32_t ncount, memo_bits;   /* ncount = ng q count slots */
    uint64_t mul[4 * 256];       /* (ncount) */
    /* energy levels (Ising and Potts): a state's energy is a function of
     * the number of equal-token bonds per coupled shell and of the count f
     * of token 1 (Ising) or 0 (Potts) when h != 0; the level index is
     * sum of same[s] lstride[s] + f fstride, and a walk counts states per
     * (level, grid point) in int64 instead of summing Boltzmann weights */
    int levels;
    int32_t nls;                 /* coupled shells */
    int32_t lshell[8];           /* their indices */
    int64_t lstride[8], fstride, nlev;
    int32_t ftoken;
} chunk_job;

/* A thread's scratch: the walk's state (x, Gray-code digits cnt and
 * directions dir, CV group counts), the chunk's accumulators a (nbeta) and
 * histogram h (nbeta x hg), and a memo of grid indices by counts (slot i
 * holds the counts memo_counts[i] (ncount) and their grid index memo_gi[i],
 * -1 for none).  Every array sits on cache lines of its own, so threads
 * never write to a line another thread touches. */
typedef struct {
    uint8_t *x;
    int32_t *cnt, *counts, *memo_counts;
    int8_t *dir;
    acc *a;
    double *h;
    int64_t *memo_gi;
    int64_t *cells;   /* levels: (nlev, hg or 1) states counted by this thread */
} chunk_scratch;

/* bytes rounded up to whole 64-byte cache lines, line-aligned; NULL if out
 * of memory. */
static void *line_alloc(size_t bytes) {
    void *p = NULL;
    bytes = (bytes + 63) / 64 * 64;
    return posix_memalign(&p, 64, bytes ? bytes : 64) == 0 ? p : NULL;
}

static void scratch_free(chunk_scratch *w) {
    free(w->x); free(w->cnt); free(w->counts); free(w->dir); free(w->a); free(w->h);
    free(w->memo_counts); free(w->memo_gi); free(w->cells);
}

static int scratch_alloc(chunk_scratch *w, const chunk_job *j) {
    int32_t n = j->m->n, q = j->m->q;
    w->x = line_alloc((size_t)n);
    w->cnt = line_alloc(sizeof(int32_t) * ((size_t)j->k + 1));
    w->dir = line_alloc((size_t)j->k + 1);
    w->counts = line_alloc(sizeof(int32_t) * (size_t)j->ng * (size_t)q);
    w->a = line_alloc(sizeof(acc) * (size_t)j->nbeta);
    w->h = j->hg ? line_alloc(sizeof(double) * (size_t)j->nbeta * (size_t)j->hg) : NULL;
    size_t nmemo = j->cv ? (size_t)1 << j->memo_bits : 0;
    w->memo_counts = nmemo ? line_alloc(sizeof(int32_t) * nmemo * (size_t)j->ncount) : NULL;
    w->memo_gi = nmemo ? line_alloc(sizeof(int64_t) * nmemo) : NULL;
    if (w->memo_gi) memset(w->memo_gi, 0xff, sizeof(int64_t) * nmemo);   /* -1: empty */
    size_t ncell = j->levels ? (size_t)j->nlev * (size_t)(j->hg ? j->hg : 1) : 0;
    w->cells = ncell ? line_alloc(sizeof(int64_t) * ncell) : NULL;
    if (w->cells) memset(w->cells, 0, sizeof(int64_t) * ncell);
    return w->x && w->cnt && w->dir && w->counts && w->a && (!j->hg || w->h) &&
           (!nmemo || (w->memo_counts && w->memo_gi)) && (!ncell || w->cells);
}

/* Index of the grid point nearest to the CV value of counts (last
 * dimension fastest; clamped to the grid). */
static int64_t grid_index(const chunk_job *j, const int32_t *counts) {
    double v[8];
    tp_cv_from_counts(j->cv, v, counts);
    int64_t gi = 0;
    for (int32_t d = 0; d < j->dim; d++) {
        double f = (v[d] - j->lo[d]) / j->span[d] * j->pm1[d];
        int64_t ix = floor_to_int(f + 0.5);
        if (ix < 0) ix = 0;
        if (ix > j->points[d] - 1) ix = j->points[d] - 1;
        gi = gi * j->points[d] + ix;
    }
    return gi;
}

/* grid_index(counts) through the thread's memo: the CV takes few distinct
 * count vectors, and the index is a function of the counts alone, so a
 * hit gives the same number. */
static int64_t memo_grid_index(const chunk_job *j, chunk_scratch *w, const int32_t *counts, uint64_t key) {
    const int32_t nc = j->ncount;
    size_t i = (size_t)((key ^ (key >> 31)) * UINT64_C(0x9E3779B97F4A7C15) >> (64 - j->memo_bits));
    int32_t *mc = w->memo_counts + i * (size_t)nc;
    if (w->memo_gi[i] >= 0) {
        int32_t s = 0;
        while (s < nc && mc[s] == counts[s]) s++;
        if (s == nc) return w->memo_gi[i];
    }
    memcpy(mc, counts, sizeof(int32_t) * (size_t)nc);
    return w->memo_gi[i] = grid_index(j, counts);
}

/* Walk chunk c (its top sites fixed to the digits of c) into w->a and w->h. */
static void run_chunk(const chunk_job *j, chunk_scratch *w, int64_t c) {
    const tp_model *m = j->m;
    const tp_cv *cv = j->cv;
    const int32_t n = m->n, q = m->q, k = j->k, nbeta = j->nbeta, hg = j->hg;
    const double *beta = j->beta, eref = j->eref;
    uint8_t *x = w->x;
    int32_t *cnt = w->cnt, *counts = w->counts;
    int8_t *dir = w->dir;
    acc *a = w->a;
    double *h = w->h;
    memset(x, 0, (size_t)n);
    int64_t r = c;
    for (int32_t i = k; i < n; i++) { x[i] = (uint8_t)(r % q); r /= q; }
    for (int32_t i = 0; i < k; i++) { cnt[i] = 0; dir[i] = 1; }
    double e = tp_model_energy(m, x);
    uint64_t key = 0;   /* the counts' memo key */
    if (cv) {
        memset(counts, 0, sizeof(int32_t) * (size_t)j->ncount);
        for (int32_t i = 0; i < n; i++) counts[cv->group[i] * q + x[i]]++;
        for (int32_t s = 0; s < j->ncount; s++) key += (uint64_t)counts[s] * j->mul[s];
        memset(h, 0, sizeof(double) * (size_t)nbeta * (size_t)hg);
    }
    for (int32_t b = 0; b < nbeta; b++) { a[b].mx = -beta[b] * (e - eref); a[b].s0 = a[b].s1 = a[b].s2 = 0; }
    for (int64_t t = 0;; t++) {
        /* accumulate the current state */
        double de = e - eref;
        int64_t gi = cv ? memo_grid_index(j, w, counts, key) : 0;
        for (int32_t b = 0; b < nbeta; b++) {
            double lw = -beta[b] * de;
            acc *ab = &a[b];
            double *hb = h ? h + (int64_t)b * hg : NULL;
            if (lw > ab->mx) {
                double sc = exp(ab->mx - lw);
                ab->s0 *= sc; ab->s1 *= sc; ab->s2 *= sc;
                if (hb) for (int32_t g = 0; g < hg; g++) hb[g] *= sc;
                ab->mx = lw;
            }
            double wt = exp(lw - ab->mx);
            ab->s0 += wt; ab->s1 += wt * de; ab->s2 += wt * de * de;
            if (hb) hb[gi] += wt;
        }
        if (t + 1 == j->steps) break;
        /* next Gray-code state */
        int32_t s = 0;
        while (cnt[s] == q - 1) { cnt[s] = 0; dir[s] = (int8_t)-dir[s]; s++; }
        cnt[s]++;
        int32_t old = x[s], nw = old + dir[s];
        e += tp_model_de(m, x, s, nw);
        x[s] = (uint8_t)nw;
        if (cv) {
            int32_t g = cv->group[s];
            counts[g * q + old]--;
            counts[g * q + nw]++;
            key += j->mul[g * q + nw] - j->mul[g * q + old];
        }
    }
}

/* Walk chunk c counting states per (level, grid point) into w->cells. */
static void run_chunk_levels(const chunk_job *j, chunk_scratch *w, int64_t c) {
    const tp_model *m = j->m;
    const tp_lattice *lat = m->lat;
    const tp_cv *cv = j->cv;
    const int32_t n = m->n, q = m->q, k = j->k, hg = j->hg ? j->hg : 1;
    uint8_t *x = w->x;
    int32_t *cnt = w->cnt, *counts = w->counts;
    int8_t *dir = w->dir;
    int64_t *cells = w->cells;
    memset(x, 0, (size_t)n);
    int64_t r = c;
    for (int32_t i = k; i < n; i++) { x[i] = (uint8_t)(r % q); r /= q; }
    for (int32_t i = 0; i < k; i++) { cnt[i] = 0; dir[i] = 1; }
    int64_t lev = 0;
    for (int32_t u = 0; u < j->nls; u++) {
        const int32_t sh = j->lshell[u];
        const int32_t *b = lat->bonds[sh];
        int64_t same = 0;
        for (int64_t e = 0; e < lat->nbond[sh]; e++) same += x[b[2 * e]] == x[b[2 * e + 1]];
        lev += same * j->lstride[u];
    }
    if (j->fstride) for (int32_t i = 0; i < n; i++) lev += (x[i] == j->ftoken) * j->fstride;
    uint64_t key = 0;
    if (cv) {
        memset(counts, 0, sizeof(int32_t) * (size_t)j->ncount);
        for (int32_t i = 0; i < n; i++) counts[cv->group[i] * q + x[i]]++;
        for (int32_t s = 0; s < j->ncount; s++) key += (uint64_t)counts[s] * j->mul[s];
    }
    for (int64_t t = 0;; t++) {
        cells[lev * hg + (cv ? memo_grid_index(j, w, counts, key) : 0)]++;
        if (t + 1 == j->steps) break;
        /* next Gray-code state: site s moves old -> nw */
        int32_t s = 0;
        while (cnt[s] == q - 1) { cnt[s] = 0; dir[s] = (int8_t)-dir[s]; s++; }
        cnt[s]++;
        const int32_t old = x[s], nw = old + dir[s];
        for (int32_t u = 0; u < j->nls; u++) {
            const int32_t sh = j->lshell[u], z = lat->shell_z[sh];
            const int32_t *nb = lat->nb[sh] + (int64_t)s * z;
            int32_t d = 0;
            for (int32_t e = 0; e < z; e++) {
                const int32_t o = nb[e];
                if (o != s) d += (x[o] == nw) - (x[o] == old);
            }
            lev += d * j->lstride[u];
        }
        lev += ((nw == j->ftoken) - (old == j->ftoken)) * j->fstride;
        x[s] = (uint8_t)nw;
        if (cv) {
            int32_t g = cv->group[s];
            counts[g * q + old]--;
            counts[g * q + nw]++;
            key += j->mul[g * q + nw] - j->mul[g * q + old];
        }
    }
}

/* Two states per site, no site its own or a repeated neighbour, a CV of one
 * group or none: the walk keeps the chunk's free sites as bits of a word
 * (site i < k is bit i), flips bit ctz(t) at step t (binary Gray code), and
 * counts equal-token bonds with neighbour masks and popcounts; the grid
 * point is a function of the number of 1 tokens alone. */
typedef struct {
    int on;
    uint32_t mask[8][32];   /* (coupled shell, site < k): neighbours among the free sites */
    int64_t *gi_by_ones;    /* (n + 1) grid index, or NULL */
} bits_plan;

/* bp->on = 1 when the walk by bits applies (see bits_plan). */
static tp_status bits_plan_init(bits_plan *bp, const chunk_job *j) {
    const tp_model *m = j->m;
    const tp_lattice *lat = m->lat;
    memset(bp, 0, sizeof *bp);
    if (m->q != 2 || j->k > 31 || (j->cv && j->cv->ngroup != 1)) return TP_OK;
    for (int32_t u = 0; u < j->nls; u++) {
        const int32_t sh = j->lshell[u], z = lat->shell_z[sh];
        for (int32_t i = 0; i < m->n; i++) {
            const int32_t *nb = lat->nb[sh] + (int64_t)i * z;
            for (int32_t e = 0; e < z; e++) {
                if (nb[e] == i) return TP_OK;
                for (int32_t f = 0; f < e; f++) if (nb[f] == nb[e]) return TP_OK;
                if (i < j->k && nb[e] < j->k) bp->mask[u][i] |= 1u << nb[e];
            }
        }
    }
    if (j->cv) {
        bp->gi_by_ones = malloc(sizeof(int64_t) * ((size_t)m->n + 1));
        if (!bp->gi_by_ones) return TP_ERROR(TP_ERR_NOMEM, "exact: out of memory");
        for (int32_t o = 0; o <= m->n; o++) {
            const int32_t counts[2] = { m->n - o, o };
            bp->gi_by_ones[o] = grid_index(j, counts);
        }
    }
    bp->on = 1;
    return TP_OK;
}

/* Walk chunk c with bits (see bits_plan); compiled twice below, for the
 * baseline and with the popcnt instruction. */
static inline __attribute__((always_inline)) void chunk_bits_body(const chunk_job *j, const bits_plan *bp,
                                                                  chunk_scratch *w, int64_t c) {
    const tp_model *m = j->m;
    const tp_lattice *lat = m->lat;
    const int32_t n = m->n, k = j->k, hg = j->hg ? j->hg : 1, nls = j->nls;
    uint8_t *x = w->x;
    int64_t *cells = w->cells;
    memset(x, 0, (size_t)n);
    int64_t r = c;
    for (int32_t i = k; i < n; i++) { x[i] = (uint8_t)(r % 2); r /= 2; }
    /* level and token-1 count of the first state (free sites all 0) */
    int64_t lev = 0, ones = 0;
    for (int32_t u = 0; u < nls; u++) {
        const int32_t sh = j->lshell[u];
        const int32_t *b = lat->bonds[sh];
        int64_t same = 0;
        for (int64_t e = 0; e < lat->nbond[sh]; e++) same += x[b[2 * e]] == x[b[2 * e + 1]];
        lev += same * j->lstride[u];
    }
    for (int32_t i = 0; i < n; i++) ones += x[i];
    if (j->fstride) lev += (j->ftoken == 1 ? ones : n - ones) * j->fstride;
    /* per free site and shell: z, and the neighbours among the fixed sites
     * with token 1 (a constant of the chunk) */
    int32_t z1fix[8][32], zs[8];
    for (int32_t u = 0; u < nls; u++) {
        const int32_t sh = j->lshell[u], z = lat->shell_z[sh];
        zs[u] = z;
        for (int32_t s = 0; s < k; s++) {
            int32_t f1 = 0;
            for (int32_t e = 0; e < z; e++) { int32_t o = lat->nb[sh][(int64_t)s * z + e]; if (o >= k) f1 += x[o]; }
            z1fix[u][s] = f1;
        }
    }
    const int64_t fsign = j->ftoken == 1 ? j->fstride : -j->fstride;
    uint32_t X = 0;
    cells[lev * hg + (bp->gi_by_ones ? bp->gi_by_ones[ones] : 0)]++;   /* t = 0: copy 0 */
    for (int64_t t = 1; t < j->steps; t++) {
        const int s = __builtin_ctzll((uint64_t)t);
        const uint32_t bit = 1u << s;
        const int up = !(X & bit);   /* the new token of site s */
        for (int32_t u = 0; u < nls; u++) {
            /* neighbours with token 1, then equal to the new token */
            const int32_t n1 = __builtin_popcount(X & bp->mask[u][s]) + z1fix[u][s];
            const int32_t eq = up ? n1 : zs[u] - n1;
            lev += (int64_t)(2 * eq - zs[u]) * j->lstride[u];
        }
        lev += up ? fsign : -fsign;
        ones += up ? 1 : -1;
        X ^= bit;
        cells[lev * hg + (bp->gi_by_ones ? bp->gi_by_ones[ones] : 0)]++;
    }
}

static void run_chunk_bits_base(const chunk_job *j, const bits_plan *bp, chunk_scratch *w, int64_t c) {
    chunk_bits_body(j, bp, w, c);
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("popcnt,bmi"))) static void run_chunk_bits_popcnt(const chunk_job *j, const bits_plan *bp,
                                                                         chunk_scratch *w, int64_t c) {
    chunk_bits_body(j, bp, w, c);
}
#define run_chunk_bits(j, bp, w, c) \
    (tp_cpu_isa() >= 1 ? run_chunk_bits_popcnt(j, bp, w, c) : run_chunk_bits_base(j, bp, w, c))
#else
#define run_chunk_bits run_chunk_bits_base
#endif

/* One coupled shell, no CV: the general walk with the shell's neighbour
 * lists (self-images removed, nbc: (n, z) with zc[i] used) and the level
 * the equal-bond count (stride 1) plus f fstride. */
static void run_chunk_levels1(const chunk_job *j, const int32_t *nbc, const int32_t *zc, chunk_scratch *w, int64_t c) {
    const tp_model *m = j->m;
    const tp_lattice *lat = m->lat;
    const int32_t n = m->n, q = m->q, k = j->k, z = lat->shell_z[j->lshell[0]], ft = j->ftoken;
    const int64_t fstride = j->fstride;
    uint8_t *x = w->x;
    int32_t *cnt = w->cnt;
    int8_t *dir = w->dir;
    int64_t *cells = w->cells;
    memset(x, 0, (size_t)n);
    int64_t r = c;
    for (int32_t i = k; i < n; i++) { x[i] = (uint8_t)(r % q); r /= q; }
    for (int32_t i = 0; i < k; i++) { cnt[i] = 0; dir[i] = 1; }
    const int32_t *b = lat->bonds[j->lshell[0]];
    int64_t lev = 0;
    for (int64_t e = 0; e < lat->nbond[j->lshell[0]]; e++) lev += x[b[2 * e]] == x[b[2 * e + 1]];
    if (fstride) for (int32_t i = 0; i < n; i++) lev += (x[i] == ft) * fstride;
    for (int64_t t = 0;; t++) {
        cells[lev]++;
        if (t + 1 == j->steps) break;
        int32_t s = 0;
        while (cnt[s] == q - 1) { cnt[s] = 0; dir[s] = (int8_t)-dir[s]; s++; }
        cnt[s]++;
        const int32_t old = x[s], nw = old + dir[s];
        const int32_t *nb = nbc + (int64_t)s * z;
        int32_t d = 0;
        for (int32_t e = 0; e < zc[s]; e++) d += (x[nb[e]] == nw) - (x[nb[e]] == old);
        lev += d + ((nw == ft) - (old == ft)) * fstride;
        x[s] = (uint8_t)nw;
    }
}

/* The energy of level lev, by the model's own formula (model.c). */
static double level_energy(const chunk_job *j, int64_t lev) {
    const tp_model *m = j->m;
    const tp_lattice *lat = m->lat;
    int64_t same[8] = { 0 };
    for (int32_t u = 0; u < j->nls; u++) same[j->lshell[u]] = lev / j->lstride[u] % (lat->nbond[j->lshell[u]] + 1);
    double e = 0;
    for (int32_t s = 0; s < m->nshell; s++) {
        const int64_t nb = lat->nbond[s];
        if (m->kind == TP_MODEL_ISING) e -= m->J[s] * (double)(2 * same[s] - nb);
        else e -= m->J[s] * (double)same[s];
    }
    if (m->h != 0) {
        const int64_t f = lev / j->fstride % (m->n + 1);
        if (m->kind == TP_MODEL_ISING) e -= m->h * (double)(2 * f - m->n);
        else e -= m->h * (double)f;
    }
    return e;
}

/* Ising and Potts: plan the level histogram (job->levels = 1) when its
 * cells, times the grid, fit in 2^21 per thread. */
static void plan_levels(chunk_job *j) {
    const tp_model *m = j->m;
    j->levels = 0;
    if (m->kind != TP_MODEL_ISING && m->kind != TP_MODEL_POTTS) return;
    int64_t size = 1;
    j->nls = 0;
    for (int32_t s = 0; s < m->nshell; s++) {
        if (m->J[s] == 0) continue;
        j->lshell[j->nls] = s;
        j->lstride[j->nls++] = size;
        size *= m->lat->nbond[s] + 1;
        if (size > (1 << 21)) return;
    }
    j->ftoken = m->kind == TP_MODEL_ISING ? 1 : 0;
    j->fstride = 0;
    if (m->h != 0) { j->fstride = size; size *= m->n + 1; }
    j->nlev = size;
    if (size * (j->hg ? j->hg : 1) > (1 << 21)) return;
    j->levels = 1;
}

/* The level-histogram enumeration: every thread counts its chunks' states
 * per (level, grid point); the integer counts are added up (exact, so the
 * thread count cannot matter), then for each beta, over the cells in
 * index order: Z = sum count exp(-beta (E - Emin)), <E>, Var E and the grid
 * marginal. */
static tp_status exact_levels(const chunk_job *j, int64_t nchunk, double *log_z, double *mean_e, double *var_e,
                              double *hist) {
    const int64_t hg = j->hg ? j->hg : 1, ncell = j->nlev * hg;
    int64_t *tot = calloc((size_t)ncell, sizeof(int64_t));
    double *elev = malloc(sizeof(double) * (size_t)j->nlev);
    if (!tot || !elev) { free(tot); free(elev); return TP_ERROR(TP_ERR_NOMEM, "exact: out of memory for %lld level cells", (long long)ncell); }
    bits_plan bp;
    tp_status st = bits_plan_init(&bp, j);
    if (st != TP_OK) { free(tot); free(elev); return st; }
    /* one coupled shell and no CV: compact neighbour lists for the walk */
    int32_t *nbc = NULL, *zc = NULL;
    if (!bp.on && j->nls == 1 && !j->cv) {
        const tp_lattice *lat = j->m->lat;
        const int32_t sh = j->lshell[0], z = lat->shell_z[sh], n = j->m->n;
        nbc = malloc(sizeof(int32_t) * (size_t)n * (size_t)z);
        zc = malloc(sizeof(int32_t) * (size_t)n);
        if (!nbc || !zc) { free(nbc); free(zc); free(tot); free(elev); free(bp.gi_by_ones); return TP_ERROR(TP_ERR_NOMEM, "exact: out of memory"); }
        for (int32_t i = 0; i < n; i++) {
            zc[i] = 0;
            for (int32_t e = 0; e < z; e++) {
                const int32_t o = lat->nb[sh][(int64_t)i * z + e];
                if (o != i) nbc[(int64_t)i * z + zc[i]++] = o;
            }
        }
    }
    int failed = 0, aborted = 0;
    #pragma omp parallel
    {
        chunk_scratch w;
        memset(&w, 0, sizeof w);
        if (!scratch_alloc(&w, j)) {
            #pragma omp atomic write
            failed = 1;
        }
        #pragma omp for schedule(dynamic, 1)
        for (int64_t c = 0; c < nchunk; c++) {
            if (failed || aborted) continue;
            if (tp_abort_flag) {
                #pragma omp atomic write
                aborted = 1;
                continue;
            }
            if (bp.on) run_chunk_bits(j, &bp, &w, c);
            else if (nbc) run_chunk_levels1(j, nbc, zc, &w, c);
            else run_chunk_levels(j, &w, c);
        }
        if (w.cells) {
            #pragma omp critical(tp_exact_levels)
            for (int64_t i = 0; i < ncell; i++) tot[i] += w.cells[i];
        }
        scratch_free(&w);
    }
    free(bp.gi_by_ones);
    free(nbc);
    free(zc);
    if (failed || aborted) {
        free(tot); free(elev);
        return failed ? TP_ERROR(TP_ERR_NOMEM, "exact: out of memory") : TP_ABORTED;
    }
    double emin = INFINITY;
    for (int64_t l = 0; l < j->nlev; l++) {
        int64_t any = 0;
        for (int64_t g = 0; g < hg; g++) any |= tot[l * hg + g];
        elev[l] = level_energy(j, l);
        if (any && elev[l] < emin) emin = elev[l];
    }
    for (int32_t b = 0; b < j->nbeta; b++) {
        const double be = j->beta[b];
        double mx = -INFINITY;   /* largest log weight of an occupied level */
        for (int64_t l = 0; l < j->nlev; l++) {
            int64_t cl = 0;
            for (int64_t g = 0; g < hg; g++) cl += tot[l * hg + g];
            if (cl && -be * (elev[l] - emin) > mx) mx = -be * (elev[l] - emin);
        }
        double s0 = 0, s1 = 0, s2 = 0, *hb = j->hg ? hist + (int64_t)b * hg : NULL;
        if (hb) memset(hb, 0, sizeof(double) * (size_t)hg);
        for (int64_t l = 0; l < j->nlev; l++) {
            int64_t cl = 0;
            for (int64_t g = 0; g < hg; g++) cl += tot[l * hg + g];
            if (!cl) continue;
            const double de = elev[l] - emin, wl = exp(-be * de - mx);
            s0 += (double)cl * wl;
            s1 += (double)cl * wl * de;
            s2 += (double)cl * wl * de * de;
            if (hb) for (int64_t g = 0; g < hg; g++) if (tot[l * hg + g]) hb[g] += (double)tot[l * hg + g] * wl;
        }
        const double m1 = s1 / s0;
        log_z[b] = -be * emin + mx + log(s0);
        mean_e[b] = emin + m1;
        var_e[b] = s2 / s0 - m1 * m1;
        if (var_e[b] < 0) var_e[b] = 0;
        if (hb) for (int64_t g = 0; g < hg; g++) hb[g] /= s0;
    }
    free(tot);
    free(elev);
    return TP_OK;
}

tp_status tp_exact_run(const tp_model *m, const double *beta, int32_t nbeta,
                       double *log_z, double *mean_e, double *var_e,
                       const tp_cv *cv, const double *lo, const double *hi,
                       const int32_t *points, double *hist) {
    if (!m) return TP_ERROR(TP_ERR_ARG, "exact: NULL model");
    if (nbeta < 1 || !beta || !log_z || !mean_e || !var_e) return TP_ERROR(TP_ERR_ARG, "exact: need at least one beta and output buffers");
    for (int32_t b = 0; b < nbeta; b++)
        if (!isfinite(beta[b])) return TP_ERROR(TP_ERR_ARG, "exact: beta[%d] is not finite", (int)b + 1);
    int64_t nstates = tp_exact_states(m);
    if (nstates < 0)
        return TP_ERROR(TP_ERR_ARG, "exact: %d sites with %d states is more than 2^26 configurations", (int)m->n, (int)m->q);
    int32_t n = m->n, q = m->q, G = 1, dim = 0;
    if (cv) {
        if (cv->n != n) return TP_ERROR(TP_ERR_ARG, "exact: the CV has %d sites, the model %d", (int)cv->n, (int)n);
        if (cv->q != q) return TP_ERROR(TP_ERR_ARG, "exact: the CV is for q = %d, the model has q = %d", (int)cv->q, (int)q);
        if (!lo || !hi || !points || !hist) return TP_ERROR(TP_ERR_ARG, "exact: a CV needs lo, hi, points and hist");
        dim = cv->dim;
        if (dim > 8) return TP_ERROR(TP_ERR_ARG, "exact: CV has %d dimensions (max 8)", (int)dim);
        for (int32_t d = 0; d < dim; d++) {
            if (points[d] < 2) return TP_ERROR(TP_ERR_ARG, "exact: grid dimension %d needs >= 2 points, got %d", (int)d + 1, (int)points[d]);
            if (!(hi[d] > lo[d])) return TP_ERROR(TP_ERR_ARG, "exact: grid dimension %d: range must have lo < hi", (int)d + 1);
            if ((int64_t)G * points[d] > EXACT_MAX_GRID) return TP_ERROR(TP_ERR_ARG, "exact: CV grid too large (max 2^20 points)");
            G *= points[d];
        }
    }
    /* chunking: fix the top nfix sites, q^nfix chunks (about 64 or more) */
    int32_t nfix = 0;
    int64_t nchunk = 1;
    while (nfix < n && nchunk < 64) { nchunk *= q; nfix++; }
    chunk_job job = { .m = m, .cv = cv, .beta = beta, .lo = lo, .points = points, .nbeta = nbeta, .dim = dim,
                      .hg = cv ? G : 0, .ng = cv ? cv->ngroup : 1, .k = n - nfix, .steps = nstates / nchunk };
    for (int32_t d = 0; d < dim; d++) { job.span[d] = hi[d] - lo[d]; job.pm1[d] = points[d] - 1; }
    /* memo: 1024 entries, fewer for long count vectors (at most 2^16
     * counts per thread); splitmix64 of the slot as its multiplier */
    job.ncount = job.ng * q;
    job.memo_bits = 10;
    while (job.memo_bits > 4 && ((int64_t)job.ncount << job.memo_bits) > 65536) job.memo_bits--;
    for (int32_t s = 0; s < job.ncount; s++) {
        uint64_t z = (uint64_t)(s + 1) * UINT64_C(0x9E3779B97F4A7C15);
        z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
        job.mul[s] = z ^ (z >> 31);
    }
    int32_t hg = job.hg;
    plan_levels(&job);
    if (job.levels) return exact_levels(&job, nchunk, log_z, mean_e, var_e, hist);
    acc *A = calloc((size_t)nchunk * (size_t)nbeta, sizeof(acc));
    double *H = hg ? calloc((size_t)nchunk * (size_t)nbeta * (size_t)hg, sizeof(double)) : NULL;
    if (!A || (hg && !H)) { free(A); free(H); return TP_ERROR(TP_ERR_NOMEM, "exact: out of memory for %lld chunk accumulators", (long long)nchunk); }
    {
        uint8_t *z = calloc((size_t)n, 1);
        if (!z) { free(A); free(H); return TP_ERROR(TP_ERR_NOMEM, "exact: out of memory"); }
        job.eref = tp_model_energy(m, z);
        free(z);
    }
    double eref = job.eref;
    int failed = 0, aborted = 0;

    /* each thread walks a chunk in its own scratch and copies the result to
     * the chunk's slot of A and H once, at the end */
    #pragma omp parallel
    {
        chunk_scratch w;
        if (!scratch_alloc(&w, &job)) {
            #pragma omp atomic write
            failed = 1;
        }
        #pragma omp for schedule(dynamic, 1)
        for (int64_t c = 0; c < nchunk; c++) {
            if (failed || aborted) continue;
            if (tp_abort_flag) {
                #pragma omp atomic write
                aborted = 1;
                continue;
            }
            run_chunk(&job, &w, c);
            memcpy(A + c * nbeta, w.a, sizeof(acc) * (size_t)nbeta);
            if (hg) memcpy(H + c * nbeta * (int64_t)hg, w.h, sizeof(double) * (size_t)nbeta * (size_t)hg);
        }
        scratch_free(&w);
    }
    if (failed) { free(A); free(H); return TP_ERROR(TP_ERR_NOMEM, "exact: out of memory"); }
    if (aborted) { free(A); free(H); return TP_ABORTED; }
    /* merge chunks in order */
    for (int32_t b = 0; b < nbeta; b++) {
        double M = -INFINITY;
        for (int64_t c = 0; c < nchunk; c++) if (A[c * nbeta + b].mx > M) M = A[c * nbeta + b].mx;
        double s0 = 0, s1 = 0, s2 = 0;
        if (hg) memset(hist + (int64_t)b * hg, 0, sizeof(double) * (size_t)hg);
        for (int64_t c = 0; c < nchunk; c++) {
            const acc *a = &A[c * nbeta + b];
            double sc = exp(a->mx - M);
            s0 += sc * a->s0; s1 += sc * a->s1; s2 += sc * a->s2;
            if (hg) {
                const double *h = H + (c * nbeta + b) * (int64_t)hg;
                for (int32_t g = 0; g < hg; g++) hist[(int64_t)b * hg + g] += sc * h[g];
            }
        }
        double m1 = s1 / s0;
        log_z[b] = -beta[b] * eref + M + log(s0);
        mean_e[b] = eref + m1;
        var_e[b] = s2 / s0 - m1 * m1;
        if (var_e[b] < 0) var_e[b] = 0;
        if (hg) for (int32_t g = 0; g < hg; g++) hist[(int64_t)b * hg + g] /= s0;
    }
    free(A);
    free(H);
    return TP_OK;
}

/* ---- the magnetisation distribution of the square Ising model (transfer matrix) ---- */

/* row r of L spins (bit i = spin i up): its magnetisation and its bonds
 * sum_i s_i s_{i+1} (periodic) */
static int row_m(uint32_t r, int L) { return 2 * __builtin_popcount(r) - L; }
static int row_bonds(uint32_t r, int L) {
    uint32_t rot = ((r >> 1) | (r << (L - 1))) & ((1u << L) - 1);
    return L - 2 * __builtin_popcount(r ^ rot);
}
/* the smallest rotation of r: rows that are rotations of one another give
 * the same sums (the lattice is translation invariant) */
static uint32_t row_canon(uint32_t r, int L) {
    uint32_t best = r, mask = (1u << L) - 1;
    for (int k = 1; k < L; k++) {
        r = ((r >> 1) | (r << (L - 1))) & mask;
        if (r < best) best = r;
    }
    return best;
}

tp_status tp_exact_ising_m(int32_t L, double J, double h, double beta, double *log_z, double *p) {
    if (L < 3 || L > 10) return TP_ERROR(TP_ERR_ARG, "exact Ising m: L must be 3..10, got %d", L);
    if (!(beta >= 0) || !isfinite(beta) || !isfinite(J) || !isfinite(h))
        return TP_ERROR(TP_ERR_ARG, "exact Ising m: beta, J and h must be finite (beta >= 0)");
    if (!log_z || !p) return TP_ERROR(TP_ERR_ARG, "exact Ising m: NULL output");
    const int R = 1 << L, NM = L * L + 1;      /* rows; magnetisations -L^2, -L^2 + 2, ..., L^2 */
    const double bJ = beta * J;
    /* weights of a row and of a pair of rows, and each row's m */
    double *wrow = malloc(sizeof(double) * R), *wpair = malloc(sizeof(double) * (size_t)R * R);
    int *mrow = malloc(sizeof(int) * R);
    uint32_t *reps = malloc(sizeof(uint32_t) * R);
    int *mult = calloc((size_t)R, sizeof(int));
    double *part = calloc((size_t)R * NM, sizeof(double)), *plog = calloc((size_t)R, sizeof(double));
    if (!wrow || !wpair || !mrow || !reps || !mult || !part || !plog) {
        free(wrow); free(wpair); free(mrow); free(reps); free(mult); free(part); free(plog);
        return TP_ERROR(TP_ERR_NOMEM, "exact Ising m: out of memory for L = %d", L);
    }
    for (int r = 0; r < R; r++) {
        wrow[r] = exp(bJ * row_bonds((uint32_t)r, L));
        mrow[r] = row_m((uint32_t)r, L);
        for (int s = 0; s < R; s++) wpair[(size_t)r * R + s] = exp(bJ * (L - 2 * __builtin_popcount((uint32_t)(r ^ s))));
    }
    int nrep = 0;
    for (int r = 0; r < R; r++) {
        uint32_t c = row_canon((uint32_t)r, L);
        if (mult[c]++ == 0) reps[nrep++] = c;
    }
    tp_status st = TP_OK;
    /* one first row per class of rotations, its sums times the class size */
    #pragma omp parallel
    {
        double *v = malloc(sizeof(double) * (size_t)R * NM), *w = malloc(sizeof(double) * (size_t)R * NM);
        if (!v || !w) {
            #pragma omp critical(tp_exact_ising_m)
            st = TP_ERROR(TP_ERR_NOMEM, "exact Ising m: out of memory");
        }
        #pragma omp for schedule(dynamic, 1)
        for (int k = 0; k < nrep; k++) {
            if (!v || !w || tp_abort_flag) continue;
            const uint32_t r0 = reps[k];
            double lscale = 0;
            memset(v, 0, sizeof(double) * (size_t)R * NM);
            /* index of M: each row adds (m_row + L)/2, so the total is (M + L^2)/2 */
            v[(size_t)r0 * NM + (mrow[r0] + L) / 2] = wrow[r0];
            for (int row = 1; row < L; row++) {
                memset(w, 0, sizeof(double) * (size_t)R * NM);
                for (int s = 0; s < R; s++) {
                    const double *vs = v + (size_t)s * NM;
                    const double *ws = wpair + (size_t)s * R;
                    for (int t = 0; t < R; t++) {
                        const double f = ws[t] * wrow[t];
                        const int dm = (mrow[t] + L) / 2;   /* index shift of the new row's m */
                        double *wt = w + (size_t)t * NM + dm;
                        for (int m = 0; m + dm < NM; m++) wt[m] += f * vs[m];
                    }
                }
                /* rescale: the largest entry to 1, its log kept */
                double mx = 0;
                for (size_t i = 0; i < (size_t)R * NM; i++) if (w[i] > mx) mx = w[i];
                if (mx > 0) { for (size_t i = 0; i < (size_t)R * NM; i++) w[i] /= mx; lscale += log(mx); }
                double *tmp = v; v = w; w = tmp;
            }
            /* close the torus: the last row's bonds to the first */
            double *out = part + (size_t)k * NM;
            for (int s = 0; s < R; s++) {
                const double f = wpair[(size_t)s * R + r0];
                for (int m = 0; m < NM; m++) out[m] += f * v[(size_t)s * NM + m];
            }
            plog[k] = lscale;
        }
        free(v); free(w);
    }
    if (st == TP_OK && tp_abort_flag) st = TP_ABORTED;
    if (st == TP_OK) {
        /* sum the classes in a fixed order (threads never change the result) */
        double top = -INFINITY;
        for (int k = 0; k < nrep; k++) if (plog[k] > top) top = plog[k];
        for (int m = 0; m < NM; m++) p[m] = 0;
        for (int k = 0; k < nrep; k++) {
            double f = mult[reps[k]] * exp(plog[k] - top);
            for (int m = 0; m < NM; m++) p[m] += f * part[(size_t)k * NM + m];
        }
        /* the field: exp(beta h M) */
        double z = 0, fmax = -INFINITY;
        for (int m = 0; m < NM; m++) {
            double M = 2.0 * m - L * L;
            if (p[m] > 0 && beta * h * M > fmax) fmax = beta * h * M;
        }
        for (int m = 0; m < NM; m++) {
            double M = 2.0 * m - L * L;
            p[m] = p[m] > 0 ? p[m] * exp(beta * h * M - fmax) : 0;
            z += p[m];
        }
        for (int m = 0; m < NM; m++) p[m] /= z;
        *log_z = log(z) + fmax + top;
    }
    free(wrow); free(wpair); free(mrow); free(reps); free(mult); free(part); free(plog);
    return st;
}
