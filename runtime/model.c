/*
 * runtime/model.c -- energy models: construction, the per-kind dispatch of
 * energy / single-site dE / swap dE, batched evaluation (OpenMP over rows),
 * and the Ising and Potts energies.  The cluster expansion lives in
 * runtime/model_ce.c.  Contract in runtime/model.h: the hot-loop functions
 * neither allocate nor validate.
 */
#include "tp_ffi.h"
#include "model_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static tp_model *model_new(tp_lattice *lat, int32_t kind, int32_t q, int32_t nshell, const double *J, double h,
                           const char *name) {
    if (!lat) { TP_ERROR(TP_ERR_ARG, "%s: no lattice", name); return NULL; }
    if (nshell < 0 || nshell > lat->nshell) {
        TP_ERROR(TP_ERR_ARG, "%s: %d coupling shells requested but the lattice has %d neighbour shells "
                 "(build it with more shells)", name, (int)nshell, (int)lat->nshell);
        return NULL;
    }
    if (nshell > 0 && !J) { TP_ERROR(TP_ERR_ARG, "%s: NULL couplings", name); return NULL; }
    for (int32_t s = 0; s < nshell; s++)
        if (!isfinite(J[s])) { TP_ERROR(TP_ERR_ARG, "%s: coupling J[%d] is not finite", name, (int)s + 1); return NULL; }
    if (!isfinite(h)) { TP_ERROR(TP_ERR_ARG, "%s: field h is not finite", name); return NULL; }
    tp_model *m = calloc(1, sizeof *m);
    if (!m) { TP_ERROR(TP_ERR_NOMEM, "%s: out of memory", name); return NULL; }
    m->kind = kind;
    m->q = q;
    m->n = lat->n;
    m->lat = tp_lattice_retain(lat);
    m->nshell = nshell;
    for (int32_t s = 0; s < nshell; s++) m->J[s] = J[s];
    m->h = h;
    snprintf(m->name, sizeof m->name, "%s", name);
    return m;
}

tp_model *tp_model_init_ising(tp_lattice *lat, int32_t nshell, const double *J, double h) {
    if (nshell < 1) { TP_ERROR(TP_ERR_ARG, "ising: need at least one coupling shell, got %d", (int)nshell); return NULL; }
    return model_new(lat, TP_MODEL_ISING, 2, nshell, J, h, "ising");
}

tp_model *tp_model_init_potts(tp_lattice *lat, int32_t q, int32_t nshell, const double *J, double h) {
    if (q < 2 || q > 255) { TP_ERROR(TP_ERR_ARG, "potts: q must be in 2..255, got %d", (int)q); return NULL; }
    if (nshell < 1) { TP_ERROR(TP_ERR_ARG, "potts: need at least one coupling shell, got %d", (int)nshell); return NULL; }
    return model_new(lat, TP_MODEL_POTTS, q, nshell, J, h, "potts");
}

tp_model *tp_model_init_ce(tp_lattice *lat, const tp_ce *ce, double h) {
    if (!ce) { TP_ERROR(TP_ERR_ARG, "cluster expansion: no data"); return NULL; }
    tp_model *m = model_new(lat, TP_MODEL_CE, 2, 0, NULL, h, tp_ce_name(ce));
    if (!m) return NULL;
    m->ce = tp_model_ce_build(lat, ce);
    if (!m->ce) { tp_model_free(m); return NULL; }
    return m;
}

void tp_model_free(tp_model *m) {
    if (!m) return;
    if (m->ce) tp_model_ce_destroy(m->ce);
    tp_lattice_free(m->lat);
    free(m);
}

/* ---- Ising ---------------------------------------------------------------- */
static double ising_energy(const tp_model *m, const uint8_t *x) {
    const tp_lattice *lat = m->lat;
    double e = 0;
    for (int32_t s = 0; s < m->nshell; s++) {
        const int32_t *b = lat->bonds[s];
        int64_t nb = lat->nbond[s], same = 0;
        for (int64_t k = 0; k < nb; k++) same += x[b[2 * k]] == x[b[2 * k + 1]];
        e -= m->J[s] * (double)(2 * same - nb);       /* s_i s_j = +1 if equal, else -1 */
    }
    if (m->h != 0) {
        int64_t up = 0;
        for (int32_t i = 0; i < m->n; i++) up += x[i];
        e -= m->h * (double)(2 * up - m->n);
    }
    return e;
}

static double ising_de(const tp_model *m, const uint8_t *x, int32_t i) {
    const tp_lattice *lat = m->lat;
    int si = 2 * x[i] - 1;
    double field = 0;
    for (int32_t s = 0; s < m->nshell; s++) {
        int32_t z = lat->shell_z[s];
        const int32_t *nb = lat->nb[s] + (int64_t)i * z;
        int sum = 0;
        for (int32_t k = 0; k < z; k++) {
            int32_t j = nb[k];
            if (j != i) sum += 2 * x[j] - 1;
        }
        field += m->J[s] * sum;
    }
    /* s_i -> -s_i: dE = 2 s_i (sum_s J_s sum_nb s_j + h) */
    return 2.0 * si * (field + m->h);
}

/* ---- Potts ---------------------------------------------------------------- */
static double potts_energy(const tp_model *m, const uint8_t *x) {
    const tp_lattice *lat = m->lat;
    double e = 0;
    for (int32_t s = 0; s < m->nshell; s++) {
        const int32_t *b = lat->bonds[s];
        int64_t nb = lat->nbond[s], same = 0;
        for (int64_t k = 0; k < nb; k++) same += x[b[2 * k]] == x[b[2 * k + 1]];
        e -= m->J[s] * (double)same;
    }
    if (m->h != 0) {
        int64_t zero = 0;
        for (int32_t i = 0; i < m->n; i++) zero += x[i] == 0;
        e -= m->h * (double)zero;
    }
    return e;
}

static double potts_de(const tp_model *m, const uint8_t *x, int32_t i, int a, int b) {
    const tp_lattice *lat = m->lat;
    double de = 0;
    for (int32_t s = 0; s < m->nshell; s++) {
        int32_t z = lat->shell_z[s];
        const int32_t *nb = lat->nb[s] + (int64_t)i * z;
        int d = 0;
        for (int32_t k = 0; k < z; k++) {
            int32_t j = nb[k];
            if (j != i) d += (x[j] == b) - (x[j] == a);
        }
        de -= m->J[s] * d;
    }
    de -= m->h * ((b == 0) - (a == 0));
    return de;
}

/* ---- dispatch ------------------------------------------------------------- */
double tp_model_energy(const tp_model *m, const uint8_t *x) {
    switch (m->kind) {
    case TP_MODEL_ISING: return ising_energy(m, x);
    case TP_MODEL_POTTS: return potts_energy(m, x);
    case TP_MODEL_CE:    return tp_model_ce_energy(m, x);
    }
    return NAN;
}

double tp_model_de(const tp_model *m, const uint8_t *x, int32_t i, int32_t s) {
    int a = x[i];
    if (s == a) return 0.0;
    switch (m->kind) {
    case TP_MODEL_ISING: return ising_de(m, x, i);
    case TP_MODEL_POTTS: return potts_de(m, x, i, a, s);
    case TP_MODEL_CE:    return tp_model_ce_de_flip(m, x, i);
    }
    return NAN;
}

double tp_model_de_swap(const tp_model *m, uint8_t *x, int32_t i, int32_t j) {
    uint8_t a = x[i], b = x[j];
    if (a == b || i == j) return 0.0;
    double d1 = tp_model_de(m, x, i, b);
    x[i] = b;
    double d2 = tp_model_de(m, x, j, a);
    x[i] = a;
    return d1 + d2;
}

tp_status tp_model_check(const tp_model *m, const uint8_t *x, int64_t B) {
    if (!m) return TP_ERROR(TP_ERR_ARG, "model: NULL model");
    if (B < 0 || (B > 0 && !x)) return TP_ERROR(TP_ERR_ARG, "model: bad configuration buffer (B = %lld)", (long long)B);
    int64_t n = m->n;
    for (int64_t k = 0; k < B * n; k++)
        if (x[k] >= m->q)
            return TP_ERROR(TP_ERR_ARG, "%s: configuration %lld, site %lld has token %d, must be < q = %d", m->name,
                            (long long)(k / n + 1), (long long)(k % n + 1), (int)x[k], (int)m->q);
    return TP_OK;
}

tp_status tp_model_energy_batch(const tp_model *m, double *out, const uint8_t *x, int64_t B) {
    TP_TRY(tp_model_check(m, x, B));
    if (B > 0 && !out) return TP_ERROR(TP_ERR_ARG, "model: NULL output");
    int64_t n = m->n;
    #pragma omp parallel for schedule(static) if (B * n > 65536)
    for (int64_t b = 0; b < B; b++) out[b] = tp_model_energy(m, x + b * n);
    return TP_OK;
}

tp_status tp_model_de_batch(const tp_model *m, double *out, const uint8_t *x, const int32_t *site,
                            const uint8_t *state, int64_t B) {
    TP_TRY(tp_model_check(m, x, B));
    if (B > 0 && (!out || !site || !state)) return TP_ERROR(TP_ERR_ARG, "model: NULL output, site or state");
    for (int64_t b = 0; b < B; b++) {
        if (site[b] < 0 || site[b] >= m->n)
            return TP_ERROR(TP_ERR_ARG, "%s: row %lld: site %d out of range 0..%d", m->name, (long long)b + 1,
                            (int)site[b], (int)m->n - 1);
        if (state[b] >= m->q)
            return TP_ERROR(TP_ERR_ARG, "%s: row %lld: state %d must be < q = %d", m->name, (long long)b + 1,
                            (int)state[b], (int)m->q);
    }
    int64_t n = m->n;
    #pragma omp parallel for schedule(static) if (B > 4096)
    for (int64_t b = 0; b < B; b++) out[b] = tp_model_de(m, x + b * n, site[b], state[b]);
    return TP_OK;
}
