/*
 * runtime/model.h -- energy models on lattices (tp_model_*) and cluster
 * expansion data (tp_ce_*).  man tempera-models(5).
 *
 * A configuration is n tokens 0..q-1, one uint8_t per site, in the
 * lattice's site order; a batch of B configurations is (B, n) row-major.
 * Energies are double, in the model's unit (J = 1 for Ising/Potts, eV for
 * the cluster expansion), and are the full H including the field term:
 *
 *   Ising  (q = 2, s = 2x - 1):  H = -sum_s J[s] sum_<ij in shell s> s_i s_j - h sum_i s_i
 *   Potts  (q >= 2):             H = -sum_s J[s] sum_<ij in shell s> delta(x_i, x_j)
 *                                    - h sum_i delta(x_i, 0)
 *   CE     (q = 2, sigma = 2x - 1): H = E_form(sigma) - h sum_i sigma_i
 *
 * Bonds are counted once (lattice bonds[s]); a shell neighbour equal to the
 * site itself (tiny cells) contributes a constant.
 *
 * The struct is transparent and read-only: samplers may read kind, q, n,
 * lat (for neighbour lists, bonds, colouring), nshell, J[] and h directly,
 * e.g. Swendsen-Wang on Ising uses p = 1 - exp(-2 beta J[s]) on bonds[s].
 *
 * Hot-loop contract: tp_model_energy, tp_model_de and tp_model_de_swap do
 * not allocate, lock or fail; they trust their arguments (0 <= i < n,
 * 0 <= state < q, tokens < q; validate once with tp_model_check).  They are
 * safe to call concurrently on different configurations.  The *_batch
 * functions validate and run over rows with OpenMP.
 *
 * Models defined in Lua (tp.model.lua) have no C tp_model: C samplers
 * accept built-in models only, and Lua drives the loop for Lua ones.
 *
 * Ownership: tp_model_init_* return an owned model holding a reference to
 * its lattice (the caller may free its own lattice reference at once).
 * tp_model_free(NULL) is a no-op.  tp_ce_* data is independent of models:
 * tp_model_init_ce copies what it needs.
 */
#ifndef TP_MODEL_H
#define TP_MODEL_H

#include <stdint.h>
#include <stddef.h>
#include "common.h"
#include "lattice.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ffi:begin */
/* ---- energy models (runtime/model.c, runtime/model_ce.c) ----------------- */
typedef enum tp_model_kind {
    TP_MODEL_ISING = 1,
    TP_MODEL_POTTS = 2,
    TP_MODEL_CE    = 3
} tp_model_kind;

typedef struct tp_ce tp_ce;              /* parsed cluster-expansion file */
typedef struct tp_model_ce tp_model_ce;  /* private: clusters wrapped onto a lattice */

typedef struct tp_model {
    int32_t kind;            /* tp_model_kind */
    int32_t q;               /* states per site */
    int32_t n;               /* sites (= lat->n) */
    tp_lattice *lat;         /* the lattice (a reference held by the model) */
    int32_t nshell;          /* Ising/Potts: shells with a coupling J[0..nshell); CE: 0 */
    double J[8];             /* Ising/Potts couplings per neighbour shell */
    double h;                /* field (see the header comment) */
    tp_model_ce *ce;         /* CE data, NULL for other kinds */
    char name[32];           /* "ising", "potts", or the CE's name */
} tp_model;

/* Ising on lat with couplings J[0..nshell) for shells 0..nshell-1 and field h. */
TP_FFI tp_model *tp_model_init_ising(tp_lattice *lat, int32_t nshell, const double *J, double h);
/* q-state Potts (q in 2..255). */
TP_FFI tp_model *tp_model_init_potts(tp_lattice *lat, int32_t q, int32_t nshell, const double *J, double h);
/* Cluster expansion ce wrapped onto lat with semi-grand-canonical field h. */
TP_FFI tp_model *tp_model_init_ce(tp_lattice *lat, const tp_ce *ce, double h);
TP_FFI void tp_model_free(tp_model *m);

/* H(x) for one configuration x: (n). */
TP_FFI double tp_model_energy(const tp_model *m, const uint8_t *x);
/* H(x with x[i] = s) - H(x); 0 if s == x[i]. */
TP_FFI double tp_model_de(const tp_model *m, const uint8_t *x, int32_t i, int32_t s);
/* H(x with x[i], x[j] exchanged) - H(x).  x is modified during the call
 * and restored before it returns (so not const; never shared across threads). */
TP_FFI double tp_model_de_swap(const tp_model *m, uint8_t *x, int32_t i, int32_t j);

/* TP_ERR_ARG naming the first bad row/site if any token of x: (B, n) is >= q. */
TP_FFI tp_status tp_model_check(const tp_model *m, const uint8_t *x, int64_t B);
/* out: (B) [out] energies of x: (B, n). */
TP_FFI tp_status tp_model_energy_batch(const tp_model *m, double *out, const uint8_t *x, int64_t B);
/* out: (B) [out] = tp_model_de(row b of x, site[b], state[b]); x: (B, n). */
TP_FFI tp_status tp_model_de_batch(const tp_model *m, double *out, const uint8_t *x,
                                   const int32_t *site, const uint8_t *state, int64_t B);

/* ---- cluster expansion data (runtime/model_ce.c) --------------------------
 * Text format (man tempera-models(5)): 'tempera-ce 1' header, then lines
 * 'name', 'lattice', 'unit', 'cluster NAME ECI MULT|auto [x y z]...'.
 * Parse errors are TP_ERR_FORMAT naming label:line. */
TP_FFI tp_ce *tp_ce_parse(const char *text, const char *label);
/* Read and parse a file (TP_ERR_IO if it cannot be read). */
TP_FFI tp_ce *tp_ce_load(const char *path);
TP_FFI void tp_ce_free(tp_ce *ce);
TP_FFI int32_t tp_ce_ncluster(const tp_ce *ce);
TP_FFI const char *tp_ce_name(const tp_ce *ce);
/* the lattice kind the file is written for ("fcc"), or "" if any */
TP_FFI const char *tp_ce_lattice(const tp_ce *ce);
TP_FFI const char *tp_ce_cluster_name(const tp_ce *ce, int32_t k);
TP_FFI double tp_ce_cluster_eci(const tp_ce *ce, int32_t k);
/* points of cluster k (0 = empty cluster) */
TP_FFI int32_t tp_ce_cluster_size(const tp_ce *ce, int32_t k);

/* CE model queries.  m->kind must be TP_MODEL_CE. */
TP_FFI int32_t tp_model_ce_ncluster(const tp_model *m);
/* figures of cluster k containing a given site (m_alpha), found on the
 * lattice by distance classification */
TP_FFI int32_t tp_model_ce_multiplicity(const tp_model *m, int32_t k);
/* out: (ncluster) [out] correlation functions cf_alpha of x: (n). */
TP_FFI tp_status tp_model_ce_correlations(const tp_model *m, double *out, const uint8_t *x);
/* E_CE (total, eV, no reference subtraction, no field) of x: (n). */
TP_FFI double tp_model_ce_energy_raw(const tp_model *m, const uint8_t *x);
/* out: (n * m_alpha, size_alpha) [out] the wrapped site lists of every
 * figure of cluster k: row (i * m_alpha + f) is figure f translated to
 * site i, starting with i itself (repeats kept).  For writing a CE variant
 * in Lua or checking one. */
TP_FFI tp_status tp_model_ce_terms(const tp_model *m, int32_t k, int32_t *out);
/* Cluster finder: every k-point figure containing the origin whose pairwise
 * distances are all <= cutoff, grouped by distance signature, written into
 * buf (capacity cap bytes) as tempera-ce 'cluster' lines with ECI 0, the
 * multiplicity and a representative (names cK_0, cK_1, ... by increasing
 * diameter).  For starting a CE file. */
TP_FFI tp_status tp_ce_find_clusters(const tp_lattice *lat, int32_t k, double cutoff, char *buf, int64_t cap);
/* E_CE of all-Cu (token 0) and all-Au (token 1), the formation references. */
TP_FFI tp_status tp_model_ce_reference(const tp_model *m, double *e_cu, double *e_au);
/* ffi:end */

#ifdef __cplusplus
}
#endif
#endif /* TP_MODEL_H */
