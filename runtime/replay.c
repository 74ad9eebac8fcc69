/*
 * runtime/replay.c -- the CV-stratified replay buffer (runtime/replay.h):
 * bins^dim cells over the CV box, each a ring buffer (FIFO) of
 * cap = max(1, size / bins^dim) entries; draws pick a non-empty cell
 * uniformly, then an entry uniformly, from Philox stream (seed, stream).
 * Contract and state layout in the header.
 */
#include "replay.h"
#include "philox.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define REPLAY_MAGIC ((double)0x7265706c)
#define REPLAY_VERSION 1.0
#define REPLAY_HEADER 7

struct tp_replay {
    int32_t sites, dim, bins;
    int64_t ncells, cap, total;
    double lo[8], hi[8];
    int64_t *count;    /* (ncells) entries held per cell */
    int64_t *head;     /* (ncells) slot of the oldest entry */
    uint8_t *x;        /* (ncells, cap, sites) */
    double *cv;        /* (ncells, cap, dim) */
    int64_t *scratch;  /* (ncells) non-empty cell list for draws */
};

tp_replay *tp_replay_init(int32_t sites, int32_t dim, const double *lo, const double *hi,
                          int32_t bins, int64_t size) {
    if (sites < 1) { TP_ERROR(TP_ERR_ARG, "replay: sites must be >= 1, got %d", sites); return NULL; }
    if (dim < 1 || dim > 8) { TP_ERROR(TP_ERR_ARG, "replay: CV dimension must be 1..8, got %d", dim); return NULL; }
    if (!lo || !hi) { TP_ERROR(TP_ERR_ARG, "replay: lo and hi are required"); return NULL; }
    if (bins < 1) { TP_ERROR(TP_ERR_ARG, "replay: bins must be >= 1, got %d", bins); return NULL; }
    if (size < 1) { TP_ERROR(TP_ERR_ARG, "replay: size must be >= 1, got %lld", (long long)size); return NULL; }
    int64_t ncells = 1;
    for (int k = 0; k < dim; k++) {
        if (!(hi[k] > lo[k]) || !isfinite(lo[k]) || !isfinite(hi[k])) {
            TP_ERROR(TP_ERR_ARG, "replay: CV box dimension %d is [%g, %g]; need lo < hi", k + 1, lo[k], hi[k]);
            return NULL;
        }
        ncells *= bins;
        if (ncells > ((int64_t)1 << 20)) {
            TP_ERROR(TP_ERR_ARG, "replay: %d bins in %d dimensions is more than 2^20 cells", bins, dim);
            return NULL;
        }
    }
    tp_replay *rb = calloc(1, sizeof *rb);
    if (!rb) { TP_ERROR(TP_ERR_NOMEM, "replay: out of memory"); return NULL; }
    rb->sites = sites; rb->dim = dim; rb->bins = bins; rb->ncells = ncells;
    rb->cap = size / ncells > 0 ? size / ncells : 1;
    for (int k = 0; k < dim; k++) { rb->lo[k] = lo[k]; rb->hi[k] = hi[k]; }
    rb->count = calloc((size_t)ncells, sizeof *rb->count);
    rb->head = calloc((size_t)ncells, sizeof *rb->head);
    rb->scratch = calloc((size_t)ncells, sizeof *rb->scratch);
    rb->x = calloc((size_t)(ncells * rb->cap), (size_t)sites);
    rb->cv = calloc((size_t)(ncells * rb->cap * dim), sizeof *rb->cv);
    if (!rb->count || !rb->head || !rb->scratch || !rb->x || !rb->cv) {
        TP_ERROR(TP_ERR_NOMEM, "replay: out of memory (%lld entries of %d sites)",
                 (long long)(ncells * rb->cap), sites);
        tp_replay_free(rb);
        return NULL;
    }
    return rb;
}

void tp_replay_free(tp_replay *rb) {
    if (!rb) return;
    free(rb->count); free(rb->head); free(rb->scratch); free(rb->x); free(rb->cv);
    free(rb);
}

/* cell of cv; -1 for NaN */
/* the cell of cv in bins^dim cells over the box lo..hi (last dimension
 * fastest, clamped; -1 for NaN): the one binning rule of the buffer and of
 * tp_cv_coverage */
static int64_t cell_in(int32_t dim, const double *lo, const double *hi, int32_t bins, const double *cv) {
    int64_t c = 0;
    for (int k = 0; k < dim; k++) {
        double t = (cv[k] - lo[k]) / (hi[k] - lo[k]) * bins;
        if (isnan(t)) return -1;
        int64_t i = t <= 0 ? 0 : (t >= bins ? bins - 1 : (int64_t)t);
        c = c * bins + i;
    }
    return c;
}

static int64_t cell_of(const tp_replay *rb, const double *cv) {
    return cell_in(rb->dim, rb->lo, rb->hi, rb->bins, cv);
}

int64_t tp_replay_cell(const tp_replay *rb, const double *cv) {
    if (!rb || !cv) return -1;
    return cell_of(rb, cv);
}

/* append one entry to cell c (evicting the oldest when full) */
static void push(tp_replay *rb, int64_t c, const uint8_t *x, const double *cv) {
    int64_t slot;
    if (rb->count[c] < rb->cap) {
        slot = (rb->head[c] + rb->count[c]) % rb->cap;
        rb->count[c]++;
        rb->total++;
    } else {
        slot = rb->head[c];
        rb->head[c] = (rb->head[c] + 1) % rb->cap;
    }
    int64_t e = c * rb->cap + slot;
    memcpy(rb->x + e * rb->sites, x, (size_t)rb->sites);
    memcpy(rb->cv + e * rb->dim, cv, (size_t)rb->dim * sizeof(double));
}

tp_status tp_replay_add(tp_replay *rb, const uint8_t *x, const double *cv, int64_t n) {
    if (!rb || (n > 0 && (!x || !cv))) return TP_ERROR(TP_ERR_ARG, "replay_add: NULL argument");
    if (n < 0) return TP_ERROR(TP_ERR_ARG, "replay_add: n must be >= 0");
    for (int64_t b = 0; b < n; b++)
        if (cell_of(rb, cv + b * rb->dim) < 0)
            return TP_ERROR(TP_ERR_ARG, "replay_add: CV value of entry %lld is NaN", (long long)b + 1);
    for (int64_t b = 0; b < n; b++) {
        const double *s = cv + b * rb->dim;
        push(rb, cell_of(rb, s), x + b * rb->sites, s);
    }
    return TP_OK;
}

int64_t tp_replay_count(const tp_replay *rb) { return rb ? rb->total : 0; }
int64_t tp_replay_cell_capacity(const tp_replay *rb) { return rb ? rb->cap : 0; }

int64_t tp_replay_nonempty(const tp_replay *rb) {
    if (!rb) return 0;
    int64_t k = 0;
    for (int64_t c = 0; c < rb->ncells; c++) k += rb->count[c] > 0;
    return k;
}

tp_status tp_replay_cell_counts(const tp_replay *rb, int64_t *counts, int64_t ncells) {
    if (!rb || !counts) return TP_ERROR(TP_ERR_ARG, "replay_cell_counts: NULL argument");
    if (ncells != rb->ncells)
        return TP_ERROR(TP_ERR_ARG, "replay_cell_counts: buffer has %lld cells, got room for %lld",
                        (long long)rb->ncells, (long long)ncells);
    memcpy(counts, rb->count, (size_t)ncells * sizeof *counts);
    return TP_OK;
}

tp_status tp_replay_draw(const tp_replay *rb, uint8_t *x, double *cv, int64_t n,
                         uint64_t seed, uint64_t stream) {
    if (!rb || (n > 0 && !x)) return TP_ERROR(TP_ERR_ARG, "replay_draw: NULL argument");
    if (n < 0) return TP_ERROR(TP_ERR_ARG, "replay_draw: n must be >= 0");
    if (n == 0) return TP_OK;
    if (rb->total == 0) return TP_ERROR(TP_ERR_ARG, "replay_draw: the buffer is empty");
    int64_t nne = 0;
    for (int64_t c = 0; c < rb->ncells; c++)
        if (rb->count[c] > 0) rb->scratch[nne++] = c;
    tp_rng r;
    tp_rng_seed(&r, seed, stream);
    for (int64_t b = 0; b < n; b++) {
        int64_t c = rb->scratch[(int64_t)(tp_rng_next_double(&r) * (double)nne)];
        int64_t j = (int64_t)(tp_rng_next_double(&r) * (double)rb->count[c]);
        int64_t e = c * rb->cap + (rb->head[c] + j) % rb->cap;
        memcpy(x + b * rb->sites, rb->x + e * rb->sites, (size_t)rb->sites);
        if (cv) memcpy(cv + b * rb->dim, rb->cv + e * rb->dim, (size_t)rb->dim * sizeof(double));
    }
    return TP_OK;
}

tp_status tp_cv_coverage(double *out, const double *cv, int64_t n, int32_t dim, const double *lo,
                         const double *hi, int32_t bins) {
    if (!out || (n > 0 && !cv) || !lo || !hi) return TP_ERROR(TP_ERR_ARG, "cv_coverage: NULL argument");
    if (dim < 1 || bins < 1 || n < 0) return TP_ERROR(TP_ERR_ARG, "cv_coverage: dim, bins >= 1 and n >= 0");
    int64_t ncells = 1;
    for (int k = 0; k < dim; k++) {
        if (!(hi[k] > lo[k])) return TP_ERROR(TP_ERR_ARG, "cv_coverage: empty box in dimension %d", k + 1);
        if (ncells > ((int64_t)1 << 30) / bins) return TP_ERROR(TP_ERR_ARG, "cv_coverage: too many cells");
        ncells *= bins;
    }
    uint8_t *hit = calloc((size_t)ncells, 1);
    if (!hit) return TP_ERROR(TP_ERR_NOMEM, "cv_coverage: out of memory");
    int64_t k = 0;
    for (int64_t b = 0; b < n; b++) {
        int64_t c = cell_in(dim, lo, hi, bins, cv + b * dim);
        if (c >= 0 && !hit[c]) { hit[c] = 1; k++; }
    }
    free(hit);
    *out = (double)k / (double)ncells;
    return TP_OK;
}

tp_status tp_replay_coverage(const tp_replay *rb, double *out, const double *cv, int64_t n) {
    if (!rb || !out || (n > 0 && !cv)) return TP_ERROR(TP_ERR_ARG, "replay_coverage: NULL argument");
    return tp_cv_coverage(out, cv, n, rb->dim, rb->lo, rb->hi, rb->bins);
}

static int64_t words_per_entry(const tp_replay *rb) {
    return rb->dim + (rb->sites + 3) / 4;
}

int64_t tp_replay_state_size(const tp_replay *rb) {
    if (!rb) return 0;
    return REPLAY_HEADER + rb->ncells + rb->total * words_per_entry(rb);
}

tp_status tp_replay_get_state(const tp_replay *rb, double *out, int64_t n) {
    if (!rb || !out) return TP_ERROR(TP_ERR_ARG, "replay_get_state: NULL argument");
    if (n != tp_replay_state_size(rb))
        return TP_ERROR(TP_ERR_ARG, "replay_get_state: state has %lld doubles, got room for %lld",
                        (long long)tp_replay_state_size(rb), (long long)n);
    double *p = out;
    *p++ = REPLAY_MAGIC; *p++ = REPLAY_VERSION; *p++ = rb->sites; *p++ = rb->dim;
    *p++ = rb->bins; *p++ = (double)rb->cap; *p++ = (double)rb->ncells;
    for (int64_t c = 0; c < rb->ncells; c++) {
        *p++ = (double)rb->count[c];
        for (int64_t j = 0; j < rb->count[c]; j++) {
            int64_t e = c * rb->cap + (rb->head[c] + j) % rb->cap;
            for (int k = 0; k < rb->dim; k++) *p++ = rb->cv[e * rb->dim + k];
            const uint8_t *x = rb->x + e * rb->sites;
            for (int32_t i = 0; i < rb->sites; i += 4) {
                uint32_t w = 0;
                for (int32_t t = 0; t < 4 && i + t < rb->sites; t++) w |= (uint32_t)x[i + t] << (8 * t);
                *p++ = (double)w;
            }
        }
    }
    return TP_OK;
}

tp_status tp_replay_set_state(tp_replay *rb, const double *in, int64_t n) {
    if (!rb || !in) return TP_ERROR(TP_ERR_ARG, "replay_set_state: NULL argument");
    if (n < REPLAY_HEADER || in[0] != REPLAY_MAGIC || in[1] != REPLAY_VERSION)
        return TP_ERROR(TP_ERR_FORMAT, "replay_set_state: not a replay buffer state (version 1)");
    if (in[2] != rb->sites || in[3] != rb->dim || in[4] != rb->bins || in[5] != (double)rb->cap ||
        in[6] != (double)rb->ncells)
        return TP_ERROR(TP_ERR_ARG, "replay_set_state: state of a buffer with %g sites, %g CV dimensions, "
                        "%g bins, cell capacity %g; this one has %d, %d, %d, %lld",
                        in[2], in[3], in[4], in[5], rb->sites, rb->dim, rb->bins, (long long)rb->cap);
    /* validate the whole state before touching the buffer */
    int64_t wpe = words_per_entry(rb), pos = REPLAY_HEADER;
    for (int64_t c = 0; c < rb->ncells; c++) {
        if (pos >= n) return TP_ERROR(TP_ERR_FORMAT, "replay_set_state: truncated state");
        double cnt = in[pos];
        if (!(cnt >= 0 && cnt <= (double)rb->cap && cnt == floor(cnt)))
            return TP_ERROR(TP_ERR_FORMAT, "replay_set_state: bad count %g in cell %lld", cnt, (long long)c);
        pos += 1 + (int64_t)cnt * wpe;
    }
    if (pos != n) return TP_ERROR(TP_ERR_FORMAT, "replay_set_state: state has %lld doubles, expected %lld",
                                  (long long)n, (long long)pos);
    const double *p = in + REPLAY_HEADER;
    rb->total = 0;
    for (int64_t c = 0; c < rb->ncells; c++) {
        int64_t cnt = (int64_t)*p++;
        rb->count[c] = cnt; rb->head[c] = 0; rb->total += cnt;
        for (int64_t j = 0; j < cnt; j++) {
            int64_t e = c * rb->cap + j;
            for (int k = 0; k < rb->dim; k++) rb->cv[e * rb->dim + k] = *p++;
            uint8_t *x = rb->x + e * rb->sites;
            for (int32_t i = 0; i < rb->sites; i += 4) {
                uint32_t w = (uint32_t)*p++;
                for (int32_t t = 0; t < 4 && i + t < rb->sites; t++) x[i + t] = (uint8_t)(w >> (8 * t));
            }
        }
    }
    return TP_OK;
}
