/*
 * runtime/mc_cluster.c -- Swendsen-Wang and Wolff cluster updates for
 * Ising and Potts models (science.md 8), one chain at a time.
 *
 * Contract: couplings J[s] >= 0 on every shell (checked by the caller).
 * Bond probabilities: p = 1 - exp(-2 beta J) (Ising, spins +-1) and
 * p = 1 - exp(-beta J) (Potts), on every bond of shell s between equal
 * tokens (a shell neighbour equal to the site itself is skipped).  Each
 * chain draws from its own sequential Philox stream (mc->crng[c]), one
 * number per equal-token bond in the lattice's bond order, then one per
 * cluster in order of its smallest site: results do not depend on threads.
 * Swendsen-Wang with a field draws each cluster's new state from its
 * Boltzmann weight in the field (heat bath on the cluster).
 */
#include "mc_impl.h"

static inline int32_t uf_find(int32_t *parent, int32_t i) {
    while (parent[i] != i) {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    return i;
}

static inline void uf_union(int32_t *parent, int32_t i, int32_t j) {
    i = uf_find(parent, i);
    j = uf_find(parent, j);
    if (i == j) return;
    if (i < j) parent[j] = i; else parent[i] = j;   /* root = smallest site */
}

static double bond_p(const tp_model *m, int s, double beta) {
    return m->kind == TP_MODEL_ISING ? -expm1(-2.0 * beta * m->J[s]) : -expm1(-beta * m->J[s]);
}

tp_status tp_mc_sw_chain(tp_mc *mc, int64_t c, double beta, int32_t *parent, int32_t *aux) {
    const tp_model *m = mc->m;
    const tp_lattice *lat = m->lat;
    int32_t n = mc->n, q = mc->q;
    uint8_t *x = mc->x + c * n;
    tp_rng *r = &mc->crng[c];
    for (int32_t i = 0; i < n; i++) { parent[i] = i; aux[i] = 0; }
    for (int s = 0; s < m->nshell; s++) {
        if (m->J[s] <= 0) continue;
        double p = bond_p(m, s, beta);
        /* compare 32-bit uniforms against a 32-bit threshold */
        uint64_t thr = (uint64_t)(p * 4294967296.0);
        const int32_t *bd = lat->bonds[s];
        for (int64_t e = 0; e < lat->nbond[s]; e++) {
            int32_t i = bd[2 * e], j = bd[2 * e + 1];
            if (i == j || x[i] != x[j]) continue;
            if ((uint64_t)tp_rng_next_u32(r) < thr) uf_union(parent, i, j);
        }
    }
    for (int32_t i = 0; i < n; i++) aux[uf_find(parent, i)]++;   /* cluster sizes at roots */
    int64_t changed = 0;
    for (int32_t i = 0; i < n; i++) {
        if (parent[i] != i) continue;   /* roots in increasing order */
        int32_t size = aux[i], b;
        if (m->h == 0) {
            b = (int32_t)tp_rng_next_below(r, (uint32_t)q);
        } else if (m->kind == TP_MODEL_ISING) {
            /* P(token 1) = 1 / (1 + exp(-2 beta h |C|)) */
            double p1 = 1.0 / (1.0 + exp(-2.0 * beta * m->h * size));
            b = tp_rng_next_double(r) < p1;
        } else {
            /* state 0 has weight exp(beta h |C|), the others 1 */
            double u = tp_rng_next_double(r);
            double e = -beta * m->h * size;   /* log weight of the others relative to state 0 */
            double p0 = 1.0 / (1.0 + (q - 1) * exp(e));
            b = u < p0 ? 0 : 1 + (int32_t)tp_rng_next_below(r, (uint32_t)(q - 1));
        }
        aux[i] = b;
    }
    for (int32_t i = 0; i < n; i++) {
        int32_t b = aux[uf_find(parent, i)];
        changed += x[i] != b;
        x[i] = (uint8_t)b;
    }
    mc->acc[c] += changed;
    mc->att[c] += n;
    return TP_OK;
}

tp_status tp_mc_wolff_chain(tp_mc *mc, int64_t c, double beta, int32_t *stack) {
    const tp_model *m = mc->m;
    const tp_lattice *lat = m->lat;
    int32_t n = mc->n, q = mc->q;
    uint8_t *x = mc->x + c * n;
    tp_rng *r = &mc->crng[c];
    uint64_t thr[8];
    for (int s = 0; s < m->nshell; s++)
        thr[s] = m->J[s] > 0 ? (uint64_t)(bond_p(m, s, beta) * 4294967296.0) : 0;
    int32_t i0 = (int32_t)tp_rng_next_below(r, (uint32_t)n);
    uint8_t a = x[i0];
    uint8_t b = q == 2 ? (uint8_t)(1 - a) : (uint8_t)((a + 1 + tp_rng_next_below(r, (uint32_t)(q - 1))) % q);
    /* sites are flipped when added, so x[j] == a means "not yet in the cluster" */
    int64_t top = 0, size = 1;
    x[i0] = b;
    stack[top++] = i0;
    while (top > 0) {
        int32_t i = stack[--top];
        for (int s = 0; s < m->nshell; s++) {
            if (!thr[s]) continue;
            int32_t z = lat->shell_z[s];
            const int32_t *nb = lat->nb[s] + (int64_t)i * z;
            for (int k = 0; k < z; k++) {
                int32_t j = nb[k];
                if (x[j] != a) continue;
                if ((uint64_t)tp_rng_next_u32(r) < thr[s]) {
                    x[j] = b;
                    stack[top++] = j;
                    size++;
                }
            }
        }
    }
    mc->acc[c] += size;
    mc->att[c] += n;
    return TP_OK;
}
