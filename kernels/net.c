/*
 * kernels/net.c -- the network object of kernels/net.h: slabs on a backend,
 * chunked forward / backward, WDCE and NLL gradients, ancestral sampling
 * and teacher forcing along random orders, the optimiser update.  Every
 * numeric loop lives in the kernels behind the backend table; this file
 * only moves data and sequences calls.
 */
#include "net.h"
#include "backend.h"
#include "loss.h"
#include "cond.h"
#include "philox.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct tp_net {
    tp_tf_config cfg;
    tp_tf_layout lay;
    const tp_backend_i *be;
    tp_device dev;
    int64_t np;
    int32_t chunk;
    tp_adam_config adam;
    int64_t step;
    double ema_max;
    int32_t tiled;                 /* tiled attention (tp_tf_tiled) when the activations were sized */
    float *coords;                 /* host (T, A) */
    /* backend memory */
    float *rope;                   /* (T, hd/2, 2) */
    float *slab;                   /* 5 * np */
    float *acts, *scratch, *logp, *dlogp;
    uint8_t *tok, *tgt;            /* (chunk, T) */
    double *rw, *logq;             /* (chunk) */
    int32_t *site;                 /* (chunk) */
    float *u;                      /* (chunk) */
    /* host staging */
    int32_t *h_order;              /* (chunk, T) */
    float *h_unif;                 /* (chunk, T) */
    int32_t *h_site;
    float *h_u;
    uint8_t *h_mask;               /* (chunk, T) all = mask token */
    uint8_t *h_masked, *h_tgt;     /* grown on demand: (B*R, T) */
    float *h_lam;
    double *h_rw, *h_w;
    int64_t h_cap_rows, h_cap_b;
    /* conditioning (cfg.conds = k > 0) */
    float *h_cond;                 /* host (n_cond, k) set by tp_net_set_conditions */
    int64_t n_cond;
    float *h_crow;                 /* host (chunk, k): the conditions of a chunk's rows */
    float *c_row, *cemb, *dcemb, *c_acts;   /* backend: (chunk, k), (chunk, d) x2, tp_cond_act_size */
};

static float *slab_at(const tp_net *n, int which) { return n->slab + (int64_t)which * n->np; }

float *tp_net_slab(tp_net *n, int32_t which) {
    if (!n || which < 0 || which > TP_NET_EMA) return NULL;
    return slab_at(n, which);
}

void tp_net_free(tp_net *n) {
    if (!n) return;
    tp_device d = n->dev;
    tp_mem_free(d, n->rope); tp_mem_free(d, n->slab); tp_mem_free(d, n->acts);
    tp_mem_free(d, n->scratch); tp_mem_free(d, n->logp); tp_mem_free(d, n->dlogp);
    tp_mem_free(d, n->tok); tp_mem_free(d, n->tgt); tp_mem_free(d, n->rw);
    tp_mem_free(d, n->logq); tp_mem_free(d, n->site); tp_mem_free(d, n->u);
    free(n->coords); free(n->h_order); free(n->h_unif); free(n->h_site); free(n->h_u); free(n->h_mask);
    free(n->h_masked); free(n->h_tgt); free(n->h_lam); free(n->h_rw); free(n->h_w);
    free(n->h_cond); free(n->h_crow);
    tp_mem_free(d, n->c_row); tp_mem_free(d, n->cemb); tp_mem_free(d, n->dcemb); tp_mem_free(d, n->c_acts);
    free(n);
}

static int64_t bytes_per_row(const tp_tf_config *c) {
    tp_tf_act_layout al;
    tp_tf_act_layout_init(&al, c, 1);
    return 4 * (al.n_acts + tp_tf_scratch_size(c, 1) + 2LL * c->sites * c->states) + 2LL * c->sites;
}

tp_net *tp_net_init(const tp_tf_config *cfg, const float *coords, uint64_t seed,
                    float ls_init, const char *backend, int32_t chunk) {
    if (tp_tf_config_check(cfg) != TP_OK) return NULL;
    if (!coords) { TP_ERROR(TP_ERR_ARG, "tp_net_init: coords is NULL"); return NULL; }
    const tp_backend_i *be = tp_backend_get(backend);
    if (!be) return NULL;
    tp_net *n = calloc(1, sizeof *n);
    if (!n) { TP_ERROR(TP_ERR_NOMEM, "tp_net_init: out of memory"); return NULL; }
    n->cfg = *cfg;
    n->cfg.conds = cfg->conds;
    tp_tf_layout_init(&n->lay, cfg);
    n->be = be;
    n->dev = be->device;
    n->np = n->lay.n_params;
    if (chunk <= 0) {
        int64_t c = (256LL << 20) / bytes_per_row(cfg);
        chunk = (int32_t)(c < 1 ? 1 : c > 1024 ? 1024 : c);
    }
    n->chunk = chunk;
    n->adam = (tp_adam_config){ 1e-4f, 0.9f, 0.999f, 1e-8f, 0.0f, 0.0f };
    n->ema_max = 0.9999;
    const int T = cfg->sites, A = cfg->axes, q = cfg->states, np2 = cfg->embed / cfg->heads / 2;
    tp_tf_act_layout al;
    tp_tf_act_layout_init(&al, cfg, chunk);
    n->tiled = al.tiled;
    tp_device d = n->dev;
    n->coords = malloc(sizeof(float) * T * A);
    float *h_rope = malloc(sizeof(float) * T * np2 * 2);
    float *h_par = malloc(sizeof(float) * n->np);
    n->h_order = malloc(sizeof(int32_t) * (size_t)chunk * T);
    n->h_unif = malloc(sizeof(float) * (size_t)chunk * T);
    n->h_site = malloc(sizeof(int32_t) * chunk);
    n->h_u = malloc(sizeof(float) * chunk);
    n->h_mask = malloc((size_t)chunk * T);
    n->rope = tp_mem_alloc(d, sizeof(float) * T * np2 * 2);
    n->slab = tp_mem_alloc(d, sizeof(float) * 5 * n->np);
    n->acts = tp_mem_alloc(d, sizeof(float) * al.n_acts);
    n->scratch = tp_mem_alloc(d, sizeof(float) * tp_tf_scratch_size(cfg, chunk));
    n->logp = tp_mem_alloc(d, sizeof(float) * (size_t)chunk * T * q);
    n->dlogp = tp_mem_alloc(d, sizeof(float) * (size_t)chunk * T * q);
    n->tok = tp_mem_alloc(d, (size_t)chunk * T);
    n->tgt = tp_mem_alloc(d, (size_t)chunk * T);
    n->rw = tp_mem_alloc(d, sizeof(double) * chunk);
    n->logq = tp_mem_alloc(d, sizeof(double) * chunk);
    n->site = tp_mem_alloc(d, sizeof(int32_t) * chunk);
    n->u = tp_mem_alloc(d, sizeof(float) * chunk);
    if (!n->coords || !h_rope || !h_par || !n->h_order || !n->h_unif || !n->h_site || !n->h_u || !n->h_mask ||
        !n->rope || !n->slab || !n->acts || !n->scratch || !n->logp || !n->dlogp || !n->tok ||
        !n->tgt || !n->rw || !n->logq || !n->site || !n->u) {
        TP_ERROR(TP_ERR_NOMEM, "tp_net_init: out of memory (chunk of %d rows)", chunk);
        goto fail;
    }
    for (int64_t i = 0; i < (int64_t)T * A; i++) {
        float u = coords[i];
        if (!(u >= -1e6f && u <= 1e6f)) { TP_ERROR(TP_ERR_ARG, "tp_net_init: coordinate %lld is not finite", (long long)i); goto fail; }
        n->coords[i] = u;
    }
    if (cfg->conds > 0) {
        n->h_crow = malloc(sizeof(float) * (size_t)chunk * cfg->conds);
        n->c_row = tp_mem_alloc(d, sizeof(float) * (size_t)chunk * cfg->conds);
        n->cemb = tp_mem_alloc(d, sizeof(float) * (size_t)chunk * cfg->embed);
        n->dcemb = tp_mem_alloc(d, sizeof(float) * (size_t)chunk * cfg->embed);
        n->c_acts = tp_mem_alloc(d, sizeof(float) * (size_t)tp_cond_act_size(cfg, chunk));
        if (!n->h_crow || !n->c_row || !n->cemb || !n->dcemb || !n->c_acts) {
            TP_ERROR(TP_ERR_NOMEM, "tp_net_init: out of memory (conditions)");
            goto fail;
        }
    }
    memset(n->h_mask, q, (size_t)chunk * T);
    tp_tf_rope_table(h_rope, n->coords, cfg);
    tp_tf_init_params(h_par, cfg, seed, ls_init);
    if (tp_mem_copy(n->rope, d, h_rope, TP_DEVICE_CPU, sizeof(float) * T * np2 * 2) != TP_OK ||
        tp_mem_copy(slab_at(n, TP_NET_PARAMS), d, h_par, TP_DEVICE_CPU, sizeof(float) * n->np) != TP_OK ||
        tp_mem_copy(slab_at(n, TP_NET_EMA), d, h_par, TP_DEVICE_CPU, sizeof(float) * n->np) != TP_OK)
        goto fail;
    free(h_rope); free(h_par);
    return n;
fail:
    free(h_rope); free(h_par);
    tp_net_free(n);
    return NULL;
}

int64_t tp_net_num_params(const tp_net *n) { return n->np; }
const char *tp_net_backend_name(const tp_net *n) { return n->be->name; }
int32_t tp_net_chunk(const tp_net *n) { return n->chunk; }
void tp_net_get_config(const tp_net *n, tp_tf_config *out) { *out = n->cfg; }
void tp_net_get_coords(const tp_net *n, float *out) {
    memcpy(out, n->coords, sizeof(float) * n->cfg.sites * n->cfg.axes);
}
void tp_net_get_adam(const tp_net *n, tp_adam_config *out) { *out = n->adam; }
int64_t tp_net_step_count(const tp_net *n) { return n->step; }
void tp_net_set_step_count(tp_net *n, int64_t s) { n->step = s < 0 ? 0 : s; }
double tp_net_ema_max(const tp_net *n) { return n->ema_max; }
void tp_net_set_ema_max(tp_net *n, double m) { n->ema_max = m; }

tp_status tp_net_set_adam(tp_net *n, const tp_adam_config *c) {
    if (!(c->lr >= 0) || !(c->beta1 >= 0 && c->beta1 < 1) || !(c->beta2 >= 0 && c->beta2 < 1) ||
        !(c->eps > 0) || !(c->weight_decay >= 0))
        return TP_ERROR(TP_ERR_ARG, "adam: need lr >= 0, betas in [0,1), eps > 0, weight_decay >= 0");
    n->adam = *c;
    return TP_OK;
}

static tp_status check_which(const tp_net *n, int32_t which, int64_t len) {
    if (which < 0 || which > 4) return TP_ERROR(TP_ERR_ARG, "net: slab index %d not in 0..4", which);
    if (len != n->np) return TP_ERROR(TP_ERR_ARG, "net: expected %lld floats, got %lld",
                                      (long long)n->np, (long long)len);
    return TP_OK;
}

tp_status tp_net_get(const tp_net *n, int32_t which, float *out, int64_t len) {
    TP_TRY(check_which(n, which, len));
    return tp_mem_copy(out, TP_DEVICE_CPU, slab_at(n, which), n->dev, sizeof(float) * n->np);
}

tp_status tp_net_set(tp_net *n, int32_t which, const float *in, int64_t len) {
    TP_TRY(check_which(n, which, len));
    return tp_mem_copy(slab_at(n, which), n->dev, in, TP_DEVICE_CPU, sizeof(float) * n->np);
}

static tp_status check_tokens(const tp_net *n, const uint8_t *tok, int64_t count) {
    for (int64_t i = 0; i < count; i++)
        if (tok[i] > n->cfg.states)
            return TP_ERROR(TP_ERR_ARG, "token %d at index %lld exceeds the mask token %d",
                            tok[i], (long long)i, n->cfg.states);
    return TP_OK;
}

tp_status tp_net_set_conditions(tp_net *n, const float *cond, int64_t count) {
    const int k = n->cfg.conds;
    if (k < 1) return TP_ERROR(TP_ERR_ARG, "conditions: the network was built without conditions");
    if (count < 0) return TP_ERROR(TP_ERR_ARG, "conditions: count must be >= 0");
    for (int64_t i = 0; i < count * k; i++)
        if (!isfinite(cond[i])) return TP_ERROR(TP_ERR_ARG, "conditions: value %lld is not finite", (long long)i);
    float *c = realloc(n->h_cond, sizeof(float) * (size_t)(count * k + 1));
    if (!c) return TP_ERROR(TP_ERR_NOMEM, "conditions: out of memory");
    memcpy(c, cond, sizeof(float) * (size_t)(count * k));
    n->h_cond = c;
    n->n_cond = count;
    return TP_OK;
}

int32_t tp_net_conditions(const tp_net *n) { return n->cfg.conds; }

/* the activations were sized for the attention layout of the network's
 * creation: refuse to run with another (tp_tf_set_tiled_min since) */
static tp_status same_layout(const tp_net *n) {
    if (tp_tf_tiled(&n->cfg) != n->tiled)
        return TP_ERROR(TP_ERR_ARG, "network: tiled attention was %s when the network was created and is %s now "
                        "(tp_tf_set_tiled_min): create the network again", n->tiled ? "on" : "off",
                        n->tiled ? "off" : "on");
    return TP_OK;
}

/* forward of nr rows in n->tok; row r of the chunk has global index g0 + r
 * and takes condition (g0 + r) / div (conditioned networks) */
static tp_status fwd(tp_net *n, const float *P, int32_t nr, int64_t g0, int64_t div) {
    TP_TRY(same_layout(n));
    if (n->cfg.conds < 1) return n->be->tf_forward(n->acts, n->logp, n->tok, P, n->rope, &n->cfg, nr);
    const int k = n->cfg.conds;
    if (nr > 0 && (g0 + nr - 1) / div >= n->n_cond)
        return TP_ERROR(TP_ERR_ARG, "conditions: row %lld needs condition %lld but %lld are set",
                        (long long)(g0 + nr - 1), (long long)((g0 + nr - 1) / div), (long long)n->n_cond);
    for (int32_t r = 0; r < nr; r++)
        memcpy(n->h_crow + (int64_t)r * k, n->h_cond + ((g0 + r) / div) * k, sizeof(float) * k);
    TP_TRY(tp_mem_copy(n->c_row, n->dev, n->h_crow, TP_DEVICE_CPU, sizeof(float) * (size_t)nr * k));
    TP_TRY(n->be->cond_forward(n->cemb, n->c_acts, n->c_row, P, &n->cfg, nr));
    return n->be->tf_forward_cond(n->acts, n->logp, n->tok, n->cemb, P, n->rope, &n->cfg, nr);
}

/* forward for one sampling step: only logp[r, site[r], :] is needed (the
 * sites in n->site), so the backend's site forward when it has one and the
 * network is unconditioned; else the full forward */
static tp_status fwd_site(tp_net *n, const float *P, int32_t nr, int64_t g0) {
    if (n->cfg.conds < 1 && n->be->tf_forward_site) {
        TP_TRY(same_layout(n));
        return n->be->tf_forward_site(n->acts, n->logp, n->tok, n->site, P, n->rope, &n->cfg, nr);
    }
    return fwd(n, P, nr, g0, 1);
}

/* backward matching the last fwd (same chunk) */
static tp_status bwd(tp_net *n, const float *P, float *G, int32_t nr) {
    TP_TRY(same_layout(n));
    if (n->cfg.conds < 1)
        return n->be->tf_backward(G, n->scratch, n->dlogp, n->logp, n->acts, n->tok, P, n->rope, &n->cfg, nr);
    TP_TRY(n->be->tf_backward_cond(G, n->dcemb, n->scratch, n->dlogp, n->logp, n->acts, n->tok, P, n->rope,
                                   &n->cfg, nr));
    return n->be->cond_backward(G, n->dcemb, n->c_acts, P, &n->cfg, nr);
}

tp_status tp_net_forward(tp_net *n, float *logp, const uint8_t *tokens, int32_t rows, int32_t use_ema) {
    if (rows < 0) return TP_ERROR(TP_ERR_ARG, "forward: rows must be >= 0");
    const int T = n->cfg.sites, q = n->cfg.states;
    TP_TRY(check_tokens(n, tokens, (int64_t)rows * T));
    const float *P = slab_at(n, use_ema ? TP_NET_EMA : TP_NET_PARAMS);
    for (int32_t r0 = 0; r0 < rows; r0 += n->chunk) {
        int32_t nr = rows - r0 < n->chunk ? rows - r0 : n->chunk;
        TP_TRY(tp_mem_copy(n->tok, n->dev, tokens + (int64_t)r0 * T, TP_DEVICE_CPU, (size_t)nr * T));
        TP_TRY(fwd(n, P, nr, r0, 1));
        TP_TRY(tp_mem_copy(logp + (int64_t)r0 * T * q, TP_DEVICE_CPU, n->logp, n->dev,
                           sizeof(float) * (size_t)nr * T * q));
    }
    return TP_OK;
}

/* rows r0..r0+nr-1: row r's uniformly random order (Fisher-Yates) in
 * h_order and then its T uniforms in h_unif, from stream (seed, stream0 + r) */
static void draw_orders(tp_net *n, int32_t r0, int32_t nr, uint64_t seed, uint64_t stream0) {
    const int T = n->cfg.sites;
    for (int32_t r = 0; r < nr; r++) {
        tp_rng g;
        tp_rng_seed(&g, seed, stream0 + (uint64_t)(r0 + r));
        int32_t *o = n->h_order + (int64_t)r * T;
        for (int i = 0; i < T; i++) o[i] = i;
        for (int i = T - 1; i > 0; i--) {
            int j = (int)tp_rng_next_below(&g, (uint32_t)(i + 1));
            int32_t t = o[i]; o[i] = o[j]; o[j] = t;
        }
        for (int i = 0; i < T; i++) n->h_unif[(int64_t)r * T + i] = tp_rng_next_float(&g);
    }
}

tp_status tp_net_sample(tp_net *n, uint8_t *tokens, double *logq, int32_t rows,
                        uint64_t seed, uint64_t stream0, int32_t teacher, int32_t use_ema) {
    if (rows < 0) return TP_ERROR(TP_ERR_ARG, "sample: rows must be >= 0");
    const int T = n->cfg.sites, q = n->cfg.states;
    if (teacher) {
        for (int64_t i = 0; i < (int64_t)rows * T; i++)
            if (tokens[i] >= q)
                return TP_ERROR(TP_ERR_ARG, "sample: teacher forcing needs tokens in 0..%d (index %lld is %d)",
                                q - 1, (long long)i, tokens[i]);
    }
    const float *P = slab_at(n, use_ema ? TP_NET_EMA : TP_NET_PARAMS);
    for (int32_t r0 = 0; r0 < rows; r0 += n->chunk) {
        int32_t nr = rows - r0 < n->chunk ? rows - r0 : n->chunk;
        draw_orders(n, r0, nr, seed, stream0);
        uint8_t *tk = tokens + (int64_t)r0 * T;
        if (teacher) TP_TRY(tp_mem_copy(n->tgt, n->dev, tk, TP_DEVICE_CPU, (size_t)nr * T));
        TP_TRY(tp_mem_copy(n->tok, n->dev, n->h_mask, TP_DEVICE_CPU, (size_t)nr * T));
        TP_TRY(tp_mem_zero(n->dev, n->logq, sizeof(double) * nr));
        for (int dstep = 0; dstep < T; dstep++) {
            if (tp_abort_flag) return TP_ABORTED;
            for (int32_t r = 0; r < nr; r++) {
                n->h_site[r] = n->h_order[(int64_t)r * T + dstep];
                n->h_u[r] = n->h_unif[(int64_t)r * T + dstep];
            }
            TP_TRY(tp_mem_copy(n->site, n->dev, n->h_site, TP_DEVICE_CPU, sizeof(int32_t) * nr));
            TP_TRY(tp_mem_copy(n->u, n->dev, n->h_u, TP_DEVICE_CPU, sizeof(float) * nr));
            TP_TRY(fwd_site(n, P, nr, r0));
            TP_TRY(n->be->sample_step(n->tok, n->logq, n->logp, teacher ? n->tgt : NULL,
                                      n->site, n->u, nr, T, q));
        }
        if (!teacher) TP_TRY(tp_mem_copy(tk, TP_DEVICE_CPU, n->tok, n->dev, (size_t)nr * T));
        TP_TRY(tp_mem_copy(logq + r0, TP_DEVICE_CPU, n->logq, n->dev, sizeof(double) * nr));
    }
    return TP_OK;
}

tp_status tp_net_inpaint(tp_net *n, uint8_t *tokens, double *logq, const uint8_t *truth, const uint8_t *fill,
                         int32_t rows, uint64_t seed, uint64_t stream0, int32_t use_ema) {
    if (rows < 0) return TP_ERROR(TP_ERR_ARG, "inpaint: rows must be >= 0");
    const int T = n->cfg.sites, q = n->cfg.states;
    TP_TRY(check_tokens(n, tokens, (int64_t)rows * T));
    if (truth)
        for (int64_t i = 0; i < (int64_t)rows * T; i++)
            if (tokens[i] == q && (!fill || fill[i]) && truth[i] >= q)
                return TP_ERROR(TP_ERR_ARG, "inpaint: teacher forcing needs truth in 0..%d at masked sites "
                                "(index %lld is %d)", q - 1, (long long)i, truth[i]);
    const float *P = slab_at(n, use_ema ? TP_NET_EMA : TP_NET_PARAMS);
    const int32_t ch = n->chunk;
    uint8_t *stage = malloc((size_t)ch * T);
    double *lqs = malloc(sizeof(double) * ch);
    int32_t *cnt = malloc(sizeof(int32_t) * ch);
    tp_status st = TP_OK;
    if (!stage || !lqs || !cnt) { st = TP_ERROR(TP_ERR_NOMEM, "inpaint: out of memory"); goto done; }
    for (int32_t r0 = 0; r0 < rows && st == TP_OK; r0 += ch) {
        int32_t nr = rows - r0 < ch ? rows - r0 : ch, steps = 0;
        uint8_t *tk = tokens + (int64_t)r0 * T;
        /* per row: the order and uniforms of tp_net_sample, then the masked
         * sites of that order moved to the front (relative order kept) */
        draw_orders(n, r0, nr, seed, stream0);
        for (int32_t r = 0; r < nr; r++) {
            int32_t *o = n->h_order + (int64_t)r * T;
            int m = 0;
            for (int i = 0; i < T; i++) {
                int64_t at = (int64_t)r * T + o[i];
                if (tk[at] == q && (!fill || fill[(int64_t)r0 * T + at])) o[m++] = o[i];
            }
            cnt[r] = m;
            if (m > steps) steps = m;
            logq[r0 + r] = 0;
        }
        if (truth && (st = tp_mem_copy(n->tgt, n->dev, truth + (int64_t)r0 * T, TP_DEVICE_CPU, (size_t)nr * T)) != TP_OK)
            break;
        /* the host tokens are authoritative: a row whose masked sites are
         * all drawn still takes a (discarded) step at some site, after which
         * the backend copy is refreshed */
        int dirty = 1;
        for (int j = 0; j < steps; j++) {
            if (tp_abort_flag) { st = TP_ABORTED; goto done; }
            int idle = 0;
            for (int32_t r = 0; r < nr; r++) {
                int active = j < cnt[r];
                idle |= !active;
                n->h_site[r] = active ? n->h_order[(int64_t)r * T + j] : 0;
                n->h_u[r] = n->h_unif[(int64_t)r * T + j];
            }
            if (dirty && (st = tp_mem_copy(n->tok, n->dev, tk, TP_DEVICE_CPU, (size_t)nr * T)) != TP_OK) goto done;
            if ((st = tp_mem_zero(n->dev, n->logq, sizeof(double) * nr)) != TP_OK ||
                (st = tp_mem_copy(n->site, n->dev, n->h_site, TP_DEVICE_CPU, sizeof(int32_t) * nr)) != TP_OK ||
                (st = tp_mem_copy(n->u, n->dev, n->h_u, TP_DEVICE_CPU, sizeof(float) * nr)) != TP_OK ||
                (st = fwd_site(n, P, nr, r0)) != TP_OK ||
                (st = n->be->sample_step(n->tok, n->logq, n->logp, truth ? n->tgt : NULL, n->site, n->u,
                                         nr, T, q)) != TP_OK ||
                (st = tp_mem_copy(stage, TP_DEVICE_CPU, n->tok, n->dev, (size_t)nr * T)) != TP_OK ||
                (st = tp_mem_copy(lqs, TP_DEVICE_CPU, n->logq, n->dev, sizeof(double) * nr)) != TP_OK)
                goto done;
            for (int32_t r = 0; r < nr; r++) {
                if (j >= cnt[r]) continue;
                int64_t at = (int64_t)r * T + n->h_site[r];
                tk[at] = stage[at];
                logq[r0 + r] += lqs[r];
            }
            dirty = idle;
        }
    }
done:
    free(stage); free(lqs); free(cnt);
    return st;
}

/* host staging for B*R rows */
static tp_status ensure_host(tp_net *n, int64_t rows, int64_t B) {
    const int T = n->cfg.sites;
    if (rows > n->h_cap_rows) {
        free(n->h_masked); free(n->h_tgt); free(n->h_lam); free(n->h_rw);
        n->h_masked = malloc((size_t)rows * T);
        n->h_tgt = malloc((size_t)rows * T);
        n->h_lam = malloc(sizeof(float) * rows);
        n->h_rw = malloc(sizeof(double) * rows);
        n->h_cap_rows = rows;
        if (!n->h_masked || !n->h_tgt || !n->h_lam || !n->h_rw) {
            n->h_cap_rows = 0;
            return TP_ERROR(TP_ERR_NOMEM, "net: out of memory for %lld rows", (long long)rows);
        }
    }
    if (B > n->h_cap_b) {
        free(n->h_w);
        n->h_w = malloc(sizeof(double) * B);
        n->h_cap_b = n->h_w ? B : 0;
        if (!n->h_w) return TP_ERROR(TP_ERR_NOMEM, "net: out of memory");
    }
    return TP_OK;
}

/* gradients (overwritten) of the weighted masked NLL over host arrays;
 * row r is row base + r of the call's rows for the conditions (fwd) */
static tp_status nll_grad(tp_net *n, double *loss, const uint8_t *targets, const uint8_t *input,
                          const double *rw, int32_t rows, int32_t all_sites, int64_t div, int64_t base) {
    const int T = n->cfg.sites, q = n->cfg.states;
    float *P = slab_at(n, TP_NET_PARAMS), *G = slab_at(n, TP_NET_GRADS);
    TP_TRY(tp_mem_zero(n->dev, G, sizeof(float) * n->np));
    double total = 0;
    for (int32_t r0 = 0; r0 < rows; r0 += n->chunk) {
        if (tp_abort_flag) return TP_ABORTED;
        int32_t nr = rows - r0 < n->chunk ? rows - r0 : n->chunk;
        double part = 0;
        TP_TRY(tp_mem_copy(n->tok, n->dev, input + (int64_t)r0 * T, TP_DEVICE_CPU, (size_t)nr * T));
        TP_TRY(tp_mem_copy(n->tgt, n->dev, targets + (int64_t)r0 * T, TP_DEVICE_CPU, (size_t)nr * T));
        TP_TRY(tp_mem_copy(n->rw, n->dev, rw + r0, TP_DEVICE_CPU, sizeof(double) * nr));
        TP_TRY(fwd(n, P, nr, base + r0, div));
        TP_TRY(n->be->masked_nll(&part, n->dlogp, n->logp, n->tgt, n->tok, n->rw, nr, T, q, all_sites));
        TP_TRY(bwd(n, P, G, nr));
        total += part;
    }
    *loss = total;
    return TP_OK;
}

tp_status tp_net_nll_grad(tp_net *n, double *loss, const uint8_t *targets, const uint8_t *input,
                          const double *rw, int32_t rows, int32_t all_sites) {
    if (rows < 1) return TP_ERROR(TP_ERR_ARG, "nll: rows must be >= 1");
    const int64_t cnt = (int64_t)rows * n->cfg.sites;
    TP_TRY(check_tokens(n, input, cnt));
    for (int64_t i = 0; i < cnt; i++)
        if (targets[i] >= n->cfg.states)
            return TP_ERROR(TP_ERR_ARG, "nll: target %d at index %lld is not a real state", targets[i], (long long)i);
    return nll_grad(n, loss, targets, input, rw, rows, all_sites, 1, 0);
}

tp_status tp_net_wdce_grad(tp_net *n, double *loss, double *ness, const uint8_t *tokens,
                           const double *log_rnd, int32_t B, int32_t R, uint64_t seed, uint64_t stream0) {
    return tp_net_wdce_grad_rows(n, loss, ness, tokens, log_rnd, B, R, seed, stream0, 0, B);
}

tp_status tp_net_wdce_grad_rows(tp_net *n, double *loss, double *ness, const uint8_t *tokens,
                                const double *log_rnd, int32_t B, int32_t R, uint64_t seed, uint64_t stream0,
                                int32_t first, int32_t count) {
    if (B < 1 || R < 1) return TP_ERROR(TP_ERR_ARG, "wdce: batch and replicates must be >= 1 (got %d, %d)", B, R);
    if (first < 0 || count < 0 || (int64_t)first + count > B)
        return TP_ERROR(TP_ERR_ARG, "wdce: rows %d..%d are not rows of a batch of %d", first, first + count - 1, B);
    const int T = n->cfg.sites, q = n->cfg.states;
    const int64_t rows = (int64_t)count * R;
    if ((int64_t)B * R > 0x7fffffff) return TP_ERROR(TP_ERR_ARG, "wdce: batch*replicates too large");
    TP_TRY(tp_tokens_check("wdce", tokens, (int64_t)B * T, q));
    TP_TRY(ensure_host(n, rows > 0 ? rows : 1, B));
    /* the weights of the whole batch: a share of the rows has the same row
     * weights, bit for bit, as in the whole batch's gradient */
    TP_TRY(tp_loss_softmax_weights(n->h_w, ness, log_rnd, B));
    if (count == 0) {
        *loss = 0;
        return tp_mem_zero(n->dev, slab_at(n, TP_NET_GRADS), sizeof(float) * n->np);
    }
    const uint8_t *tok = tokens + (int64_t)first * T;
    TP_TRY(tp_loss_wdce_mask_cpu(n->h_masked, n->h_lam, tok, seed, stream0 + (uint64_t)first * R, count, R, T, q));
    TP_TRY(tp_loss_wdce_row_weights_range_cpu(n->h_rw, n->h_w, n->h_lam, B, R, first, count));
    for (int64_t row = 0; row < rows; row++)
        memcpy(n->h_tgt + row * T, tok + (row / R) * T, (size_t)T);
    return nll_grad(n, loss, n->h_tgt, n->h_masked, n->h_rw, (int32_t)rows, 0, R, (int64_t)first * R);
}

tp_status tp_net_update(tp_net *n, double *gnorm) {
    float *P = slab_at(n, TP_NET_PARAMS), *G = slab_at(n, TP_NET_GRADS);
    double ss = 0;
    TP_TRY(n->be->sumsq(&ss, G, n->np));
    double norm = sqrt(ss);
    if (gnorm) *gnorm = norm;
    if (!isfinite(norm)) return TP_ERROR(TP_ERR_ARG, "update: gradient norm is %g (NaN or inf); step skipped", norm);
    if (n->adam.clip > 0 && norm > n->adam.clip)
        TP_TRY(n->be->scale(G, (float)(n->adam.clip / (norm + 1e-6)), n->np));
    TP_TRY(n->be->adam(P, slab_at(n, TP_NET_ADAM_M), slab_at(n, TP_NET_ADAM_V), G, &n->adam,
                       n->step + 1, n->np));
    TP_TRY(n->be->ema(slab_at(n, TP_NET_EMA), P, (float)tp_optim_ema_decay(n->step, n->ema_max), n->np));
    n->step++;
    return TP_OK;
}

tp_status tp_net_wdce_step(tp_net *n, double *loss, double *ness, const uint8_t *tokens,
                           const double *log_rnd, int32_t B, int32_t R, uint64_t seed, uint64_t stream0) {
    TP_TRY(tp_net_wdce_grad(n, loss, ness, tokens, log_rnd, B, R, seed, stream0));
    return tp_net_update(n, NULL);
}

/* the order of row 'stream' in tp_net_sample: Fisher-Yates from the first
 * draws of Philox stream (seed, stream) */
static void row_order(int32_t *o, int T, uint64_t seed, uint64_t stream) {
    tp_rng g;
    tp_rng_seed(&g, seed, stream);
    for (int i = 0; i < T; i++) o[i] = i;
    for (int i = T - 1; i > 0; i--) {
        int j = (int)tp_rng_next_below(&g, (uint32_t)(i + 1));
        int32_t t = o[i]; o[i] = o[j]; o[j] = t;
    }
}

tp_status tp_net_order_grad(tp_net *n, double *loss, double *logq, const uint8_t *tokens,
                            const double *a, int32_t B, uint64_t seed, uint64_t stream0) {
    if (B < 1) return TP_ERROR(TP_ERR_ARG, "reinforce: batch must be >= 1 (got %d)", B);
    const int T = n->cfg.sites, q = n->cfg.states;
    if ((int64_t)B * T > 0x7fffffff) return TP_ERROR(TP_ERR_ARG, "reinforce: batch*sites too large");
    TP_TRY(tp_tokens_check("reinforce", tokens, (int64_t)B * T, q));
    for (int32_t b = 0; b < B; b++)
        if (!isfinite(a[b])) return TP_ERROR(TP_ERR_ARG, "reinforce: weight %d is %g", b, a[b]);
    const int32_t ch = n->chunk;
    const int64_t rows = (int64_t)B * T;
    float *P = slab_at(n, TP_NET_PARAMS), *G = slab_at(n, TP_NET_GRADS);
    /* host staging for one chunk: inputs, log-probabilities, their gradient */
    uint8_t *inp = malloc((size_t)ch * T);
    float *lp = malloc(sizeof(float) * (size_t)ch * T * q);
    float *dl = calloc((size_t)ch * T * q, sizeof(float));
    int32_t *ord = malloc(sizeof(int32_t) * T);
    tp_status st = TP_OK;
    if (!inp || !lp || !dl || !ord) { st = TP_ERROR(TP_ERR_NOMEM, "reinforce: out of memory"); goto done; }
    if ((st = tp_mem_zero(n->dev, G, sizeof(float) * n->np)) != TP_OK) goto done;
    if (logq) for (int32_t b = 0; b < B; b++) logq[b] = 0;
    double total = 0;
    int32_t ob = -1;
    for (int64_t g0 = 0; g0 < rows; g0 += ch) {
        if (tp_abort_flag) { st = TP_ABORTED; goto done; }
        int32_t nr = (int32_t)(rows - g0 < ch ? rows - g0 : ch);
        /* row g = b*T + d: x_b with the sites revealed at steps >= d masked */
        for (int32_t r = 0; r < nr; r++) {
            int64_t g = g0 + r;
            int32_t b = (int32_t)(g / T), d = (int32_t)(g % T);
            if (b != ob) { row_order(ord, T, seed, stream0 + (uint64_t)b); ob = b; }
            uint8_t *row = inp + (int64_t)r * T;
            memcpy(row, tokens + (int64_t)b * T, (size_t)T);
            for (int k = d; k < T; k++) row[ord[k]] = (uint8_t)q;
        }
        if ((st = tp_mem_copy(n->tok, n->dev, inp, TP_DEVICE_CPU, (size_t)nr * T)) != TP_OK) goto done;
        if ((st = fwd(n, P, nr, g0, T)) != TP_OK) goto done;
        if ((st = tp_mem_copy(lp, TP_DEVICE_CPU, n->logp, n->dev, sizeof(float) * (size_t)nr * T * q)) != TP_OK) goto done;
        ob = -1;
        for (int32_t r = 0; r < nr; r++) {
            int64_t g = g0 + r;
            int32_t b = (int32_t)(g / T), d = (int32_t)(g % T);
            if (b != ob) { row_order(ord, T, seed, stream0 + (uint64_t)b); ob = b; }
            int i = ord[d], x = tokens[(int64_t)b * T + i];
            int64_t at = ((int64_t)r * T + i) * q + x;
            double l = lp[at];
            if (logq) logq[b] += l;
            total += a[b] * l;
            dl[at] = (float)a[b];
        }
        if ((st = tp_mem_copy(n->dlogp, n->dev, dl, TP_DEVICE_CPU, sizeof(float) * (size_t)nr * T * q)) != TP_OK) goto done;
        if ((st = bwd(n, P, G, nr)) != TP_OK) goto done;
        /* clear the entries set for this chunk */
        for (int32_t r = 0; r < nr; r++) {
            int64_t g = g0 + r;
            int32_t b = (int32_t)(g / T), d = (int32_t)(g % T);
            if (b != ob) { row_order(ord, T, seed, stream0 + (uint64_t)b); ob = b; }
            int i = ord[d];
            dl[((int64_t)r * T + i) * q + tokens[(int64_t)b * T + i]] = 0;
        }
    }
    *loss = total;
done:
    free(inp); free(lp); free(dl); free(ord);
    return st;
}
