/*
 * runtime/mc.h -- classical Monte Carlo on built-in models (tp_mc_*):
 * many independent chains with single-site Metropolis / heat-bath
 * (Glauber) updates, semi-grand-canonical flips and canonical swaps,
 * Swendsen-Wang and Wolff clusters (Ising, Potts), well-tempered
 * metadynamics on E + V(s) with a built-in CV, and Wang-Landau over
 * energy (tp_wl_*).  man tempera-mc(5).
 *
 * Chains: B configurations (B, n) uint8 tokens, owned by the tp_mc.
 * Reproducibility: every random number is a function of (seed, chain,
 * the chain's own update counter) only, never of the thread count:
 *   - single-site updates and swaps draw one Philox4x32-10 block per
 *     attempt, keyed by seed ^ 0x6d63 ('mc'), counter (attempt index,
 *     chain), except single-shell Ising Metropolis and heat bath, which
 *     use word t & 3 of block t >> 2 under key seed ^ 0x6d34 ('m4')
 *     (Metropolis draws nothing for a move accepted with probability 1):
 *     parallel over chains, or over
 *     the sites of one colour of a checkerboard when there are fewer chains
 *     than threads;
 *   - cluster updates use a sequential Philox stream per chain
 *     (key seed ^ 0x636c ('cl'), stream = chain).
 * Sweep order: on a bipartite lattice with nearest-neighbour couplings
 * only (Ising/Potts with one shell) a sweep visits colour 0 then colour 1
 * (checkerboard); otherwise sites 0..n-1 in order.  A sweep is n attempts.
 *
 * Moves:
 *   METROPOLIS  Ising: flip; Potts: uniform new state != current; CE: flip
 *               the species (this is the semi-grand-canonical move: the
 *               model's field h plays the chemical potential).  Accept with
 *               min(1, exp(-beta dH)).
 *   HEATBATH    draw the site's state from its conditional distribution.
 *   SWAP        canonical: pick two sites uniformly, exchange their tokens
 *               with Metropolis acceptance (conserves composition); a sweep
 *               is n attempts.
 *   SW          Swendsen-Wang (Ising, Potts; couplings J >= 0 on any
 *               shells; a field is handled by drawing each cluster's new
 *               state from its Boltzmann weight in the field).
 *   WOLFF       single-cluster updates (Ising, Potts, h = 0); one "sweep"
 *               is one cluster.
 *
 * Long calls poll the abort flag between sweeps and return TP_ABORTED;
 * chains stay valid (every finished sweep is kept).
 * Ownership: tp_mc_init returns an owned object holding a copy of the
 * model pointer (the caller keeps the model alive); tp_mc_free(NULL) is a
 * no-op.
 */
#ifndef TP_MC_H
#define TP_MC_H

#include <stdint.h>
#include "common.h"
#include "model.h"
#include "cv.h"
#include "bias.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ffi:begin */
/* ---- Monte Carlo chains (runtime/mc.c, mc_cluster.c, mc_wl.c) ------------ */
typedef enum tp_mc_method {
    TP_MC_METROPOLIS = 1,
    TP_MC_HEATBATH   = 2,
    TP_MC_SWAP       = 3,
    TP_MC_SW         = 4,
    TP_MC_WOLFF      = 5
} tp_mc_method;

typedef enum tp_mc_start {
    TP_MC_START_RANDOM = 0,   /* uniform random tokens (hot) */
    TP_MC_START_ZERO   = 1    /* every token 0 (cold) */
} tp_mc_start;

typedef struct tp_mc tp_mc;

/* B >= 1 chains of model m, started per start (tp_mc_start). */
TP_FFI tp_mc *tp_mc_init(const tp_model *m, int64_t nchains, uint64_t seed, int32_t start);
/* Chains first .. first + nchains - 1 of a larger set: chain c draws from
 * the streams of chain first + c, so a set split into ranges (one per MPI
 * rank) runs exactly as the whole set in one process. */
TP_FFI tp_mc *tp_mc_init_range(const tp_model *m, int64_t nchains, uint64_t seed, int32_t start, int64_t first);
TP_FFI void tp_mc_free(tp_mc *mc);
TP_FFI int64_t tp_mc_nchains(const tp_mc *mc);
/* (B, n) tokens, modifiable between calls (then keep tokens < q). */
TP_FFI uint8_t *tp_mc_states(tp_mc *mc);
/* copy x: (B, n) into the chains (validated). */
TP_FFI tp_status tp_mc_set_states(tp_mc *mc, const uint8_t *x);
/* sweeps of method at inverse temperature beta > 0 on every chain. */
TP_FFI tp_status tp_mc_sweep(tp_mc *mc, int32_t method, double beta, int64_t nsweeps);
/* out: (B) [out] current energies. */
TP_FFI tp_status tp_mc_energies(const tp_mc *mc, double *out);
/* accepted / attempted single-site or swap moves since init (cluster
 * methods: flipped sites / visited sites). */
TP_FFI double tp_mc_acceptance(const tp_mc *mc);
/* Sweep kernels (tests and benchmarks): 0 = the fastest that applies (the
 * default), 1 = the scalar loop only.  Results are the same either way. */
TP_FFI void tp_mc_set_kernel(int32_t mode);

/* WT-MetaD / biased sampling: Metropolis on E + V(s(x)) for nattempts
 * single-site attempts per chain (continuing each chain's sweep order), with
 * cv a built-in CV of the model's lattice (cv->dim == bias dim).  bias is
 * read, not modified (deposit between calls).  s_out: (B, dim) [out,
 * optional] the chains' CVs at the end. */
TP_FFI tp_status tp_mc_biased(tp_mc *mc, const tp_cv *cv, const tp_bias *bias, double beta,
                              int64_t nattempts, double *s_out);

/* ---- Wang-Landau over energy (runtime/mc_wl.c) --------------------------- */
typedef struct tp_wl tp_wl;
/* Energy bins of width de starting at emin: bin k holds E in
 * [emin + (k - 1/2) de, emin + (k + 1/2) de), k = 0..nbins-1 (so a
 * discrete spectrum emin, emin+de, ... falls on bin centres).  One walker,
 * random single-site moves (any state != current).  Caller owns the result. */
TP_FFI tp_wl *tp_wl_init(const tp_model *m, double emin, double de, int32_t nbins, uint64_t seed);
/* The same for independent walker number `walker` (its own Philox stream;
 * walker 0 is tp_wl_init's): several walkers give ln g an error bar. */
TP_FFI tp_wl *tp_wl_init_walker(const tp_model *m, double emin, double de, int32_t nbins, uint64_t seed,
                                uint64_t walker);
TP_FFI void tp_wl_free(tp_wl *wl);
/* Run until ln f < ln_f_final: ln f starts at ln_f_init and is halved
 * whenever the histogram over visited bins is flat (min >= flatness *
 * mean), checked every check_every sweeps; at most max_sweeps sweeps
 * (0 = no limit; TP_ERR_ARG "did not converge" when hit). */
TP_FFI tp_status tp_wl_run(tp_wl *wl, double ln_f_init, double ln_f_final, double flatness,
                           int64_t check_every, int64_t max_sweeps);
/* Schedule: 0 = halving (default), 1 = 1/t (Belardinelli & Pereyra 2007):
 * halving until ln f would drop below 1/t (t = moves / visited bins), then
 * ln f = 1/t, updated at every check, until ln f < ln_f_final. */
TP_FFI tp_status tp_wl_set_schedule(tp_wl *wl, int32_t one_over_t);
TP_FFI int32_t tp_wl_nbins(const tp_wl *wl);
/* ln g (nbins) with min over visited bins 0; unvisited bins -inf. */
TP_FFI tp_status tp_wl_log_dos(const tp_wl *wl, double *out);
/* iterations (halvings) done, sweeps done, final ln f */
TP_FFI int64_t tp_wl_sweeps(const tp_wl *wl);
TP_FFI int32_t tp_wl_iterations(const tp_wl *wl);
TP_FFI double tp_wl_ln_f(const tp_wl *wl);
/* ffi:end */

#ifdef __cplusplus
}
#endif
#endif /* TP_MC_H */
