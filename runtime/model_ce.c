/*
 * runtime/model_ce.c -- cluster expansion (man tempera-models(5)): the text file
 * parser (tp_ce_*), wrapping clusters onto a lattice, and the energy and
 * single-site flip dE of the resulting model.
 *
 * Wrapping: each cluster's representative points give a signature, the
 * sorted multiset of squared pairwise distances.  The figures containing
 * the origin are all sets {0} + S, S a (k-1)-subset of the lattice vectors
 * within the cluster's diameter, with the same signature; their count is
 * m_alpha.  Each figure is translated to every site and wrapped into the
 * supercell, repeats included, and
 *   cf_alpha = (1/(N m_alpha)) sum_i sum_{f containing 0} prod_{p in f} sigma(i + p),
 *   E_CE = N sum_alpha J_alpha cf_alpha.
 * For dE each site keeps the merged list of terms that contain it an odd
 * number of times, as (coefficient, the other sites): flipping sigma_i
 * changes E_CE by -2 sigma_i sum coef prod(others).
 */
#include "tp_ffi.h"
#include "model_impl.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CE_MAX_POINTS 6
#define CE_MAX_CLUSTERS 256
#define CE_TOL 1e-6

typedef struct {
    char name[32];
    double eci;
    int32_t mult;                      /* from the file, -1 = auto */
    int32_t k;                         /* points */
    double pts[CE_MAX_POINTS][3];
    int32_t line;
} ce_cluster;

struct tp_ce {
    char name[32];
    char lattice[16];
    char label[256];
    int32_t ncl;
    ce_cluster cl[CE_MAX_CLUSTERS];
};

/* ---- parsing -------------------------------------------------------------- */
static tp_ce *parse_fail(tp_ce *ce, const char *label, int line, const char *msg, const char *tok) {
    if (tok) TP_ERROR(TP_ERR_FORMAT, "%s:%d: %s '%s'", label, line, msg, tok);
    else TP_ERROR(TP_ERR_FORMAT, "%s:%d: %s", label, line, msg);
    free(ce);
    return NULL;
}

static int parse_num(const char *tok, double *v) {
    char *end;
    errno = 0;
    *v = strtod(tok, &end);
    return *end == 0 && errno == 0 && isfinite(*v);
}

tp_ce *tp_ce_parse(const char *text, const char *label) {
    if (!label) label = "<cluster expansion>";
    if (!text) { TP_ERROR(TP_ERR_ARG, "%s: no text", label); return NULL; }
    tp_ce *ce = calloc(1, sizeof *ce);
    if (!ce) { TP_ERROR(TP_ERR_NOMEM, "cluster expansion: out of memory"); return NULL; }
    snprintf(ce->label, sizeof ce->label, "%s", label);
    snprintf(ce->name, sizeof ce->name, "ce");
    int line = 0, header = 0;
    const char *p = text;
    char buf[1024];
    while (*p) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        line++;
        if (len >= sizeof buf) return parse_fail(ce, label, line, "line too long", NULL);
        memcpy(buf, p, len);
        buf[len] = 0;
        p = e ? e + 1 : p + len;
        char *hash = strchr(buf, '#');
        if (hash) *hash = 0;
        char *tok[64];
        int nt = 0;
        for (char *t = strtok(buf, " \t\r"); t; t = strtok(NULL, " \t\r")) {
            if (nt == 64) return parse_fail(ce, label, line, "too many fields", NULL);
            tok[nt++] = t;
        }
        if (nt == 0) continue;
        if (!header) {
            if (strcmp(tok[0], "tempera-ce") != 0 || nt != 2)
                return parse_fail(ce, label, line, "expected the header 'tempera-ce 1', got", tok[0]);
            if (strcmp(tok[1], "1") != 0) return parse_fail(ce, label, line, "unsupported format version", tok[1]);
            header = 1;
            continue;
        }
        if (strcmp(tok[0], "name") == 0) {
            if (nt != 2) return parse_fail(ce, label, line, "'name' takes one word", NULL);
            snprintf(ce->name, sizeof ce->name, "%s", tok[1]);
        } else if (strcmp(tok[0], "lattice") == 0) {
            if (nt != 2) return parse_fail(ce, label, line, "'lattice' takes one word", NULL);
            snprintf(ce->lattice, sizeof ce->lattice, "%s", tok[1]);
        } else if (strcmp(tok[0], "unit") == 0 || strcmp(tok[0], "species") == 0 || strcmp(tok[0], "comment") == 0) {
            /* informational */
        } else if (strcmp(tok[0], "cluster") == 0) {
            if (nt < 4) return parse_fail(ce, label, line, "'cluster' needs NAME ECI MULT [x y z]...", NULL);
            if ((nt - 4) % 3 != 0) return parse_fail(ce, label, line, "cluster points need 3 coordinates each", NULL);
            int k = (nt - 4) / 3;
            if (k > CE_MAX_POINTS) return parse_fail(ce, label, line, "too many points in cluster (max 6)", NULL);
            if (ce->ncl == CE_MAX_CLUSTERS) return parse_fail(ce, label, line, "too many clusters (max 256)", NULL);
            ce_cluster *c = &ce->cl[ce->ncl];
            if (strlen(tok[1]) >= sizeof c->name) return parse_fail(ce, label, line, "cluster name too long:", tok[1]);
            for (int32_t j = 0; j < ce->ncl; j++)
                if (strcmp(ce->cl[j].name, tok[1]) == 0) return parse_fail(ce, label, line, "duplicate cluster", tok[1]);
            snprintf(c->name, sizeof c->name, "%s", tok[1]);
            if (!parse_num(tok[2], &c->eci)) return parse_fail(ce, label, line, "bad ECI", tok[2]);
            if (strcmp(tok[3], "auto") == 0) c->mult = -1;
            else {
                double mv;
                if (!parse_num(tok[3], &mv) || mv < 1 || mv != floor(mv) || mv > 1e6)
                    return parse_fail(ce, label, line, "multiplicity must be a positive integer or 'auto', got", tok[3]);
                c->mult = (int32_t)mv;
            }
            c->k = k;
            c->line = line;
            for (int j = 0; j < k; j++)
                for (int d = 0; d < 3; d++)
                    if (!parse_num(tok[4 + 3 * j + d], &c->pts[j][d]))
                        return parse_fail(ce, label, line, "bad coordinate", tok[4 + 3 * j + d]);
            ce->ncl++;
        } else {
            return parse_fail(ce, label, line, "unknown keyword (expected name, lattice, unit, species, cluster):", tok[0]);
        }
    }
    if (!header) return parse_fail(ce, label, line ? line : 1, "empty file (expected the header 'tempera-ce 1')", NULL);
    if (ce->ncl == 0) return parse_fail(ce, label, line, "no clusters", NULL);
    return ce;
}

tp_ce *tp_ce_load(const char *path) {
    if (!path) { TP_ERROR(TP_ERR_ARG, "cluster expansion: NULL path"); return NULL; }
    FILE *f = fopen(path, "rb");
    if (!f) { TP_ERROR(TP_ERR_IO, "%s: cannot open: %s", path, strerror(errno)); return NULL; }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t r = fread(buf + len, 1, cap - len - 1, f);
        len += r;
        if (len + 1 < cap) break;
        char *nb = realloc(buf, cap * 2);
        if (!nb) { free(buf); buf = NULL; break; }
        buf = nb;
        cap *= 2;
    }
    int err = ferror(f);
    fclose(f);
    if (!buf) { TP_ERROR(TP_ERR_NOMEM, "%s: out of memory", path); return NULL; }
    if (err) { free(buf); TP_ERROR(TP_ERR_IO, "%s: read error", path); return NULL; }
    buf[len] = 0;
    tp_ce *ce = tp_ce_parse(buf, path);
    free(buf);
    return ce;
}

void tp_ce_free(tp_ce *ce) { free(ce); }
int32_t tp_ce_ncluster(const tp_ce *ce) { return ce ? ce->ncl : 0; }
const char *tp_ce_name(const tp_ce *ce) { return ce ? ce->name : ""; }
const char *tp_ce_lattice(const tp_ce *ce) { return ce ? ce->lattice : ""; }
const char *tp_ce_cluster_name(const tp_ce *ce, int32_t k) {
    return (ce && k >= 0 && k < ce->ncl) ? ce->cl[k].name : "";
}
double tp_ce_cluster_eci(const tp_ce *ce, int32_t k) {
    return (ce && k >= 0 && k < ce->ncl) ? ce->cl[k].eci : NAN;
}
int32_t tp_ce_cluster_size(const tp_ce *ce, int32_t k) {
    return (ce && k >= 0 && k < ce->ncl) ? ce->cl[k].k : -1;
}

/* ---- wrapping onto a lattice ---------------------------------------------- */
#define CE_MAX_OTHERS (CE_MAX_POINTS - 1)

struct tp_model_ce {
    int32_t ncl;
    char (*names)[32];
    double *eci;               /* (ncl) */
    int32_t *k;                /* (ncl) points per cluster */
    int32_t *mult;             /* (ncl) m_alpha */
    int64_t *term_start;       /* (ncl + 1) into terms, in units of terms */
    int32_t *terms;            /* (sum_alpha N m_alpha, k_alpha) site lists, concatenated */
    int64_t *tsite_off;        /* (ncl) offset into terms (ints) of cluster alpha */
    double e_cu, e_au;         /* E_CE of all-Cu and all-Au */
    int32_t *ent_start;        /* (n + 1) per-site dE entries */
    double *ent_coef;
    uint8_t *ent_len;
    int32_t *ent_oth;          /* (nent, CE_MAX_OTHERS) */
};

void tp_model_ce_destroy(tp_model_ce *mc) {
    if (!mc) return;
    free(mc->names); free(mc->eci); free(mc->k); free(mc->mult);
    free(mc->term_start); free(mc->terms); free(mc->tsite_off);
    free(mc->ent_start); free(mc->ent_coef); free(mc->ent_len); free(mc->ent_oth);
    free(mc);
}

static double d2(const double *a, const double *b) {
    double s = 0;
    for (int j = 0; j < 3; j++) s += (a[j] - b[j]) * (a[j] - b[j]);
    return s;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y + CE_TOL) - (x < y - CE_TOL);
}

/* sorted squared pairwise distances of k points */
static int signature(double *sig, double pts[][3], int k) {
    int m = 0;
    for (int a = 0; a < k; a++)
        for (int b = a + 1; b < k; b++) sig[m++] = d2(pts[a], pts[b]);
    qsort(sig, (size_t)m, sizeof(double), cmp_d);
    return m;
}

typedef struct {
    double (*cand)[3];
    int ncand;
    int k;
    const double *sig;
    int nsig;
    double diam2;
    int *chosen;         /* (count, k-1) candidate indices, growing */
    int count, cap;
    int fail;
} enum_ctx;

static void enum_rec(enum_ctx *E, int *sel, int depth, int start) {
    if (E->fail) return;
    if (depth == E->k - 1) {
        double pts[CE_MAX_POINTS][3], sig[CE_MAX_POINTS * CE_MAX_POINTS];
        memset(pts[0], 0, sizeof pts[0]);
        for (int a = 0; a < depth; a++) memcpy(pts[a + 1], E->cand[sel[a]], sizeof pts[0]);
        signature(sig, pts, E->k);
        for (int a = 0; a < E->nsig; a++)
            if (fabs(sig[a] - E->sig[a]) > CE_TOL) return;
        if (E->count == E->cap) {
            int nc = E->cap ? 2 * E->cap : 64;
            int *p = realloc(E->chosen, sizeof(int) * (size_t)nc * (size_t)(E->k - 1));
            if (!p) { E->fail = 1; return; }
            E->chosen = p;
            E->cap = nc;
        }
        memcpy(E->chosen + (size_t)E->count * (size_t)(E->k - 1), sel, sizeof(int) * (size_t)(E->k - 1));
        E->count++;
        return;
    }
    for (int c = start; c < E->ncand; c++) {
        int ok = 1;
        for (int a = 0; a < depth && ok; a++)
            if (d2(E->cand[c], E->cand[sel[a]]) > E->diam2 + CE_TOL) ok = 0;
        if (!ok) continue;
        sel[depth] = c;
        enum_rec(E, sel, depth + 1, c + 1);
    }
}

typedef struct {
    int32_t len;
    int32_t oth[CE_MAX_OTHERS];
    double coef;
} ent;

static int cmp_ent(const void *a, const void *b) {
    const ent *x = a, *y = b;
    if (x->len != y->len) return x->len - y->len;
    for (int t = 0; t < x->len; t++)
        if (x->oth[t] != y->oth[t]) return x->oth[t] < y->oth[t] ? -1 : 1;
    return 0;
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

#define BUILD_FAIL(...) do { TP_ERROR(__VA_ARGS__); goto fail; } while (0)

tp_model_ce *tp_model_ce_build(tp_lattice *lat, const tp_ce *ce) {
    tp_model_ce *mc = NULL;
    double (*cand)[3] = NULL;
    int32_t *shiftmap = NULL;
    int *sel_all = NULL;
    ent *ents = NULL;
    int32_t *cnt = NULL;
    if (lat->nbasis != 1)
        BUILD_FAIL(TP_ERR_ARG, "%s: cluster expansions need a lattice with one basis site, got %d", ce->label, (int)lat->nbasis);
    if (ce->lattice[0] && strcmp(lat->kind, "custom") != 0 && strcmp(ce->lattice, lat->kind) != 0)
        BUILD_FAIL(TP_ERR_ARG, "%s: written for a '%s' lattice, got a '%s' lattice", ce->label, ce->lattice, lat->kind);
    int32_t n = lat->n, ncl = ce->ncl;
    mc = calloc(1, sizeof *mc);
    if (!mc) BUILD_FAIL(TP_ERR_NOMEM, "cluster expansion: out of memory");
    mc->ncl = ncl;
    mc->names = calloc((size_t)ncl, sizeof *mc->names);
    mc->eci = calloc((size_t)ncl, sizeof(double));
    mc->k = calloc((size_t)ncl, sizeof(int32_t));
    mc->mult = calloc((size_t)ncl, sizeof(int32_t));
    mc->term_start = calloc((size_t)ncl + 1, sizeof(int64_t));
    mc->tsite_off = calloc((size_t)ncl, sizeof(int64_t));
    if (!mc->names || !mc->eci || !mc->k || !mc->mult || !mc->term_start || !mc->tsite_off)
        BUILD_FAIL(TP_ERR_NOMEM, "cluster expansion: out of memory");

    /* pass 1: figures containing the origin, per cluster (as candidate indices) */
    double inv_g = 0;
    {
        /* max reciprocal norm for the search box (prim rows, single basis) */
        const double *P = lat->prim;
        double det = P[0] * (P[4] * P[8] - P[5] * P[7]) - P[1] * (P[3] * P[8] - P[5] * P[6]) + P[2] * (P[3] * P[7] - P[4] * P[6]);
        double cof[9] = {
            P[4] * P[8] - P[5] * P[7], P[5] * P[6] - P[3] * P[8], P[3] * P[7] - P[4] * P[6],
            P[2] * P[7] - P[1] * P[8], P[0] * P[8] - P[2] * P[6], P[1] * P[6] - P[0] * P[7],
            P[1] * P[5] - P[2] * P[4], P[2] * P[3] - P[0] * P[5], P[0] * P[4] - P[1] * P[3]};
        for (int r = 0; r < 3; r++) {
            double g = sqrt(cof[3 * r] * cof[3 * r] + cof[3 * r + 1] * cof[3 * r + 1] + cof[3 * r + 2] * cof[3 * r + 2]) / fabs(det);
            if (g > inv_g) inv_g = g;
        }
    }
    /* per-cluster origin figures: offsets stored as (count, k-1, 3) doubles */
    double **figs = calloc((size_t)ncl, sizeof(double *));
    if (!figs) BUILD_FAIL(TP_ERR_NOMEM, "cluster expansion: out of memory");
    int64_t nterm_ints = 0;
    for (int32_t a = 0; a < ncl; a++) {
        const ce_cluster *c = &ce->cl[a];
        snprintf(mc->names[a], sizeof mc->names[a], "%s", c->name);
        mc->eci[a] = c->eci;
        mc->k[a] = c->k;
        int m = 1;
        if (c->k >= 2) {
            /* points relative to the first must be lattice vectors */
            for (int j = 1; j < c->k; j++) {
                double off[3], p0[3] = {lat->pos[0], lat->pos[1], lat->pos[2]};
                for (int d = 0; d < 3; d++) off[d] = p0[d] + c->pts[j][d] - c->pts[0][d];
                if (tp_lattice_find_site(lat, off) < 0) {
                    for (int32_t q = 0; q < a; q++) free(figs[q]);
                    free(figs);
                    BUILD_FAIL(TP_ERR_ARG, "%s:%d: cluster %s: point %d is not a lattice vector away from point 1",
                               ce->label, (int)c->line, c->name, j + 1);
                }
            }
            double sig[CE_MAX_POINTS * CE_MAX_POINTS], pts[CE_MAX_POINTS][3];
            memcpy(pts, c->pts, sizeof pts);
            int nsig = signature(sig, pts, c->k);
            double diam2 = sig[nsig - 1];
            if (diam2 < CE_TOL) {
                for (int32_t q = 0; q < a; q++) free(figs[q]);
                free(figs);
                BUILD_FAIL(TP_ERR_ARG, "%s:%d: cluster %s has coincident points", ce->label, (int)c->line, c->name);
            }
            /* candidate lattice vectors with |v|^2 <= diam2 */
            double diam = sqrt(diam2);
            int R = (int)ceil(diam * inv_g) + 1;
            int side = 2 * R + 1;
            free(cand);
            cand = malloc(sizeof *cand * (size_t)side * side * side);
            if (!cand) { for (int32_t q = 0; q < a; q++) free(figs[q]); free(figs); BUILD_FAIL(TP_ERR_NOMEM, "cluster expansion: out of memory"); }
            int nc = 0;
            for (int t0 = -R; t0 <= R; t0++)
                for (int t1 = -R; t1 <= R; t1++)
                    for (int t2 = -R; t2 <= R; t2++) {
                        if ((lat->dim < 2 && t1) || (lat->dim < 3 && t2)) continue;
                        double v[3];
                        for (int d = 0; d < 3; d++) v[d] = t0 * lat->prim[d] + t1 * lat->prim[3 + d] + t2 * lat->prim[6 + d];
                        double r2 = v[0] * v[0] + v[1] * v[1] + v[2] * v[2];
                        if (r2 < CE_TOL || r2 > diam2 + CE_TOL) continue;
                        memcpy(cand[nc++], v, sizeof v);
                    }
            enum_ctx E = { cand, nc, c->k, sig, nsig, diam2, NULL, 0, 0, 0 };
            int sel[CE_MAX_POINTS];
            enum_rec(&E, sel, 0, 0);
            if (E.fail) { free(E.chosen); for (int32_t q = 0; q < a; q++) free(figs[q]); free(figs); BUILD_FAIL(TP_ERR_NOMEM, "cluster expansion: out of memory"); }
            m = E.count;
            figs[a] = malloc(sizeof(double) * 3 * (size_t)(m > 0 ? m : 1) * (size_t)(c->k - 1));
            if (!figs[a]) { free(E.chosen); for (int32_t q = 0; q < a; q++) free(figs[q]); free(figs); BUILD_FAIL(TP_ERR_NOMEM, "cluster expansion: out of memory"); }
            for (int f = 0; f < m; f++)
                for (int j = 0; j < c->k - 1; j++)
                    memcpy(&figs[a][3 * ((size_t)f * (c->k - 1) + j)], cand[E.chosen[f * (c->k - 1) + j]], sizeof(double) * 3);
            free(E.chosen);
        }
        if (c->mult > 0 && c->mult != m) {
            for (int32_t q = 0; q <= a; q++) free(figs[q]);
            free(figs);
            BUILD_FAIL(TP_ERR_ARG, "%s:%d: cluster %s: the file gives multiplicity %d but %d figures per site were found on this lattice",
                       ce->label, (int)c->line, c->name, (int)c->mult, m);
        }
        mc->mult[a] = m;
        mc->term_start[a + 1] = mc->term_start[a] + (int64_t)n * m;
        mc->tsite_off[a] = nterm_ints;
        nterm_ints += (int64_t)n * m * c->k;
    }
    /* pass 2: wrapped site lists of every term */
    mc->terms = malloc(sizeof(int32_t) * (size_t)(nterm_ints > 0 ? nterm_ints : 1));
    shiftmap = malloc(sizeof(int32_t) * (size_t)n);
    if (!mc->terms || !shiftmap) { for (int32_t q = 0; q < ncl; q++) free(figs[q]); free(figs); BUILD_FAIL(TP_ERR_NOMEM, "cluster expansion: out of memory"); }
    for (int32_t a = 0; a < ncl; a++) {
        int32_t k = mc->k[a], m = mc->mult[a];
        int32_t *T = mc->terms + mc->tsite_off[a];
        if (k == 0) continue;
        for (int32_t i = 0; i < n; i++)
            for (int32_t f = 0; f < m; f++) T[((int64_t)i * m + f) * k] = i;
        for (int32_t f = 0; f < m && k > 1; f++)
            for (int32_t j = 0; j < k - 1; j++) {
                tp_status st = tp_lattice_shift(lat, shiftmap, &figs[a][3 * ((size_t)f * (k - 1) + j)]);
                if (st != TP_OK) { for (int32_t q = 0; q < ncl; q++) free(figs[q]); free(figs); goto fail; }
                for (int32_t i = 0; i < n; i++) T[((int64_t)i * m + f) * k + 1 + j] = shiftmap[i];
            }
    }
    for (int32_t q = 0; q < ncl; q++) free(figs[q]);
    free(figs);
    /* reference energies: products of k sigmas equal to -1 are (-1)^k */
    for (int32_t a = 0; a < ncl; a++) {
        mc->e_au += n * mc->eci[a];
        mc->e_cu += n * mc->eci[a] * ((mc->k[a] % 2) ? -1.0 : 1.0);
    }
    /* pass 3: per-site dE entries.  Term (alpha, site list) has coefficient
     * J_alpha / m_alpha; for each site i it contains an odd number of times,
     * emit (coef, the sites of odd multiplicity other than i). */
    cnt = calloc((size_t)n + 1, sizeof(int32_t));
    if (!cnt) BUILD_FAIL(TP_ERR_NOMEM, "cluster expansion: out of memory");
    int64_t total = 0;
    for (int32_t a = 0; a < ncl; a++) total += (int64_t)n * mc->mult[a] * mc->k[a];
    ents = malloc(sizeof(ent) * (size_t)(total > 0 ? total : 1));
    sel_all = malloc(sizeof(int) * (size_t)n);   /* per-site entry counts */
    if (!ents || !sel_all) BUILD_FAIL(TP_ERR_NOMEM, "cluster expansion: out of memory");
    /* first gather all entries tagged with their site, then sort per site */
    int64_t ne = 0;
    int32_t *ent_site = malloc(sizeof(int32_t) * (size_t)(total > 0 ? total : 1));
    if (!ent_site) BUILD_FAIL(TP_ERR_NOMEM, "cluster expansion: out of memory");
    for (int32_t a = 0; a < ncl; a++) {
        int32_t k = mc->k[a], m = mc->mult[a];
        if (k == 0) continue;
        double coef = mc->eci[a] / m;
        const int32_t *T = mc->terms + mc->tsite_off[a];
        for (int64_t t = 0; t < (int64_t)n * m; t++) {
            int32_t s[CE_MAX_POINTS];
            memcpy(s, T + t * k, sizeof(int32_t) * (size_t)k);
            qsort(s, (size_t)k, sizeof(int32_t), cmp_i32);
            /* reduce to sites of odd multiplicity */
            int32_t odd[CE_MAX_POINTS], no = 0;
            for (int j = 0; j < k;) {
                int r = j;
                while (r < k && s[r] == s[j]) r++;
                if ((r - j) % 2) odd[no++] = s[j];
                j = r;
            }
            for (int j = 0; j < no; j++) {
                ent *e = &ents[ne];
                e->coef = coef;
                e->len = 0;
                for (int u = 0; u < no; u++)
                    if (u != j) e->oth[e->len++] = odd[u];
                for (int u = e->len; u < CE_MAX_OTHERS; u++) e->oth[u] = -1;
                ent_site[ne] = odd[j];
                cnt[odd[j] + 1]++;
                ne++;
            }
        }
    }
    /* bucket by site */
    for (int32_t i = 0; i < n; i++) cnt[i + 1] += cnt[i];
    ent *byS = malloc(sizeof(ent) * (size_t)(ne > 0 ? ne : 1));
    if (!byS) { free(ent_site); BUILD_FAIL(TP_ERR_NOMEM, "cluster expansion: out of memory"); }
    for (int32_t i = 0; i < n; i++) sel_all[i] = cnt[i];
    for (int64_t e = 0; e < ne; e++) byS[sel_all[ent_site[e]]++] = ents[e];
    free(ent_site);
    /* sort and merge within each site */
    mc->ent_start = malloc(sizeof(int32_t) * ((size_t)n + 1));
    mc->ent_coef = malloc(sizeof(double) * (size_t)(ne > 0 ? ne : 1));
    mc->ent_len = malloc((size_t)(ne > 0 ? ne : 1));
    mc->ent_oth = malloc(sizeof(int32_t) * CE_MAX_OTHERS * (size_t)(ne > 0 ? ne : 1));
    if (!mc->ent_start || !mc->ent_coef || !mc->ent_len || !mc->ent_oth) { free(byS); BUILD_FAIL(TP_ERR_NOMEM, "cluster expansion: out of memory"); }
    int64_t w = 0;
    for (int32_t i = 0; i < n; i++) {
        mc->ent_start[i] = (int32_t)w;
        ent *b = byS + cnt[i];
        int32_t nb = cnt[i + 1] - cnt[i];
        qsort(b, (size_t)nb, sizeof(ent), cmp_ent);
        for (int32_t u = 0; u < nb;) {
            int32_t v = u;
            double coef = 0;
            while (v < nb && cmp_ent(&b[u], &b[v]) == 0) coef += b[v++].coef;
            if (coef != 0) {
                mc->ent_coef[w] = coef;
                mc->ent_len[w] = (uint8_t)b[u].len;
                memcpy(mc->ent_oth + w * CE_MAX_OTHERS, b[u].oth, sizeof(int32_t) * CE_MAX_OTHERS);
                w++;
            }
            u = v;
        }
    }
    mc->ent_start[n] = (int32_t)w;
    free(byS);
    free(ents);
    free(sel_all);
    free(cnt);
    free(cand);
    free(shiftmap);
    return mc;
fail:
    free(cand);
    free(shiftmap);
    free(ents);
    free(sel_all);
    free(cnt);
    tp_model_ce_destroy(mc);
    return NULL;
}

/* ---- energies ------------------------------------------------------------- */
static const double SIG[2] = {-1.0, 1.0};

double tp_model_ce_energy_raw(const tp_model *m, const uint8_t *x) {
    if (!m || m->kind != TP_MODEL_CE || !x) return NAN;
    const tp_model_ce *mc = m->ce;
    int32_t n = m->n;
    double e = 0;
    for (int32_t a = 0; a < mc->ncl; a++) {
        int32_t k = mc->k[a], mu = mc->mult[a];
        if (k == 0) { e += n * mc->eci[a]; continue; }
        const int32_t *T = mc->terms + mc->tsite_off[a];
        double s = 0;
        for (int64_t t = 0; t < (int64_t)n * mu; t++) {
            double p = 1;
            for (int32_t j = 0; j < k; j++) p *= SIG[x[T[t * k + j]]];
            s += p;
        }
        e += mc->eci[a] * s / mu;
    }
    return e;
}

tp_status tp_model_ce_correlations(const tp_model *m, double *out, const uint8_t *x) {
    if (!m || m->kind != TP_MODEL_CE) return TP_ERROR(TP_ERR_ARG, "correlations: not a cluster-expansion model");
    if (!out || !x) return TP_ERROR(TP_ERR_ARG, "correlations: NULL buffer");
    TP_TRY(tp_model_check(m, x, 1));
    const tp_model_ce *mc = m->ce;
    int32_t n = m->n;
    for (int32_t a = 0; a < mc->ncl; a++) {
        int32_t k = mc->k[a], mu = mc->mult[a];
        if (k == 0) { out[a] = 1; continue; }
        const int32_t *T = mc->terms + mc->tsite_off[a];
        double s = 0;
        for (int64_t t = 0; t < (int64_t)n * mu; t++) {
            double p = 1;
            for (int32_t j = 0; j < k; j++) p *= SIG[x[T[t * k + j]]];
            s += p;
        }
        out[a] = s / ((double)n * mu);
    }
    return TP_OK;
}

double tp_model_ce_energy(const tp_model *m, const uint8_t *x) {
    const tp_model_ce *mc = m->ce;
    int32_t n = m->n;
    int64_t up = 0;
    for (int32_t i = 0; i < n; i++) up += x[i];
    double c = (double)up / n;
    double e = tp_model_ce_energy_raw(m, x) - (1 - c) * mc->e_cu - c * mc->e_au;
    return e - m->h * (double)(2 * up - n);
}

double tp_model_ce_de_flip(const tp_model *m, const uint8_t *x, int32_t i) {
    const tp_model_ce *mc = m->ce;
    double s = 0;
    for (int32_t e = mc->ent_start[i]; e < mc->ent_start[i + 1]; e++) {
        double p = mc->ent_coef[e];
        const int32_t *o = mc->ent_oth + (int64_t)e * CE_MAX_OTHERS;
        for (int32_t t = 0; t < mc->ent_len[e]; t++) p *= SIG[x[o[t]]];
        s += p;
    }
    double si = SIG[x[i]];
    double dce = -2.0 * si * s;
    double dc = -si / m->n;                 /* x: 1 -> 0 when sigma = +1 */
    return dce - dc * (mc->e_au - mc->e_cu) - m->h * (-2.0 * si);
}

void tp_model_ce_entries(const tp_model *m, tp_model_ce_flip_entries *out) {
    const tp_model_ce *mc = m->ce;
    out->start = mc->ent_start;
    out->oth = mc->ent_oth;
    out->coef = mc->ent_coef;
    out->len = mc->ent_len;
    out->max_oth = CE_MAX_OTHERS;
    out->dref = mc->e_au - mc->e_cu;
}

int32_t tp_model_ce_ncluster(const tp_model *m) {
    return (m && m->kind == TP_MODEL_CE) ? m->ce->ncl : 0;
}

int32_t tp_model_ce_multiplicity(const tp_model *m, int32_t k) {
    if (!m || m->kind != TP_MODEL_CE || k < 0 || k >= m->ce->ncl) return -1;
    return m->ce->mult[k];
}

tp_status tp_model_ce_terms(const tp_model *m, int32_t k, int32_t *out) {
    if (!m || m->kind != TP_MODEL_CE) return TP_ERROR(TP_ERR_ARG, "ce terms: not a cluster-expansion model");
    if (k < 0 || k >= m->ce->ncl) return TP_ERROR(TP_ERR_ARG, "ce terms: cluster %d out of range 0..%d", (int)k, (int)m->ce->ncl - 1);
    if (!out) return TP_ERROR(TP_ERR_ARG, "ce terms: NULL output");
    int64_t len = (int64_t)m->n * m->ce->mult[k] * m->ce->k[k];
    memcpy(out, m->ce->terms + m->ce->tsite_off[k], sizeof(int32_t) * (size_t)len);
    return TP_OK;
}

tp_status tp_model_ce_reference(const tp_model *m, double *e_cu, double *e_au) {
    if (!m || m->kind != TP_MODEL_CE) return TP_ERROR(TP_ERR_ARG, "ce reference: not a cluster-expansion model");
    if (!e_cu || !e_au) return TP_ERROR(TP_ERR_ARG, "ce reference: NULL output");
    *e_cu = m->ce->e_cu;
    *e_au = m->ce->e_au;
    return TP_OK;
}

/* ---- cluster finder --------------------------------------------------------
 * Every figure of k points containing the origin with all pairwise distances
 * <= cutoff, grouped by signature; each group's count is its multiplicity. */
typedef struct {
    double sig[CE_MAX_POINTS * CE_MAX_POINTS];
    int nsig;
    int count;
    double pts[CE_MAX_POINTS][3];
} found_group;

typedef struct {
    double (*cand)[3];
    int ncand, k;
    double cut2;
    found_group *g;
    int ng, cap, fail;
} find_ctx;

static void find_rec(find_ctx *F, int *sel, int depth, int start) {
    if (F->fail) return;
    if (depth == F->k - 1) {
        double pts[CE_MAX_POINTS][3], sig[CE_MAX_POINTS * CE_MAX_POINTS];
        memset(pts[0], 0, sizeof pts[0]);
        for (int a = 0; a < depth; a++) memcpy(pts[a + 1], F->cand[sel[a]], sizeof pts[0]);
        int nsig = signature(sig, pts, F->k);
        for (int u = 0; u < F->ng; u++) {
            int same = 1;
            for (int a = 0; a < nsig && same; a++) same = fabs(F->g[u].sig[a] - sig[a]) <= CE_TOL;
            if (same) { F->g[u].count++; return; }
        }
        if (F->ng == F->cap) {
            int nc = F->cap ? 2 * F->cap : 16;
            found_group *p = realloc(F->g, sizeof(found_group) * (size_t)nc);
            if (!p) { F->fail = 1; return; }
            F->g = p;
            F->cap = nc;
        }
        found_group *g = &F->g[F->ng++];
        memcpy(g->sig, sig, sizeof sig);
        g->nsig = nsig;
        g->count = 1;
        memcpy(g->pts, pts, sizeof pts);
        return;
    }
    for (int c = start; c < F->ncand; c++) {
        int ok = 1;
        for (int a = 0; a < depth && ok; a++)
            if (d2(F->cand[c], F->cand[sel[a]]) > F->cut2 + CE_TOL) ok = 0;
        if (!ok) continue;
        sel[depth] = c;
        find_rec(F, sel, depth + 1, c + 1);
    }
}

static int cmp_group(const void *a, const void *b) {
    const found_group *x = a, *y = b;
    for (int u = x->nsig - 1; u >= 0; u--) {   /* smaller diameter first */
        if (x->sig[u] < y->sig[u] - CE_TOL) return -1;
        if (x->sig[u] > y->sig[u] + CE_TOL) return 1;
    }
    return 0;
}

tp_status tp_ce_find_clusters(const tp_lattice *lat, int32_t k, double cutoff, char *buf, int64_t cap) {
    if (!lat || !buf || cap < 1) return TP_ERROR(TP_ERR_ARG, "find clusters: NULL lattice or buffer");
    if (k < 2 || k > CE_MAX_POINTS) return TP_ERROR(TP_ERR_ARG, "find clusters: size must be in 2..%d, got %d", CE_MAX_POINTS, (int)k);
    if (!(cutoff > 0) || !isfinite(cutoff)) return TP_ERROR(TP_ERR_ARG, "find clusters: cutoff must be positive");
    if (lat->nbasis != 1) return TP_ERROR(TP_ERR_ARG, "find clusters: needs a lattice with one basis site, got %d", (int)lat->nbasis);
    const double *P = lat->prim;
    double det = P[0] * (P[4] * P[8] - P[5] * P[7]) - P[1] * (P[3] * P[8] - P[5] * P[6]) + P[2] * (P[3] * P[7] - P[4] * P[6]);
    double gmax = 0;
    for (int r = 0; r < 3; r++) {
        int r1 = (r + 1) % 3, r2 = (r + 2) % 3;   /* reciprocal vector r ~ prim[r1] x prim[r2] */
        double cx = P[3 * r1 + 1] * P[3 * r2 + 2] - P[3 * r1 + 2] * P[3 * r2 + 1];
        double cy = P[3 * r1 + 2] * P[3 * r2 + 0] - P[3 * r1 + 0] * P[3 * r2 + 2];
        double cz = P[3 * r1 + 0] * P[3 * r2 + 1] - P[3 * r1 + 1] * P[3 * r2 + 0];
        double g = sqrt(cx * cx + cy * cy + cz * cz) / fabs(det);
        if (g > gmax) gmax = g;
    }
    int R = (int)ceil(cutoff * gmax) + 1, side = 2 * R + 1;
    if ((int64_t)side * side * side > 1000000) return TP_ERROR(TP_ERR_ARG, "find clusters: cutoff %g is too large", cutoff);
    double (*cand)[3] = malloc(sizeof *cand * (size_t)side * side * side);
    if (!cand) return TP_ERROR(TP_ERR_NOMEM, "find clusters: out of memory");
    int nc = 0;
    double cut2 = cutoff * cutoff;
    for (int t0 = -R; t0 <= R; t0++)
        for (int t1 = -R; t1 <= R; t1++)
            for (int t2 = -R; t2 <= R; t2++) {
                if ((lat->dim < 2 && t1) || (lat->dim < 3 && t2)) continue;
                double v[3];
                for (int d = 0; d < 3; d++) v[d] = t0 * P[d] + t1 * P[3 + d] + t2 * P[6 + d];
                double r2 = v[0] * v[0] + v[1] * v[1] + v[2] * v[2];
                if (r2 < CE_TOL || r2 > cut2 + CE_TOL) continue;
                memcpy(cand[nc++], v, sizeof v);
            }
    if (nc > 400 && k > 3) { free(cand); return TP_ERROR(TP_ERR_ARG, "find clusters: cutoff %g gives %d neighbours, too many for %d-point clusters", cutoff, nc, (int)k); }
    find_ctx F = { cand, nc, k, cut2, NULL, 0, 0, 0 };
    int sel[CE_MAX_POINTS];
    find_rec(&F, sel, 0, 0);
    free(cand);
    if (F.fail) { free(F.g); return TP_ERROR(TP_ERR_NOMEM, "find clusters: out of memory"); }
    qsort(F.g, (size_t)F.ng, sizeof(found_group), cmp_group);
    int64_t used = 0;
    buf[0] = 0;
    for (int u = 0; u < F.ng; u++) {
        char line[1024];
        int len = snprintf(line, sizeof line, "cluster c%d_%d 0 %d ", (int)k, u, F.g[u].count);
        for (int j = 0; j < k; j++)
            len += snprintf(line + len, sizeof line - (size_t)len, " %.10g %.10g %.10g", F.g[u].pts[j][0] + 0.0,
                            F.g[u].pts[j][1] + 0.0, F.g[u].pts[j][2] + 0.0);
        len += snprintf(line + len, sizeof line - (size_t)len, "   # d^2:");
        for (int a = 0; a < F.g[u].nsig; a++) len += snprintf(line + len, sizeof line - (size_t)len, " %.10g", F.g[u].sig[a]);
        len += snprintf(line + len, sizeof line - (size_t)len, "\n");
        if (used + len + 1 > cap) { free(F.g); return TP_ERROR(TP_ERR_ARG, "find clusters: output buffer too small"); }
        memcpy(buf + used, line, (size_t)len + 1);
        used += len;
    }
    free(F.g);
    return TP_OK;
}
