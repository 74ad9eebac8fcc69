/*
 * runtime/mc_vec.c -- Metropolis and heat-bath sweeps of single-shell
 * Ising and Potts models on square and simple-cubic lattices, 16 sites of
 * one checkerboard colour at a time (the kernels: runtime/mc_vec_body.h, built
 * once per instruction set and picked at run time).
 *
 * Contract: the same configurations, acceptance counts and attempt
 * counters as the scalar path of runtime/mc.c for the same seed (each
 * attempt keeps its random word, see mc.h), on every instruction set and
 * thread count.  A chain is copied into two arrays, one per colour, for
 * the sweeps of one call and copied back.  One chain uses every thread:
 * the rows of a colour are split between threads, which wait for each
 * other between half-sweeps on a spinning barrier (an OpenMP barrier with
 * the passive wait policy costs more than a half-sweep of a 256 x 256
 * lattice).  Several chains run one per thread.
 */
#include "mc_impl.h"
#include "model_impl.h"

#include <omp.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef uint32_t u32v __attribute__((vector_size(64)));
typedef int32_t i32v __attribute__((vector_size(64)));
typedef uint64_t u64v __attribute__((vector_size(64)));
typedef uint8_t u8v __attribute__((vector_size(16)));
typedef int8_t i8v __attribute__((vector_size(16)));
typedef double f64v __attribute__((vector_size(64)));

typedef struct {
    int D;          /* 2 or 3 */
    int L0, L1, L2; /* sizes; L2 = 1 in 2D */
    int W;          /* sites of one colour per row: L0 / 2 */
    int64_t nc;     /* sites of one colour: W L1 L2 */
} cb_geom;

#pragma GCC push_options
#define MCV_SUFFIX base
#include "mc_vec_body.h"
#undef MCV_SUFFIX
#pragma GCC pop_options

#if defined(__x86_64__) && defined(__GNUC__)
#pragma GCC push_options
#pragma GCC target("avx2")
#include <immintrin.h>
/* a macro: a vector return would change the ABI of the baseline copy */
#define mul_even_avx2(a, m) __extension__({                              \
        union { u64v v; __m256i h[2]; } u_ = { .v = (a) };                 \
        const __m256i m_ = _mm256_set1_epi64x((long long)(m));             \
        u_.h[0] = _mm256_mul_epu32(u_.h[0], m_);                           \
        u_.h[1] = _mm256_mul_epu32(u_.h[1], m_);                           \
        u_.v; })
#define MCV_SUFFIX avx2
#include "mc_vec_body.h"
#undef MCV_SUFFIX
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512bw,avx512dq,avx2,popcnt")
#define MCV_SUFFIX avx512
#include "mc_vec_body.h"
#undef MCV_SUFFIX

/* The in-row neighbours (j - 1, or j + 1 on odd rows) of the 64 sites at
 * j0 of the walker's row; the row's wrap-around neighbour comes in by a
 * masked load and a masked broadcast. */
static inline __attribute__((always_inline)) __m512i row_shift64(const rowp_avx512 *w, int j0, int W) {
    const uint8_t *same = w->same + j0;
    if (w->left)
        return j0 > 0 ? _mm512_loadu_si512(same - 1)
                      : _mm512_mask_set1_epi8(_mm512_maskz_loadu_epi8(~(__mmask64)1, same - 1), 1, (char)w->same[W - 1]);
    return j0 + 64 < W ? _mm512_loadu_si512(same + 1)
                       : _mm512_mask_set1_epi8(_mm512_maskz_loadu_epi8(~(__mmask64)0 >> 1, same + 1),
                                               (__mmask64)1 << 63, (char)w->same[0]);
}

/* Ising Metropolis (heat == 0) and heat bath (heat == 1) on the
 * checkerboard, 64 sites of one colour per step: rows of a multiple of 64
 * sites (W % 64 == 0), p0 % 64 == 0.  The same words and decisions as
 * mc_vec_body.h ising_body (one Philox16 per 64 sites, thresholds looked up
 * 16 at a time), with the neighbour sums, the new tokens and the counts
 * done on whole 64-byte vectors and a 64-bit mask; the row's wrap-around
 * neighbour comes in by a masked load and a masked broadcast. */
static int64_t ising64_avx512(const cb_geom *g, uint8_t *self, const uint8_t *other, int col, int heat,
                              const uint32_t tab[16], int64_t p0, int64_t p1, uint64_t tbase,
                              uint32_t c0, uint32_t c1, uint32_t k0, uint32_t k1) {
    const __m512i tv = _mm512_loadu_si512(tab), ones = _mm512_set1_epi8(1), below = _mm512_set1_epi32(-2);
    const __m512i zp1 = _mm512_set1_epi8((char)(2 * g->D + 1));
    const int W = g->W;
    int64_t changed = 0;
    rowp_avx512 w;
    int64_t p = p0;
    row_set_avx512(&w, g, other, col, p / W);
    int j0 = (int)(p - w.r * W);
    while (p < p1) {
        u32v V[4];
        words64_avx512(V, (tbase + (uint64_t)p) >> 2, c0, c1, k0, k1);
        const uint8_t *same = w.same + j0;
        const __m512i sh = row_shift64(&w, j0, W);
        __m512i up = _mm512_add_epi8(_mm512_add_epi8(_mm512_loadu_si512(same), sh),
                                     _mm512_add_epi8(_mm512_loadu_si512(w.ym + j0), _mm512_loadu_si512(w.yp + j0)));
        if (g->D == 3)
            up = _mm512_add_epi8(up, _mm512_add_epi8(_mm512_loadu_si512(w.zm + j0), _mm512_loadu_si512(w.zp + j0)));
        const __m512i a = _mm512_loadu_si512(self + p);
        const __m512i idx8 = heat ? up : _mm512_add_epi8(up, _mm512_and_si512(_mm512_sub_epi8(_mm512_setzero_si512(), a), zp1));
        /* w < thr or thr == UINT32_MAX (always) is min(w, UINT32_MAX - 1) < thr */
        const __m512i wm[4] = { _mm512_min_epu32((__m512i)V[0], below), _mm512_min_epu32((__m512i)V[1], below),
                                _mm512_min_epu32((__m512i)V[2], below), _mm512_min_epu32((__m512i)V[3], below) };
        uint64_t K = 0;
#define QUARTER(m) do {                                                                                \
            const __m512i id = _mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(idx8, m));               \
            const __m512i thr = _mm512_permutexvar_epi32(id, tv);                                      \
            const __mmask16 k = _mm512_cmplt_epu32_mask(wm[m], thr);                                    \
            K |= (uint64_t)k << (16 * (m));                                                            \
        } while (0)
        QUARTER(0); QUARTER(1); QUARTER(2); QUARTER(3);
#undef QUARTER
        __m512i b;
        if (heat) {
            b = _mm512_maskz_mov_epi8((__mmask64)K, ones);
            changed += __builtin_popcountll(_mm512_cmpneq_epi8_mask(b, a));
        } else {
            b = _mm512_mask_sub_epi8(a, (__mmask64)K, ones, a);
            changed += __builtin_popcountll(K);
        }
        _mm512_storeu_si512(self + p, b);
        row_step_avx512(&w, g, other, col, &p, &j0, 64, p1);
    }
    return changed;
}

/* Potts Metropolis on the checkerboard, 64 sites of one colour per step
 * (W % 64 == 0, p0 % 64 == 0): the words and decisions of mc_vec_body.h
 * potts_body (two Philox16 per 64 sites, proposals and thresholds 16 at a
 * time), with the tokens, neighbour comparisons and counts on whole 64-byte
 * vectors and 64-bit masks. */
static int64_t potts64_avx512(const cb_geom *g, uint8_t *self, const uint8_t *other, int col, int q,
                              const uint32_t tab[3][16], int64_t p0, int64_t p1, uint64_t tbase,
                              uint32_t c0, uint32_t c1, uint32_t k0, uint32_t k1) {
    const __m512i t0v = _mm512_loadu_si512(tab[0]), t1v = _mm512_loadu_si512(tab[1]), t2v = _mm512_loadu_si512(tab[2]);
    const int flat = !memcmp(tab[0], tab[1], sizeof tab[0]) && !memcmp(tab[1], tab[2], sizeof tab[0]);
    const __m512i ones = _mm512_set1_epi8(1), qv = _mm512_set1_epi8((char)q), zero = _mm512_setzero_si512();
    const __m512i below = _mm512_set1_epi32(-2), zv = _mm512_set1_epi8((char)(2 * g->D));
    const __m512i hi32 = _mm512_set1_epi64((long long)0xFFFFFFFF00000000ull);
    const int W = g->W;
    int64_t accepted = 0;
    rowp_avx512 w;
    int64_t p = p0;
    row_set_avx512(&w, g, other, col, p / W);
    int j0 = (int)(p - w.r * W);
    while (p < p1) {
        __m512i R0[4], R1[4];   /* proposal and acceptance words of the four quarters */
        for (int h = 0; h < 2; h++) {
            u32v A0, A1, A2, A3;
            philox16_avx512(&A0, &A1, &A2, &A3, (tbase + (uint64_t)p + 32 * (uint64_t)h) >> 1, c0, c1, k0, k1);
            R0[2 * h] = (__m512i)__builtin_shuffle(A0, A2, (u32v){ 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23 });
            R0[2 * h + 1] = (__m512i)__builtin_shuffle(A0, A2, (u32v){ 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31 });
            R1[2 * h] = (__m512i)__builtin_shuffle(A1, A3, (u32v){ 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23 });
            R1[2 * h + 1] = (__m512i)__builtin_shuffle(A1, A3, (u32v){ 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31 });
        }
        /* proposals: k = (r0 (q - 1)) >> 32 per quarter, packed to bytes */
        const __m512i qm1 = _mm512_set1_epi64(q - 1);
        __m128i kq[4];
        for (int m = 0; m < 4; m++) {
            const __m512i e = _mm512_mul_epu32(R0[m], qm1), o = _mm512_mul_epu32(_mm512_srli_epi64(R0[m], 32), qm1);
            const __m512i k = _mm512_or_si512(_mm512_srli_epi64(e, 32), _mm512_and_si512(o, hi32));
            kq[m] = _mm512_cvtepi32_epi8(k);
        }
        const __m512i k8 = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_inserti128_si256(_mm256_castsi128_si256(kq[0]), kq[1], 1)),
                                              _mm256_inserti128_si256(_mm256_castsi128_si256(kq[2]), kq[3], 1), 1);
        const uint8_t *same = w.same + j0;
        const __m512i sh = row_shift64(&w, j0, W);
        __m512i nb[6] = { _mm512_loadu_si512(same), sh, _mm512_loadu_si512(w.ym + j0), _mm512_loadu_si512(w.yp + j0) };
        if (g->D == 3) { nb[4] = _mm512_loadu_si512(w.zm + j0); nb[5] = _mm512_loadu_si512(w.zp + j0); }
        const __m512i a = _mm512_loadu_si512(self + p);
        __m512i b = _mm512_add_epi8(_mm512_add_epi8(a, ones), k8);
        b = _mm512_mask_sub_epi8(b, _mm512_cmpge_epu8_mask(b, qv), b, qv);
        /* d + z = z + (neighbours equal to b) - (equal to a) */
        __m512i dz = zv;
        for (int k = 0; k < 2 * g->D; k++) {
            dz = _mm512_mask_add_epi8(dz, _mm512_cmpeq_epi8_mask(nb[k], b), dz, ones);
            dz = _mm512_mask_sub_epi8(dz, _mm512_cmpeq_epi8_mask(nb[k], a), dz, ones);
        }
        const __mmask64 b0 = _mm512_cmpeq_epi8_mask(b, zero), a0 = _mm512_cmpeq_epi8_mask(a, zero);
        const __mmask64 fplus = b0 & ~a0, fminus = a0 & ~b0;   /* rows 2 and 0 */
        uint64_t K = 0;
#define QUARTER(m) do {                                                                                \
            const __m512i id = _mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(dz, m));                 \
            __m512i thr = _mm512_permutexvar_epi32(id, t1v);                                           \
            if (!flat) {                                                                               \
                thr = _mm512_mask_mov_epi32(thr, (__mmask16)(fplus >> (16 * (m))), _mm512_permutexvar_epi32(id, t2v)); \
                thr = _mm512_mask_mov_epi32(thr, (__mmask16)(fminus >> (16 * (m))), _mm512_permutexvar_epi32(id, t0v)); \
            }                                                                                          \
            K |= (uint64_t)_mm512_cmplt_epu32_mask(_mm512_min_epu32(R1[m], below), thr) << (16 * (m)); \
        } while (0)
        QUARTER(0); QUARTER(1); QUARTER(2); QUARTER(3);
#undef QUARTER
        _mm512_storeu_si512(self + p, _mm512_mask_mov_epi8(a, (__mmask64)K, b));
        accepted += __builtin_popcountll(K);
        row_step_avx512(&w, g, other, col, &p, &j0, 64, p1);
    }
    return accepted;
}
#pragma GCC pop_options
#define MCVEC(isa, fn, ...) ((isa) == 2 ? fn##_avx512(__VA_ARGS__) : (isa) == 1 ? fn##_avx2(__VA_ARGS__) \
                                                                           : fn##_base(__VA_ARGS__))
#else
#define MCVEC(isa, fn, ...) fn##_base(__VA_ARGS__)
#endif

/* bytes between the two colour arrays: their sizes are often multiples of
 * 4 KiB, and equal offsets modulo 4 KiB make the CPU stall loads of one
 * behind stores to the other */
#define CB_GAP 1088

static int32_t kernel_mode = 0;   /* 0 auto, 1 scalar only (tests, benchmarks) */
void tp_mc_set_kernel(int32_t mode) { kernel_mode = mode; }

/* Square (L x L) or simple-cubic lattice, even sizes, rows a multiple of 16
 * sites of one colour. */
static int geometry(const tp_lattice *lat, cb_geom *g) {
    int sq = strcmp(lat->kind, "square") == 0 && lat->dim == 2;
    int cu = strcmp(lat->kind, "cubic") == 0 && lat->dim == 3;
    if (!(sq || cu) || lat->nbasis != 1 || !lat->bipartite || lat->shell_z[0] != 2 * lat->dim) return 0;
    g->D = lat->dim;
    g->L0 = lat->size[0]; g->L1 = lat->size[1]; g->L2 = cu ? lat->size[2] : 1;
    if (g->L0 % 32 || g->L1 % 2 || g->L1 < 4 || (cu && (g->L2 % 2 || g->L2 < 4))) return 0;
    g->W = g->L0 / 2;
    g->nc = (int64_t)g->W * g->L1 * g->L2;
    return 2 * g->nc == lat->n;
}

/* chain x <-> the colour arrays s0 (colour 0) and s1 */
static void split(const cb_geom *g, const uint8_t *x, uint8_t *s0, uint8_t *s1) {
    for (int64_t r = 0; r < (int64_t)g->L1 * g->L2; r++) {
        int par = (int)((r % g->L1 + r / g->L1) & 1);
        const uint8_t *row = x + r * g->L0;
        for (int j = 0; j < g->W; j++) {
            s0[r * g->W + j] = row[2 * j + par];
            s1[r * g->W + j] = row[2 * j + 1 - par];
        }
    }
}

static void join(const cb_geom *g, uint8_t *x, const uint8_t *s0, const uint8_t *s1) {
    for (int64_t r = 0; r < (int64_t)g->L1 * g->L2; r++) {
        int par = (int)((r % g->L1 + r / g->L1) & 1);
        uint8_t *row = x + r * g->L0;
        for (int j = 0; j < g->W; j++) {
            row[2 * j + par] = s0[r * g->W + j];
            row[2 * j + 1 - par] = s1[r * g->W + j];
        }
    }
}

typedef struct {
    const cb_geom *g;
    int isa, potts, heat, q;   /* heat: 0, 1 Ising heat bath, 2 Potts heat bath */
    const uint32_t *cum;
    uint32_t k0, k1;
    uint32_t ising[16];      /* Ising thresholds by a (z + 1) + up, or up (heat bath) */
    uint32_t potts_tab[3][16];
} cb_kernel;

/* positions [p0, p1) of colour col in sweep starting at attempt t */
static int64_t half(const cb_kernel *K, uint8_t *s[2], int col, int64_t p0, int64_t p1, uint64_t t, int64_t c) {
    const uint64_t tbase = t + (col ? (uint64_t)K->g->nc : 0);
    const uint32_t c0 = (uint32_t)c, c1 = (uint32_t)((uint64_t)c >> 32);
#if defined(__x86_64__) && defined(__GNUC__)
    if (K->isa == 2 && !K->potts && K->heat != 2 && K->g->W % 64 == 0 && p0 % 64 == 0)
        return ising64_avx512(K->g, s[col], s[1 - col], col, K->heat, K->ising, p0, p1, tbase, c0, c1, K->k0, K->k1);
    if (K->isa == 2 && K->potts && K->heat == 0 && K->g->W % 64 == 0 && p0 % 64 == 0)
        return potts64_avx512(K->g, s[col], s[1 - col], col, K->q, K->potts_tab, p0, p1, tbase, c0, c1, K->k0, K->k1);
#endif
    if (K->potts && K->heat != 2)
        return MCVEC(K->isa, potts_half, K->g, s[col], s[1 - col], col, K->q, K->potts_tab, p0, p1, tbase, c0, c1, K->k0, K->k1);
    return MCVEC(K->isa, ising_half, K->g, s[col], s[1 - col], col, K->heat, K->ising, K->cum, K->q, p0, p1, tbase,
                 c0, c1, K->k0, K->k1);
}

/* A sense-reversing barrier that spins (yielding now and then, so an
 * oversubscribed machine still makes progress). */
typedef struct {
    atomic_int count, sense;
    int n;
} spin_barrier;

static void barrier_wait(spin_barrier *b, int *local) {
    int s = !*local;
    *local = s;
    if (atomic_fetch_add(&b->count, 1) == b->n - 1) {
        atomic_store(&b->count, 0);
        atomic_store(&b->sense, s);
        return;
    }
    for (unsigned spins = 0; atomic_load(&b->sense) != s; spins++) {
        if (spins > 4096) sched_yield();
#if defined(__x86_64__)
        else __builtin_ia32_pause();
#endif
    }
}

/* One chain, nsweeps sweeps on nt threads (nt >= 2). */
static int64_t chain_threads(const cb_kernel *K, uint8_t *s[2], int64_t c, uint64_t t, int64_t nsweeps,
                             int nt, int64_t *done) {
    spin_barrier bar = { 0, 0, nt };
    atomic_int stop = 0;
    int64_t acc = 0, swept = 0;
    const int64_t unit = 64, nunit = (K->g->nc + unit - 1) / unit;
    #pragma omp parallel num_threads(nt) reduction(+:acc)
    {
        int me = omp_get_thread_num(), n = omp_get_num_threads(), local = 0;
        const int64_t p0 = nunit * me / n * unit, p1e = nunit * (me + 1) / n * unit;
        const int64_t p1 = p1e < K->g->nc ? p1e : K->g->nc;
        #pragma omp single
        bar.n = n;   /* the team may be smaller than asked */
        for (int64_t w = 0; w < nsweeps; w++) {
            const uint64_t tw = t + (uint64_t)w * (uint64_t)(2 * K->g->nc);
            acc += half(K, s, 0, p0, p1, tw, c);
            barrier_wait(&bar, &local);
            acc += half(K, s, 1, p0, p1, tw, c);
            if (me == 0) {
                atomic_store(&stop, tp_abort_flag != 0);
                swept = w + 1;
            }
            barrier_wait(&bar, &local);
            if (atomic_load(&stop)) break;
        }
    }
    *done = swept;
    return acc;
}

int tp_mc_checker(tp_mc *mc, int32_t method, int64_t nsweeps, const tp_mc_site_table *tb,
                  tp_status *st) {
    const tp_model *m = mc->m;
    cb_geom g;
    if (kernel_mode == 1 || !tb->on || nsweeps < 1 || !geometry(m->lat, &g)) return 0;
    if (!(method == TP_MC_METROPOLIS || (method == TP_MC_HEATBATH && (m->kind == TP_MODEL_ISING || tb->hb)))) return 0;
    for (int64_t c = 0; c < mc->B; c++) if (mc->t[c] % (uint64_t)mc->n) return 0;
    cb_kernel K = { .g = &g, .isa = tp_cpu_isa(), .potts = m->kind == TP_MODEL_POTTS,
                    .heat = method != TP_MC_HEATBATH ? 0 : tb->hb ? 2 : 1, .q = m->q, .cum = tb->cum };
    const int z = 2 * g.D;
    uint64_t key = mc->seed ^ (K.potts && !tb->hb ? TP_MC_KEY_SITE2 : TP_MC_KEY_SITE4);
    K.k0 = (uint32_t)key; K.k1 = (uint32_t)(key >> 32);
    /* Ising: up = neighbours with token 1, sum = 2 up - z */
    for (int up = 0; up <= z; up++) {
        if (K.heat) K.ising[up] = tb->thr[0][2 * up];
        else { K.ising[up] = tb->thr[0][2 * up]; K.ising[z + 1 + up] = tb->thr[1][2 * up]; }
    }
    for (int f = 0; f < 3; f++)
        for (int d = 0; d <= 2 * z; d++) K.potts_tab[f][d] = tb->thr[f][d];

    const int nth = tp_threads_get();
    const int64_t n = mc->n;
    /* one chain on every thread when there are fewer chains than threads and
     * a half-sweep is long against a barrier (~1 us); else chains in parallel */
    const int inner = mc->B < nth && n >= 8192;
    int failed = 0;
    if (inner) {
        uint8_t *buf = malloc((size_t)n + CB_GAP);
        if (!buf) { *st = TP_ERROR(TP_ERR_NOMEM, "mc: out of memory for %lld sites", (long long)n); return 1; }
        uint8_t *s[2] = { buf, buf + g.nc + CB_GAP };
        for (int64_t c = 0; c < mc->B && !tp_abort_flag; c++) {
            uint8_t *x = mc->x + c * n;
            int64_t done = 0;
            split(&g, x, s[0], s[1]);
            int64_t acc = chain_threads(&K, s, c + mc->first, mc->t[c], nsweeps, nth, &done);
            join(&g, x, s[0], s[1]);
            mc->acc[c] += acc;
            mc->att[c] += done * n;
            mc->t[c] += (uint64_t)(done * n);
            if (done < nsweeps) break;
        }
        free(buf);
    } else {
        int par = mc->B > 1 && (int64_t)mc->B * n * nsweeps >= ((int64_t)1 << 17);
        #pragma omp parallel if (par)
        {
            uint8_t *buf = malloc((size_t)n + CB_GAP);
            if (!buf) {
                #pragma omp atomic write
                failed = 1;
            }
            #pragma omp for schedule(dynamic, 1)
            for (int64_t c = 0; c < mc->B; c++) {
                if (!buf) continue;
                uint8_t *s[2] = { buf, buf + g.nc + CB_GAP };
                uint8_t *x = mc->x + c * n;
                split(&g, x, s[0], s[1]);
                int64_t acc = 0, w = 0;
                for (; w < nsweeps && !tp_abort_flag; w++) {
                    uint64_t tw = mc->t[c] + (uint64_t)(w * n);
                    acc += half(&K, s, 0, 0, g.nc, tw, c + mc->first);
                    acc += half(&K, s, 1, 0, g.nc, tw, c + mc->first);
                }
                join(&g, x, s[0], s[1]);
                mc->acc[c] += acc;
                mc->att[c] += w * n;
                mc->t[c] += (uint64_t)(w * n);
            }
            free(buf);
        }
    }
    if (failed) *st = TP_ERROR(TP_ERR_NOMEM, "mc: out of memory for %lld sites", (long long)n);
    else *st = tp_abort_flag ? TP_ABORTED : TP_OK;
    return 1;
}

/* Chains in lanes: 16 chains side by side (mc_vec_body.h lanes, ce_lanes,
 * lanes_biased).  A job names the kernel and what it reads. */
typedef struct {
    int kind;                         /* LANES_SITE, LANES_CE, LANES_BIASED */
    int isa, potts, heat;
    uint32_t k0, k1;
    const int32_t *nbr;               /* shell-0 neighbours (z each) */
    int32_t z;
    uint32_t tab[3][32];              /* LANES_SITE thresholds (mc_vec_body.h lanes) */
    const uint32_t *cum;              /* Potts heat bath, or NULL */
    tp_model_ce_flip_entries E;       /* LANES_CE, and LANES_BIASED on a CE model */
    double beta;
    const counted_bias *cb;           /* LANES_BIASED */
} lanes_job;
enum { LANES_SITE, LANES_CE, LANES_BIASED };

/* len attempts of the group of chains c0.. from attempt t */
static void lanes_call(const tp_mc *mc, const lanes_job *J, uint8_t *X, int64_t c0, uint64_t t, int64_t len,
                       int32_t *kl, int64_t *acc) {
    const int32_t n = mc->n;
    const counted_bias *cb = J->cb;
    if (J->kind == LANES_SITE)
        MCVEC(J->isa, lanes, X, mc->order, J->nbr, n, J->z, J->potts, J->heat, mc->q,
              (const uint32_t (*)[32])J->tab, J->cum, t, len, (uint32_t)(c0 + mc->first), J->k0, J->k1, acc);
    else if (J->kind == LANES_CE || cb->ce)
        MCVEC(J->isa, ce_lanes, X, mc->order, n, &J->E, J->beta, mc->m->h, cb ? cb->v : NULL, cb ? cb->kt : 0, kl,
              t, len, (uint32_t)(c0 + mc->first), J->k0, J->k1, acc);
    else
        MCVEC(J->isa, lanes_biased, X, mc->order, J->nbr, n, J->z, J->potts, mc->q, cb->kt, cb->thr, cb->zshift,
              cb->cshift, t, len, (uint32_t)(c0 + mc->first), J->k0, J->k1, kl, acc);
}

/* total attempts of every chain in groups of 16, chunk attempts per call
 * (Ctrl-C is polled between calls); kout (B) [out]: each chain's final
 * count of token cb->kt for LANES_BIASED.  Returns 0 (nothing run) unless
 * there are 8 or more chains, all at the same attempt counter. */
static int run_groups(tp_mc *mc, const lanes_job *J, int64_t total, int64_t chunk, int32_t *kout, tp_status *st) {
    if (mc->B < 8 || total < 1) return 0;
    for (int64_t c = 1; c < mc->B; c++) if (mc->t[c] != mc->t[0]) return 0;
    const int32_t n = mc->n;
    const int64_t G = (mc->B + 15) / 16;
    const uint64_t t0 = mc->t[0];
    const int kt = J->kind == LANES_BIASED ? J->cb->kt : -1;
    int failed = 0, par = G > 1 && (J->kind == LANES_CE || mc->B * total >= ((int64_t)1 << 17));
    #pragma omp parallel if (par)
    {
        uint8_t *X = malloc((size_t)n * 16);
        if (!X) {
            #pragma omp atomic write
            failed = 1;
        }
        #pragma omp for schedule(dynamic, 1)
        for (int64_t g = 0; g < G; g++) {
            if (!X) continue;
            const int64_t c0 = 16 * g, nact = mc->B - c0 < 16 ? mc->B - c0 : 16;
            int32_t kl[16] = { 0 };
            for (int l = 0; l < 16; l++) {   /* idle lanes run a copy of the group's first chain */
                const uint8_t *x = mc->x + (c0 + (l < nact ? l : 0)) * n;
                for (int32_t i = 0; i < n; i++) { X[(int64_t)i * 16 + l] = x[i]; kl[l] += x[i] == kt; }
            }
            int64_t acc[16] = { 0 }, done = 0;
            while (done < total && !tp_abort_flag) {
                const int64_t len = total - done < chunk ? total - done : chunk;
                lanes_call(mc, J, X, c0, t0 + (uint64_t)done, len, kl, acc);
                done += len;
            }
            for (int l = 0; l < nact; l++) {
                uint8_t *x = mc->x + (c0 + l) * n;
                for (int32_t i = 0; i < n; i++) x[i] = X[(int64_t)i * 16 + l];
                mc->acc[c0 + l] += acc[l];
                mc->att[c0 + l] += done;
                mc->t[c0 + l] = t0 + (uint64_t)done;
                if (kout) kout[c0 + l] = kl[l];
            }
        }
        free(X);
    }
    if (failed) *st = TP_ERROR(TP_ERR_NOMEM, "mc: out of memory for %d sites x 16 chains", (int)n);
    else *st = tp_abort_flag ? TP_ABORTED : TP_OK;
    return 1;
}

static void job_key(lanes_job *J, uint64_t key) { J->k0 = (uint32_t)key; J->k1 = (uint32_t)(key >> 32); }

/* no site is its own neighbour in shell 0 */
static int no_self_images(const tp_lattice *lat, int32_t n, int32_t z) {
    for (int64_t e = 0; e < (int64_t)n * z; e++) if (lat->nb[0][e] == (int32_t)(e / z)) return 0;
    return 1;
}

/* Sweeps in lanes: single-shell Ising and Potts on any lattice with one
 * coupled shell of at most 15 neighbours and no self-images, and
 * cluster-expansion Metropolis flips.  Same results as the scalar loop. */
int tp_mc_lanes(tp_mc *mc, int32_t method, double beta, int64_t nsweeps, const tp_mc_site_table *tb, tp_status *st) {
    const tp_model *m = mc->m;
    if (kernel_mode == 1 || nsweeps < 1) return 0;
    lanes_job job;
    memset(&job, 0, sizeof job);
    job.isa = tp_cpu_isa();
    const int32_t n = mc->n;
    if (m->kind == TP_MODEL_CE) {
        if (method != TP_MC_METROPOLIS) return 0;
        job.kind = LANES_CE;
        job.beta = beta;
        tp_model_ce_entries(m, &job.E);
        job_key(&job, mc->seed ^ TP_MC_KEY_SITE);
        return run_groups(mc, &job, nsweeps * n, n, NULL, st);
    }
    if (!tb->on || tb->z > 15) return 0;
    if (!(method == TP_MC_METROPOLIS || (method == TP_MC_HEATBATH && (m->kind == TP_MODEL_ISING || tb->hb)))) return 0;
    const int32_t z = tb->z;
    if (!no_self_images(m->lat, n, z)) return 0;
    job.kind = LANES_SITE;
    job.potts = m->kind == TP_MODEL_POTTS;
    job.heat = method == TP_MC_HEATBATH;
    job.nbr = m->lat->nb[0];
    job.z = z;
    job.cum = tb->hb ? tb->cum : NULL;
    if (job.potts) {
        for (int f = 0; f < 3; f++) for (int d = 0; d <= 2 * z; d++) job.tab[f][d] = tb->thr[f][d];
    } else {
        for (int up = 0; up <= z; up++) {
            job.tab[0][up] = tb->thr[0][2 * up];
            if (!job.heat) job.tab[0][z + 1 + up] = tb->thr[1][2 * up];
        }
    }
    job_key(&job, mc->seed ^ (job.potts && !tb->hb ? TP_MC_KEY_SITE2 : TP_MC_KEY_SITE4));
    return run_groups(mc, &job, nsweeps * n, n, NULL, st);
}

int tp_mc_lanes_biased(tp_mc *mc, const counted_bias *cb, double beta, int64_t nattempts, int32_t *kout, tp_status *st) {
    const tp_model *m = mc->m;
    if (kernel_mode == 1 || !cb->on || (!cb->thr && !cb->ce) || cb->z > 15) return 0;
    const int32_t n = mc->n;
    if (!cb->ce && !no_self_images(m->lat, n, cb->z)) return 0;
    lanes_job job;
    memset(&job, 0, sizeof job);
    job.kind = LANES_BIASED;
    job.isa = tp_cpu_isa();
    job.cb = cb;
    job.beta = beta;
    job.potts = !cb->ising;
    job.nbr = m->lat->nb[0];
    job.z = cb->z;
    if (cb->ce) tp_model_ce_entries(m, &job.E);
    job_key(&job, mc->seed ^ (cb->ce ? TP_MC_KEY_SITE : job.potts ? TP_MC_KEY_SITE2 : TP_MC_KEY_SITE4));
    return run_groups(mc, &job, nattempts, 64 * (int64_t)n, kout, st);   /* 64 sweeps between Ctrl-C polls */
}
