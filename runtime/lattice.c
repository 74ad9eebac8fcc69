/*
 * runtime/lattice.c -- periodic lattices: construction from a primitive cell
 * and basis, neighbour shells by distance, bond lists, 2-colouring, and
 * position -> site lookup.  Contract and layout in runtime/lattice.h.
 *
 * Shells are found once per basis site in the infinite lattice: every
 * (basis b', translation t) within a search box large enough to contain the
 * ball of the requested shells, grouped by distance (relative tolerance
 * 1e-8).  A neighbour (b', t) of site (c, b) is site ((c + t) mod size, b'),
 * so images in small supercells come out naturally.
 */
#include "tp_ffi.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LAT_TOL 1e-8      /* relative tolerance on distances */
#define POS_TOL 1e-6      /* absolute tolerance on fractional coordinates */

typedef struct {
    double d;             /* distance */
    double off[3];        /* Cartesian offset */
    int32_t b2;           /* neighbour's basis index */
    int32_t t[3];         /* translation in primitive cells */
} cand;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* lexicographic on offsets with tolerance */
static int off_cmp(const double *a, const double *b) {
    for (int k = 0; k < 3; k++) {
        if (a[k] < b[k] - POS_TOL) return -1;
        if (a[k] > b[k] + POS_TOL) return 1;
    }
    return 0;
}

static int cmp_cand_off(const void *a, const void *b) {
    return off_cmp(((const cand *)a)->off, ((const cand *)b)->off);
}

/* 3x3 inverse of row-major m; returns 0 if singular */
static int inv3(double *out, const double *m) {
    double det = m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6])
               + m[2] * (m[3] * m[7] - m[4] * m[6]);
    if (fabs(det) < 1e-12) return 0;
    out[0] = (m[4] * m[8] - m[5] * m[7]) / det;
    out[1] = (m[2] * m[7] - m[1] * m[8]) / det;
    out[2] = (m[1] * m[5] - m[2] * m[4]) / det;
    out[3] = (m[5] * m[6] - m[3] * m[8]) / det;
    out[4] = (m[0] * m[8] - m[2] * m[6]) / det;
    out[5] = (m[2] * m[3] - m[0] * m[5]) / det;
    out[6] = (m[3] * m[7] - m[4] * m[6]) / det;
    out[7] = (m[1] * m[6] - m[0] * m[7]) / det;
    out[8] = (m[0] * m[4] - m[1] * m[3]) / det;
    return 1;
}

static int32_t wrap(int64_t c, int32_t L) {
    int64_t r = c % L;
    return (int32_t)(r < 0 ? r + L : r);
}

static int32_t site_of(const tp_lattice *lat, const int32_t *c, int32_t b) {
    return b + lat->nbasis * (c[0] + lat->size[0] * (c[1] + lat->size[1] * c[2]));
}

void tp_lattice_free(tp_lattice *lat) {
    if (!lat) return;
    if (--lat->refcount > 0) return;
    free(lat->pos);
    free(lat->frac);
    free(lat->cellidx);
    free(lat->basis);
    for (int s = 0; s < TP_LATTICE_MAX_SHELLS; s++) {
        free(lat->nb[s]);
        free(lat->bonds[s]);
    }
    free(lat->color);
    free(lat);
}

tp_lattice *tp_lattice_retain(tp_lattice *lat) {
    if (lat) lat->refcount++;
    return lat;
}

/* Private: the basis fractional coordinates (nbasis, 3) are needed by
 * find_site; they are recomputed from site b's frac * size (cell 0). */
static void basis_frac(const tp_lattice *lat, int32_t b, double *f) {
    for (int k = 0; k < 3; k++) f[k] = lat->frac[3 * b + k] * lat->size[k];
}

int32_t tp_lattice_find_site(const tp_lattice *lat, const double *p) {
    if (!lat || !p) return -1;
    double inv[9], f[3];
    if (!inv3(inv, lat->prim)) return -1;
    for (int k = 0; k < 3; k++) f[k] = p[0] * inv[0 * 3 + k] + p[1] * inv[1 * 3 + k] + p[2] * inv[2 * 3 + k];
    for (int32_t b = 0; b < lat->nbasis; b++) {
        double bf[3];
        int32_t c[3];
        int ok = 1;
        basis_frac(lat, b, bf);
        for (int k = 0; k < 3 && ok; k++) {
            double g = f[k] - bf[k], r = floor(g + 0.5);
            if (fabs(g - r) > POS_TOL) ok = 0;
            else c[k] = wrap((int64_t)r, lat->size[k]);
        }
        if (ok) return site_of(lat, c, b);
    }
    return -1;
}

tp_status tp_lattice_shift(const tp_lattice *lat, int32_t *out, const double *offset) {
    if (!lat || !out || !offset) return TP_ERROR(TP_ERR_ARG, "lattice shift: NULL argument");
    for (int32_t i = 0; i < lat->n; i++) {
        double p[3];
        for (int k = 0; k < 3; k++) p[k] = lat->pos[3 * i + k] + offset[k];
        int32_t j = tp_lattice_find_site(lat, p);
        if (j < 0)
            return TP_ERROR(TP_ERR_ARG, "lattice shift: offset (%g, %g, %g) from site %d does not land on a site",
                            offset[0], offset[1], offset[2], (int)i);
        out[i] = j;
    }
    return TP_OK;
}

/* Find the shells; fills shell_dist/shell_z/nb/bonds. */
static tp_status find_shells(tp_lattice *lat, int32_t nshell, const double *bfrac) {
    double inv[9];
    if (!inv3(inv, lat->prim)) return TP_ERROR(TP_ERR_ARG, "lattice: primitive vectors are linearly dependent");
    double gmax = 0;   /* max norm of reciprocal vectors (columns of inv) */
    for (int k = 0; k < lat->dim; k++) {
        double g = sqrt(inv[k] * inv[k] + inv[3 + k] * inv[3 + k] + inv[6 + k] * inv[6 + k]);
        if (g > gmax) gmax = g;
    }
    int32_t nb = lat->nbasis, dim = lat->dim;
    cand *cs = NULL;
    double *ds = NULL;
    double shell_d[TP_LATTICE_MAX_SHELLS];
    int64_t ncand = 0;
    for (int R = 1;; R++) {
        int64_t side = 2 * R + 1, box = 1;
        for (int k = 0; k < dim; k++) box *= side;
        if (box * nb * nb > 50000000) {
            free(cs); free(ds);
            return TP_ERROR(TP_ERR_ARG, "lattice: cannot find %d neighbour shells (search box too large)", (int)nshell);
        }
        free(cs); free(ds);
        cs = malloc(sizeof(cand) * (size_t)(box * nb * nb));
        ds = malloc(sizeof(double) * (size_t)(box * nb * nb));
        if (!cs || !ds) { free(cs); free(ds); return TP_ERROR(TP_ERR_NOMEM, "lattice: out of memory"); }
        ncand = 0;
        for (int32_t b = 0; b < nb; b++)
            for (int32_t b2 = 0; b2 < nb; b2++)
                for (int64_t idx = 0; idx < box; idx++) {
                    int32_t t[3] = {0, 0, 0};
                    int64_t r = idx;
                    for (int k = 0; k < dim; k++) { t[k] = (int32_t)(r % side) - R; r /= side; }
                    double off[3];
                    for (int j = 0; j < 3; j++) {
                        double v = 0;
                        for (int k = 0; k < 3; k++) v += (t[k] + bfrac[3 * b2 + k] - bfrac[3 * b + k]) * lat->prim[3 * k + j];
                        off[j] = v;
                    }
                    double d = sqrt(off[0] * off[0] + off[1] * off[1] + off[2] * off[2]);
                    if (d < 1e-9) continue;
                    ds[ncand] = d;
                    cand *c = &cs[ncand++];
                    c->d = d; c->b2 = b2;
                    memcpy(c->off, off, sizeof off);
                    memcpy(c->t, t, sizeof t);
                }
        /* distinct distances */
        qsort(ds, (size_t)ncand, sizeof(double), cmp_double);
        int32_t found = 0;
        for (int64_t k = 0; k < ncand && found < nshell; k++)
            if (found == 0 || ds[k] > shell_d[found - 1] * (1 + LAT_TOL)) shell_d[found++] = ds[k];
        if (found == nshell && shell_d[nshell - 1] * gmax + 2 <= R) break;
    }
    free(ds);
    /* per shell: collect offsets of basis 0, check the others have as many */
    lat->nshell = nshell;
    for (int32_t s = 0; s < nshell; s++) {
        double d = shell_d[s];
        lat->shell_dist[s] = d;
        int32_t z = -1;
        uint8_t *fwd = NULL;     /* (nbasis, z): offset k of basis b is forward */
        cand *sel = malloc(sizeof(cand) * (size_t)ncand);
        if (!sel) { free(cs); return TP_ERROR(TP_ERR_NOMEM, "lattice: out of memory"); }
        /* candidates were generated in (b, b2, idx) order: a block per b */
        int64_t per_b = ncand / nb;
        lat->nb[s] = NULL;
        for (int32_t b = 0; b < nb; b++) {
            int32_t cnt = 0;
            for (int64_t k = b * per_b; k < (b + 1) * per_b; k++)
                if (fabs(cs[k].d - d) <= d * LAT_TOL) sel[cnt++] = cs[k];
            qsort(sel, (size_t)cnt, sizeof(cand), cmp_cand_off);
            if (z < 0) {
                z = cnt;
                lat->shell_z[s] = z;
                lat->nb[s] = malloc(sizeof(int32_t) * (size_t)lat->n * (size_t)z);
                fwd = malloc((size_t)nb * (size_t)(z > 0 ? z : 1));
                if (!lat->nb[s] || !fwd) { free(fwd); free(sel); free(cs); return TP_ERROR(TP_ERR_NOMEM, "lattice: out of memory"); }
            } else if (cnt != z) {
                free(fwd); free(sel); free(cs);
                return TP_ERROR(TP_ERR_ARG, "lattice: shell %d (distance %g) has %d neighbours at basis site 0 but %d at basis site %d; "
                                "lattices with inequivalent basis sites are not supported", (int)s + 1, d, (int)z, (int)cnt, (int)b);
            }
            /* bonds go along forward offsets (lexicographically positive) */
            static const double zero[3] = {0, 0, 0};
            for (int32_t k = 0; k < z; k++) fwd[(int64_t)b * z + k] = off_cmp(sel[k].off, zero) > 0;
            /* fill nb for every site of basis b */
            for (int32_t i = b; i < lat->n; i += nb) {
                const int32_t *c = &lat->cellidx[3 * i];
                for (int32_t k = 0; k < z; k++) {
                    int32_t c2[3];
                    for (int j = 0; j < 3; j++) c2[j] = wrap((int64_t)c[j] + sel[k].t[j], lat->size[j]);
                    lat->nb[s][(int64_t)i * z + k] = site_of(lat, c2, sel[k].b2);
                }
            }
        }
        /* bonds, in site order */
        lat->nbond[s] = (int64_t)lat->n * z / 2;
        lat->bonds[s] = malloc(sizeof(int32_t) * 2 * (size_t)(lat->nbond[s] > 0 ? lat->nbond[s] : 1));
        if (!lat->bonds[s]) { free(fwd); free(sel); free(cs); return TP_ERROR(TP_ERR_NOMEM, "lattice: out of memory"); }
        int64_t nbd = 0;
        for (int32_t i = 0; i < lat->n; i++) {
            const uint8_t *f = fwd + (int64_t)lat->basis[i] * z;
            for (int32_t k = 0; k < z; k++)
                if (f[k]) {
                    if (nbd >= lat->nbond[s]) { free(fwd); free(sel); free(cs); return TP_ERROR(TP_ERR_INTERNAL, "lattice: bond count mismatch"); }
                    lat->bonds[s][2 * nbd] = i;
                    lat->bonds[s][2 * nbd + 1] = lat->nb[s][(int64_t)i * z + k];
                    nbd++;
                }
        }
        free(fwd);
        free(sel);
        if (nbd != lat->nbond[s]) { free(cs); return TP_ERROR(TP_ERR_INTERNAL, "lattice: bond count mismatch"); }
    }
    free(cs);
    return TP_OK;
}

static tp_status colour(tp_lattice *lat) {
    int32_t n = lat->n, z = lat->shell_z[0];
    uint8_t *col = malloc((size_t)n);
    int32_t *queue = malloc(sizeof(int32_t) * (size_t)n);
    if (!col || !queue) { free(col); free(queue); return TP_ERROR(TP_ERR_NOMEM, "lattice: out of memory"); }
    memset(col, 0xff, (size_t)n);
    int ok = 1;
    for (int32_t s = 0; s < n && ok; s++) {
        if (col[s] != 0xff) continue;
        int32_t head = 0, tail = 0;
        col[s] = 0;
        queue[tail++] = s;
        while (head < tail && ok) {
            int32_t i = queue[head++];
            for (int32_t k = 0; k < z; k++) {
                int32_t j = lat->nb[0][(int64_t)i * z + k];
                if (col[j] == 0xff) { col[j] = (uint8_t)(1 - col[i]); queue[tail++] = j; }
                else if (col[j] == col[i]) { ok = 0; break; }
            }
        }
    }
    free(queue);
    if (ok) { lat->bipartite = 1; lat->color = col; }
    else { lat->bipartite = 0; lat->color = NULL; free(col); }
    return TP_OK;
}

tp_lattice *tp_lattice_init(int32_t dim, const double *prim, int32_t nbasis, const double *basis,
                            const int32_t *size, int32_t nshell, const char *kind) {
    if (dim < 1 || dim > 3) { TP_ERROR(TP_ERR_ARG, "lattice: dimension must be 1, 2 or 3, got %d", (int)dim); return NULL; }
    if (!prim || !basis || !size) { TP_ERROR(TP_ERR_ARG, "lattice: NULL cell, basis or size"); return NULL; }
    if (nbasis < 1 || nbasis > 4096) { TP_ERROR(TP_ERR_ARG, "lattice: basis must have 1..4096 sites, got %d", (int)nbasis); return NULL; }
    if (nshell < 1 || nshell > TP_LATTICE_MAX_SHELLS) {
        TP_ERROR(TP_ERR_ARG, "lattice: shells must be in 1..%d, got %d", TP_LATTICE_MAX_SHELLS, (int)nshell);
        return NULL;
    }
    for (int k = 0; k < dim * dim; k++)
        if (!isfinite(prim[k])) {   /* NaN or infinite geometry would search for neighbours forever */
            TP_ERROR(TP_ERR_ARG, "lattice: cell vector %d, component %d is not finite (%g)", k / dim + 1, k % dim + 1, prim[k]);
            return NULL;
        }
    int64_t n = nbasis;
    for (int k = 0; k < dim; k++) {
        if (size[k] < 1) { TP_ERROR(TP_ERR_ARG, "lattice: size[%d] must be >= 1, got %d", k + 1, (int)size[k]); return NULL; }
        n *= size[k];
        if (n > (1 << 26)) { TP_ERROR(TP_ERR_ARG, "lattice: too many sites (more than 2^26)"); return NULL; }
    }
    tp_lattice *lat = calloc(1, sizeof *lat);
    if (!lat) { TP_ERROR(TP_ERR_NOMEM, "lattice: out of memory"); return NULL; }
    lat->refcount = 1;
    lat->n = (int32_t)n;
    lat->dim = dim;
    lat->nbasis = nbasis;
    snprintf(lat->kind, sizeof lat->kind, "%s", kind && *kind ? kind : "custom");
    for (int k = 0; k < 3; k++) {
        lat->size[k] = k < dim ? size[k] : 1;
        for (int j = 0; j < 3; j++)
            lat->prim[3 * k + j] = (k < dim && j < dim) ? prim[dim * k + j] : (k == j ? 1.0 : 0.0);
        for (int j = 0; j < 3; j++) lat->cell[3 * k + j] = (k < dim) ? lat->prim[3 * k + j] * lat->size[k] : 0.0;
    }
    double inv[9];
    if (!inv3(inv, lat->prim)) {
        TP_ERROR(TP_ERR_ARG, "lattice: primitive vectors are linearly dependent");
        tp_lattice_free(lat);
        return NULL;
    }
    /* basis fractional coordinates wrapped to [0,1), checked for duplicates */
    double *bf = calloc((size_t)nbasis * 3, sizeof(double));
    if (!bf) { TP_ERROR(TP_ERR_NOMEM, "lattice: out of memory"); tp_lattice_free(lat); return NULL; }
    for (int32_t b = 0; b < nbasis; b++)
        for (int k = 0; k < dim; k++) {
            double f = basis[dim * b + k];
            if (!isfinite(f)) { free(bf); TP_ERROR(TP_ERR_ARG, "lattice: basis site %d is not finite", (int)b + 1); tp_lattice_free(lat); return NULL; }
            f -= floor(f);
            if (f > 1 - POS_TOL) f = 0;
            bf[3 * b + k] = f;
        }
    for (int32_t b = 0; b < nbasis; b++)
        for (int32_t b2 = 0; b2 < b; b2++) {
            int same = 1;
            for (int k = 0; k < 3; k++) {
                double d = fabs(bf[3 * b + k] - bf[3 * b2 + k]);
                if (d > POS_TOL && d < 1 - POS_TOL) same = 0;
            }
            if (same) {
                free(bf);
                TP_ERROR(TP_ERR_ARG, "lattice: basis sites %d and %d coincide", (int)b2 + 1, (int)b + 1);
                tp_lattice_free(lat);
                return NULL;
            }
        }
    lat->pos = malloc(sizeof(double) * 3 * (size_t)n);
    lat->frac = malloc(sizeof(double) * 3 * (size_t)n);
    lat->cellidx = malloc(sizeof(int32_t) * 3 * (size_t)n);
    lat->basis = malloc(sizeof(int32_t) * (size_t)n);
    if (!lat->pos || !lat->frac || !lat->cellidx || !lat->basis) {
        free(bf);
        TP_ERROR(TP_ERR_NOMEM, "lattice: out of memory");
        tp_lattice_free(lat);
        return NULL;
    }
    for (int32_t i = 0; i < lat->n; i++) {
        int32_t b = i % nbasis, r = i / nbasis;
        int32_t c[3];
        c[0] = r % lat->size[0]; r /= lat->size[0];
        c[1] = r % lat->size[1]; r /= lat->size[1];
        c[2] = r;
        lat->basis[i] = b;
        for (int k = 0; k < 3; k++) {
            lat->cellidx[3 * i + k] = c[k];
            lat->frac[3 * i + k] = (c[k] + bf[3 * b + k]) / lat->size[k];
        }
        for (int j = 0; j < 3; j++) {
            double v = 0;
            for (int k = 0; k < 3; k++) v += (c[k] + bf[3 * b + k]) * lat->prim[3 * k + j];
            lat->pos[3 * i + j] = v;
        }
    }
    tp_status st = find_shells(lat, nshell, bf);
    free(bf);
    if (st == TP_OK) st = colour(lat);
    if (st != TP_OK) { tp_lattice_free(lat); return NULL; }
    return lat;
}

tp_lattice *tp_lattice_init_square(int32_t L, int32_t nshell) {
    if (L < 1) { TP_ERROR(TP_ERR_ARG, "square lattice: L must be >= 1, got %d", (int)L); return NULL; }
    double prim[4] = {1, 0, 0, 1}, basis[2] = {0, 0};
    int32_t size[2] = {L, L};
    return tp_lattice_init(2, prim, 1, basis, size, nshell, "square");
}

tp_lattice *tp_lattice_init_cubic(int32_t L, int32_t nshell) {
    if (L < 1) { TP_ERROR(TP_ERR_ARG, "cubic lattice: L must be >= 1, got %d", (int)L); return NULL; }
    double prim[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1}, basis[3] = {0, 0, 0};
    int32_t size[3] = {L, L, L};
    return tp_lattice_init(3, prim, 1, basis, size, nshell, "cubic");
}

tp_lattice *tp_lattice_init_fcc(int32_t n1, int32_t n2, int32_t n3, int32_t nshell) {
    if (n1 < 1 || n2 < 1 || n3 < 1) {
        TP_ERROR(TP_ERR_ARG, "fcc lattice: sizes must be >= 1, got %d x %d x %d", (int)n1, (int)n2, (int)n3);
        return NULL;
    }
    double prim[9] = {0, 1, 1, 1, 0, 1, 1, 1, 0}, basis[3] = {0, 0, 0};
    int32_t size[3] = {n1, n2, n3};
    return tp_lattice_init(3, prim, 1, basis, size, nshell, "fcc");
}
