/*
 * runtime/checkpoint.c -- checkpoint files (runtime/checkpoint.h): the
 * network's full training state plus named double slots, written and read
 * in a fixed little-endian layout with a magic, a version and a hash.
 */
#include "tp_ffi.h"
#include "checkpoint.h"
#include <errno.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CKPT_VERSION 1u
static const char MAGIC[8] = { 'T', 'P', 'C', 'K', 'P', 'T', 0, 0 };

typedef struct slot { char *name; double *data; int64_t n; } slot;

struct tp_ckpt {
    int has_net;
    tp_tf_config cfg;
    int64_t np, step;
    double ema_max;
    tp_adam_config adam;
    float *coords;     /* sites*axes */
    float *state;      /* 4*np: params, m, v, ema */
    slot *slots;
    int32_t nslots;
};

tp_ckpt *tp_ckpt_init(void) {
    tp_ckpt *ck = calloc(1, sizeof *ck);
    if (!ck) TP_ERROR(TP_ERR_NOMEM, "checkpoint: out of memory");
    return ck;
}

static void clear_net(tp_ckpt *ck) {
    free(ck->coords); free(ck->state);
    ck->coords = NULL; ck->state = NULL; ck->has_net = 0;
}

void tp_ckpt_free(tp_ckpt *ck) {
    if (!ck) return;
    clear_net(ck);
    for (int i = 0; i < ck->nslots; i++) { free(ck->slots[i].name); free(ck->slots[i].data); }
    free(ck->slots);
    free(ck);
}

static int find_slot(const tp_ckpt *ck, const char *name) {
    for (int i = 0; i < ck->nslots; i++) if (strcmp(ck->slots[i].name, name) == 0) return i;
    return -1;
}

tp_status tp_ckpt_set_slot(tp_ckpt *ck, const char *name, const double *data, int64_t n) {
    if (!name || !*name || strlen(name) > 255) return TP_ERROR(TP_ERR_ARG, "checkpoint: slot name must be 1..255 characters");
    if (n < 0 || (n > 0 && !data)) return TP_ERROR(TP_ERR_ARG, "checkpoint: slot '%s': bad length %lld", name, (long long)n);
    double *copy = malloc(sizeof(double) * (n ? n : 1));
    if (!copy) return TP_ERROR(TP_ERR_NOMEM, "checkpoint: out of memory");
    if (n) memcpy(copy, data, sizeof(double) * n);
    int i = find_slot(ck, name);
    if (i >= 0) {
        free(ck->slots[i].data);
        ck->slots[i].data = copy; ck->slots[i].n = n;
        return TP_OK;
    }
    slot *s = realloc(ck->slots, sizeof(slot) * (ck->nslots + 1));
    if (!s) { free(copy); return TP_ERROR(TP_ERR_NOMEM, "checkpoint: out of memory"); }
    ck->slots = s;
    s[ck->nslots].name = strdup(name);
    s[ck->nslots].data = copy;
    s[ck->nslots].n = n;
    ck->nslots++;
    return TP_OK;
}

int64_t tp_ckpt_slot_size(const tp_ckpt *ck, const char *name) {
    int i = name ? find_slot(ck, name) : -1;
    return i < 0 ? -1 : ck->slots[i].n;
}

tp_status tp_ckpt_get_slot(const tp_ckpt *ck, const char *name, double *out, int64_t n) {
    int i = name ? find_slot(ck, name) : -1;
    if (i < 0) return TP_ERROR(TP_ERR_ARG, "checkpoint: no slot '%s'", name ? name : "(null)");
    if (n != ck->slots[i].n)
        return TP_ERROR(TP_ERR_ARG, "checkpoint: slot '%s' has %lld values, asked for %lld", name,
                        (long long)ck->slots[i].n, (long long)n);
    if (n) memcpy(out, ck->slots[i].data, sizeof(double) * n);
    return TP_OK;
}

int32_t tp_ckpt_slot_count(const tp_ckpt *ck) { return ck->nslots; }
const char *tp_ckpt_slot_name(const tp_ckpt *ck, int32_t i) {
    return i >= 0 && i < ck->nslots ? ck->slots[i].name : NULL;
}
int32_t tp_ckpt_has_net(const tp_ckpt *ck) { return ck->has_net; }

tp_status tp_ckpt_set_net(tp_ckpt *ck, const tp_net *net) {
    clear_net(ck);
    tp_net_get_config(net, &ck->cfg);
    ck->np = tp_net_num_params(net);
    ck->step = tp_net_step_count(net);
    ck->ema_max = tp_net_ema_max(net);
    tp_net_get_adam(net, &ck->adam);
    int64_t nc = (int64_t)ck->cfg.sites * ck->cfg.axes;
    ck->coords = malloc(sizeof(float) * nc);
    ck->state = malloc(sizeof(float) * 4 * ck->np);
    if (!ck->coords || !ck->state) { clear_net(ck); return TP_ERROR(TP_ERR_NOMEM, "checkpoint: out of memory"); }
    tp_net_get_coords(net, ck->coords);
    static const int which[4] = { TP_NET_PARAMS, TP_NET_ADAM_M, TP_NET_ADAM_V, TP_NET_EMA };
    for (int k = 0; k < 4; k++) {
        tp_status st = tp_net_get(net, which[k], ck->state + k * ck->np, ck->np);
        if (st != TP_OK) { clear_net(ck); return st; }
    }
    ck->has_net = 1;
    return TP_OK;
}

/* ---- byte stream with a running FNV-1a hash ------------------------------ */

typedef struct { FILE *f; uint64_t h; int err; } stream;

static void hash_bytes(stream *s, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) { s->h ^= b[i]; s->h *= 1099511628211ULL; }
}

static void put(stream *s, const void *p, size_t n) {
    if (s->err || n == 0) return;
    if (fwrite(p, 1, n, s->f) != n) s->err = errno > 1 ? errno : 1;   /* the errno names the failure */
    hash_bytes(s, p, n);
}

static void get(stream *s, void *p, size_t n) {
    if (s->err || n == 0) return;
    if (fread(p, 1, n, s->f) != n) { s->err = 1; return; }
    hash_bytes(s, p, n);
}

static int little_endian(void) { const uint16_t x = 1; return *(const uint8_t *)&x == 1; }

tp_status tp_ckpt_save(const tp_ckpt *ck, const char *path) {
    if (!path || !*path) return TP_ERROR(TP_ERR_ARG, "checkpoint: empty path");
    if (!little_endian()) return TP_ERROR(TP_ERR_INTERNAL, "checkpoint: big-endian hosts are not supported");
    tp_atomic_file af;   /* a temporary name of this writer's own, renamed into place */
    stream s = { tp_atomic_open(&af, path), 14695981039346656037ULL, 0 };
    if (!s.f) return TP_ERR_IO;
    uint32_t version = CKPT_VERSION, flags = ck->has_net ? 1u : 0u;
    put(&s, MAGIC, 8);
    put(&s, &version, 4);
    put(&s, &flags, 4);
    if (ck->has_net) {
        put(&s, &ck->cfg, sizeof ck->cfg);
        put(&s, &ck->np, 8);
        put(&s, &ck->step, 8);
        put(&s, &ck->ema_max, 8);
        put(&s, &ck->adam, sizeof ck->adam);
        put(&s, ck->coords, sizeof(float) * ck->cfg.sites * ck->cfg.axes);
        put(&s, ck->state, sizeof(float) * 4 * ck->np);
    }
    uint32_t ns = (uint32_t)ck->nslots;
    put(&s, &ns, 4);
    for (int i = 0; i < ck->nslots; i++) {
        uint32_t nl = (uint32_t)strlen(ck->slots[i].name);
        put(&s, &nl, 4);
        put(&s, ck->slots[i].name, nl);
        put(&s, &ck->slots[i].n, 8);
        put(&s, ck->slots[i].data, sizeof(double) * ck->slots[i].n);
    }
    uint64_t h = s.h;
    put(&s, &h, 8);
    return tp_atomic_commit(&af, s.err);
}

tp_ckpt *tp_ckpt_load(const char *path) {
    if (!path) { TP_ERROR(TP_ERR_ARG, "checkpoint: NULL path"); return NULL; }
    char shadow[4352];
    stream s = { fopen(tp_io_read_path_buf(path, shadow, sizeof shadow), "rb"), 14695981039346656037ULL, 0 };
    if (!s.f) { TP_ERROR(TP_ERR_IO, "checkpoint: cannot open %s", path); return NULL; }
    /* every allocation below is bounded by the bytes the file still holds
     * (a header may claim anything) */
    int64_t fsize = -1;
    if (fseek(s.f, 0, SEEK_END) == 0) fsize = ftell(s.f);
    if (fsize < 0 || fseek(s.f, 0, SEEK_SET) != 0) { TP_ERROR(TP_ERR_IO, "checkpoint: cannot read %s", path); fclose(s.f); return NULL; }
    tp_ckpt *ck = tp_ckpt_init();
    if (!ck) { fclose(s.f); return NULL; }
    char magic[8];
    uint32_t version = 0, flags = 0;
    get(&s, magic, 8);
    if (s.err || memcmp(magic, MAGIC, 8) != 0) { TP_ERROR(TP_ERR_FORMAT, "checkpoint: %s is not a tempera checkpoint", path); goto fail; }
    get(&s, &version, 4);
    get(&s, &flags, 4);
    if (s.err || version != CKPT_VERSION) {
        TP_ERROR(TP_ERR_FORMAT, "checkpoint: %s has version %u, this tempera reads version %u", path, version, CKPT_VERSION);
        goto fail;
    }
    if (flags & 1u) {
        get(&s, &ck->cfg, sizeof ck->cfg);
        get(&s, &ck->np, 8);
        get(&s, &ck->step, 8);
        get(&s, &ck->ema_max, 8);
        get(&s, &ck->adam, sizeof ck->adam);
        if (s.err || tp_tf_config_check(&ck->cfg) != TP_OK) { TP_ERROR(TP_ERR_FORMAT, "checkpoint: %s: bad network header", path); goto fail; }
        tp_tf_layout lay;
        tp_tf_layout_init(&lay, &ck->cfg);
        if (lay.n_params != ck->np) { TP_ERROR(TP_ERR_FORMAT, "checkpoint: %s: parameter count does not match the architecture", path); goto fail; }
        if ((double)sizeof(float) * ((double)ck->cfg.sites * ck->cfg.axes + 4.0 * (double)ck->np) > (double)(fsize - ftell(s.f))) {
            TP_ERROR(TP_ERR_FORMAT, "checkpoint: %s is truncated (its network needs more bytes than the file holds)", path);
            goto fail;
        }
        ck->coords = malloc(sizeof(float) * ck->cfg.sites * ck->cfg.axes);
        ck->state = malloc(sizeof(float) * 4 * ck->np);
        if (!ck->coords || !ck->state) { TP_ERROR(TP_ERR_NOMEM, "checkpoint: out of memory"); goto fail; }
        get(&s, ck->coords, sizeof(float) * ck->cfg.sites * ck->cfg.axes);
        get(&s, ck->state, sizeof(float) * 4 * ck->np);
        ck->has_net = 1;
    }
    uint32_t ns = 0;
    get(&s, &ns, 4);
    for (uint32_t i = 0; i < ns && !s.err; i++) {
        uint32_t nl = 0;
        int64_t n = 0;
        char name[256];
        get(&s, &nl, 4);
        if (s.err || nl == 0 || nl > 255) { TP_ERROR(TP_ERR_FORMAT, "checkpoint: %s: bad slot name", path); goto fail; }
        get(&s, name, nl);
        name[nl] = 0;
        get(&s, &n, 8);
        if (s.err || n < 0 || n > ((int64_t)1 << 40)) { TP_ERROR(TP_ERR_FORMAT, "checkpoint: %s: bad slot length", path); goto fail; }
        if ((double)n * sizeof(double) > (double)(fsize - ftell(s.f))) {
            TP_ERROR(TP_ERR_FORMAT, "checkpoint: %s is truncated (slot '%s' claims %lld values, more than the file holds)",
                     path, name, (long long)n);
            goto fail;
        }
        double *data = malloc(sizeof(double) * (n ? n : 1));
        if (!data) { TP_ERROR(TP_ERR_NOMEM, "checkpoint: out of memory"); goto fail; }
        get(&s, data, sizeof(double) * n);
        tp_status st = s.err ? TP_ERR_FORMAT : tp_ckpt_set_slot(ck, name, data, n);
        free(data);
        if (st != TP_OK) { if (s.err) TP_ERROR(TP_ERR_FORMAT, "checkpoint: %s is truncated", path); goto fail; }
    }
    uint64_t want = s.h, got = 0;
    if (s.err || fread(&got, 1, 8, s.f) != 8) { TP_ERROR(TP_ERR_FORMAT, "checkpoint: %s is truncated", path); goto fail; }
    if (got != want) { TP_ERROR(TP_ERR_FORMAT, "checkpoint: %s is corrupt (hash mismatch)", path); goto fail; }
    fclose(s.f);
    return ck;
fail:
    fclose(s.f);
    tp_ckpt_free(ck);
    return NULL;
}

tp_status tp_ckpt_restore(const tp_ckpt *ck, tp_net *net) {
    if (!ck->has_net) return TP_ERROR(TP_ERR_ARG, "checkpoint: holds no network");
    tp_tf_config c;
    tp_net_get_config(net, &c);
    if (memcmp(&c, &ck->cfg, sizeof c) != 0)
        return TP_ERROR(TP_ERR_ARG, "checkpoint: network architecture differs from the saved one");
    static const int which[4] = { TP_NET_PARAMS, TP_NET_ADAM_M, TP_NET_ADAM_V, TP_NET_EMA };
    for (int k = 0; k < 4; k++) TP_TRY(tp_net_set(net, which[k], ck->state + k * ck->np, ck->np));
    float *g = calloc(ck->np, sizeof(float));
    if (!g) return TP_ERROR(TP_ERR_NOMEM, "checkpoint: out of memory");
    tp_status st = tp_net_set(net, TP_NET_GRADS, g, ck->np);
    free(g);
    TP_TRY(st);
    TP_TRY(tp_net_set_adam(net, &ck->adam));
    tp_net_set_step_count(net, ck->step);
    tp_net_set_ema_max(net, ck->ema_max);
    return TP_OK;
}

tp_net *tp_ckpt_new_net(const tp_ckpt *ck, const char *backend, int32_t chunk) {
    if (!ck->has_net) { TP_ERROR(TP_ERR_ARG, "checkpoint: holds no network"); return NULL; }
    tp_net *net = tp_net_init(&ck->cfg, ck->coords, 0, 1.0f, backend, chunk);
    if (!net) return NULL;
    if (tp_ckpt_restore(ck, net) != TP_OK) { tp_net_free(net); return NULL; }
    return net;
}
