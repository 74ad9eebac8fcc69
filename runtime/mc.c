/*
 * runtime/mc.c -- many-chain single-site Monte Carlo on built-in models
 * (runtime/mc.h): Metropolis, heat-bath, canonical swaps, and Metropolis on
 * E + V(s) for metadynamics with an incrementally updated built-in CV.
 *
 * Contract: each attempt draws its randomness from one Philox block (one
 * word of a block for the single-shell Ising tables, see mc.h) addressed by
 * (seed, chain, attempt index), so a chain's trajectory is the
 * same whether chains run on many threads or one chain's checkerboard
 * colour is split across threads.  Chains are independent; OpenMP runs over
 * chains (or over sites of one colour when there are fewer chains than
 * threads and no bias).  The abort flag is polled between sweeps.
 */
#include "mc_impl.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* Threads only for enough work: a parallel region costs microseconds, and
 * far more when the cores are shared.  Results never depend on this. */
static int worth_threads(int64_t work) { return work >= ((int64_t)1 << 17); }

static tp_status check_model(const tp_model *m) {
    if (!m) return TP_ERROR(TP_ERR_ARG, "mc: model is NULL (Lua-defined models use tempera.mc's Lua driver)");
    if (m->kind != TP_MODEL_ISING && m->kind != TP_MODEL_POTTS && m->kind != TP_MODEL_CE)
        return TP_ERROR(TP_ERR_ARG, "mc: unknown model kind %d", m->kind);
    return TP_OK;
}

tp_mc *tp_mc_init(const tp_model *m, int64_t nchains, uint64_t seed, int32_t start) {
    return tp_mc_init_range(m, nchains, seed, start, 0);
}

tp_mc *tp_mc_init_range(const tp_model *m, int64_t nchains, uint64_t seed, int32_t start, int64_t first) {
    if (check_model(m) != TP_OK) return NULL;
    if (first < 0 || first > ((int64_t)1 << 32)) {
        TP_ERROR(TP_ERR_ARG, "mc: the first chain's index must be in 0..2^32, got %lld", (long long)first);
        return NULL;
    }
    if (nchains < 1 || nchains > ((int64_t)1 << 32)) {
        TP_ERROR(TP_ERR_ARG, "mc: number of chains must be >= 1, got %lld", (long long)nchains);
        return NULL;
    }
    if (start != TP_MC_START_RANDOM && start != TP_MC_START_ZERO) {
        TP_ERROR(TP_ERR_ARG, "mc: unknown start %d", start);
        return NULL;
    }
    tp_mc *mc = calloc(1, sizeof *mc);
    if (!mc) { TP_ERROR(TP_ERR_NOMEM, "mc: out of memory"); return NULL; }
    mc->m = m;
    mc->B = nchains;
    mc->n = m->n;
    mc->q = m->q;
    mc->seed = seed;
    mc->first = first;
    mc->x = malloc((size_t)nchains * m->n);
    mc->t = calloc((size_t)nchains, sizeof *mc->t);
    mc->crng = calloc((size_t)nchains, sizeof *mc->crng);
    mc->order = malloc((size_t)m->n * sizeof *mc->order);
    mc->acc = calloc((size_t)nchains, sizeof *mc->acc);
    mc->att = calloc((size_t)nchains, sizeof *mc->att);
    if (!mc->x || !mc->t || !mc->crng || !mc->order || !mc->acc || !mc->att) {
        tp_mc_free(mc);
        TP_ERROR(TP_ERR_NOMEM, "mc: out of memory for %lld chains", (long long)nchains);
        return NULL;
    }
    /* checkerboard when shell 0 is bipartite and the only coupled shell */
    const tp_lattice *lat = m->lat;
    int checker = lat->bipartite && lat->color && m->kind != TP_MODEL_CE && m->nshell == 1;
    int k = 0;
    if (checker) {
        for (int i = 0; i < m->n; i++) if (lat->color[i] == 0) mc->order[k++] = i;
        mc->ncolor0 = k;
        for (int i = 0; i < m->n; i++) if (lat->color[i] != 0) mc->order[k++] = i;
    } else {
        for (int i = 0; i < m->n; i++) mc->order[i] = i;
    }
    for (int64_t c = 0; c < nchains; c++) {
        tp_rng_seed(&mc->crng[c], seed ^ TP_MC_KEY_CLUSTER, (uint64_t)(c + first));
        uint8_t *x = mc->x + c * m->n;
        if (start == TP_MC_START_ZERO) { memset(x, 0, (size_t)m->n); continue; }
        tp_rng r;
        tp_rng_seed(&r, seed ^ 0x696eull /* 'in' */, (uint64_t)(c + first));
        for (int i = 0; i < m->n; i++) x[i] = (uint8_t)tp_rng_next_below(&r, (uint32_t)m->q);
    }
    return mc;
}

void tp_mc_free(tp_mc *mc) {
    if (!mc) return;
    free(mc->x); free(mc->t); free(mc->crng); free(mc->order); free(mc->acc); free(mc->att);
    free(mc);
}

int64_t tp_mc_nchains(const tp_mc *mc) { return mc ? mc->B : 0; }
uint8_t *tp_mc_states(tp_mc *mc) { return mc ? mc->x : NULL; }

tp_status tp_mc_set_states(tp_mc *mc, const uint8_t *x) {
    if (!mc || !x) return TP_ERROR(TP_ERR_ARG, "mc: NULL argument");
    TP_TRY(tp_model_check(mc->m, x, mc->B));
    memcpy(mc->x, x, (size_t)mc->B * mc->n);
    return TP_OK;
}

tp_status tp_mc_energies(const tp_mc *mc, double *out) {
    if (!mc || !out) return TP_ERROR(TP_ERR_ARG, "mc: NULL argument");
    /* chains always hold valid tokens: no check; threads only for big batches */
    int par = worth_threads(mc->B * (int64_t)mc->n * 4);
    #pragma omp parallel for schedule(static) if (par)
    for (int64_t c = 0; c < mc->B; c++) out[c] = tp_model_energy(mc->m, mc->x + c * mc->n);
    return TP_OK;
}

double tp_mc_acceptance(const tp_mc *mc) {
    if (!mc) return 0.0;
    int64_t a = 0, t = 0;
    for (int64_t c = 0; c < mc->B; c++) { a += mc->acc[c]; t += mc->att[c]; }
    return t ? (double)a / (double)t : 0.0;
}

/* ---- single-site and swap attempts ---------------------------------------- */

/* Acceptance thresholds for single-shell Ising and Potts (mc_impl.h). */
void tp_mc_site_table_init(tp_mc_site_table *tb, const tp_model *m, int32_t method, double beta) {
    tb->on = 0;
    tb->hb = 0;
    if (m->nshell != 1 || m->lat->shell_z[0] > 32) return;
    int z = tb->z = m->lat->shell_z[0];
    double J = m->J[0], h = m->h;
    if (m->kind == TP_MODEL_ISING && method == TP_MC_METROPOLIS) {
        for (int a = 0; a < 2; a++)
            for (int s = -z; s <= z; s++) {
                double de = 2.0 * (2 * a - 1) * (J * s + h);
                tb->thr[a][s + z] = tp_mc_threshold(de <= 0 ? 1.0 : exp(-beta * de));
            }
        tb->on = 1;
    } else if (m->kind == TP_MODEL_ISING && method == TP_MC_HEATBATH) {
        for (int s = -z; s <= z; s++) tb->thr[0][s + z] = tp_mc_threshold(1.0 / (1.0 + exp(-2.0 * beta * (J * s + h))));
        tb->on = 1;
    } else if (m->kind == TP_MODEL_POTTS && method == TP_MC_METROPOLIS) {
        for (int f = -1; f <= 1; f++)
            for (int d = -z; d <= z; d++) {
                double de = -J * d - h * f;
                tb->thr[f + 1][d + z] = tp_mc_threshold(de <= 0 ? 1.0 : exp(-beta * de));
            }
        tb->on = 1;
    } else if (m->kind == TP_MODEL_POTTS && method == TP_MC_HEATBATH) {
        const int q = m->q;
        int64_t ncls = 1;
        for (int b = 0; b < q - 1 && ncls * (q - 1) <= TP_MC_HB_MAX; b++) ncls *= z + 1;
        if (ncls * (q - 1) > TP_MC_HB_MAX) return;
        for (int64_t e = 0; e < (int64_t)m->n * z; e++) if (m->lat->nb[0][e] == (int32_t)(e / z)) return;
        for (int64_t idx = 0; idx < ncls; idx++) {
            int cnt[256], rest = z;
            int64_t r = idx;
            for (int b = 0; b < q - 1; b++) { cnt[b] = (int)(r % (z + 1)); r /= z + 1; rest -= cnt[b]; }
            if (rest < 0) { for (int k = 0; k < q - 1; k++) tb->cum[idx * (q - 1) + k] = 0; continue; }   /* no such site */
            cnt[q - 1] = rest;
            double lw[256], mx = -INFINITY, tot = 0, run = 0;
            for (int b = 0; b < q; b++) {
                lw[b] = beta * (J * cnt[b] + (b == 0 ? h : 0.0));
                if (lw[b] > mx) mx = lw[b];
            }
            for (int b = 0; b < q; b++) { lw[b] = exp(lw[b] - mx); tot += lw[b]; }
            for (int k = 0; k < q - 1; k++) {
                run += lw[k];
                tb->cum[idx * (q - 1) + k] = tp_mc_threshold(run / tot);
            }
        }
        tb->hb = 1;
        tb->on = 1;
    }
}

/* Single-shell Ising needs one 32-bit word per attempt: attempt t uses
 * word t & 3 of block t >> 2 under its own key (TP_MC_KEY_SITE4); single-
 * shell Potts Metropolis two (proposal, acceptance): words 2 (t & 1) and
 * 2 (t & 1) + 1 of block t >> 1 (TP_MC_KEY_SITE2).  The block is cached
 * here, so one Philox call serves four or two attempts.  Per thread. */
typedef struct { uint64_t blk; uint32_t w[4]; } word_cache;
#define WORD_CACHE_INIT { UINT64_MAX, { 0, 0, 0, 0 } }

static inline const uint32_t *cached_words(word_cache *wc, uint64_t key, uint64_t blk, uint64_t c) {
    if (wc->blk != blk) {
        uint32_t ctr[4] = { (uint32_t)blk, (uint32_t)(blk >> 32), (uint32_t)c, (uint32_t)(c >> 32) };
        uint32_t k[2] = { (uint32_t)key, (uint32_t)(key >> 32) };
        tp_philox4x32_10_block(wc->w, ctr, k);
        wc->blk = blk;
    }
    return wc->w;
}

static inline uint32_t cached_word(word_cache *wc, uint64_t seed, uint64_t t, uint64_t c) {
    return cached_words(wc, seed ^ TP_MC_KEY_SITE4, t >> 2, c)[t & 3];
}

static inline const uint32_t *cached_pair(word_cache *wc, uint64_t seed, uint64_t t, uint64_t c) {
    return cached_words(wc, seed ^ TP_MC_KEY_SITE2, t >> 1, c) + 2 * (t & 1);
}

/* One attempt of method at site i of chain x (attempt index t).  Returns
 * 1 if the configuration changed. */
static inline int attempt(const tp_mc *mc, uint8_t *x, int32_t i, int32_t method, double beta,
                          const tp_mc_site_table *tb, uint64_t t, int64_t c, word_cache *wc) {
    const tp_model *m = mc->m;
    uint32_t r[4];
    int32_t a = x[i];
    if (tb->on && m->kind == TP_MODEL_ISING) {
        const int32_t *nb = m->lat->nb[0] + (int64_t)i * tb->z;
        int sum = 0;
        for (int k = 0; k < tb->z; k++) if (nb[k] != i) sum += 2 * x[nb[k]] - 1;
        if (method == TP_MC_HEATBATH) {
            int32_t b = tp_mc_accept(cached_word(wc, mc->seed, t, (uint64_t)(c + mc->first)), tb->thr[0][sum + tb->z]);
            x[i] = (uint8_t)b;
            return b != a;
        }
        /* the word is addressed by (chain, t), so a move accepted with
         * probability 1 need not draw it: same trajectory, fewer Philox calls */
        uint32_t thr = tb->thr[a][sum + tb->z];
        if (thr != UINT32_MAX && !tp_mc_accept(cached_word(wc, mc->seed, t, (uint64_t)(c + mc->first)), thr)) return 0;
        x[i] = (uint8_t)(1 - a);
        return 1;
    }
    if (tb->hb) {   /* Potts heat bath, single shell */
        const int32_t *nb = m->lat->nb[0] + (int64_t)i * tb->z;
        int64_t idx = 0, mul = 1;
        for (int b = 0; b < m->q - 1; b++, mul *= tb->z + 1) {
            int cnt = 0;
            for (int k = 0; k < tb->z; k++) cnt += x[nb[k]] == b;
            idx += cnt * mul;
        }
        const uint32_t w = cached_word(wc, mc->seed, t, (uint64_t)(c + mc->first)), *cum = tb->cum + idx * (m->q - 1);
        int32_t b = m->q - 1;
        for (int k = 0; k < m->q - 1; k++) b -= tp_mc_accept(w, cum[k]);
        x[i] = (uint8_t)b;
        return b != a;
    }
    if (tb->on) {   /* Potts Metropolis, single shell */
        const uint32_t *w = cached_pair(wc, mc->seed, t, (uint64_t)(c + mc->first));
        int32_t b = (a + 1 + (int32_t)tp_mc_below(w[0], (uint32_t)(m->q - 1))) % m->q;
        const int32_t *nb = m->lat->nb[0] + (int64_t)i * tb->z;
        int d = 0;
        for (int k = 0; k < tb->z; k++) {
            int32_t j = nb[k];
            if (j != i) d += (x[j] == b) - (x[j] == a);
        }
        if (!tp_mc_accept(w[1], tb->thr[(b == 0) - (a == 0) + 1][d + tb->z])) return 0;
        x[i] = (uint8_t)b;
        return 1;
    }
    tp_mc_block(r, mc->seed, t, (uint64_t)(c + mc->first));
    if (method == TP_MC_METROPOLIS) {
        int32_t b = m->q == 2 ? 1 - a : (a + 1 + (int32_t)tp_mc_below(r[0], (uint32_t)(m->q - 1))) % m->q;
        double de = tp_mc_de(m, x, i, b);
        if (de <= 0 || tp_mc_accept(r[1], tp_mc_threshold(exp(-beta * de)))) { x[i] = (uint8_t)b; return 1; }
        return 0;
    }
    if (method == TP_MC_HEATBATH) {
        /* conditional distribution over the q states of site i */
        double w[256], tot = 0.0, emin = 0.0, de[256];
        for (int b = 0; b < m->q; b++) {
            de[b] = tp_mc_de(m, x, i, b);
            if (de[b] < emin) emin = de[b];
        }
        for (int b = 0; b < m->q; b++) { w[b] = exp(-beta * (de[b] - emin)); tot += w[b]; }
        double u = tp_mc_u01(r[1]) * tot;
        int32_t b = 0;
        while (b < m->q - 1 && u >= w[b]) { u -= w[b]; b++; }
        x[i] = (uint8_t)b;
        return b != a;
    }
    return 0;   /* swaps: swap_sweeps */
}

/* Canonical swaps of chain c, nsweeps x n attempts.  Attempt t picks a
 * uniform site i (word 2) and a uniform site j among those whose species
 * differs from i's (word 3), so no attempt is spent on a like pair; the
 * unordered pair {i, j} is proposed with probability (1/n)(1/(n - n_A) +
 * 1/(n - n_B)) both ways (a swap keeps the counts), so Metropolis
 * acceptance (word 1) keeps detailed balance.  Sites are kept grouped by
 * species in lst (positions in where), updated in O(1) per accepted swap.
 * Returns the sweeps done (fewer on Ctrl-C). */
static int64_t swap_sweeps(tp_mc *mc, int64_t c, double beta, int64_t nsweeps, int32_t *lst, int32_t *where) {
    const tp_model *m = mc->m;
    const int32_t n = mc->n, q = mc->q;
    uint8_t *x = mc->x + c * n;
    int32_t cnt[256] = { 0 }, off[257];
    for (int32_t i = 0; i < n; i++) cnt[x[i]]++;
    off[0] = 0;
    for (int s = 0; s < q; s++) off[s + 1] = off[s] + cnt[s];
    int32_t fill[256];
    memcpy(fill, off, sizeof(int32_t) * (size_t)q);
    for (int32_t i = 0; i < n; i++) { where[i] = fill[x[i]]; lst[fill[x[i]]++] = i; }
    uint64_t t = mc->t[c];
    int64_t acc = 0, w = 0;
    for (; w < nsweeps && !tp_abort_flag; w++) {
        for (int32_t a = 0; a < n; a++, t++) {
            uint32_t r[4];
            tp_mc_block(r, mc->seed, t, (uint64_t)(c + mc->first));
            const int32_t i = (int32_t)tp_mc_below(r[2], (uint32_t)n), si = x[i], others = n - cnt[si];
            if (others == 0) continue;
            int32_t k = (int32_t)tp_mc_below(r[3], (uint32_t)others);
            const int32_t j = lst[k < off[si] ? k : k + cnt[si]];
            double d = tp_model_de_swap(m, x, i, j);
            if (d <= 0 || tp_mc_accept(r[1], tp_mc_threshold(exp(-beta * d)))) {
                x[i] = x[j];
                x[j] = (uint8_t)si;
                int32_t wi = where[i], wj = where[j];
                lst[wi] = j; lst[wj] = i;
                where[i] = wj; where[j] = wi;
                acc++;
            }
        }
    }
    mc->t[c] = t;
    mc->acc[c] += acc;
    mc->att[c] += w * n;
    return w;
}

/* nsweeps of n attempts on chain c, sequentially. */
static void chain_sweeps(tp_mc *mc, int64_t c, int32_t method, double beta,
                         const tp_mc_site_table *tb, int64_t nsweeps) {
    uint8_t *x = mc->x + c * mc->n;
    uint64_t t = mc->t[c];
    int64_t acc = 0, n = mc->n;
    int64_t pos = (int64_t)(t % (uint64_t)n);   /* position in the sweep order */
    word_cache wc = WORD_CACHE_INIT;
    for (int64_t w = 0; w < nsweeps; w++)
        for (int64_t k = 0; k < n; k++, t++) {
            acc += attempt(mc, x, mc->order[pos], method, beta, tb, t, c, &wc);
            if (++pos == n) pos = 0;
        }
    mc->acc[c] += acc;
    mc->att[c] += nsweeps * n;
    mc->t[c] = t;
}

static tp_status check_beta(double beta) {
    if (!(beta > 0) || !isfinite(beta)) return TP_ERROR(TP_ERR_ARG, "mc: beta must be > 0, got %g", beta);
    return TP_OK;
}

static tp_status single_site(tp_mc *mc, int32_t method, double beta, int64_t nsweeps) {
    tp_mc_site_table tb;
    tp_mc_site_table_init(&tb, mc->m, method, beta);
    tp_status st;
    if (tp_mc_checker(mc, method, nsweeps, &tb, &st)) return st;
    if (tp_mc_lanes(mc, method, beta, nsweeps, &tb, &st)) return st;
    int nth = tp_threads_get();
    int par = worth_threads(mc->B * (int64_t)mc->n * nsweeps), par_in = worth_threads(mc->n);
    /* within-chain checkerboard parallelism: few chains, aligned counters */
    int inner = mc->ncolor0 > 0 && mc->B < nth && method != TP_MC_SWAP;
    for (int64_t c = 0; inner && c < mc->B; c++) if (mc->t[c] % (uint64_t)mc->n) inner = 0;
    if (method == TP_MC_SWAP) {
        int failed = 0;
        #pragma omp parallel if (par)
        {
            int32_t *lst = malloc(sizeof(int32_t) * (size_t)mc->n), *where = malloc(sizeof(int32_t) * (size_t)mc->n);
            if (!lst || !where) {
                #pragma omp atomic write
                failed = 1;
            }
            #pragma omp for schedule(dynamic, 1)
            for (int64_t c = 0; c < mc->B; c++)
                if (lst && where) swap_sweeps(mc, c, beta, nsweeps, lst, where);
            free(lst); free(where);
        }
        if (failed) return TP_ERROR(TP_ERR_NOMEM, "mc: out of memory for swap lists (%d sites)", (int)mc->n);
        return tp_abort_flag ? TP_ABORTED : TP_OK;
    }
    if (!inner) {
        #pragma omp parallel for schedule(dynamic, 1) if (par)
        for (int64_t c = 0; c < mc->B; c++)
            for (int64_t w = 0; w < nsweeps && !tp_abort_flag; w++)
                chain_sweeps(mc, c, method, beta, &tb, 1);
        return tp_abort_flag ? TP_ABORTED : TP_OK;
    }
    for (int64_t w = 0; w < nsweeps; w++) {
        if (tp_abort_flag) return TP_ABORTED;
        for (int64_t c = 0; c < mc->B; c++) {
            uint8_t *x = mc->x + c * mc->n;
            uint64_t t0 = mc->t[c];
            int64_t acc = 0;
            int32_t n0 = mc->ncolor0, n = mc->n;
            #pragma omp parallel reduction(+:acc) if (par_in)
            {
                word_cache wc = WORD_CACHE_INIT;
                #pragma omp for schedule(static)
                for (int32_t k = 0; k < n0; k++)
                    acc += attempt(mc, x, mc->order[k], method, beta, &tb, t0 + (uint64_t)k, c, &wc);
                #pragma omp for schedule(static)
                for (int32_t k = n0; k < n; k++)
                    acc += attempt(mc, x, mc->order[k], method, beta, &tb, t0 + (uint64_t)k, c, &wc);
            }
            mc->acc[c] += acc;
            mc->att[c] += n;
            mc->t[c] = t0 + (uint64_t)n;
        }
    }
    return TP_OK;
}

static tp_status clusters(tp_mc *mc, int32_t method, double beta, int64_t nsweeps) {
    const tp_model *m = mc->m;
    if (m->kind != TP_MODEL_ISING && m->kind != TP_MODEL_POTTS)
        return TP_ERROR(TP_ERR_ARG, "mc: %s needs an Ising or Potts model, got '%s'",
                        method == TP_MC_SW ? "Swendsen-Wang" : "Wolff", m->name);
    for (int s = 0; s < m->nshell; s++)
        if (m->J[s] < 0)
            return TP_ERROR(TP_ERR_ARG, "mc: cluster updates need ferromagnetic couplings (J[%d] = %g < 0)", s + 1, m->J[s]);
    if (method == TP_MC_WOLFF && m->h != 0)
        return TP_ERROR(TP_ERR_ARG, "mc: Wolff updates need h = 0 (got h = %g); use Swendsen-Wang", m->h);
    tp_status st = TP_OK;
    int64_t n = mc->n;
    int par = worth_threads(mc->B * n * nsweeps);
    /* parallel over chains; each chain polls the abort flag between its
     * own sweeps (no barrier inside, so an early stop cannot deadlock) */
    #pragma omp parallel if (par)
    {
        int32_t *a = malloc((size_t)n * sizeof(int32_t));
        int32_t *b = malloc((size_t)n * sizeof(int32_t));
        int ok = a && b;
        if (!ok) {
            #pragma omp atomic write
            st = TP_ERR_NOMEM;   /* the message is set below, on the calling thread */
        }
        #pragma omp for schedule(dynamic, 1)
        for (int64_t c = 0; c < mc->B; c++) {
            for (int64_t done = 0; ok && done < nsweeps && !tp_abort_flag; done++) {
                if (method == TP_MC_SW) tp_mc_sw_chain(mc, c, beta, a, b);
                else tp_mc_wolff_chain(mc, c, beta, a);
            }
        }
        free(a); free(b);
    }
    if (st != TP_OK) return TP_ERROR(TP_ERR_NOMEM, "mc: out of memory for cluster scratch");
    return tp_abort_flag ? TP_ABORTED : TP_OK;
}

tp_status tp_mc_sweep(tp_mc *mc, int32_t method, double beta, int64_t nsweeps) {
    if (!mc) return TP_ERROR(TP_ERR_ARG, "mc: NULL chains");
    TP_TRY(check_beta(beta));
    if (nsweeps < 0) return TP_ERROR(TP_ERR_ARG, "mc: number of sweeps must be >= 0, got %lld", (long long)nsweeps);
    switch (method) {
    case TP_MC_METROPOLIS:
    case TP_MC_HEATBATH:
    case TP_MC_SWAP:
        return single_site(mc, method, beta, nsweeps);
    case TP_MC_SW:
    case TP_MC_WOLFF:
        return clusters(mc, method, beta, nsweeps);
    default:
        return TP_ERROR(TP_ERR_ARG, "mc: unknown method %d", method);
    }
}

/* ---- Metropolis on E + V(s) ------------------------------------------------ */

/* The biased fast path: a single-shell Ising or Potts model and a 1-D CV
 * that is a function of one count k (magnetization of an Ising model: the
 * up count; a fraction: the count of its token; one group).  V is looked
 * up by k, and the acceptance probability exp(-beta (dE + V(k') - V(k)))
 * is tabulated over (move class, k) when the table is small.  Every value
 * is computed by the same expressions, in the same order, as the general
 * loop (tp_mc_de, tp_cv_from_counts, tp_bias_value), and the random blocks
 * are the same: the same trajectory, bit for bit. */
static void counted_free(counted_bias *cb) { free(cb->v); free(cb->de); free(cb->thr); }

/* dk of a move: (b == kt) - (a == kt) in {-1, 0, 1} */
/* The CV of a configuration with k sites of token kt (one group; for a
 * magnetization the rest are 0), as tp_cv_from_counts gives it. */
static void counted_cv(const tp_cv *cv, int kt, int32_t n, int32_t k, double *out) {
    int32_t counts[256] = { 0 };
    counts[kt] = k;
    if (cv->kind == TP_CV_MAGNETIZATION) counts[0] = n - k;
    tp_cv_from_counts(cv, out, counts);
}

/* cb->v[k] = V at count k, k = 0..n */
static tp_status counted_values(counted_bias *cb, const tp_cv *cv, const tp_bias *bias) {
    cb->v = malloc((size_t)(cb->n + 1) * sizeof(double));
    if (!cb->v) return TP_ERROR(TP_ERR_NOMEM, "mc: out of memory for bias tables");
    for (int32_t k = 0; k <= cb->n; k++) {
        double sv;
        counted_cv(cv, cb->kt, cb->n, k, &sv);
        cb->v[k] = tp_bias_value(bias, &sv);
    }
    return TP_OK;
}

static tp_status counted_init(counted_bias *cb, const tp_model *m, const tp_cv *cv, const tp_bias *bias, double beta) {
    memset(cb, 0, sizeof *cb);
    if (m->kind == TP_MODEL_CE && cv->kind == TP_CV_FRACTION && cv->ngroup == 1) {
        cb->ce = 1;
        cb->kt = cv->token;
        cb->n = m->n;
        cb->q = m->q;
        TP_TRY(counted_values(cb, cv, bias));
        cb->on = 1;
        return TP_OK;
    }
    if (m->nshell != 1 || m->lat->shell_z[0] > 32 || cv->dim != 1 || cv->ngroup != 1) return TP_OK;
    if (m->kind != TP_MODEL_ISING && m->kind != TP_MODEL_POTTS) return TP_OK;
    if (cv->kind == TP_CV_MAGNETIZATION && m->q == 2) cb->kt = 1;
    else if (cv->kind == TP_CV_FRACTION) cb->kt = cv->token;
    else return TP_OK;
    const int z = cb->z = m->lat->shell_z[0], n = cb->n = m->n, nz = 2 * z + 1;
    cb->q = m->q;
    cb->ising = m->kind == TP_MODEL_ISING;
    const int rows = cb->ising ? 2 : 3;
    cb->de = malloc((size_t)rows * nz * sizeof(double));
    if (!cb->de) return TP_ERROR(TP_ERR_NOMEM, "mc: out of memory for bias tables");
    if (counted_values(cb, cv, bias) != TP_OK) { counted_free(cb); return TP_ERR_NOMEM; }
    /* dE as tp_mc_de computes it for one shell */
    const double J = m->J[0], h = m->h;
    for (int r = 0; r < rows; r++)
        for (int u = -z; u <= z; u++) {
            if (cb->ising) {
                double f = 0.0;
                f += J * u;
                cb->de[r * nz + u + z] = 2.0 * (2 * r - 1) * (f + h);
            } else {
                double d = 0.0;
                d -= J * u;
                cb->de[r * nz + u + z] = d - h * (r - 1);
            }
        }
    /* thresholds by (count k, class): index (k << cshift) + class, class =
     * row zpad + (u + z) for Ising, ((dk + 1) 4 + row) zpad + (u + z) for
     * Potts, zpad the power of two >= 2z + 1 (shifts, not products, in the
     * vector kernel) */
    int zs = 0;
    while ((1 << zs) < nz) zs++;
    cb->zshift = zs;
    cb->cshift = zs + (cb->ising ? 1 : 4);
    if (((int64_t)(n + 1) << cb->cshift) <= (1 << 18)) {
        cb->thr = calloc((size_t)(n + 1) << cb->cshift, sizeof(uint32_t));
        if (!cb->thr) { counted_free(cb); return TP_ERROR(TP_ERR_NOMEM, "mc: out of memory for bias tables"); }
        for (int dk = -1; dk <= 1; dk++)
            for (int r = 0; r < rows; r++) {
                if (cb->ising && dk != (r == 0 ? (cb->kt == 0 ? -1 : 1) : (cb->kt == 1 ? -1 : 1))) continue;
                for (int u = 0; u < nz; u++) {
                    const int64_t cl = ((int64_t)(cb->ising ? r : (dk + 1) * 4 + r) << zs) + u;
                    for (int k = 0; k <= n; k++) {
                        const int k2 = k + dk;
                        double d = k2 < 0 || k2 > n ? 0.0 : cb->de[r * nz + u] + cb->v[k2] - cb->v[k];
                        cb->thr[((int64_t)k << cb->cshift) + cl] = tp_mc_threshold(d <= 0 ? 1.0 : exp(-beta * d));
                    }
                }
            }
    }
    cb->on = 1;
    return TP_OK;
}

/* len attempts of chain c from its counter t; returns accepted moves and
 * leaves the final count in *kio.  Random words as the unbiased sweeps of
 * the same model take them (cached_word, cached_pair). */
static int64_t counted_chain(const counted_bias *cb, const tp_mc *mc, uint8_t *x, int64_t c, uint64_t t,
                             int64_t len, double beta, int32_t *kio) {
    const int32_t *order = mc->order, n = cb->n, q = cb->q, z = cb->z, nz = 2 * z + 1, kt = cb->kt;
    const int32_t *nbr = cb->ce ? NULL : mc->m->lat->nb[0];
    int64_t acc = 0, pos = (int64_t)(t % (uint64_t)n);
    int32_t k = *kio;
    word_cache wc = WORD_CACHE_INIT;
    for (int64_t s = 0; s < len; s++, t++) {
        const int32_t i = order[pos];
        if (++pos == n) pos = 0;
        const int32_t a = x[i];
        if (cb->ce) {   /* the general loop's block, dE from the model */
            uint32_t r[4];
            tp_mc_block(r, mc->seed, t, (uint64_t)(c + mc->first));
            const int32_t b = 1 - a, k2 = k + (b == kt) - (a == kt);
            const double d = tp_mc_de(mc->m, x, i, b) + cb->v[k2] - cb->v[k];
            if (d <= 0 || tp_mc_accept(r[1], tp_mc_threshold(exp(-beta * d)))) { x[i] = (uint8_t)b; k = k2; acc++; }
            continue;
        }
        const int32_t *nb = nbr + (int64_t)i * z;
        int32_t b, row, u = 0;
        uint32_t w;
        if (cb->ising) {
            w = cached_word(&wc, mc->seed, t, (uint64_t)(c + mc->first));
            b = 1 - a;
            for (int j = 0; j < z; j++) if (nb[j] != i) u += 2 * x[nb[j]] - 1;
            row = a;
        } else {
            const uint32_t *pw = cached_pair(&wc, mc->seed, t, (uint64_t)(c + mc->first));
            w = pw[1];
            b = (a + 1 + (int32_t)tp_mc_below(pw[0], (uint32_t)(q - 1))) % q;
            for (int j = 0; j < z; j++) if (nb[j] != i) u += (x[nb[j]] == b) - (x[nb[j]] == a);
            row = (b == 0) - (a == 0) + 1;
        }
        const int dk = (b == kt) - (a == kt), k2 = k + dk;
        int ok;
        if (cb->thr) {
            const int64_t cl = ((int64_t)(cb->ising ? row : (dk + 1) * 4 + row) << cb->zshift) + u + z;
            ok = tp_mc_accept(w, cb->thr[((int64_t)k << cb->cshift) + cl]);
        } else {
            const double d = cb->de[row * nz + u + z] + cb->v[k2] - cb->v[k];
            ok = d <= 0 || tp_mc_accept(w, tp_mc_threshold(exp(-beta * d)));
        }
        if (ok) { x[i] = (uint8_t)b; k = k2; acc++; }
    }
    *kio = k;
    return acc;
}

tp_status tp_mc_biased(tp_mc *mc, const tp_cv *cv, const tp_bias *bias, double beta,
                       int64_t nattempts, double *s_out) {
    if (!mc || !cv || !bias) return TP_ERROR(TP_ERR_ARG, "mc: NULL argument (chains, cv and bias are required)");
    TP_TRY(check_beta(beta));
    if (nattempts < 0) return TP_ERROR(TP_ERR_ARG, "mc: number of attempts must be >= 0");
    if (cv->n != mc->n || cv->q != mc->q)
        return TP_ERROR(TP_ERR_ARG, "mc: CV '%s' is for %d sites and %d states, the model has %d and %d",
                        cv->name, cv->n, cv->q, mc->n, mc->q);
    if (cv->dim != tp_bias_dim(bias))
        return TP_ERROR(TP_ERR_ARG, "mc: CV '%s' has dimension %d but the bias grid has %d",
                        cv->name, cv->dim, tp_bias_dim(bias));
    int32_t ng = cv->ngroup, q = mc->q, dim = cv->dim;
    if ((int64_t)ng * q > 4096) return TP_ERROR(TP_ERR_ARG, "mc: CV has too many count groups");
    const tp_model *m = mc->m;
    int64_t n = mc->n;
    const int64_t chunk = 64 * n;   /* attempts between abort checks */
    int par = worth_threads(mc->B * (nattempts < chunk ? nattempts : chunk));
    counted_bias cb;
    TP_TRY(counted_init(&cb, m, cv, bias, beta));
    /* single-shell Ising and Potts take their words as their sweeps do */
    const int words = m->nshell == 1 && m->lat->shell_z[0] <= 32 && (m->kind == TP_MODEL_ISING || m->kind == TP_MODEL_POTTS);
    if (cb.on) {   /* 16 chains side by side when they suit */
        int32_t *kf = malloc(sizeof(int32_t) * (size_t)mc->B);
        tp_status st = TP_OK;
        int ran = kf && tp_mc_lanes_biased(mc, &cb, beta, nattempts, kf, &st);
        if (ran && st == TP_OK && s_out)
            for (int64_t c = 0; c < mc->B; c++) counted_cv(cv, cb.kt, (int32_t)n, kf[c], s_out + c * dim);
        free(kf);
        if (ran) { counted_free(&cb); return st; }
    }
    for (int64_t done = 0; done < nattempts; done += chunk) {
        if (tp_abort_flag) { counted_free(&cb); return TP_ABORTED; }
        int64_t len = nattempts - done < chunk ? nattempts - done : chunk;
        #pragma omp parallel for schedule(dynamic, 1) if (par)
        for (int64_t c = 0; c < mc->B; c++) {
            if (cb.on) {
                uint8_t *x = mc->x + c * n;
                int32_t k = 0;
                for (int64_t i = 0; i < n; i++) k += x[i] == cb.kt;
                int64_t acc = counted_chain(&cb, mc, x, c, mc->t[c], len, beta, &k);
                mc->t[c] += (uint64_t)len;
                mc->acc[c] += acc;
                mc->att[c] += len;
                if (s_out && done + len >= nattempts) counted_cv(cv, cb.kt, (int32_t)n, k, s_out + c * dim);
                continue;
            }
            int32_t counts[4096];
            double s[TP_BIAS_MAX_DIM], s2[TP_BIAS_MAX_DIM];
            uint8_t *x = mc->x + c * n;
            memset(counts, 0, (size_t)ng * q * sizeof(int32_t));
            for (int64_t i = 0; i < n; i++) counts[cv->group[i] * q + x[i]]++;
            tp_cv_from_counts(cv, s, counts);
            double v = tp_bias_value(bias, s);
            uint64_t t = mc->t[c];
            int64_t acc = 0;
            int64_t pos = (int64_t)(t % (uint64_t)n);
            word_cache wc = WORD_CACHE_INIT;
            for (int64_t k = 0; k < len; k++, t++) {
                int32_t i = mc->order[pos];
                if (++pos == n) pos = 0;
                uint32_t r[4];
                if (words && m->kind == TP_MODEL_ISING) r[1] = cached_word(&wc, mc->seed, t, (uint64_t)(c + mc->first));
                else if (words) memcpy(r, cached_pair(&wc, mc->seed, t, (uint64_t)(c + mc->first)), 2 * sizeof(uint32_t));
                else tp_mc_block(r, mc->seed, t, (uint64_t)(c + mc->first));
                int32_t a = x[i];
                int32_t b = q == 2 ? 1 - a : (a + 1 + (int32_t)tp_mc_below(r[0], (uint32_t)(q - 1))) % q;
                double de = tp_mc_de(m, x, i, b);
                int32_t *g = counts + cv->group[i] * q;
                g[a]--; g[b]++;
                tp_cv_from_counts(cv, s2, counts);
                double v2 = tp_bias_value(bias, s2);
                double d = de + v2 - v;
                if (d <= 0 || tp_mc_accept(r[1], tp_mc_threshold(exp(-beta * d)))) {
                    x[i] = (uint8_t)b;
                    v = v2;
                    for (int k2 = 0; k2 < dim; k2++) s[k2] = s2[k2];
                    acc++;
                } else {
                    g[a]++; g[b]--;
                }
            }
            mc->t[c] = t;
            mc->acc[c] += acc;
            mc->att[c] += len;
            if (s_out && done + len >= nattempts)
                for (int k2 = 0; k2 < dim; k2++) s_out[c * dim + k2] = s[k2];
        }
    }
    counted_free(&cb);
    if (s_out && nattempts == 0) return tp_cv_eval(cv, s_out, mc->x, mc->B);
    return TP_OK;
}
