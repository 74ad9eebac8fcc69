/*
 * runtime/bias.c -- the well-tempered metadynamics bias grid (runtime/bias.h).
 *
 * Contract: every formula is the one of bias.h (man tempera-mc(5)): hills are
 * deposited one at a time in order, each with height w exp(-V[i*] / dT)
 * computed from V as it is after the previous hill.  The Gaussian kernel is
 * evaluated on every grid point as a product of per-dimension factors (so a
 * hill costs one multiply-add per grid point).  Nothing here is
 * multi-threaded: a bias is small (at most a few 10^5 points in practice)
 * and deposition order matters.
 */
#include "tp_ffi.h"
#include "bias.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tp_bias {
    int32_t dim;
    int32_t kernel;
    int32_t policy;
    int32_t points[TP_BIAS_MAX_DIM];
    int64_t stride[TP_BIAS_MAX_DIM];
    double lo[TP_BIAS_MAX_DIM], hi[TP_BIAS_MAX_DIM], spacing[TP_BIAS_MAX_DIM];
    double sigma[TP_BIAS_MAX_DIM];
    int32_t wall_lo[TP_BIAS_MAX_DIM], wall_hi[TP_BIAS_MAX_DIM];   /* reflecting walls (Gaussian kernel) */
    double height, bias_factor, kT;
    int64_t size;
    int64_t nhills, ncycles, out_deposit, out_eval;
    double *v;        /* (size) */
    double *scratch;  /* (sum points) per-dimension Gaussian factors */
};

#define TP_BIAS_MAX_SIZE ((int64_t)1 << 28)

static int is_plain(double gamma) { return !(gamma > 1.0) || isinf(gamma); }

static tp_status check_sigma(int32_t dim, const double *sigma, int32_t kernel) {
    if (kernel == TP_BIAS_DELTA && !sigma) return TP_OK;
    if (!sigma) return TP_ERROR(TP_ERR_ARG, "bias: the Gaussian kernel needs sigma");
    for (int k = 0; k < dim; k++)
        if (!(sigma[k] > 0) || !isfinite(sigma[k]))
            return TP_ERROR(TP_ERR_ARG, "bias: sigma[%d] must be > 0, got %g", k + 1, sigma[k]);
    return TP_OK;
}

tp_bias *tp_bias_init(int32_t dim, const double *lo, const double *hi,
                      const int32_t *points, const double *sigma,
                      double height, double bias_factor, double kT, int32_t kernel) {
    if (dim < 1 || dim > TP_BIAS_MAX_DIM) {
        TP_ERROR(TP_ERR_ARG, "bias: dimension must be 1..%d, got %d", TP_BIAS_MAX_DIM, dim);
        return NULL;
    }
    if (!lo || !hi || !points) { TP_ERROR(TP_ERR_ARG, "bias: lo, hi and points are required"); return NULL; }
    if (kernel != TP_BIAS_GAUSSIAN && kernel != TP_BIAS_DELTA) {
        TP_ERROR(TP_ERR_ARG, "bias: unknown kernel %d", kernel);
        return NULL;
    }
    int64_t size = 1, nscratch = 0;
    for (int k = 0; k < dim; k++) {
        if (!isfinite(lo[k]) || !isfinite(hi[k]) || !(hi[k] > lo[k])) {
            TP_ERROR(TP_ERR_ARG, "bias: range of dimension %d must have lo < hi, got [%g, %g]", k + 1, lo[k], hi[k]);
            return NULL;
        }
        if (points[k] < 2) {
            TP_ERROR(TP_ERR_ARG, "bias: dimension %d needs at least 2 grid points, got %d", k + 1, points[k]);
            return NULL;
        }
        size *= points[k];
        nscratch += points[k];
        if (size > TP_BIAS_MAX_SIZE) {
            TP_ERROR(TP_ERR_ARG, "bias: grid too large (more than %lld points)", (long long)TP_BIAS_MAX_SIZE);
            return NULL;
        }
    }
    if (check_sigma(dim, sigma, kernel) != TP_OK) return NULL;
    if (!(height >= 0) || !isfinite(height)) { TP_ERROR(TP_ERR_ARG, "bias: height must be >= 0, got %g", height); return NULL; }
    if (!(kT > 0) || !isfinite(kT)) { TP_ERROR(TP_ERR_ARG, "bias: kT must be > 0, got %g", kT); return NULL; }
    if (isnan(bias_factor)) { TP_ERROR(TP_ERR_ARG, "bias: bias factor is NaN"); return NULL; }

    tp_bias *b = calloc(1, sizeof *b);
    if (!b) { TP_ERROR(TP_ERR_NOMEM, "bias: out of memory"); return NULL; }
    b->v = calloc((size_t)size, sizeof(double));
    b->scratch = calloc((size_t)nscratch, sizeof(double));
    if (!b->v || !b->scratch) {
        tp_bias_free(b);
        TP_ERROR(TP_ERR_NOMEM, "bias: out of memory for %lld grid points", (long long)size);
        return NULL;
    }
    b->dim = dim;
    b->kernel = kernel;
    b->policy = TP_BIAS_OUT_CLAMP;
    b->size = size;
    int64_t st = 1;
    for (int k = dim - 1; k >= 0; k--) { b->stride[k] = st; st *= points[k]; }
    for (int k = 0; k < dim; k++) {
        b->points[k] = points[k];
        b->lo[k] = lo[k];
        b->hi[k] = hi[k];
        b->spacing[k] = (hi[k] - lo[k]) / (points[k] - 1);
        b->sigma[k] = sigma ? sigma[k] : b->spacing[k];
    }
    b->height = height;
    b->bias_factor = bias_factor;
    b->kT = kT;
    return b;
}

void tp_bias_free(tp_bias *b) {
    if (!b) return;
    free(b->v);
    free(b->scratch);
    free(b);
}

tp_bias *tp_bias_clone(const tp_bias *b) {
    if (!b) { TP_ERROR(TP_ERR_ARG, "bias: NULL"); return NULL; }
    tp_bias *c = tp_bias_init(b->dim, b->lo, b->hi, b->points, b->sigma, b->height,
                              b->bias_factor, b->kT, b->kernel);
    if (!c) return NULL;
    memcpy(c->v, b->v, (size_t)b->size * sizeof(double));
    memcpy(c->wall_lo, b->wall_lo, sizeof c->wall_lo);
    memcpy(c->wall_hi, b->wall_hi, sizeof c->wall_hi);
    c->policy = b->policy;
    c->nhills = b->nhills;
    c->ncycles = b->ncycles;
    c->out_deposit = b->out_deposit;
    c->out_eval = b->out_eval;
    return c;
}

tp_status tp_bias_get_info(const tp_bias *b, tp_bias_info *out) {
    if (!b || !out) return TP_ERROR(TP_ERR_ARG, "bias: NULL argument");
    memset(out, 0, sizeof *out);
    out->dim = b->dim;
    for (int k = 0; k < b->dim; k++) { out->wall_lo[k] = b->wall_lo[k]; out->wall_hi[k] = b->wall_hi[k]; }
    out->kernel = b->kernel;
    out->policy = b->policy;
    for (int k = 0; k < b->dim; k++) {
        out->points[k] = b->points[k];
        out->lo[k] = b->lo[k];
        out->hi[k] = b->hi[k];
        out->spacing[k] = b->spacing[k];
        out->sigma[k] = b->sigma[k];
    }
    out->height = b->height;
    out->bias_factor = b->bias_factor;
    out->kT = b->kT;
    out->size = b->size;
    out->nhills = b->nhills;
    out->ncycles = b->ncycles;
    out->out_deposit = b->out_deposit;
    out->out_eval = b->out_eval;
    return TP_OK;
}

int32_t tp_bias_dim(const tp_bias *b) { return b ? b->dim : 0; }
int64_t tp_bias_size(const tp_bias *b) { return b ? b->size : 0; }
int32_t tp_bias_points(const tp_bias *b, int32_t k) {
    return (b && k >= 0 && k < b->dim) ? b->points[k] : 0;
}
double *tp_bias_values(tp_bias *b) { return b ? b->v : NULL; }

tp_status tp_bias_grid_point(const tp_bias *b, double *coords, int64_t flat) {
    if (!b || !coords) return TP_ERROR(TP_ERR_ARG, "bias: NULL argument");
    if (flat < 0 || flat >= b->size)
        return TP_ERROR(TP_ERR_ARG, "bias: grid index %lld out of range [0, %lld)", (long long)flat, (long long)b->size);
    for (int k = 0; k < b->dim; k++) {
        int64_t i = (flat / b->stride[k]) % b->points[k];
        coords[k] = i == b->points[k] - 1 ? b->hi[k] : b->lo[k] + i * b->spacing[k];
    }
    return TP_OK;
}

tp_status tp_bias_set_height(tp_bias *b, double height) {
    if (!b) return TP_ERROR(TP_ERR_ARG, "bias: NULL");
    if (!(height >= 0) || !isfinite(height)) return TP_ERROR(TP_ERR_ARG, "bias: height must be >= 0, got %g", height);
    b->height = height;
    return TP_OK;
}

tp_status tp_bias_set_sigma(tp_bias *b, const double *sigma) {
    if (!b || !sigma) return TP_ERROR(TP_ERR_ARG, "bias: NULL argument");
    TP_TRY(check_sigma(b->dim, sigma, TP_BIAS_GAUSSIAN));
    for (int k = 0; k < b->dim; k++) b->sigma[k] = sigma[k];
    return TP_OK;
}

tp_status tp_bias_set_bias_factor(tp_bias *b, double bias_factor) {
    if (!b) return TP_ERROR(TP_ERR_ARG, "bias: NULL");
    if (isnan(bias_factor)) return TP_ERROR(TP_ERR_ARG, "bias: bias factor is NaN");
    b->bias_factor = bias_factor;
    return TP_OK;
}

tp_status tp_bias_set_kT(tp_bias *b, double kT) {
    if (!b) return TP_ERROR(TP_ERR_ARG, "bias: NULL");
    if (!(kT > 0) || !isfinite(kT)) return TP_ERROR(TP_ERR_ARG, "bias: kT must be > 0, got %g", kT);
    b->kT = kT;
    return TP_OK;
}

tp_status tp_bias_set_walls(tp_bias *b, const int32_t *lo_walls, const int32_t *hi_walls) {
    if (!b) return TP_ERROR(TP_ERR_ARG, "bias: NULL");
    for (int k = 0; k < b->dim; k++) {
        b->wall_lo[k] = lo_walls && lo_walls[k] ? 1 : 0;
        b->wall_hi[k] = hi_walls && hi_walls[k] ? 1 : 0;
    }
    return TP_OK;
}

tp_status tp_bias_set_kernel(tp_bias *b, int32_t kernel) {
    if (!b) return TP_ERROR(TP_ERR_ARG, "bias: NULL");
    if (kernel != TP_BIAS_GAUSSIAN && kernel != TP_BIAS_DELTA)
        return TP_ERROR(TP_ERR_ARG, "bias: unknown kernel %d", kernel);
    b->kernel = kernel;
    return TP_OK;
}

tp_status tp_bias_set_policy(tp_bias *b, int32_t policy) {
    if (!b) return TP_ERROR(TP_ERR_ARG, "bias: NULL");
    if (policy < TP_BIAS_OUT_CLAMP || policy > TP_BIAS_OUT_ERROR)
        return TP_ERROR(TP_ERR_ARG, "bias: unknown out-of-grid policy %d", policy);
    b->policy = policy;
    return TP_OK;
}

void tp_bias_reset(tp_bias *b) {
    if (!b) return;
    memset(b->v, 0, (size_t)b->size * sizeof(double));
    b->nhills = b->ncycles = b->out_deposit = b->out_eval = 0;
}

void tp_bias_clear_counts(tp_bias *b) {
    if (b) b->out_deposit = b->out_eval = 0;
}

/* 1 if s lies outside the box by more than 1e-9 spacing in some dimension
 * (NaN counts as outside). */
static int outside(const tp_bias *b, const double *s) {
    for (int k = 0; k < b->dim; k++) {
        double tol = 1e-9 * b->spacing[k];
        if (!(s[k] >= b->lo[k] - tol && s[k] <= b->hi[k] + tol)) return 1;
    }
    return 0;
}

/* nearest grid index along dimension k, clamped (NaN -> 0) */
static inline int64_t axis_index(const tp_bias *b, int k, double x) {
    double u = (x - b->lo[k]) / b->spacing[k] + 0.5;
    if (!(u > 0)) return 0;
    if (u >= b->points[k]) return b->points[k] - 1;
    int64_t i = (int64_t)u;
    return i < b->points[k] ? i : b->points[k] - 1;
}

int64_t tp_bias_index(const tp_bias *b, const double *s) {
    int64_t flat = 0;
    for (int k = 0; k < b->dim; k++) flat += axis_index(b, k, s[k]) * b->stride[k];
    return flat;
}

double tp_bias_value(const tp_bias *b, const double *s) {
    return b->v[tp_bias_index(b, s)];
}

/* The hill itself (s already inside or clamped); returns its height after
 * the well-tempered factor. */
static double deposit_hill(tp_bias *b, const double *s, double w) {
    int64_t istar = tp_bias_index(b, s);
    double h = w;
    if (!is_plain(b->bias_factor)) {
        double dT = (b->bias_factor - 1.0) * b->kT;
        h = w * exp(-b->v[istar] / dT);
    }
    b->nhills++;
    if (b->kernel == TP_BIAS_DELTA) {
        b->v[istar] += h;
        return h;
    }
    /* per-dimension factors g_k(i) = exp(-(g_ki - s_k)^2 / (2 sigma_k^2)),
     * plus the hill's mirror image behind each reflecting wall, so no part
     * of the hill is lost beyond a hard edge of the CV */
    double *f[TP_BIAS_MAX_DIM];
    double *p = b->scratch;
    for (int k = 0; k < b->dim; k++) {
        f[k] = p;
        double inv = 1.0 / (2.0 * b->sigma[k] * b->sigma[k]);
        double mlo = 2.0 * b->lo[k] - s[k], mhi = 2.0 * b->hi[k] - s[k];
        /* a hill on the wall itself is its own image (a CV value at the
         * edge, such as m = 1, is one state, not two) */
        double on = 1e-9 * b->spacing[k];
        int ilo = b->wall_lo[k] && s[k] - b->lo[k] > on, ihi = b->wall_hi[k] && b->hi[k] - s[k] > on;
        for (int i = 0; i < b->points[k]; i++) {
            double g = i == b->points[k] - 1 ? b->hi[k] : b->lo[k] + i * b->spacing[k];
            double d = g - s[k];
            p[i] = exp(-d * d * inv);
            if (ilo) p[i] += exp(-(g - mlo) * (g - mlo) * inv);
            if (ihi) p[i] += exp(-(g - mhi) * (g - mhi) * inv);
        }
        p += b->points[k];
    }
    if (b->dim == 1) {
        for (int64_t j = 0; j < b->size; j++) b->v[j] += h * f[0][j];
        return h;
    }
    int last = b->dim - 1;
    int64_t rows = b->size / b->points[last];
    int32_t idx[TP_BIAS_MAX_DIM] = {0};
    for (int64_t r = 0; r < rows; r++) {
        double c = h;
        for (int k = 0; k < last; k++) c *= f[k][idx[k]];
        double *v = b->v + r * b->points[last];
        const double *fl = f[last];
        for (int i = 0; i < b->points[last]; i++) v[i] += c * fl[i];
        for (int k = last - 1; k >= 0; k--) {
            if (++idx[k] < b->points[k]) break;
            idx[k] = 0;
        }
    }
    return h;
}

/* Applies the out-of-grid policy to one point: 0 = skip, 1 = deposit at t. */
static int place(tp_bias *b, const double *s, double *t) {
    if (!outside(b, s)) {
        for (int k = 0; k < b->dim; k++) t[k] = s[k];
        return 1;
    }
    b->out_deposit++;
    if (b->policy == TP_BIAS_OUT_SKIP) return 0;
    for (int k = 0; k < b->dim; k++) {
        double x = s[k];
        t[k] = !(x > b->lo[k]) ? b->lo[k] : (x > b->hi[k] ? b->hi[k] : x);
    }
    return 1;
}

static tp_status check_batch(tp_bias *b, const double *s, int64_t B, const char *what) {
    for (int64_t i = 0; i < B; i++) {
        if (outside(b, s + i * b->dim)) {
            b->out_deposit++;
            char buf[160];
            int n = 0;
            for (int k = 0; k < b->dim && n < (int)sizeof buf - 32; k++)
                n += snprintf(buf + n, sizeof buf - n, "%s%g", k ? ", " : "", s[i * b->dim + k]);
            return TP_ERROR(TP_ERR_ARG, "bias: %s point %lld (%s) is outside the grid "
                            "(out-of-grid policy 'error')", what, (long long)i + 1, buf);
        }
    }
    return TP_OK;
}

/* One cycle of B hills: hill i of raw height W * u_i / sum u, u_i =
 * exp(logw_i - max logw), or W / B for all when logw is NULL. */
/* One cycle; heights (B) and centers (B, dim), when given, receive what was
 * deposited (0 and the clamped point for a hill the policy skipped). */
static tp_status deposit_cycle(tp_bias *b, const double *s, const double *logw, int64_t B, double *heights,
                               double *centers) {
    if (!b || !s) return TP_ERROR(TP_ERR_ARG, "bias: NULL argument");
    if (B < 1) return TP_ERROR(TP_ERR_ARG, "bias: deposit needs at least one point, got %lld", (long long)B);
    double mx = -INFINITY, tot = (double)B;
    if (logw) {
        for (int64_t i = 0; i < B; i++) {
            if (isnan(logw[i]) || logw[i] == INFINITY)
                return TP_ERROR(TP_ERR_ARG, "bias: log-weight %lld is %g (finite or -inf expected)", (long long)i + 1,
                                logw[i]);
            if (logw[i] > mx) mx = logw[i];
        }
        if (mx == -INFINITY) return TP_ERROR(TP_ERR_ARG, "bias: every log-weight is -inf");
        tot = 0.0;
        for (int64_t i = 0; i < B; i++) tot += exp(logw[i] - mx);
    }
    if (b->policy == TP_BIAS_OUT_ERROR) TP_TRY(check_batch(b, s, B, "deposit"));
    double t[TP_BIAS_MAX_DIM];
    int any = 0;
    for (int64_t i = 0; i < B; i++) {
        double w = logw ? b->height * exp(logw[i] - mx) / tot : b->height / tot, h = 0.0;
        int placed = !(logw && w == 0.0) && place(b, s + i * b->dim, t);   /* weight 0: no hill */
        if (placed) {
            h = deposit_hill(b, t, w);
            any = 1;
        }
        if (heights) heights[i] = h;
        if (centers) for (int k = 0; k < b->dim; k++) centers[i * b->dim + k] = placed ? t[k] : s[i * b->dim + k];
    }
    if (any) b->ncycles++;
    return TP_OK;
}

tp_status tp_bias_deposit(tp_bias *b, const double *s, int64_t B) { return deposit_cycle(b, s, NULL, B, NULL, NULL); }

tp_status tp_bias_deposit_weighted(tp_bias *b, const double *s, const double *logw, int64_t B) {
    if (!logw) return TP_ERROR(TP_ERR_ARG, "bias: NULL argument");
    return deposit_cycle(b, s, logw, B, NULL, NULL);
}

tp_status tp_bias_deposit_record(tp_bias *b, const double *s, const double *logw, int64_t B, double *heights,
                                 double *centers) {
    if (!heights || !centers) return TP_ERROR(TP_ERR_ARG, "bias: NULL argument");
    return deposit_cycle(b, s, logw, B, heights, centers);
}

tp_status tp_bias_deposit_one(tp_bias *b, const double *s, double w) {
    if (!b || !s) return TP_ERROR(TP_ERR_ARG, "bias: NULL argument");
    if (!isfinite(w)) return TP_ERROR(TP_ERR_ARG, "bias: hill height must be finite, got %g", w);
    if (b->policy == TP_BIAS_OUT_ERROR) TP_TRY(check_batch(b, s, 1, "deposit"));
    double t[TP_BIAS_MAX_DIM];
    if (place(b, s, t)) deposit_hill(b, t, w);
    return TP_OK;
}

tp_status tp_bias_eval(tp_bias *b, double *out, const double *s, int64_t B) {
    if (!b || (B > 0 && (!out || !s))) return TP_ERROR(TP_ERR_ARG, "bias: NULL argument");
    if (B < 0) return TP_ERROR(TP_ERR_ARG, "bias: negative batch %lld", (long long)B);
    if (b->policy == TP_BIAS_OUT_ERROR) {
        for (int64_t i = 0; i < B; i++)
            if (outside(b, s + i * b->dim)) {
                b->out_eval++;
                return TP_ERROR(TP_ERR_ARG, "bias: evaluation point %lld is outside the grid "
                                "(out-of-grid policy 'error')", (long long)i + 1);
            }
    }
    int64_t nout = 0;
    for (int64_t i = 0; i < B; i++) {
        const double *si = s + i * b->dim;
        if (outside(b, si)) nout++;
        out[i] = b->v[tp_bias_index(b, si)];
    }
    b->out_eval += nout;
    return TP_OK;
}

tp_status tp_bias_log_weights(tp_bias *b, double *logw, const double *s, int64_t B, double beta) {
    if (!(beta > 0) || !isfinite(beta)) return TP_ERROR(TP_ERR_ARG, "bias: beta must be > 0, got %g", beta);
    TP_TRY(tp_bias_eval(b, logw, s, B));
    for (int64_t i = 0; i < B; i++) logw[i] *= beta;
    return TP_OK;
}

tp_status tp_bias_pmf(const tp_bias *b, double *pmf) {
    if (!b || !pmf) return TP_ERROR(TP_ERR_ARG, "bias: NULL argument");
    double g = b->bias_factor;
    double c = is_plain(g) ? -1.0 : -g / (g - 1.0);
    double mn = INFINITY;
    for (int64_t j = 0; j < b->size; j++) {
        pmf[j] = c * b->v[j];
        if (pmf[j] < mn) mn = pmf[j];
    }
    for (int64_t j = 0; j < b->size; j++) pmf[j] -= mn;
    return TP_OK;
}

/* ---- state as doubles (a checkpoint slot) ----------------------------------- */

#define BIAS_STATE_MAGIC 1651073395.0   /* "bias" as a little-endian u32 */
#define BIAS_STATE_HEAD 12
#define BIAS_STATE_PER_DIM 6

int64_t tp_bias_state_size(const tp_bias *b) {
    if (!b) return 0;
    return BIAS_STATE_HEAD + BIAS_STATE_PER_DIM * (int64_t)b->dim + b->size;
}

tp_status tp_bias_get_state(const tp_bias *b, double *out, int64_t n) {
    if (!b || !out) return TP_ERROR(TP_ERR_ARG, "bias_get_state: NULL argument");
    if (n != tp_bias_state_size(b))
        return TP_ERROR(TP_ERR_ARG, "bias_get_state: the state has %lld doubles, got room for %lld",
                        (long long)tp_bias_state_size(b), (long long)n);
    double *p = out;
    *p++ = BIAS_STATE_MAGIC; *p++ = 1; *p++ = b->dim; *p++ = b->kernel; *p++ = b->policy;
    *p++ = b->height; *p++ = b->bias_factor; *p++ = b->kT;
    *p++ = (double)b->nhills; *p++ = (double)b->ncycles; *p++ = (double)b->out_deposit; *p++ = (double)b->out_eval;
    for (int k = 0; k < b->dim; k++) {
        *p++ = b->points[k]; *p++ = b->lo[k]; *p++ = b->hi[k]; *p++ = b->sigma[k];
        *p++ = b->wall_lo[k]; *p++ = b->wall_hi[k];
    }
    memcpy(p, b->v, (size_t)b->size * sizeof(double));
    return TP_OK;
}

tp_status tp_bias_set_state(tp_bias *b, const double *in, int64_t n) {
    if (!b || !in) return TP_ERROR(TP_ERR_ARG, "bias_set_state: NULL argument");
    if (n < BIAS_STATE_HEAD || in[0] != BIAS_STATE_MAGIC || in[1] != 1)
        return TP_ERROR(TP_ERR_FORMAT, "bias_set_state: not a bias state (or of another version)");
    if (in[2] != b->dim || n != tp_bias_state_size(b))
        return TP_ERROR(TP_ERR_ARG, "bias_set_state: the state is of a %g-dimensional grid of %lld values, this bias "
                        "has %d dimensions and %lld points", in[2], (long long)(n - BIAS_STATE_HEAD), b->dim,
                        (long long)b->size);
    const double *p = in + BIAS_STATE_HEAD;
    for (int k = 0; k < b->dim; k++, p += BIAS_STATE_PER_DIM)
        if (p[0] != b->points[k] || p[1] != b->lo[k] || p[2] != b->hi[k])
            return TP_ERROR(TP_ERR_ARG, "bias_set_state: dimension %d is %g points on [%g, %g], this bias has %d on "
                            "[%g, %g]", k + 1, p[0], p[1], p[2], b->points[k], b->lo[k], b->hi[k]);
    int32_t kernel = (int32_t)in[3], policy = (int32_t)in[4];
    if ((kernel != TP_BIAS_GAUSSIAN && kernel != TP_BIAS_DELTA) || policy < 0 || policy > TP_BIAS_OUT_ERROR ||
        !(in[7] > 0) || !(in[5] >= 0) || in[8] < 0 || in[9] < 0)
        return TP_ERROR(TP_ERR_FORMAT, "bias_set_state: bad parameters");
    p = in + BIAS_STATE_HEAD;
    for (int k = 0; k < b->dim; k++, p += BIAS_STATE_PER_DIM)
        if (!(p[3] > 0) && kernel == TP_BIAS_GAUSSIAN) return TP_ERROR(TP_ERR_FORMAT, "bias_set_state: bad sigma");
    for (int64_t j = 0; j < b->size; j++)
        if (!isfinite(p[j])) return TP_ERROR(TP_ERR_FORMAT, "bias_set_state: value %lld is not finite", (long long)j);
    /* checked: now change the bias */
    b->kernel = kernel; b->policy = policy;
    b->height = in[5]; b->bias_factor = in[6]; b->kT = in[7];
    b->nhills = (int64_t)in[8]; b->ncycles = (int64_t)in[9]; b->out_deposit = (int64_t)in[10]; b->out_eval = (int64_t)in[11];
    p = in + BIAS_STATE_HEAD;
    for (int k = 0; k < b->dim; k++, p += BIAS_STATE_PER_DIM) {
        b->sigma[k] = p[3];
        b->wall_lo[k] = p[4] != 0;
        b->wall_hi[k] = p[5] != 0;
    }
    memcpy(b->v, p, (size_t)b->size * sizeof(double));
    return TP_OK;
}

/* ---- save / load ---------------------------------------------------------- */

static const char *kernel_name(int32_t k) { return k == TP_BIAS_DELTA ? "delta" : "gaussian"; }
static const char *policy_name(int32_t p) {
    return p == TP_BIAS_OUT_SKIP ? "skip" : p == TP_BIAS_OUT_ERROR ? "error" : "clamp";
}

tp_status tp_bias_save(const tp_bias *b, const char *path) {
    if (!b || !path) return TP_ERROR(TP_ERR_ARG, "bias: NULL argument");
    tp_atomic_file af;   /* a kill or a full disk leaves the previous file */
    FILE *f = tp_atomic_open(&af, path);
    if (!f) return TP_ERR_IO;
    fprintf(f, "tempera-bias 1\n# well-tempered metadynamics bias (man tempera-mc(5))\n");
    fprintf(f, "dim %d\nkernel %s\npolicy %s\n", b->dim, kernel_name(b->kernel), policy_name(b->policy));
    fprintf(f, "height %.17g\nbias_factor %.17g\nkT %.17g\n", b->height, b->bias_factor, b->kT);
    fprintf(f, "nhills %lld\nncycles %lld\n", (long long)b->nhills, (long long)b->ncycles);
    for (int k = 0; k < b->dim; k++)
        fprintf(f, "axis %d %.17g %.17g %d %.17g\n", k + 1, b->lo[k], b->hi[k], b->points[k], b->sigma[k]);
    for (int k = 0; k < b->dim; k++)
        if (b->wall_lo[k] || b->wall_hi[k]) fprintf(f, "walls %d %d %d\n", k + 1, b->wall_lo[k], b->wall_hi[k]);
    fprintf(f, "values\n");
    for (int64_t j = 0; j < b->size; j++) fprintf(f, "%.17g\n", b->v[j]);
    return tp_atomic_commit(&af, 0);
}

/* next non-comment, non-empty line into buf; 0 at EOF */
static int next_line(FILE *f, char *buf, int n, int *lineno) {
    while (fgets(buf, n, f)) {
        (*lineno)++;
        char *p = buf;
        while (*p == ' ' || *p == '\t') p++;
        if (*p == '#' || *p == '\n' || *p == '\r' || *p == 0) continue;
        buf[strcspn(buf, "\r\n")] = 0;
        return 1;
    }
    return 0;
}

tp_bias *tp_bias_load(const char *path) {
    if (!path) { TP_ERROR(TP_ERR_ARG, "bias: NULL path"); return NULL; }
    char shadow[4352];
    FILE *f = fopen(tp_io_read_path_buf(path, shadow, sizeof shadow), "r");
    if (!f) { TP_ERROR(TP_ERR_IO, "bias: cannot read %s: %s", path, strerror(errno)); return NULL; }
    char line[512], word[64];
    int ln = 0, version = 0, dim = 0;
    int32_t kernel = TP_BIAS_GAUSSIAN, policy = TP_BIAS_OUT_CLAMP, points[TP_BIAS_MAX_DIM] = {0};
    double height = 0, gamma = 1, kT = 1, lo[TP_BIAS_MAX_DIM], hi[TP_BIAS_MAX_DIM], sigma[TP_BIAS_MAX_DIM];
    long long nhills = 0, ncycles = 0;
    int naxis = 0;
    int32_t wlo[TP_BIAS_MAX_DIM] = {0}, whi[TP_BIAS_MAX_DIM] = {0};
    tp_bias *b = NULL;
    if (!next_line(f, line, sizeof line, &ln) || sscanf(line, "tempera-bias %d", &version) != 1) {
        TP_ERROR(TP_ERR_FORMAT, "%s:%d: not a tempera bias file (expected 'tempera-bias 1')", path, ln);
        goto fail;
    }
    if (version != 1) {
        TP_ERROR(TP_ERR_FORMAT, "%s:%d: unsupported bias file version %d (this build reads 1)", path, ln, version);
        goto fail;
    }
    for (;;) {
        if (!next_line(f, line, sizeof line, &ln)) {
            TP_ERROR(TP_ERR_FORMAT, "%s:%d: unexpected end of file before 'values'", path, ln);
            goto fail;
        }
        if (sscanf(line, "%63s", word) != 1) goto bad;
        if (!strcmp(word, "values")) break;
        if (!strcmp(word, "dim")) {
            if (sscanf(line, "dim %d", &dim) != 1 || dim < 1 || dim > TP_BIAS_MAX_DIM) goto bad;
        } else if (!strcmp(word, "kernel")) {
            char v[32];
            if (sscanf(line, "kernel %31s", v) != 1) goto bad;
            if (!strcmp(v, "gaussian")) kernel = TP_BIAS_GAUSSIAN;
            else if (!strcmp(v, "delta")) kernel = TP_BIAS_DELTA;
            else goto bad;
        } else if (!strcmp(word, "policy")) {
            char v[32];
            if (sscanf(line, "policy %31s", v) != 1) goto bad;
            if (!strcmp(v, "clamp")) policy = TP_BIAS_OUT_CLAMP;
            else if (!strcmp(v, "skip")) policy = TP_BIAS_OUT_SKIP;
            else if (!strcmp(v, "error")) policy = TP_BIAS_OUT_ERROR;
            else goto bad;
        } else if (!strcmp(word, "height")) {
            if (sscanf(line, "height %lf", &height) != 1) goto bad;
        } else if (!strcmp(word, "bias_factor")) {
            if (sscanf(line, "bias_factor %lf", &gamma) != 1) goto bad;
        } else if (!strcmp(word, "kT")) {
            if (sscanf(line, "kT %lf", &kT) != 1) goto bad;
        } else if (!strcmp(word, "nhills")) {
            if (sscanf(line, "nhills %lld", &nhills) != 1) goto bad;
        } else if (!strcmp(word, "ncycles")) {
            if (sscanf(line, "ncycles %lld", &ncycles) != 1) goto bad;
        } else if (!strcmp(word, "walls")) {
            int k, a, z;
            if (sscanf(line, "walls %d %d %d", &k, &a, &z) != 3 || k < 1 || k > TP_BIAS_MAX_DIM || (a | z) & ~1)
                goto bad;
            wlo[k - 1] = a; whi[k - 1] = z;
        } else if (!strcmp(word, "axis")) {
            int k, p;
            double a, z, sg;
            if (sscanf(line, "axis %d %lf %lf %d %lf", &k, &a, &z, &p, &sg) != 5) goto bad;
            if (k != naxis + 1 || k > TP_BIAS_MAX_DIM) goto bad;
            lo[naxis] = a; hi[naxis] = z; points[naxis] = p; sigma[naxis] = sg;
            naxis++;
        } else {
            TP_ERROR(TP_ERR_FORMAT, "%s:%d: unknown key '%s'", path, ln, word);
            goto fail;
        }
    }
    if (dim < 1 || naxis != dim) {
        TP_ERROR(TP_ERR_FORMAT, "%s: expected 'dim D' and D axis lines (dim %d, %d axes)", path, dim, naxis);
        goto fail;
    }
    b = tp_bias_init(dim, lo, hi, points, sigma, height, gamma, kT, kernel);
    if (!b) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", tp_last_error());
        TP_ERROR(TP_ERR_FORMAT, "%s: %s", path, msg);
        goto fail;
    }
    b->policy = policy;
    tp_bias_set_walls(b, wlo, whi);
    b->nhills = nhills;
    b->ncycles = ncycles;
    for (int64_t j = 0; j < b->size; j++) {
        if (!next_line(f, line, sizeof line, &ln)) {
            TP_ERROR(TP_ERR_FORMAT, "%s:%d: expected %lld values, file ends after %lld",
                     path, ln, (long long)b->size, (long long)j);
            goto fail;
        }
        char *end;
        b->v[j] = strtod(line, &end);
        if (end == line || !isfinite(b->v[j])) goto bad;
    }
    if (next_line(f, line, sizeof line, &ln)) {
        TP_ERROR(TP_ERR_FORMAT, "%s:%d: more values than the grid has (%lld)", path, ln, (long long)b->size);
        goto fail;
    }
    fclose(f);
    return b;
bad:
    TP_ERROR(TP_ERR_FORMAT, "%s:%d: malformed line: %.60s", path, ln, line);
fail:
    fclose(f);
    tp_bias_free(b);
    return NULL;
}
