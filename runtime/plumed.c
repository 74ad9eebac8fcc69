/*
 * runtime/plumed.c -- reading and writing PLUMED-style "#! FIELDS" text
 * files (HILLS, COLVAR), summing hills on a grid, and a hill-by-hill
 * deposit that records what was deposited (plumed.h has the contract and
 * the well-tempered height convention).  Reading is line-oriented and
 * checks every row's field count and number syntax; the table is held
 * column by column.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tp_ffi.h"
#include "plumed.h"

struct tp_plumed {
    int32_t nfields;
    char **fields;
    int32_t nset;
    char **keys, **values;
    int64_t rows, cap;
    double **cols;
    int32_t torn;   /* a half-written last line was skipped */
};

int32_t tp_plumed_torn(const tp_plumed *t) { return t ? t->torn : 0; }

void tp_plumed_free(tp_plumed *t) {
    if (!t) return;
    for (int32_t i = 0; i < t->nfields; i++) { free(t->fields[i]); if (t->cols) free(t->cols[i]); }
    for (int32_t i = 0; i < t->nset; i++) { free(t->keys[i]); free(t->values[i]); }
    free(t->fields); free(t->cols); free(t->keys); free(t->values);
    free(t);
}

int32_t tp_plumed_nfields(const tp_plumed *t) { return t ? t->nfields : 0; }
const char *tp_plumed_field(const tp_plumed *t, int32_t i) {
    return t && i >= 0 && i < t->nfields ? t->fields[i] : NULL;
}
int32_t tp_plumed_find(const tp_plumed *t, const char *name) {
    if (!t || !name) return -1;
    for (int32_t i = 0; i < t->nfields; i++) if (!strcmp(t->fields[i], name)) return i;
    return -1;
}
int64_t tp_plumed_rows(const tp_plumed *t) { return t ? t->rows : 0; }
const double *tp_plumed_column(const tp_plumed *t, int32_t i) {
    return t && i >= 0 && i < t->nfields ? t->cols[i] : NULL;
}
int32_t tp_plumed_nset(const tp_plumed *t) { return t ? t->nset : 0; }
const char *tp_plumed_set_key(const tp_plumed *t, int32_t i) { return t && i >= 0 && i < t->nset ? t->keys[i] : NULL; }
const char *tp_plumed_set_value(const tp_plumed *t, int32_t i) { return t && i >= 0 && i < t->nset ? t->values[i] : NULL; }
const char *tp_plumed_set(const tp_plumed *t, const char *key) {
    if (!t || !key) return NULL;
    for (int32_t i = t->nset - 1; i >= 0; i--) if (!strcmp(t->keys[i], key)) return t->values[i];
    return NULL;
}

/* Split s in place into at most max whitespace-separated words. */
static int split(char *s, char **w, int max) {
    int n = 0;
    while (*s) {
        while (*s && isspace((unsigned char)*s)) *s++ = 0;
        if (!*s) break;
        if (n == max) return max + 1;
        w[n++] = s;
        while (*s && !isspace((unsigned char)*s)) s++;
    }
    return n;
}

#define PL_MAX_FIELDS 256

static tp_status set_fields(tp_plumed *t, char **w, int n, const char *path, long line) {
    if (t->nfields) {
        int same = n == t->nfields;
        for (int i = 0; same && i < n; i++) same = !strcmp(w[i], t->fields[i]);
        if (!same) return TP_ERROR(TP_ERR_FORMAT, "%s:%ld: FIELDS line differs from the first one", path, line);
        return TP_OK;
    }
    if (n < 1) return TP_ERROR(TP_ERR_FORMAT, "%s:%ld: FIELDS line names no field", path, line);
    t->fields = calloc((size_t)n, sizeof(char *));
    t->cols = calloc((size_t)n, sizeof(double *));
    if (!t->fields || !t->cols) return TP_ERROR(TP_ERR_NOMEM, "plumed: no memory");
    t->nfields = n;
    for (int i = 0; i < n; i++)
        if (!(t->fields[i] = strdup(w[i]))) return TP_ERROR(TP_ERR_NOMEM, "plumed: no memory");
    return TP_OK;
}

static tp_status add_set(tp_plumed *t, const char *k, const char *v) {
    char **nk = realloc(t->keys, sizeof(char *) * (size_t)(t->nset + 1));
    if (!nk) return TP_ERROR(TP_ERR_NOMEM, "plumed: no memory");
    t->keys = nk;
    char **nv = realloc(t->values, sizeof(char *) * (size_t)(t->nset + 1));
    if (!nv) return TP_ERROR(TP_ERR_NOMEM, "plumed: no memory");
    t->values = nv;
    t->keys[t->nset] = strdup(k);
    t->values[t->nset] = strdup(v);
    t->nset++;
    if (!t->keys[t->nset - 1] || !t->values[t->nset - 1]) return TP_ERROR(TP_ERR_NOMEM, "plumed: no memory");
    return TP_OK;
}

static tp_status add_row(tp_plumed *t, char **w, int n, const char *path, long line) {
    if (!t->nfields) return TP_ERROR(TP_ERR_FORMAT, "%s:%ld: data before any '#! FIELDS' line", path, line);
    if (n != t->nfields)
        return TP_ERROR(TP_ERR_FORMAT, "%s:%ld: %d values, expected %d (FIELDS)", path, line, n, t->nfields);
    if (t->rows == t->cap) {
        int64_t nc = t->cap ? 2 * t->cap : 256;
        for (int32_t i = 0; i < t->nfields; i++) {
            double *c = realloc(t->cols[i], sizeof(double) * (size_t)nc);
            if (!c) return TP_ERROR(TP_ERR_NOMEM, "plumed: no memory for %lld rows", (long long)nc);
            t->cols[i] = c;
        }
        t->cap = nc;
    }
    for (int i = 0; i < n; i++) {
        char *end;
        errno = 0;
        double v = strtod(w[i], &end);
        if (end == w[i] || *end)
            return TP_ERROR(TP_ERR_FORMAT, "%s:%ld: field %s: '%s' is not a number", path, line, t->fields[i], w[i]);
        t->cols[i][t->rows] = v;
    }
    t->rows++;
    return TP_OK;
}

/* PATH.gz is read through gzip -dc (PLUMED's compressed output) */
static FILE *open_text(const char *path, int *piped) {
    char shadow[4352];
    path = tp_io_read_path_buf(path, shadow, sizeof shadow);   /* an MPI rank's own copy */
    size_t n = strlen(path);
    *piped = n > 3 && !strcmp(path + n - 3, ".gz");
    if (!*piped) return fopen(path, "r");
    FILE *t = fopen(path, "r");   /* a clear error for a missing file */
    if (!t) return NULL;
    fclose(t);
    char cmd[8300], *c = cmd;
    c += snprintf(cmd, sizeof cmd, "gzip -dc -- '");
    for (const char *s = path; *s && c < cmd + sizeof cmd - 8; s++) {
        if (*s == '\'') { memcpy(c, "'\\''", 4); c += 4; } else *c++ = *s;
    }
    memcpy(c, "'", 2);
    return popen(cmd, "r");
}

tp_plumed *tp_plumed_read(const char *path) {
    if (!path) { TP_ERROR(TP_ERR_ARG, "plumed: NULL path"); return NULL; }
    int piped = 0;
    FILE *f = open_text(path, &piped);
    if (!f) { TP_ERROR(TP_ERR_IO, "%s: %s", path, strerror(errno)); return NULL; }
    tp_plumed *t = calloc(1, sizeof *t);
    char *buf = NULL;
    size_t cap = 0;
    ssize_t len;
    long line = 0;
    char *w[PL_MAX_FIELDS + 3];
    tp_status st = t ? TP_OK : TP_ERROR(TP_ERR_NOMEM, "plumed: no memory");
    /* a bad row without its newline may be the half-written last line of a
     * running simulation: held back, and skipped if nothing follows it */
    int pending = 0;
    char pend_msg[512] = "";
    while (st == TP_OK && (len = getline(&buf, &cap, f)) >= 0) {
        line++;
        if (pending) { st = TP_ERROR(TP_ERR_FORMAT, "%s", pend_msg); break; }
        const int torn = len > 0 && buf[len - 1] != '\n';   /* before split() cuts the line up */
        if (!strncmp(buf, "#!", 2)) {
            int n = split(buf + 2, w, PL_MAX_FIELDS + 2);
            if (n > PL_MAX_FIELDS + 1) st = TP_ERROR(TP_ERR_FORMAT, "%s:%ld: more than %d fields", path, line, PL_MAX_FIELDS);
            else if (n >= 1 && !strcmp(w[0], "FIELDS")) st = set_fields(t, w + 1, n - 1, path, line);
            else if (n >= 3 && !strcmp(w[0], "SET")) {
                /* the value is the rest of the line (may hold spaces) */
                char *v = w[2];
                for (int i = 3; i < n; i++) w[i][-1] = ' ';
                st = add_set(t, w[1], v);
            } else if (n >= 1 && strcmp(w[0], "SET"))
                st = TP_ERROR(TP_ERR_FORMAT, "%s:%ld: unknown '#! %s' line", path, line, w[0]);
            continue;
        }
        if (buf[0] == '#') continue;
        int n = split(buf, w, PL_MAX_FIELDS);
        if (n == 0) continue;
        if (n > PL_MAX_FIELDS) { st = TP_ERROR(TP_ERR_FORMAT, "%s:%ld: too many values", path, line); break; }
        st = add_row(t, w, n, path, line);
        if (st != TP_OK && torn && st == TP_ERR_FORMAT) {
            snprintf(pend_msg, sizeof pend_msg, "%s", tp_last_error());
            pending = 1;
            st = TP_OK;
        }
    }
    if (st == TP_OK && ferror(f)) st = TP_ERROR(TP_ERR_IO, "%s: read error", path);
    if (st == TP_OK && t->nfields == 0) st = TP_ERROR(TP_ERR_FORMAT, "%s: no '#! FIELDS' line (not a PLUMED file)", path);
    free(buf);
    if (piped) {
        int rc = pclose(f);
        if (st == TP_OK && rc != 0) st = TP_ERROR(TP_ERR_IO, "%s: gzip -dc failed (status %d)", path, rc);
    } else {
        fclose(f);
    }
    if (st != TP_OK) { tp_plumed_free(t); return NULL; }
    if (t) t->torn = pending;
    return t;
}

static int valid_name(const char *s) {
    if (!s || !*s) return 0;
    for (; *s; s++) if (isspace((unsigned char)*s)) return 0;
    return 1;
}

tp_status tp_plumed_write(const char *path, const char *const *fields, int32_t nfields,
                          const char *const *set_keys, const char *const *set_values, int32_t nset,
                          const double *const *cols, const int32_t *strides, int64_t rows, int32_t append) {
    if (!path || !fields || nfields < 1 || nfields > PL_MAX_FIELDS || rows < 0 || (rows > 0 && !cols) || nset < 0)
        return TP_ERROR(TP_ERR_ARG, "plumed write: bad arguments (fields 1..%d, rows >= 0)", PL_MAX_FIELDS);
    for (int32_t i = 0; i < nfields; i++) {
        if (!valid_name(fields[i])) return TP_ERROR(TP_ERR_ARG, "plumed write: field %d has no name or holds a space", i + 1);
        if (rows > 0 && !cols[i]) return TP_ERROR(TP_ERR_ARG, "plumed write: column %s is NULL", fields[i]);
        if (strides && strides[i] < 0) return TP_ERROR(TP_ERR_ARG, "plumed write: negative stride");
    }
    for (int32_t i = 0; i < nset; i++)
        if (!valid_name(set_keys[i]) || !set_values[i] || strchr(set_values[i], '\n'))
            return TP_ERROR(TP_ERR_ARG, "plumed write: SET entry %d needs a key without spaces and a one-line value", i + 1);
    int header = 1;
    if (append) {
        char shadow[4352];
        FILE *e = fopen(tp_io_write_path(path, shadow, sizeof shadow), "r");
        if (e) { fseek(e, 0, SEEK_END); header = ftell(e) <= 0; fclose(e); }
    }
    /* a new file replaces the old one atomically; an append is checked */
    tp_atomic_file af;
    FILE *f = append ? tp_open_append(path) : tp_atomic_open(&af, path);
    if (!f) return append ? TP_ERROR(TP_ERR_IO, "%s: %s", path, strerror(errno)) : TP_ERR_IO;
    if (header) {
        fputs("#! FIELDS", f);
        for (int32_t i = 0; i < nfields; i++) fprintf(f, " %s", fields[i]);
        fputc('\n', f);
        for (int32_t i = 0; i < nset; i++) fprintf(f, "#! SET %s %s\n", set_keys[i], set_values[i]);
    }
    for (int64_t r = 0; r < rows; r++) {
        for (int32_t i = 0; i < nfields; i++) {
            int64_t s = strides ? strides[i] : 1;
            fprintf(f, i ? " %.17g" : "%.17g", cols[i][r * s]);
        }
        fputc('\n', f);
    }
    if (!append) return tp_atomic_commit(&af, 0);
    int bad = ferror(f) || fflush(f) != 0;
    int e = errno;
    if (fclose(f) != 0 || bad) return TP_ERROR(TP_ERR_IO, "%s: write failed: %s", path, strerror(bad ? e : errno));
    return TP_OK;
}

double tp_plumed_hills_scale(double gamma) {
    return (gamma > 1.0 && isfinite(gamma)) ? (gamma - 1.0) / gamma : 1.0;
}

tp_status tp_plumed_write_hills(const char *path, const char *const *names, const double *time,
                                const double *centers, const double *sigma, const double *heights,
                                double gamma, int32_t dim, int64_t n, const char *const *set_keys,
                                const char *const *set_values, int32_t nset, int32_t append) {
    if (!names || !sigma || dim < 1 || dim > 64 || n < 0 || (n > 0 && (!centers || !heights)) || nset < 0 ||
        nset > 30 || (nset > 0 && (!set_keys || !set_values)))
        return TP_ERROR(TP_ERR_ARG, "plumed hills: bad arguments (dim 1..64, n >= 0)");
    int32_t nf = 1 + 2 * dim + 2;
    char **fields = calloc((size_t)nf, sizeof(char *));
    const double **cols = calloc((size_t)nf, sizeof(double *));
    int32_t *strides = calloc((size_t)nf, sizeof(int32_t));
    double *t = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1)), *h = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    double biasf = (gamma > 1.0 && isfinite(gamma)) ? gamma : 1.0, f = 1.0 / tp_plumed_hills_scale(gamma);
    tp_status st = TP_OK;
    if (!fields || !cols || !strides || !t || !h) { st = TP_ERROR(TP_ERR_NOMEM, "plumed hills: no memory"); goto done; }
    for (int64_t i = 0; i < n; i++) { t[i] = time ? time[i] : (double)(i + 1); h[i] = heights[i] * f; }
    fields[0] = strdup("time"); cols[0] = t; strides[0] = 1;
    for (int32_t k = 0; k < dim; k++) {
        if (!valid_name(names[k])) { st = TP_ERROR(TP_ERR_ARG, "plumed hills: CV %d has no name or holds a space", k + 1); goto done; }
        size_t L = strlen(names[k]) + 8;
        fields[1 + k] = strdup(names[k]);
        fields[1 + dim + k] = malloc(L);
        if (fields[1 + dim + k]) snprintf(fields[1 + dim + k], L, "sigma_%s", names[k]);
        cols[1 + k] = centers + k; strides[1 + k] = dim;
        cols[1 + dim + k] = sigma + k; strides[1 + dim + k] = 0;
    }
    fields[1 + 2 * dim] = strdup("height"); cols[1 + 2 * dim] = h; strides[1 + 2 * dim] = 1;
    fields[2 + 2 * dim] = strdup("biasf"); cols[2 + 2 * dim] = &biasf; strides[2 + 2 * dim] = 0;
    for (int32_t i = 0; i < nf; i++) if (!fields[i]) { st = TP_ERROR(TP_ERR_NOMEM, "plumed hills: no memory"); goto done; }
    {
        const char *keys[32] = { "multivariate", "kerneltype" }, *vals[32] = { "false", "gaussian" };
        for (int32_t i = 0; i < nset; i++) { keys[2 + i] = set_keys[i]; vals[2 + i] = set_values[i]; }
        st = tp_plumed_write(path, (const char *const *)fields, nf, keys, vals, 2 + nset, cols, strides, n, append);
    }
done:
    if (fields) for (int32_t i = 0; i < nf; i++) free(fields[i]);
    free(fields); free(cols); free(strides); free(t); free(h);
    return st;
}

tp_status tp_plumed_sum_hills(double *V, const double *const *centers, const double *const *sigma,
                              const double *heights, const double *lo, const double *hi,
                              const int32_t *points, int32_t stride, int32_t dim, int64_t nhills) {
    return tp_plumed_sum_hills_ex(V, centers, sigma, heights, lo, hi, points, stride, dim, nhills, NULL,
                                  TP_PLUMED_GAUSSIAN);
}

/* PLUMED's stretched Gaussian: cut where half the squared distance in
 * widths reaches 6.25 and stretched to reach zero there */
#define PL_DP2_CUTOFF 6.25

tp_status tp_plumed_sum_hills_ex(double *V, const double *const *centers, const double *const *sigma,
                                 const double *heights, const double *lo, const double *hi,
                                 const int32_t *points, int32_t stride, int32_t dim, int64_t nhills,
                                 const double *period, int32_t kernel) {
    if (!V || !lo || !hi || !points || dim < 1 || dim > 8 || nhills < 0 || stride < 1 ||
        (nhills > 0 && (!centers || !sigma || !heights)))
        return TP_ERROR(TP_ERR_ARG, "sum hills: bad arguments (dim 1..8, stride >= 1)");
    if (kernel != TP_PLUMED_GAUSSIAN && kernel != TP_PLUMED_STRETCHED)
        return TP_ERROR(TP_ERR_ARG, "sum hills: unknown kernel %d", kernel);
    int64_t size = 1;
    for (int32_t k = 0; k < dim; k++) {
        if (points[k] < 2 || !(hi[k] > lo[k])) return TP_ERROR(TP_ERR_ARG, "sum hills: axis %d needs points >= 2 and lo < hi", k);
        if (period && (!(period[k] >= 0) || !isfinite(period[k])))
            return TP_ERROR(TP_ERR_ARG, "sum hills: axis %d has period %g", k, period[k]);
        size *= points[k];
    }
    for (int64_t j = 0; j < size; j++) V[j] = 0.0;
    for (int64_t h = 0; h < nhills; h++)
        for (int32_t k = 0; k < dim; k++)
            if (!(sigma[k][h * stride] > 0.0)) return TP_ERROR(TP_ERR_ARG, "sum hills: hill %lld has sigma <= 0", (long long)h + 1);
    const double ecut = exp(-PL_DP2_CUTOFF), sa = 1.0 / (1.0 - ecut), sb = -ecut / (1.0 - ecut);
    #pragma omp parallel for schedule(static)
    for (int64_t j = 0; j < size; j++) {
        double g[8];
        int64_t rem = j;
        for (int32_t k = dim - 1; k >= 0; k--) {
            int64_t i = rem % points[k];
            rem /= points[k];
            double sp = (hi[k] - lo[k]) / (points[k] - 1);
            g[k] = i == points[k] - 1 ? hi[k] : lo[k] + i * sp;      /* as tp_bias lays out its grid */
        }
        double v = 0.0;
        for (int64_t h = 0; h < nhills; h++) {
            double dp2 = 0.0;
            for (int32_t k = 0; k < dim; k++) {
                double d = g[k] - centers[k][h * stride], s = sigma[k][h * stride];
                if (period && period[k] > 0) d -= period[k] * nearbyint(d / period[k]);   /* nearest image */
                dp2 += 0.5 * d * d / (s * s);
            }
            if (kernel == TP_PLUMED_STRETCHED) {
                if (dp2 < PL_DP2_CUTOFF) v += heights[h] * (sa * exp(-dp2) + sb);
            } else {
                v += heights[h] * exp(-dp2);
            }
        }
        V[j] = v;
    }
    return TP_OK;
}
