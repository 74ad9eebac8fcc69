/*
 * runtime/mc_vec_body.h -- the 16-lane kernels of runtime/mc_vec.c, written
 * with GCC vector types.  mc_vec.c includes this file once per
 * instruction set (baseline x86-64, AVX2, AVX-512) with MCV_SUFFIX naming
 * the copy.  Everything here is integer arithmetic, so every copy gives the
 * same bits.
 *
 * A half-sweep updates the sites of one colour, which on a square or
 * simple-cubic lattice (even sizes) form rows of W = L/2 sites: row r =
 * y + Ly z, position j, site x = 2j + ((y + z + colour) & 1).  The
 * neighbours of a site are the other colour's sites at the same j in the
 * rows y +- 1 (and z +- 1), and at j and j - 1 (parity 0) or j + 1
 * (parity 1) in its own row.  Requires W % 16 == 0.
 */
#define MCV_CAT2(a, b) a##_##b
#define MCV_CAT(a, b) MCV_CAT2(a, b)
#define MCV(name) MCV_CAT(name, MCV_SUFFIX)

/* 32 x 32 -> 64-bit products of the even (MUL_EVEN) 32-bit lanes of a
 * with m: vpmuludq where there is one (the generic product is vpmullq) */
#ifndef MCV_MUL_EVEN_base
#define MCV_MUL_EVEN_base(a, m) (((a) & 0xFFFFFFFFull) * (uint64_t)(m))
#define MCV_MUL_EVEN_avx512(a, m) ((u64v)_mm512_mul_epu32((__m512i)(a), _mm512_set1_epi64((long long)(m))))
#define MCV_MUL_EVEN_avx2(a, m) mul_even_avx2((a), (m))
#endif
#define MCV_MUL_EVEN MCV(MCV_MUL_EVEN)

/* The Potts proposal of 16 lanes: b = (a + 1 + below(r0, q - 1)) mod q,
 * below(w, m) = (w m) >> 32 */
/* the sum of 16 int32 lanes, as int64 */
#ifndef MCV_LANE_SUM
#define MCV_LANE_SUM(v) __extension__({ int64_t s_ = 0; for (int l_ = 0; l_ < 16; l_++) s_ += (v)[l_]; s_; })
#endif

#ifndef MCV_PROPOSE
#define MCV_PROPOSE(a, r0, q) __extension__({                                                 \
        const u64v e_ = MCV_MUL_EVEN((u64v)(r0), (uint32_t)((q) - 1));                       \
        const u64v o_ = MCV_MUL_EVEN((u64v)(r0) >> 32, (uint32_t)((q) - 1));                 \
        u32v b_ = (a) + 1 + (u32v)((e_ >> 32) | (o_ & ((u64v){ 0 } + 0xFFFFFFFF00000000ull))); \
        b_ -= (u32v)(b_ >= (uint32_t)(q)) & (uint32_t)(q);                                   \
        b_; })
#endif

/* thr[idx] per lane: a hardware gather where there is one */
#ifndef MCV_GATHER_base
#define MCV_GATHER_base(tab, idx) __extension__({                                   \
        u32v g_;                                                                   \
        for (int l_ = 0; l_ < 16; l_++) g_[l_] = (tab)[(idx)[l_]];                 \
        g_; })
#define MCV_GATHER_avx512(tab, idx) ((u32v)_mm512_i32gather_epi32((__m512i)(idx), (const void *)(tab), 4))
#define MCV_GATHER_avx2(tab, idx) __extension__({                                   \
        union { u32v v; __m256i h[2]; } i_ = { .v = (u32v)(idx) }, g_;               \
        g_.h[0] = _mm256_i32gather_epi32((const int *)(tab), i_.h[0], 4);          \
        g_.h[1] = _mm256_i32gather_epi32((const int *)(tab), i_.h[1], 4);          \
        g_.v; })
#endif
#define MCV_GATHER MCV(MCV_GATHER)

/* bytes 0..7 and 8..15 of a u8v widened to u64v lo and hi */
#ifndef MCV_WIDEN8_base
#define MCV_WIDEN8_base(z, lo, hi) do {                                                   \
        for (int l_ = 0; l_ < 8; l_++) { (lo)[l_] = (z)[l_]; (hi)[l_] = (z)[l_ + 8]; }     \
    } while (0)
#define MCV_WIDEN8_avx512(z, lo, hi) do {                                                 \
        __m128i z_;                                                                      \
        memcpy(&z_, &(z), 16);                                                           \
        (lo) = (u64v)_mm512_cvtepu8_epi64(z_);                                           \
        (hi) = (u64v)_mm512_cvtepu8_epi64(_mm_srli_si128(z_, 8));                         \
    } while (0)
#define MCV_WIDEN8_avx2(z, lo, hi) do {                                                   \
        __m128i z_;                                                                      \
        memcpy(&z_, &(z), 16);                                                           \
        union { u64v v; __m256i h[2]; } a_, b_;                                          \
        a_.h[0] = _mm256_cvtepu8_epi64(z_);                                              \
        a_.h[1] = _mm256_cvtepu8_epi64(_mm_srli_si128(z_, 4));                            \
        b_.h[0] = _mm256_cvtepu8_epi64(_mm_srli_si128(z_, 8));                            \
        b_.h[1] = _mm256_cvtepu8_epi64(_mm_srli_si128(z_, 12));                           \
        (lo) = a_.v; (hi) = b_.v;                                                        \
    } while (0)
#endif
#define MCV_WIDEN8 MCV(MCV_WIDEN8)

/* Potts heat bath for 16 sites: nb[0..z-1] the neighbours' tokens, w the
 * words; b8 = q - 1 - #{k < q - 1: w below cum[idx (q - 1) + k]},
 * idx = sum over s < q - 1 of (neighbours in state s) (z + 1)^s. */
#define HB_PICK(b8, nb, z, q, cum, w) do {                                                  \
        u32v idx_ = { 0 };                                                                 \
        uint32_t mul_ = 1;                                                                 \
        for (int s_ = 0; s_ < (q) - 1; s_++, mul_ *= (uint32_t)(z) + 1) {                  \
            i8v n_ = { 0 };                                                                \
            for (int k_ = 0; k_ < (z); k_++) n_ -= (i8v)(nb[k_] == (uint8_t)s_);           \
            idx_ += (u32v)__builtin_convertvector(n_, i32v) * mul_;                         \
        }                                                                                  \
        idx_ *= (uint32_t)((q) - 1);                                                       \
        i32v below_ = { 0 };                                                               \
        for (int s_ = 0; s_ < (q) - 1; s_++) below_ += MCV_ACCEPT((w), MCV_GATHER((cum) + s_, idx_)); \
        b8 = __builtin_convertvector(((q) - 1) + below_, u8v);                            \
    } while (0)

/* 16 Philox4x32-10 blocks, one per lane: counters x0..x3, key (k0, k1);
 * the four output words of each lane come back in x0..x3. */
static inline __attribute__((always_inline)) void MCV(philox16x)(u32v *x0p, u32v *x1p, u32v *x2p, u32v *x3p,
                                                                  uint32_t k0, uint32_t k1) {
    u32v x0 = *x0p, x1 = *x1p, x2 = *x2p, x3 = *x3p;
    const u64v hi32 = (u64v){ 0 } + 0xFFFFFFFF00000000ull;
    #pragma GCC unroll 10
    for (int r = 0; r < 10; r++) {
        u64v e0 = MCV_MUL_EVEN((u64v)x0, 0xD2511F53u), o0 = MCV_MUL_EVEN((u64v)x0 >> 32, 0xD2511F53u);
        u64v e2 = MCV_MUL_EVEN((u64v)x2, 0xCD9E8D57u), o2 = MCV_MUL_EVEN((u64v)x2 >> 32, 0xCD9E8D57u);
        u32v hi0 = (u32v)((e0 >> 32) | (o0 & hi32)), lo0 = (u32v)((e0 & ~hi32) | (o0 << 32));
        u32v hi1 = (u32v)((e2 >> 32) | (o2 & hi32)), lo1 = (u32v)((e2 & ~hi32) | (o2 << 32));
        u32v n0 = hi1 ^ x1 ^ (k0 + r * 0x9E3779B9u), n2 = hi0 ^ x3 ^ (k1 + r * 0xBB67AE85u);
        x0 = n0; x1 = lo1; x2 = n2; x3 = lo0;
    }
    *x0p = x0; *x1p = x1; *x2p = x2; *x3p = x3;
}

/* Blocks blk0 + lane (carry into the high word) of stream (c0, c1). */
static inline __attribute__((always_inline)) void MCV(philox16)(u32v *w0, u32v *w1, u32v *w2, u32v *w3, uint64_t blk0,
                                                                 uint32_t c0, uint32_t c1, uint32_t k0, uint32_t k1) {
    const u32v lane = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };
    *w0 = (uint32_t)blk0 + lane;
    *w1 = (uint32_t)(blk0 >> 32) + ((u32v)(*w0 < (uint32_t)blk0) & 1u);   /* carry */
    *w2 = (u32v){ 0 } + c0;
    *w3 = (u32v){ 0 } + c1;
    MCV(philox16x)(w0, w1, w2, w3, k0, k1);
}

/* The words of 64 consecutive attempts from blocks blk0 .. blk0 + 15 (four
 * per block): position 16m + i takes word i % 4 of block 4m + i / 4, in
 * V[m] lane i. */
static inline __attribute__((always_inline)) void MCV(words64)(u32v V[4], uint64_t blk0, uint32_t c0, uint32_t c1,
                                                                uint32_t k0, uint32_t k1) {
    u32v A0, A1, A2, A3;
    MCV(philox16)(&A0, &A1, &A2, &A3, blk0, c0, c1, k0, k1);
    u32v T0 = __builtin_shuffle(A0, A1, (u32v){ 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23 });
    u32v T1 = __builtin_shuffle(A0, A1, (u32v){ 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31 });
    u32v T2 = __builtin_shuffle(A2, A3, (u32v){ 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23 });
    u32v T3 = __builtin_shuffle(A2, A3, (u32v){ 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31 });
    V[0] = __builtin_shuffle(T0, T2, (u32v){ 0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23 });
    V[1] = __builtin_shuffle(T0, T2, (u32v){ 8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31 });
    V[2] = __builtin_shuffle(T1, T3, (u32v){ 0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23 });
    V[3] = __builtin_shuffle(T1, T3, (u32v){ 8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31 });
}

/* Block blk of the streams of chains c0 + lane (counter (blk, c0 + lane)):
 * the words of 16 chains' attempts, one chain per lane. */
static inline __attribute__((always_inline)) void MCV(lane_block)(u32v W[4], uint64_t blk, uint32_t c0,
                                                                   uint32_t k0, uint32_t k1) {
    const u32v lane = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };
    W[0] = (u32v){ 0 } + (uint32_t)blk;
    W[1] = (u32v){ 0 } + (uint32_t)(blk >> 32);
    W[2] = c0 + lane;
    W[3] = (u32v){ 0 };
    MCV(philox16x)(&W[0], &W[1], &W[2], &W[3], k0, k1);
}

/* Row walker over the positions of one colour: row r = y + L1 z, the other
 * colour's rows that hold the neighbours, and the in-row shift. */
typedef struct {
    int64_t r;
    int y, z;
    const uint8_t *same, *ym, *yp, *zm, *zp;
    int left;   /* in-row neighbours at j and j - 1 (else j and j + 1) */
} MCV(rowp);

static inline __attribute__((always_inline)) void MCV(row_set)(MCV(rowp) *w, const cb_geom *g, const uint8_t *other,
                                                                int col, int64_t r) {
    const int W = g->W, L1 = g->L1, L2 = g->L2;
    w->r = r;
    w->y = (int)(r % L1);
    w->z = (int)(r / L1);
    const int y = w->y, z = w->z;
    const int ym = y == 0 ? L1 - 1 : y - 1, yp = y == L1 - 1 ? 0 : y + 1;
    const int zm = z == 0 ? L2 - 1 : z - 1, zp = z == L2 - 1 ? 0 : z + 1;
    w->same = other + r * W;
    w->ym = other + ((int64_t)ym + (int64_t)L1 * z) * W;
    w->yp = other + ((int64_t)yp + (int64_t)L1 * z) * W;
    w->zm = other + ((int64_t)y + (int64_t)L1 * zm) * W;
    w->zp = other + ((int64_t)y + (int64_t)L1 * zp) * W;
    w->left = ((y + z + col) & 1) == 0;
}

/* Advance the walk by `step` positions (a multiple of 16 dividing W): into
 * the next row at the row's end, unless the range [., p1) ends there. */
static inline __attribute__((always_inline)) void MCV(row_step)(MCV(rowp) *w, const cb_geom *g, const uint8_t *other,
                                                                 int col, int64_t *p, int *j0, int step, int64_t p1) {
    *p += step;
    *j0 += step;
    if (*j0 == g->W && *p < p1) { *j0 = 0; MCV(row_set)(w, g, other, col, w->r + 1); }
}

/* The 2D neighbours of the 16 sites at offset j0 of the row (D = 2: four,
 * D = 3: six) into nb[]. */
#define MCV_NEIGHBOURS(nb, w, j0, W, D) do {                                                   \
        memcpy(&nb[0], (w).same + (j0), 16);                                                   \
        if ((w).left) {                                                                        \
            if ((j0) > 0) memcpy(&nb[1], (w).same + (j0) - 1, 16);                             \
            else {                                                                             \
                u8v last_;                                                                     \
                memcpy(&last_, (w).same + (W) - 16, 16);                                       \
                nb[1] = __builtin_shuffle(last_, nb[0], (u8v){ 15, 16, 17, 18, 19, 20, 21, 22, \
                                                               23, 24, 25, 26, 27, 28, 29, 30 }); \
            }                                                                                  \
        } else {                                                                               \
            if ((j0) + 16 < (W)) memcpy(&nb[1], (w).same + (j0) + 1, 16);                      \
            else {                                                                             \
                u8v first_;                                                                    \
                memcpy(&first_, (w).same, 16);                                                 \
                nb[1] = __builtin_shuffle(nb[0], first_, (u8v){ 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, \
                                                                11, 12, 13, 14, 15, 16 });     \
            }                                                                                  \
        }                                                                                      \
        memcpy(&nb[2], (w).ym + (j0), 16);                                                     \
        memcpy(&nb[3], (w).yp + (j0), 16);                                                     \
        if ((D) == 3) {                                                                        \
            memcpy(&nb[4], (w).zm + (j0), 16);                                                 \
            memcpy(&nb[5], (w).zp + (j0), 16);                                                 \
        }                                                                                      \
    } while (0)

/* Is the 32-bit word below the threshold (UINT32_MAX: always)? -1 / 0
 * per lane (a macro: vector arguments would change the baseline ABI) */
#ifndef MCV_ACCEPT
#define MCV_ACCEPT(w, thr) ((i32v)((w) < (thr)) | (i32v)((thr) == 0xFFFFFFFFu))
#endif

/* Ising, Metropolis (heat == 0) or heat bath (heat == 1): the positions
 * [p0, p1) of colour col, p0 % 64 == 0.  Words: attempt t = tbase + p uses
 * word t & 3 of block t >> 2 (tbase % 4 == 0), as the scalar path does.
 * tab: thresholds, index a (z + 1) + (neighbours up) for Metropolis, the
 * count of neighbours up for the heat bath.  Returns the changed sites. */
static inline __attribute__((always_inline)) int64_t MCV(ising_body)(
        const cb_geom *g, uint8_t *self, const uint8_t *other, int col, const int heat, const int D,
        const uint32_t tab[16], const uint32_t *cum, int q, int64_t p0, int64_t p1, uint64_t tbase,
        uint32_t c0, uint32_t c1, uint32_t k0, uint32_t k1) {
    u32v tv, V[4];
    memcpy(&tv, tab, sizeof tv);
    const int W = g->W;
    i32v changed = { 0 };
    MCV(rowp) w;
    int64_t p = p0;
    MCV(row_set)(&w, g, other, col, p / W);
    int j0 = (int)(p - w.r * W);
    while (p < p1) {
        if ((p & 63) == 0) MCV(words64)(V, (tbase + (uint64_t)p) >> 2, c0, c1, k0, k1);
        u8v nb[6], a8, b8;
        MCV_NEIGHBOURS(nb, w, j0, W, D);
        if (heat == 2) {   /* Potts heat bath: count neighbours per state, look the thresholds up */
            memcpy(&a8, self + p, 16);
            HB_PICK(b8, nb, 2 * D, q, cum, V[(p >> 4) & 3]);
            changed -= __builtin_convertvector((i8v)(b8 != a8), i32v);
            memcpy(self + p, &b8, 16);
            MCV(row_step)(&w, g, other, col, &p, &j0, 16, p1);
            continue;
        }
        u8v up = nb[0] + nb[1] + nb[2] + nb[3];
        if (D == 3) up += nb[4] + nb[5];
        memcpy(&a8, self + p, 16);
        /* the index in bytes, then widened once */
        const u32v idx = __builtin_convertvector(heat ? up : up + ((u8v)(-a8) & (uint8_t)(2 * D + 1)), u32v);
        const i32v acc = MCV_ACCEPT(V[(p >> 4) & 3], __builtin_shuffle(tv, idx));
        if (heat) {
            b8 = (u8v)__builtin_convertvector(-acc, i8v);
            changed -= __builtin_convertvector((i8v)(b8 != a8), i32v);
        } else {   /* a Metropolis flip changes the site when accepted */
            b8 = a8 ^ (u8v)__builtin_convertvector(-acc, i8v);
            changed -= acc;
        }
        memcpy(self + p, &b8, 16);
        MCV(row_step)(&w, g, other, col, &p, &j0, 16, p1);
    }
    return MCV_LANE_SUM(changed);
}

/* heat: 0 Ising Metropolis, 1 Ising heat bath, 2 Potts heat bath (q
 * states, cum: tp_mc_site_table.cum) */
static int64_t MCV(ising_half)(const cb_geom *g, uint8_t *self, const uint8_t *other, int col, int heat,
                               const uint32_t tab[16], const uint32_t *cum, int q, int64_t p0, int64_t p1,
                               uint64_t tbase, uint32_t c0, uint32_t c1, uint32_t k0, uint32_t k1) {
#define ISING_BODY(h, D) MCV(ising_body)(g, self, other, col, h, D, tab, cum, q, p0, p1, tbase, c0, c1, k0, k1)
    if (g->D == 2) return heat == 2 ? ISING_BODY(2, 2) : heat ? ISING_BODY(1, 2) : ISING_BODY(0, 2);
    return heat == 2 ? ISING_BODY(2, 3) : heat ? ISING_BODY(1, 3) : ISING_BODY(0, 3);
#undef ISING_BODY
}

/* Potts Metropolis, q states: positions [p0, p1) of colour col (p0 % 32 ==
 * 0).  Attempt t = tbase + p (tbase even) uses words 2 (t & 1) and
 * 2 (t & 1) + 1 of block t >> 1: the first proposes
 * b = (a + 1 + below(q - 1)) mod q, the second accepts
 * with threshold tab[f + 1][d + z], d = (neighbours equal to b) - (equal
 * to a), f = [b == 0] - [a == 0].  Returns the accepted moves. */
static inline __attribute__((always_inline)) int64_t MCV(potts_body)(
        const cb_geom *g, uint8_t *self, const uint8_t *other, int col, int q, const int D,
        const uint32_t tab[3][16], int64_t p0, int64_t p1, uint64_t tbase,
        uint32_t c0, uint32_t c1, uint32_t k0, uint32_t k1) {
    u32v tf[3];
    memcpy(tf, tab, sizeof tf);
    const u32v zv = (u32v){ 0 } + (uint32_t)(2 * D);
    const int W = g->W;
    i32v accepted = { 0 };
    MCV(rowp) w;
    int64_t p = p0;
    MCV(row_set)(&w, g, other, col, p / W);
    int j0 = (int)(p - w.r * W);
    u32v R0[2], R1[2];
    while (p < p1) {
        if ((p & 31) == 0) {
            u32v A0, A1, A2, A3;
            MCV(philox16)(&A0, &A1, &A2, &A3, (tbase + (uint64_t)p) >> 1, c0, c1, k0, k1);
            /* position 16m + i takes words 2 (i % 2) and 2 (i % 2) + 1 of block 8m + i / 2 */
            R0[0] = __builtin_shuffle(A0, A2, (u32v){ 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23 });
            R0[1] = __builtin_shuffle(A0, A2, (u32v){ 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31 });
            R1[0] = __builtin_shuffle(A1, A3, (u32v){ 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23 });
            R1[1] = __builtin_shuffle(A1, A3, (u32v){ 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31 });
        }
        const u32v r0 = R0[(p >> 4) & 1], r1 = R1[(p >> 4) & 1];
        u8v nb[6], a8;
        MCV_NEIGHBOURS(nb, w, j0, W, D);
        memcpy(&a8, self + p, 16);
        const u32v a = __builtin_convertvector(a8, u32v);
        const u32v b = MCV_PROPOSE(a, r0, q);
        const u8v b8 = __builtin_convertvector(b, u8v);
        i8v d8 = { 0 };
        #pragma GCC unroll 6
        for (int k = 0; k < 2 * D; k++) d8 += (i8v)(nb[k] == a8) - (i8v)(nb[k] == b8);   /* masks are -1 */
        const u32v d = (u32v)__builtin_convertvector(d8, i32v) + zv;
        const i32v f = (i32v)(b == 0) - (i32v)(a == 0);   /* -f: masks are -1 */
        const u32v t0 = __builtin_shuffle(tf[0], d), t1 = __builtin_shuffle(tf[1], d), t2 = __builtin_shuffle(tf[2], d);
        const u32v s2 = (u32v)(f == -1), s0 = (u32v)(f == 1);   /* f = +1: row 2; f = -1: row 0 */
        const u32v thr = (t2 & s2) | (t0 & s0) | (t1 & ~(s0 | s2));
        const i32v acc = MCV_ACCEPT(r1, thr);
        const u8v m8 = (u8v)__builtin_convertvector(acc, i8v);
        const u8v n8 = (b8 & m8) | (a8 & ~m8);
        memcpy(self + p, &n8, 16);
        accepted -= acc;
        MCV(row_step)(&w, g, other, col, &p, &j0, 16, p1);
    }
    return MCV_LANE_SUM(accepted);
}

static int64_t MCV(potts_half)(const cb_geom *g, uint8_t *self, const uint8_t *other, int col, int q,
                               const uint32_t tab[3][16], int64_t p0, int64_t p1, uint64_t tbase,
                               uint32_t c0, uint32_t c1, uint32_t k0, uint32_t k1) {
    return g->D == 2 ? MCV(potts_body)(g, self, other, col, q, 2, tab, p0, p1, tbase, c0, c1, k0, k1)
                     : MCV(potts_body)(g, self, other, col, q, 3, tab, p0, p1, tbase, c0, c1, k0, k1);
}

/* Chains in lanes: 16 chains (chain c0 + lane) side by side, X[i * 16 +
 * lane] the token of site i, every chain at the same attempt counter t.
 * Sites in the sweep order, z neighbours each (nbr, no self-images).
 * Ising (potts == 0): word t & 3 of block t >> 2, tab32 by a (z + 1) + up
 * (Metropolis) or up (heat bath); Potts Metropolis: words 2 (t & 1) and
 * 2 (t & 1) + 1 of block t >> 1, tabs[f + 1] by d + z.  acc: accepted or
 * changed sites per lane. */
static void MCV(lanes)(uint8_t *X, const int32_t *order, const int32_t *nbr, int32_t n, int z,
                       int potts, int heat, int q, const uint32_t tab[3][32], const uint32_t *cum,
                       uint64_t t, int64_t len, uint32_t c0, uint32_t k0, uint32_t k1, int64_t *acc) {
    u32v T0[2], T1[2], T2[2];
    memcpy(T0, tab[0], sizeof T0);
    memcpy(T1, tab[1], sizeof T1);
    memcpy(T2, tab[2], sizeof T2);
    u32v W[4];
    i32v ch = { 0 };
    const int per = potts && !cum ? 2 : 4;
    int64_t pos = (int64_t)(t % (uint64_t)n);
    for (int64_t s = 0; s < len; s++, t++) {
        if (s == 0 || (int)(t % (uint64_t)per) == 0) MCV(lane_block)(W, t / (uint64_t)per, c0, k0, k1);
        const int32_t i = order[pos];
        if (++pos == n) pos = 0;
        const int32_t *nb = nbr + (int64_t)i * z;
        u8v a8;
        memcpy(&a8, X + (int64_t)i * 16, 16);
        if (cum) {   /* Potts heat bath */
            u8v nbv[15], b8;
            for (int k = 0; k < z; k++) memcpy(&nbv[k], X + (int64_t)nb[k] * 16, 16);
            HB_PICK(b8, nbv, z, q, cum, W[t & 3]);
            ch -= __builtin_convertvector((i8v)(b8 != a8), i32v);
            memcpy(X + (int64_t)i * 16, &b8, 16);
        } else if (!potts) {
            u8v up = { 0 };
            for (int k = 0; k < z; k++) {
                u8v v;
                memcpy(&v, X + (int64_t)nb[k] * 16, 16);
                up += v;
            }
            const u32v idx = __builtin_convertvector(heat ? up : up + ((u8v)(-a8) & (uint8_t)(z + 1)), u32v);
            const i32v ok = MCV_ACCEPT(W[t & 3], __builtin_shuffle(T0[0], T0[1], idx));
            const u8v b8 = heat ? (u8v)__builtin_convertvector(-ok, i8v) : a8 ^ (u8v)__builtin_convertvector(-ok, i8v);
            ch -= __builtin_convertvector((i8v)(b8 != a8), i32v);
            memcpy(X + (int64_t)i * 16, &b8, 16);
        } else {
            const u32v r0 = W[2 * (t & 1)], r1 = W[2 * (t & 1) + 1];
            const u32v a = __builtin_convertvector(a8, u32v);
            const u32v b = MCV_PROPOSE(a, r0, q);
            const u8v b8 = __builtin_convertvector(b, u8v);
            i8v d8 = { 0 };
            for (int k = 0; k < z; k++) {
                u8v v;
                memcpy(&v, X + (int64_t)nb[k] * 16, 16);
                d8 += (i8v)(v == a8) - (i8v)(v == b8);
            }
            const u32v d = (u32v)__builtin_convertvector(d8, i32v) + (uint32_t)z;
            const i32v f = (i32v)(b == 0) - (i32v)(a == 0);
            const u32v t0 = __builtin_shuffle(T0[0], T0[1], d), t1 = __builtin_shuffle(T1[0], T1[1], d);
            const u32v t2 = __builtin_shuffle(T2[0], T2[1], d);
            const u32v s2 = (u32v)(f == -1), s0 = (u32v)(f == 1);
            const u32v thr = (t2 & s2) | (t0 & s0) | (t1 & ~(s0 | s2));
            const i32v ok = MCV_ACCEPT(r1, thr);
            const u8v m8 = (u8v)__builtin_convertvector(ok, i8v);
            const u8v n8 = (b8 & m8) | (a8 & ~m8);
            memcpy(X + (int64_t)i * 16, &n8, 16);
            ch -= ok;
        }
    }
    for (int l = 0; l < 16; l++) acc[l] += ch[l];
}

/* Biased Metropolis, chains in lanes, with a CV that is a function of one
 * count (mc.c counted_chain, the same words and decisions): kv the lanes'
 * counts, thr the thresholds at (count << cs) + class, zs as in
 * counted_init.  acc: accepted moves per lane. */
static inline __attribute__((always_inline)) void MCV(lanes_biased_body)(
        uint8_t *X, const int32_t *order, const int32_t *nbr, int32_t n, const int z,
        const int potts, int q, int kt, const uint32_t *thr, int zs, int cs, uint64_t t, int64_t len,
        uint32_t c0, uint32_t k0, uint32_t k1, int32_t kl[16], int64_t *acc) {
    i32v kv, ch = { 0 };
    memcpy(&kv, kl, sizeof kv);
    u32v W[4];
    const int per = potts ? 2 : 4;
    int64_t pos = (int64_t)(t % (uint64_t)n);
    for (int64_t s = 0; s < len; s++, t++) {
        if (s == 0 || (int)(t % (uint64_t)per) == 0) MCV(lane_block)(W, t / (uint64_t)per, c0, k0, k1);
        const int32_t i = order[pos];
        if (++pos == n) pos = 0;
        const int32_t *nb = nbr + (int64_t)i * z;
        u8v a8, b8;
        memcpy(&a8, X + (int64_t)i * 16, 16);
        const i32v a = (i32v)__builtin_convertvector(a8, u32v);
        i32v cl, dk;
        u32v w;
        if (!potts) {
            u8v up = { 0 };
            for (int k = 0; k < z; k++) {
                u8v v;
                memcpy(&v, X + (int64_t)nb[k] * 16, 16);
                up += v;
            }
            w = W[t & 3];
            b8 = a8 ^ 1;
            cl = (a << zs) + 2 * (i32v)__builtin_convertvector(up, u32v);
            dk = kt == 1 ? 1 - 2 * a : 2 * a - 1;
        } else {
            const u32v r0 = W[2 * (t & 1)];
            w = W[2 * (t & 1) + 1];
            const u32v b = MCV_PROPOSE((u32v)a, r0, q);
            b8 = __builtin_convertvector(b, u8v);
            i8v d8 = { 0 };
            for (int k = 0; k < z; k++) {
                u8v v;
                memcpy(&v, X + (int64_t)nb[k] * 16, 16);
                d8 += (i8v)(v == b8) - (i8v)(v == a8);   /* masks are -1: (equal to a) - (equal to b) */
            }
            const i32v d = -(i32v)__builtin_convertvector(d8, i32v);
            const i32v row = 1 - (i32v)((i32v)b == 0) + (i32v)(a == 0);    /* f + 1, masks are -1 */
            dk = (i32v)(a == kt) - (i32v)((i32v)b == kt);
            cl = ((((dk + 1) << 2) + row) << zs) + d + z;
        }
        const i32v idx = (kv << cs) + cl;
        const i32v ok = MCV_ACCEPT(w, MCV_GATHER(thr, idx));
        const u8v m8 = (u8v)__builtin_convertvector(ok, i8v);
        const u8v n8 = (b8 & m8) | (a8 & ~m8);
        memcpy(X + (int64_t)i * 16, &n8, 16);
        kv += dk & ok;
        ch -= ok;
    }
    memcpy(kl, &kv, sizeof kv);
    for (int l = 0; l < 16; l++) acc[l] += ch[l];
}

static void MCV(lanes_biased)(uint8_t *X, const int32_t *order, const int32_t *nbr, int32_t n, int z,
                              int potts, int q, int kt, const uint32_t *thr, int zs, int cs, uint64_t t, int64_t len,
                              uint32_t c0, uint32_t k0, uint32_t k1, int32_t kl[16], int64_t *acc) {
    /* the common coordinations with z a constant (unrolled neighbour loops) */
#define LB(zz, pp) MCV(lanes_biased_body)(X, order, nbr, n, zz, pp, q, kt, thr, zs, cs, t, len, c0, k0, k1, kl, acc)
    if (z == 4) { if (potts) LB(4, 1); else LB(4, 0); }
    else if (z == 6) { if (potts) LB(6, 1); else LB(6, 0); }
    else if (potts) LB(z, 1);
    else LB(z, 0);
#undef LB
}

/* Cluster-expansion Metropolis flips, chains in lanes (q = 2, every chain
 * at attempt counter t): s = sum over the site's entries of coef times the
 * product of the others' sigma, per lane in the scalar loop's order (a
 * product of +-1 only flips the sign, so each term is +-coef exactly); dE
 * and the decision per lane as attempt() takes them, with word 1 of the
 * per-attempt block (key seed XOR 0x6d63).  Biased (vtab not NULL): V at
 * the count kl of token kt is added as mc.c counted_chain adds it. */
static void MCV(ce_lanes)(uint8_t *X, const int32_t *order, int32_t n, const tp_model_ce_flip_entries *E,
                          double beta, double h, const double *vtab, int kt, int32_t *kl,
                          uint64_t t, int64_t len, uint32_t c0, uint32_t k0, uint32_t k1, int64_t *acc) {
    int64_t pos = (int64_t)(t % (uint64_t)n);
    for (int64_t a = 0; a < len; a++, t++) {
        u32v W[4];
        MCV(lane_block)(W, t, c0, k0, k1);
        const int32_t i = order[pos];
        if (++pos == n) pos = 0;
        f64v slo = { 0 }, shi = { 0 };
        for (int32_t e = E->start[i]; e < E->start[i + 1]; e++) {
            const int32_t *o = E->oth + (int64_t)e * E->max_oth;
            const int L = E->len[e];
            u8v zr = { 0 };
            for (int k = 0; k < L; k++) {
                u8v v;
                memcpy(&v, X + (int64_t)o[k] * 16, 16);
                zr ^= v;
            }
            zr ^= (uint8_t)(L & 1);   /* odd number of sigma = -1 (token 0): negative */
            uint64_t cb;
            memcpy(&cb, &E->coef[e], 8);
            u64v mlo, mhi;
            MCV_WIDEN8(zr, mlo, mhi);
            mlo <<= 63;
            mhi <<= 63;
            slo += (f64v)(cb ^ mlo);
            shi += (f64v)(cb ^ mhi);
        }
        double s[16];
        memcpy(s, &slo, 64);
        memcpy(s + 8, &shi, 64);
        uint8_t *xi = X + (int64_t)i * 16;
        for (int l = 0; l < 16; l++) {
            const double si = xi[l] ? 1.0 : -1.0;
            const double dce = -2.0 * si * s[l], dc = -si / n;
            const double de = dce - dc * E->dref - h * (-2.0 * si);
            double d = de;
            int32_t k2 = 0;
            if (vtab) {   /* biased: V by the count of token kt */
                k2 = kl[l] + ((1 - xi[l]) == kt) - (xi[l] == kt);
                d = de + vtab[k2] - vtab[kl[l]];
            }
            if (d <= 0 || tp_mc_accept(W[1][l], tp_mc_threshold(exp(-beta * d)))) {
                xi[l] = (uint8_t)(1 - xi[l]);
                if (vtab) kl[l] = k2;
                acc[l]++;
            }
        }
    }
}

#undef MCV_GATHER
#undef MCV_WIDEN8
#undef MCV_MUL_EVEN
#undef MCV
#undef MCV_CAT
#undef MCV_CAT2
