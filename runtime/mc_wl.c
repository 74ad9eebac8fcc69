/*
 * runtime/mc_wl.c -- Wang-Landau estimate of the density of states over
 * energy (man tempera-mc(5)): one walker with random single-site moves, the
 * halving schedule for ln f and a flatness criterion over visited bins.
 *
 * Optional 1/t schedule (tp_wl_set_schedule): once halving would take
 * ln f below 1/t, ln f follows 1/t (t = moves per visited bin), which
 * removes the saturation error of the pure halving schedule.
 *
 * Contract: bins of width de centred at emin + k de; a move leaving the
 * bin range is rejected (the walker stays, and its bin is updated as for
 * any rejection).  The flatness check runs every check_every sweeps (n
 * moves) and looks only at bins visited at least once so far, so
 * unreachable energies in the range do not block convergence.  One
 * sequential Philox stream (key seed ^ 'wl'): deterministic.
 */
#include "mc_impl.h"

#include <stdlib.h>
#include <string.h>

struct tp_wl {
    const tp_model *m;
    double emin, de, e, ln_f;
    int32_t nbins, iter, cur, schedule, phase2;
    int64_t sweeps, moves;
    uint8_t *x, *visited;
    double *lng;
    int64_t *hist;
    tp_rng rng;
};

static int32_t wl_bin(const tp_wl *wl, double e) {
    double u = floor((e - wl->emin) / wl->de + 0.5);
    if (!(u >= 0) || u >= wl->nbins) return -1;
    return (int32_t)u;
}

tp_wl *tp_wl_init(const tp_model *m, double emin, double de, int32_t nbins, uint64_t seed) {
    return tp_wl_init_walker(m, emin, de, nbins, seed, 0);
}

tp_wl *tp_wl_init_walker(const tp_model *m, double emin, double de, int32_t nbins, uint64_t seed, uint64_t walker) {
    if (!m) { TP_ERROR(TP_ERR_ARG, "wang_landau: model is NULL"); return NULL; }
    if (!(de > 0) || !isfinite(de) || !isfinite(emin)) {
        TP_ERROR(TP_ERR_ARG, "wang_landau: bin width must be > 0, got %g", de);
        return NULL;
    }
    if (nbins < 1 || nbins > (1 << 24)) {
        TP_ERROR(TP_ERR_ARG, "wang_landau: bins must be in 1..2^24, got %d", nbins);
        return NULL;
    }
    tp_wl *wl = calloc(1, sizeof *wl);
    if (!wl) { TP_ERROR(TP_ERR_NOMEM, "wang_landau: out of memory"); return NULL; }
    wl->m = m;
    wl->emin = emin;
    wl->de = de;
    wl->nbins = nbins;
    wl->x = malloc((size_t)m->n);
    wl->visited = calloc((size_t)nbins, 1);
    wl->lng = calloc((size_t)nbins, sizeof(double));
    wl->hist = calloc((size_t)nbins, sizeof(int64_t));
    if (!wl->x || !wl->visited || !wl->lng || !wl->hist) {
        tp_wl_free(wl);
        TP_ERROR(TP_ERR_NOMEM, "wang_landau: out of memory");
        return NULL;
    }
    tp_rng_seed(&wl->rng, seed ^ TP_MC_KEY_WL, walker);
    /* start from a random configuration; a few tries to land in range */
    for (int tries = 0; tries < 100; tries++) {
        for (int i = 0; i < m->n; i++) wl->x[i] = (uint8_t)tp_rng_next_below(&wl->rng, (uint32_t)m->q);
        if (tries >= 50) memset(wl->x, 0, (size_t)m->n);
        wl->e = tp_model_energy(m, wl->x);
        wl->cur = wl_bin(wl, wl->e);
        if (wl->cur >= 0) break;
    }
    if (wl->cur < 0) {
        TP_ERROR(TP_ERR_ARG, "wang_landau: no random or uniform start has an energy inside the bins "
                 "[%g, %g]", emin - 0.5 * de, emin + (nbins - 0.5) * de);
        tp_wl_free(wl);
        return NULL;
    }
    wl->ln_f = 1.0;
    return wl;
}

void tp_wl_free(tp_wl *wl) {
    if (!wl) return;
    free(wl->x); free(wl->visited); free(wl->lng); free(wl->hist);
    free(wl);
}

static int flat(const tp_wl *wl, double flatness) {
    int64_t mn = INT64_MAX, tot = 0, nv = 0;
    for (int32_t k = 0; k < wl->nbins; k++) {
        if (!wl->visited[k]) continue;
        nv++;
        tot += wl->hist[k];
        if (wl->hist[k] < mn) mn = wl->hist[k];
    }
    return nv > 0 && (double)mn >= flatness * (double)tot / (double)nv;
}

tp_status tp_wl_run(tp_wl *wl, double ln_f_init, double ln_f_final, double flatness,
                    int64_t check_every, int64_t max_sweeps) {
    if (!wl) return TP_ERROR(TP_ERR_ARG, "wang_landau: NULL");
    if (!(ln_f_init > 0) || !(ln_f_final > 0) || ln_f_final > ln_f_init)
        return TP_ERROR(TP_ERR_ARG, "wang_landau: need 0 < ln_f_final <= ln_f_init, got %g and %g",
                        ln_f_final, ln_f_init);
    if (!(flatness > 0 && flatness < 1))
        return TP_ERROR(TP_ERR_ARG, "wang_landau: flatness must be in (0, 1), got %g", flatness);
    if (check_every < 1) return TP_ERROR(TP_ERR_ARG, "wang_landau: check_every must be >= 1");
    if (max_sweeps < 0) return TP_ERROR(TP_ERR_ARG, "wang_landau: max_sweeps must be >= 0");
    const tp_model *m = wl->m;
    int32_t n = m->n, q = m->q;
    if (wl->iter == 0 && wl->sweeps == 0) wl->ln_f = ln_f_init;
    int64_t start = wl->sweeps;
    while (wl->ln_f >= ln_f_final) {
        if (tp_abort_flag) return TP_ABORTED;
        if (max_sweeps > 0 && wl->sweeps - start >= max_sweeps)
            return TP_ERROR(TP_ERR_ARG, "wang_landau: did not converge in %lld sweeps (ln f = %g, "
                            "%d halvings); raise max_sweeps or lower flatness",
                            (long long)max_sweeps, wl->ln_f, wl->iter);
        for (int64_t sw = 0; sw < check_every; sw++) {
            for (int32_t k = 0; k < n; k++) {
                int32_t i = (int32_t)tp_rng_next_below(&wl->rng, (uint32_t)n);
                int32_t a = wl->x[i];
                int32_t b = q == 2 ? 1 - a : (a + 1 + (int32_t)tp_rng_next_below(&wl->rng, (uint32_t)(q - 1))) % q;
                double u = tp_rng_next_double(&wl->rng);
                double d = tp_mc_de(m, wl->x, i, b);
                int32_t k2 = wl_bin(wl, wl->e + d);
                if (k2 >= 0) {
                    double lr = wl->lng[wl->cur] - wl->lng[k2];
                    if (lr >= 0 || u < exp(lr)) {
                        wl->x[i] = (uint8_t)b;
                        wl->e += d;
                        wl->cur = k2;
                    }
                }
                wl->lng[wl->cur] += wl->ln_f;
                wl->hist[wl->cur]++;
                wl->visited[wl->cur] = 1;
            }
        }
        wl->sweeps += check_every;
        wl->moves += check_every * (int64_t)n;
        if (wl->schedule == 1) {
            int64_t nv = 0;
            for (int32_t k = 0; k < wl->nbins; k++) nv += wl->visited[k];
            double inv_t = (double)nv / (double)wl->moves;
            if (wl->phase2 || (flat(wl, flatness) && 0.5 * wl->ln_f <= inv_t)) {
                wl->phase2 = 1;
                wl->ln_f = inv_t;
                wl->e = tp_model_energy(m, wl->x);   /* drop accumulated rounding */
                continue;
            }
        }
        if (flat(wl, flatness)) {
            wl->ln_f *= 0.5;
            wl->iter++;
            memset(wl->hist, 0, (size_t)wl->nbins * sizeof(int64_t));
            wl->e = tp_model_energy(m, wl->x);   /* drop accumulated rounding */
        }
    }
    return TP_OK;
}

int32_t tp_wl_nbins(const tp_wl *wl) { return wl ? wl->nbins : 0; }

tp_status tp_wl_set_schedule(tp_wl *wl, int32_t one_over_t) {
    if (!wl) return TP_ERROR(TP_ERR_ARG, "wang_landau: NULL");
    if (one_over_t != 0 && one_over_t != 1)
        return TP_ERROR(TP_ERR_ARG, "wang_landau: schedule must be 0 (halving) or 1 (1/t), got %d", one_over_t);
    wl->schedule = one_over_t;
    return TP_OK;
}
int64_t tp_wl_sweeps(const tp_wl *wl) { return wl ? wl->sweeps : 0; }
int32_t tp_wl_iterations(const tp_wl *wl) { return wl ? wl->iter : 0; }
double tp_wl_ln_f(const tp_wl *wl) { return wl ? wl->ln_f : 0; }

tp_status tp_wl_log_dos(const tp_wl *wl, double *out) {
    if (!wl || !out) return TP_ERROR(TP_ERR_ARG, "wang_landau: NULL argument");
    double mn = INFINITY;
    for (int32_t k = 0; k < wl->nbins; k++)
        if (wl->visited[k] && wl->lng[k] < mn) mn = wl->lng[k];
    for (int32_t k = 0; k < wl->nbins; k++)
        out[k] = wl->visited[k] ? wl->lng[k] - mn : -INFINITY;
    return TP_OK;
}
