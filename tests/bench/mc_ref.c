/*
 * tests/bench/mc_ref.c -- plain C reference kernels for tests/bench/mc.lua.
 *
 * Textbook Monte Carlo loops on a 2D L x L periodic square lattice (J = 1,
 * E = -sum over bonds), written for clarity rather than speed, so that the
 * benchmark can print tempera's rate beside a straightforward C kernel
 * measured in the same process.  Not part of tempera: built on its own into
 * build/bench/libmcref.so (make build/bench/libmcref.so) and loaded with
 * ffi.load.  Every kernel works in place on a caller-provided array, seeds
 * its RNG from the 'seed' argument and returns a count (accepted flips,
 * clusters, ...) so the work cannot be optimised away; a negative return
 * means bad arguments.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "philox.h"

/* --- xoshiro256** (Blackman & Vigna), seeded by splitmix64 ---------------- */
typedef struct { uint64_t s[4]; } xoshiro;

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t xo_next(xoshiro *r) {
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t; s[3] = rotl(s[3], 45);
    return out;
}

static void xo_seed(xoshiro *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) {
        uint64_t z = (seed += 0x9E3779B97F4A7C15u);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
        r->s[i] = z ^ (z >> 31);
    }
}

/* Acceptance threshold for a 32-bit uniform u: accept when u < thr, where
 * thr = min(1, p) * 2^32 (so p >= 1 always accepts). */
static uint64_t threshold(double p) {
    return p >= 1.0 ? (UINT64_C(1) << 32) : (uint64_t)(p * 4294967296.0);
}

/* --- Ising, single-spin Metropolis, sequential (typewriter) sweep ---------- */
/* Spins int8 +-1.  dE = 2 s h with s h in {-4, -2, 0, 2, 4}: table index
 * (s h + 4) / 2.  Returns the number of accepted flips. */
int64_t mcref_ising_metropolis_seq(int8_t *s, int L, double beta, int sweeps, uint64_t seed) {
    if (!s || L < 2 || sweeps < 0) return -1;
    uint64_t thr[5];
    for (int k = 0; k < 5; k++) thr[k] = threshold(exp(-beta * 2.0 * (2 * k - 4)));
    xoshiro r;
    xo_seed(&r, seed);
    int64_t acc = 0;
    for (int t = 0; t < sweeps; t++)
        for (int y = 0; y < L; y++) {
            int8_t *row = s + y * L;
            const int8_t *up = s + (y == 0 ? L - 1 : y - 1) * L, *dn = s + (y == L - 1 ? 0 : y + 1) * L;
            for (int x = 0; x < L; x++) {
                int h = row[x == 0 ? L - 1 : x - 1] + row[x == L - 1 ? 0 : x + 1] + up[x] + dn[x];
                int k = (row[x] * h + 4) >> 1;
                if ((xo_next(&r) >> 32) < thr[k]) { row[x] = (int8_t)-row[x]; acc++; }
            }
        }
    return acc;
}

/* --- Ising, checkerboard Metropolis with Philox4x32-10 --------------------- */
/* Half-sweep c updates the sites with (x + y) % 2 == c; within a half-sweep
 * no two updated sites are neighbours, so rows run in parallel (OpenMP,
 * 'threads' threads).  Counter-based numbers: block b of row y in half-sweep
 * h is Philox(ctr = {b, y, h, h >> 32}, key = seed) and serves the row's
 * sites 4b..4b+3 of that colour, so the result does not depend on the
 * thread count.  L must be even. */
int64_t mcref_ising_metropolis_cb(int8_t *s, int L, double beta, int sweeps, uint64_t seed, int threads) {
    if (!s || L < 2 || L % 2 || sweeps < 0 || threads < 1) return -1;
    uint64_t thr[5];
    for (int k = 0; k < 5; k++) thr[k] = threshold(exp(-beta * 2.0 * (2 * k - 4)));
    const uint32_t key[2] = { (uint32_t)seed, (uint32_t)(seed >> 32) };
    int64_t acc = 0;
    #pragma omp parallel num_threads(threads) reduction(+:acc)
    for (int64_t h = 0; h < 2 * (int64_t)sweeps; h++) {
        int c = (int)(h & 1);
        #pragma omp for schedule(static)
        for (int y = 0; y < L; y++) {   /* implicit barrier after each half-sweep */
            int8_t *row = s + y * L;
            const int8_t *up = s + (y == 0 ? L - 1 : y - 1) * L, *dn = s + (y == L - 1 ? 0 : y + 1) * L;
            uint32_t u[4];
            for (int j = 0, x = (y + c) & 1; x < L; j++, x += 2) {
                if ((j & 3) == 0) {
                    const uint32_t ctr[4] = { (uint32_t)(j >> 2), (uint32_t)y, (uint32_t)h, (uint32_t)(h >> 32) };
                    tp_philox4x32_10_block(u, ctr, key);
                }
                int hs = row[x == 0 ? L - 1 : x - 1] + row[x == L - 1 ? 0 : x + 1] + up[x] + dn[x];
                int k = (row[x] * hs + 4) >> 1;
                if (u[j & 3] < thr[k]) { row[x] = (int8_t)-row[x]; acc++; }
            }
        }
    }
    return acc;
}

/* --- q-state Potts, single-spin Metropolis, sequential sweep --------------- */
/* States uint8 0..q-1, E = -sum over bonds delta(s_i, s_j).  One 64-bit draw
 * per site: the high word picks a new state among the q - 1 others, the low
 * word decides acceptance; dE = same(old) - same(new) in -4..4. */
int64_t mcref_potts_metropolis_seq(uint8_t *s, int L, int q, double beta, int sweeps, uint64_t seed) {
    if (!s || L < 2 || q < 2 || q > 255 || sweeps < 0) return -1;
    uint64_t thr[9];
    for (int k = 0; k < 9; k++) thr[k] = threshold(exp(-beta * (k - 4)));
    xoshiro r;
    xo_seed(&r, seed);
    int64_t acc = 0;
    for (int t = 0; t < sweeps; t++)
        for (int y = 0; y < L; y++) {
            uint8_t *row = s + y * L;
            const uint8_t *up = s + (y == 0 ? L - 1 : y - 1) * L, *dn = s + (y == L - 1 ? 0 : y + 1) * L;
            for (int x = 0; x < L; x++) {
                uint64_t u = xo_next(&r);
                int old = row[x];
                int nw = (old + 1 + (int)(((u >> 32) * (uint64_t)(q - 1)) >> 32)) % q;
                int nb[4] = { row[x == 0 ? L - 1 : x - 1], row[x == L - 1 ? 0 : x + 1], up[x], dn[x] };
                int de = 0;
                for (int i = 0; i < 4; i++) de += (nb[i] == old) - (nb[i] == nw);
                if ((u & 0xFFFFFFFFu) < thr[de + 4]) { row[x] = (uint8_t)nw; acc++; }
            }
        }
    return acc;
}

/* --- Ising, Swendsen-Wang ------------------------------------------------------ */
/* Union-find with path halving; a root is always the smallest site of its
 * cluster, so a forward pass meets each root before its members. */
static int32_t uf_find(int32_t *p, int32_t i) {
    while (p[i] != i) { p[i] = p[p[i]]; i = p[i]; }
    return i;
}

static void uf_union(int32_t *p, int32_t a, int32_t b) {
    a = uf_find(p, a); b = uf_find(p, b);
    if (a < b) p[b] = a; else if (b < a) p[a] = b;
}

/* Bonds between equal neighbours (right and down) are open with probability
 * 1 - exp(-2 beta); each cluster then takes a fresh random spin.  Returns
 * the number of clusters summed over the sweeps. */
int64_t mcref_ising_sw(int8_t *s, int L, double beta, int sweeps, uint64_t seed) {
    if (!s || L < 2 || sweeps < 0) return -1;
    int32_t n = L * L;
    int32_t *p = malloc((size_t)n * sizeof *p);
    if (!p) return -1;
    uint64_t thr = threshold(1.0 - exp(-2.0 * beta));
    xoshiro r;
    xo_seed(&r, seed);
    int64_t clusters = 0;
    for (int t = 0; t < sweeps; t++) {
        for (int32_t i = 0; i < n; i++) p[i] = i;
        for (int y = 0; y < L; y++)
            for (int x = 0; x < L; x++) {
                int32_t i = y * L + x, right = y * L + (x + 1) % L, down = ((y + 1) % L) * L + x;
                if (s[i] == s[right] && (xo_next(&r) >> 32) < thr) uf_union(p, i, right);
                if (s[i] == s[down] && (xo_next(&r) >> 32) < thr) uf_union(p, i, down);
            }
        for (int32_t i = 0; i < n; i++) {
            int32_t root = uf_find(p, i);
            if (root == i) { s[i] = (xo_next(&r) >> 63) ? 1 : -1; clusters++; }
            else s[i] = s[root];   /* the root (smaller index) already has its new spin */
        }
    }
    free(p);
    return clusters;
}

/* --- Ising, Wolff single-cluster ------------------------------------------- */
/* Grow from a random site with an explicit stack, flipping as sites join
 * (a flipped site can no longer match the cluster's old spin).  Returns the
 * total number of sites flipped over 'clusters' cluster moves. */
int64_t mcref_ising_wolff(int8_t *s, int L, double beta, int clusters, uint64_t seed) {
    if (!s || L < 2 || clusters < 0) return -1;
    int32_t n = L * L;
    int32_t *stack = malloc((size_t)n * sizeof *stack);
    if (!stack) return -1;
    uint64_t thr = threshold(1.0 - exp(-2.0 * beta));
    xoshiro r;
    xo_seed(&r, seed);
    int64_t flipped = 0;
    for (int c = 0; c < clusters; c++) {
        int32_t i = (int32_t)(((xo_next(&r) >> 32) * (uint64_t)n) >> 32);
        int8_t s0 = s[i];
        int32_t top = 0;
        s[i] = (int8_t)-s0;
        stack[top++] = i;
        while (top > 0) {
            i = stack[--top];
            flipped++;
            int x = i % L, y = i / L;
            int32_t nb[4] = { y * L + (x + 1) % L, y * L + (x + L - 1) % L,
                              ((y + 1) % L) * L + x, ((y + L - 1) % L) * L + x };
            for (int k = 0; k < 4; k++)
                if (s[nb[k]] == s0 && (xo_next(&r) >> 32) < thr) {
                    s[nb[k]] = (int8_t)-s0;
                    stack[top++] = nb[k];
                }
        }
    }
    free(stack);
    return flipped;
}

/* --- Ising, exact enumeration ---------------------------------------------- */
/* Walk all 2^n states (n = L * L <= 25) by the binary reflected Gray code
 * (step t flips the spin at the lowest set bit of t), tracking the number k
 * of unsatisfied bonds among the 2n bonds, so E = -2n + 2k, and count states
 * per k in hist[0..2n].  log Z(beta) is then a log-sum-exp over the
 * histogram.  Returns log Z, or NAN on bad arguments. */
double mcref_ising_exact_logz(int L, double beta, int64_t *hist) {
    if (L < 2 || L * L > 25 || !hist) return NAN;
    int n = L * L, nb[25][4];
    int8_t s[25];
    for (int i = 0; i < n; i++) {
        int x = i % L, y = i / L;
        nb[i][0] = y * L + (x + 1) % L; nb[i][1] = y * L + (x + L - 1) % L;
        nb[i][2] = ((y + 1) % L) * L + x; nb[i][3] = ((y + L - 1) % L) * L + x;
        s[i] = 1;
    }
    for (int k = 0; k <= 2 * n; k++) hist[k] = 0;
    int k = 0;                                   /* all up: every bond satisfied */
    hist[0] = 1;
    for (uint32_t t = 1; t < (UINT32_C(1) << n); t++) {
        int i = __builtin_ctz(t);
        for (int d = 0; d < 4; d++) k += s[nb[i][d]] == s[i] ? 1 : -1;
        s[i] = (int8_t)-s[i];
        hist[k]++;
    }
    /* log Z = log sum_k hist[k] exp(-beta E_k), shifted by the largest term */
    double lw[51], mx = -INFINITY, sum = 0;
    for (k = 0; k <= 2 * n; k++) {
        lw[k] = hist[k] ? log((double)hist[k]) - beta * (2 * k - 2 * n) : -INFINITY;
        if (lw[k] > mx) mx = lw[k];
    }
    for (k = 0; k <= 2 * n; k++) sum += exp(lw[k] - mx);
    return mx + log(sum);
}

/* --- exact enumeration, Potts L x L (q^(L*L) <= 2^26) --------------------- */
/* Every configuration by an odometer over the sites (site 0 fastest), the
 * number of equal-token bonds kept up to date as digits change, an integer
 * histogram of that number (hist: 2 L*L + 1 entries); returns log Z at beta
 * with E = -(equal bonds), J = 1. */
double mcref_potts_exact_logz(int L, int q, double beta, int64_t *hist) {
    int n = L * L;
    if (L < 2 || q < 2 || !hist || n * log((double)q) > 26 * log(2.0) + 1e-9) return NAN;
    int nb[26][4];
    uint8_t s[26] = { 0 };
    for (int i = 0; i < n; i++) {
        int x = i % L, y = i / L;
        nb[i][0] = y * L + (x + 1) % L; nb[i][1] = y * L + (x + L - 1) % L;
        nb[i][2] = ((y + 1) % L) * L + x; nb[i][3] = ((y + L - 1) % L) * L + x;
    }
    for (int k = 0; k <= 2 * n; k++) hist[k] = 0;
    int k = 2 * n;   /* all token 0: every bond equal */
    for (;;) {
        hist[k]++;
        int i = 0;
        for (; i < n; i++) {   /* odometer: set digit i to (s + 1) mod q */
            int a = s[i], b = a + 1 == q ? 0 : a + 1;
            for (int d = 0; d < 4; d++) k += (s[nb[i][d]] == b) - (s[nb[i][d]] == a);
            s[i] = (uint8_t)b;
            if (b) break;   /* no carry */
        }
        if (i == n) break;
    }
    double lw[53], mx = -INFINITY, sum = 0;
    for (k = 0; k <= 2 * n; k++) {
        lw[k] = hist[k] ? log((double)hist[k]) + beta * k : -INFINITY;
        if (lw[k] > mx) mx = lw[k];
    }
    for (k = 0; k <= 2 * n; k++) sum += exp(lw[k] - mx);
    return mx + log(sum);
}
