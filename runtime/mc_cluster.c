/*
 * runtime/mc_cluster.c -- Swendsen-Wang and Wolff cluster updates for
 * Ising and Potts models (man tempera-mc(5)), one chain at a time.
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
 *
 * An update draws from a local copy of its chain's tp_rng and stores it
 * back at the end: the hot loops never write to mc->crng, whose entries for
 * chains run by different threads share cache lines.
 */
#include "mc_impl.h"

static inline int32_t uf_find(int32_t *parent, int32_t i) {
    while (parent[i] != i) {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    return i;
}

/* Links the larger root under the smaller, so a root is always the
 * smallest site of its cluster and parent[i] < i for every other site
 * (path halving only moves a site to an ancestor, smaller still). */
static inline void uf_union(int32_t *parent, int32_t i, int32_t j) {
    i = uf_find(parent, i);
    j = uf_find(parent, j);
    if (i == j) return;
    if (i < j) parent[j] = i; else parent[i] = j;   /* root = smallest site */
}

static double bond_p(const tp_model *m, int s, double beta) {
    return m->kind == TP_MODEL_ISING ? -expm1(-2.0 * beta * m->J[s]) : -expm1(-beta * m->J[s]);
}

/* With the buffered block used up (r->idx == 4), make the next one ready
 * without taking a word from it: what tp_rng_next_u32 does first, so the
 * draw is then r->buf[r->idx++]. */
static inline void rng_refill(tp_rng *r) {
    (void)tp_rng_next_u32(r);   /* the next block, its first word taken */
    r->idx = 0;                 /* and put back */
}

tp_status tp_mc_sw_chain(tp_mc *mc, int64_t c, double beta, int32_t *parent, int32_t *aux) {
    const tp_model *m = mc->m;
    const tp_lattice *lat = m->lat;
    const int32_t n = mc->n, q = mc->q;
    uint8_t *x = mc->x + c * n;
    tp_rng r = mc->crng[c];
    for (int32_t i = 0; i < n; i++) parent[i] = i;
    for (int s = 0; s < m->nshell; s++) {
        if (m->J[s] <= 0) continue;
        double p = bond_p(m, s, beta);
        /* compare 32-bit uniforms against a 32-bit threshold */
        const uint64_t thr = (uint64_t)(p * 4294967296.0);
        const int32_t *bd = lat->bonds[s];
        const int64_t nbond = lat->nbond[s];
        /* 64 bonds at a time: mark the equal-token bonds, draw one number
         * for each in bond order and mark the open ones (neither step
         * branches on the tokens or the numbers), then join the open
         * bonds' ends */
        for (int64_t e0 = 0; e0 < nbond; e0 += 64) {
            const int32_t *t = bd + 2 * e0;
            const int cnt = nbond - e0 < 64 ? (int)(nbond - e0) : 64;
            uint64_t eq = 0, open = 0;
            for (int k = 0; k < cnt; k++) {
                int32_t i = t[2 * k], j = t[2 * k + 1];
                eq |= (uint64_t)((i != j) & (x[i] == x[j])) << k;
            }
            for (; eq; eq &= eq - 1) {
                int k = __builtin_ctzll(eq);
                open |= (uint64_t)((uint64_t)tp_rng_next_u32(&r) < thr) << k;
            }
            for (; open; open &= open - 1) {
                int k = __builtin_ctzll(open);
                uf_union(parent, t[2 * k], t[2 * k + 1]);
            }
        }
    }
    /* one pass in site order meets every root (the smallest site of its
     * cluster) before the cluster's other sites and draws its token then,
     * so the clusters draw in order of their smallest site */
    int64_t changed = 0;
    if (m->h == 0) {
        /* aux[i] = the new token of i's cluster: a root draws it, any
         * other site copies it from its parent, a smaller site */
        for (int32_t i = 0; i < n; i++) {
            int32_t b = parent[i] == i ? (int32_t)tp_rng_next_below(&r, (uint32_t)q) : aux[parent[i]];
            aux[i] = b;
            changed += x[i] != b;
            x[i] = (uint8_t)b;
        }
    } else {
        /* the heat bath needs cluster sizes first: point every site at its
         * root and count the sites at the roots */
        for (int32_t i = 0; i < n; i++) {
            if (parent[i] == i) { aux[i] = 1; continue; }
            int32_t root = parent[parent[i]];   /* a root: the parent is done */
            parent[i] = root;
            aux[root]++;
        }
        for (int32_t i = 0; i < n; i++) {
            if (parent[i] != i) continue;   /* roots in increasing order */
            int32_t size = aux[i], b;
            if (m->kind == TP_MODEL_ISING) {
                /* P(token 1) = 1 / (1 + exp(-2 beta h |C|)) */
                double p1 = 1.0 / (1.0 + exp(-2.0 * beta * m->h * size));
                b = tp_rng_next_double(&r) < p1;
            } else {
                /* state 0 has weight exp(beta h |C|), the others 1 */
                double u = tp_rng_next_double(&r);
                double e = -beta * m->h * size;   /* log weight of the others relative to state 0 */
                double p0 = 1.0 / (1.0 + (q - 1) * exp(e));
                b = u < p0 ? 0 : 1 + (int32_t)tp_rng_next_below(&r, (uint32_t)(q - 1));
            }
            aux[i] = b;
        }
        for (int32_t i = 0; i < n; i++) {
            int32_t b = aux[parent[i]];
            changed += x[i] != b;
            x[i] = (uint8_t)b;
        }
    }
    mc->crng[c] = r;
    mc->acc[c] += changed;
    mc->att[c] += n;
    return TP_OK;
}

tp_status tp_mc_wolff_chain(tp_mc *mc, int64_t c, double beta, int32_t *stack) {
    const tp_model *m = mc->m;
    const tp_lattice *lat = m->lat;
    const int32_t n = mc->n, q = mc->q;
    uint8_t *x = mc->x + c * n;
    tp_rng r = mc->crng[c];
    /* the shells with bonds, in shell order: threshold, z, neighbour table */
    uint64_t thr[8];
    int32_t zs[8];
    const int32_t *nbs[8];
    int ns = 0;
    for (int s = 0; s < m->nshell; s++) {
        if (!(m->J[s] > 0)) continue;
        thr[ns] = (uint64_t)(bond_p(m, s, beta) * 4294967296.0);
        if (!thr[ns]) continue;
        zs[ns] = lat->shell_z[s];
        nbs[ns] = lat->nb[s];
        ns++;
    }
    int32_t i0 = (int32_t)tp_rng_next_below(&r, (uint32_t)n);
    const uint8_t a = x[i0];
    const uint8_t b = q == 2 ? (uint8_t)(1 - a) : (uint8_t)((a + 1 + tp_rng_next_below(&r, (uint32_t)(q - 1))) % q);
    /* sites are flipped when added, so x[j] == a means "not yet in the cluster" */
    int64_t top = 0, size = 1;
    x[i0] = b;
    stack[top++] = i0;
    while (top > 0) {
        int32_t i = stack[--top];
        for (int s = 0; s < ns; s++) {
            const int32_t z = zs[s];
            const int32_t *nb = nbs[s] + (int64_t)i * z;
            /* a neighbour still a takes the next number (the others leave
             * it) and joins if the number is below the threshold: flipped
             * and pushed.  No branch on the tokens or the numbers but the
             * refill of the Philox block; the stack slot at top is written
             * either way (top < n: the stack holds flipped sites, not i) */
            for (int k = 0; k < z; k++) {
                const int32_t j = nb[k];
                const uint8_t xj = x[j];
                const uint32_t eq = xj == a;
                if (eq & (r.idx >> 2)) rng_refill(&r);
                const uint32_t u = r.buf[r.idx & 3];
                r.idx += eq;
                const int join = eq & ((uint64_t)u < thr[s]);
                x[j] = join ? b : xj;
                stack[top] = j;
                top += join;
                size += join;
            }
        }
    }
    mc->crng[c] = r;
    mc->acc[c] += size;
    mc->att[c] += n;
    return TP_OK;
}
