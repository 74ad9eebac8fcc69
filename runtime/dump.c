/*
 * runtime/dump.c -- the .tpd sample dump writer and reader (see dump.h for
 * the contract and man/tempera-dump.5 for the byte format).
 *
 * File layout: a sequence of frames, each data frame preceded by a 64-byte
 * index entry (a zstd skippable frame) that gives the frame's kind, sizes,
 * and a 64-bit hash of its compressed bytes:
 *
 *   [entry kind 0][zstd frame: header]  ([entry kind 1][zstd frame: chunk])*
 *
 * Every byte of a dump is covered by a check: entries by their own hash,
 * frames by the hash in their entry and by zstd's content checksum; all
 * sizes are cross-checked.  The reader never trusts a number from the file
 * before bounding it: frames are read with pread() within the file size and
 * decompressed by zstd's streaming API into a buffer capped by the entry's
 * raw size (itself capped by TP_DUMP_MAX_RAW).
 */
#include "dump.h"
#include "tp_ffi.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

/* Columns of numbers are copied as they lie in memory: the format is little-endian. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "runtime/dump.c assumes a little-endian host"
#endif

#define HDR_MAGIC     "TPDUMP\0\0"
#define CHUNK_MAGIC   "TPDCHUNK"
#define ENTRY_MAGIC   "TPDI"
#define SKIP_MAGIC    0x184D2A5Eu      /* zstd skippable frame, variant 0xE */
#define ENTRY_PAYLOAD 56
#define ENTRY_BYTES   (8 + ENTRY_PAYLOAD)
#define FORMAT_VERSION 1
#define KIND_HEADER   0
#define KIND_CHUNK    1
#define KIND_END      2                /* written by close: no frame follows */
#define TP_DUMP_MAX_RAW    (256u << 20)  /* largest decompressed frame */
#define TP_DUMP_MAX_HEADER (64u << 20)
#define MAX_FIELDS    1024
#define MAX_META      4096
#define MAX_NAME      63
#define CHUNK_HEAD    32
#define READ_BLOCK    (1u << 17)
#define CSV_BATCH     (1 << 20)       /* bytes of unpacked columns per CSV batch */

/* ---- little-endian helpers and the frame hash ----------------------------- */

static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void put64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static uint32_t get32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32; }

/* FNV-1a over 64-bit little-endian words (the last one zero-padded), then
 * the length: h = (h ^ w) * P for each word, h = (h ^ n) * P. */
static uint64_t frame_hash(const uint8_t *p, size_t n) {
    const uint64_t P = 0x100000001b3ull;
    uint64_t h = 0xcbf29ce484222325ull;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) h = (h ^ get64(p + i)) * P;
    if (i < n) {
        uint8_t tail[8] = { 0 };
        memcpy(tail, p + i, n - i);
        h = (h ^ get64(tail)) * P;
    }
    return (h ^ (uint64_t)n) * P;
}

/* Prefix the thread's error message (copied first: the buffer is reused). */
static tp_status rewrap(tp_status st, const char *prefix) {
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", tp_last_error());
    return TP_ERROR(st, "%s%s", prefix, msg);
}

/* ---- SHA-256 (FIPS 180-4), for the recipe hash ---------------------------- */

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(uint32_t s[8], const uint8_t *b) {
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)b[4 * i] << 24 | (uint32_t)b[4 * i + 1] << 16 | (uint32_t)b[4 * i + 2] << 8 | b[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = s[0], bb = s[1], c = s[2], d = s[3], e = s[4], f = s[5], g = s[6], h = s[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K256[i] + w[i];
        uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & bb) ^ (a & c) ^ (bb & c));
        h = g; g = f; f = e; e = d + t1; d = c; c = bb; bb = a; a = t1 + t2;
    }
    s[0] += a; s[1] += bb; s[2] += c; s[3] += d; s[4] += e; s[5] += f; s[6] += g; s[7] += h;
}

void tp_sha256_hex(const void *data, size_t n, char *hex65) {
    uint32_t s[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                      0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
    const uint8_t *p = data;
    size_t i = 0;
    for (; i + 64 <= n; i += 64) sha256_block(s, p + i);
    uint8_t last[128] = { 0 };
    size_t rem = n - i;
    if (rem) memcpy(last, p + i, rem);
    last[rem] = 0x80;
    size_t tot = rem + 9 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)n * 8;
    for (int k = 0; k < 8; k++) last[tot - 1 - k] = (uint8_t)(bits >> (8 * k));
    sha256_block(s, last);
    if (tot == 128) sha256_block(s, last + 64);
    for (int k = 0; k < 8; k++) snprintf(hex65 + 8 * k, 9, "%08x", s[k]);
    hex65[64] = 0;
}

/* ---- schema --------------------------------------------------------------- */

static int bits_per_site(int32_t states) { return states == 2 ? 1 : states <= 4 ? 2 : 8; }

int64_t tp_dump_field_bytes(const tp_dump_field *f) {
    switch (f->type) {
    case TP_DUMP_F64: case TP_DUMP_I64: return 8 * (int64_t)f->width;
    case TP_DUMP_F32: case TP_DUMP_I32: return 4 * (int64_t)f->width;
    case TP_DUMP_CONFIG: return f->width;
    default: return 0;
    }
}

int64_t tp_dump_field_packed_bytes(const tp_dump_field *f) {
    if (f->type != TP_DUMP_CONFIG) return tp_dump_field_bytes(f);
    return ((int64_t)f->width * bits_per_site(f->states) + 7) / 8;
}

static int valid_name(const char *s) {
    if (!s || !*s || strlen(s) > MAX_NAME) return 0;
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_')) return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return 0;
    return 1;
}

/* Check one field; "where" prefixes the message (a file position or ""). */
static tp_status check_field(const tp_dump_field *f, int32_t i, const char *where) {
    if (!valid_name(f->name))
        return TP_ERROR(TP_ERR_FORMAT, "%sfield %d: name must be an identifier of at most %d bytes", where, (int)i, MAX_NAME);
    if (f->type < TP_DUMP_F64 || f->type > TP_DUMP_CONFIG)
        return TP_ERROR(TP_ERR_FORMAT, "%sfield '%s': unknown type %d", where, f->name, (int)f->type);
    if (f->width < 1 || f->width > (1 << 24))
        return TP_ERROR(TP_ERR_FORMAT, "%sfield '%s': width %d out of range 1..%d", where, f->name, (int)f->width, 1 << 24);
    if (f->type == TP_DUMP_CONFIG ? (f->states < 2 || f->states > 256) : f->states != 0)
        return TP_ERROR(TP_ERR_FORMAT, "%sfield '%s': states %d (configurations need 2..256, other types 0)",
                        where, f->name, (int)f->states);
    if (f->ndims < 0 || f->ndims > 4)
        return TP_ERROR(TP_ERR_FORMAT, "%sfield '%s': ndims %d out of range 0..4", where, f->name, (int)f->ndims);
    if (f->ndims > 0) {
        int64_t prod = 1;
        for (int d = 0; d < f->ndims; d++) {
            if (f->dims[d] < 1) return TP_ERROR(TP_ERR_FORMAT, "%sfield '%s': shape has a dimension < 1", where, f->name);
            prod *= f->dims[d];
            if (prod > f->width) break;
        }
        if (prod != f->width)
            return TP_ERROR(TP_ERR_FORMAT, "%sfield '%s': shape does not multiply to width %d", where, f->name, (int)f->width);
    }
    for (int d = f->ndims; d < 4; d++)
        if (f->dims[d] != 0) return TP_ERROR(TP_ERR_FORMAT, "%sfield '%s': unused dims must be 0", where, f->name);
    return TP_OK;
}

static tp_status check_schema(const tp_dump_field *fields, int32_t n, const char *where) {
    if (n < 0 || n > MAX_FIELDS)
        return TP_ERROR(TP_ERR_FORMAT, "%s%d fields (at most %d)", where, (int)n, MAX_FIELDS);
    for (int32_t i = 0; i < n; i++) {
        TP_TRY(check_field(&fields[i], i, where));
        for (int32_t j = 0; j < i; j++)
            if (strcmp(fields[i].name, fields[j].name) == 0)
                return TP_ERROR(TP_ERR_FORMAT, "%sfield name '%s' used twice", where, fields[i].name);
    }
    return TP_OK;
}

/* deep copy of a schema (names included); NULL on OOM */
static tp_dump_field *copy_schema(const tp_dump_field *src, int32_t n) {
    tp_dump_field *f = calloc((size_t)(n ? n : 1), sizeof *f);
    if (!f) return NULL;
    for (int32_t i = 0; i < n; i++) {
        f[i] = src[i];
        f[i].name = strdup(src[i].name);
        if (!f[i].name) {
            for (int32_t j = 0; j < i; j++) free((char *)f[j].name);
            free(f);
            return NULL;
        }
    }
    return f;
}

static void free_schema(tp_dump_field *f, int32_t n) {
    if (!f) return;
    for (int32_t i = 0; i < n; i++) free((char *)f[i].name);
    free(f);
}

/* ---- bit packing ----------------------------------------------------------- */

/* n records of width sites (one byte each, < states) -> packed rows */
static void pack_configs(uint8_t *dst, const uint8_t *src, int64_t n, int32_t width, int32_t states) {
    int b = bits_per_site(states);
    int64_t row = ((int64_t)width * b + 7) / 8;
    if (b == 8) { memcpy(dst, src, (size_t)(n * width)); return; }
    memset(dst, 0, (size_t)(n * row));
    for (int64_t r = 0; r < n; r++) {
        uint8_t *d = dst + r * row;
        const uint8_t *s = src + r * width;
        int32_t i = 0;
        uint64_t x;
        if (b == 1) {
            /* 8 sites (bytes 0/1) at a time: the multiply moves byte k's bit
             * to bit 56+k; all partial products land on distinct bits */
            for (; i + 8 <= width; i += 8) {
                memcpy(&x, s + i, 8);
                d[i >> 3] = (uint8_t)((x * 0x0102040810204080ull) >> 56);
            }
            for (; i < width; i++) d[i >> 3] |= (uint8_t)((s[i] & 1) << (i & 7));
        } else {
            /* 4 sites (bytes 0..3) at a time, byte k to bits 56+2k */
            for (; i + 4 <= width; i += 4) {
                uint32_t y;
                memcpy(&y, s + i, 4);
                x = y;
                d[i >> 2] = (uint8_t)((x * 0x0104104000000000ull) >> 56);
            }
            for (; i < width; i++) d[i >> 2] |= (uint8_t)((s[i] & 3) << (2 * (i & 3)));
        }
    }
}

/* Check n packed rows without unpacking them: 1 if every value is < states
 * and no padding bit is set (what unpack_configs checks), 0 otherwise. */
static int check_configs(const uint8_t *src, int64_t n, int32_t width, int32_t states) {
    int b = bits_per_site(states);
    int64_t row = ((int64_t)width * b + 7) / 8;
    int ok = 1;
    if (b == 8) {
        for (int64_t i = 0; i < n * width; i++) ok &= src[i] < states;
        return ok;
    }
    int used = (int)(((int64_t)width * b) % 8);
    for (int64_t r = 0; r < n; r++) {
        const uint8_t *s = src + r * row;
        if (b == 2 && states < 4) {
            for (int32_t i = 0; i < width; i++) ok &= ((s[i >> 2] >> (2 * (i & 3))) & 3) < states;
        }
        if (used) ok &= (s[row - 1] >> used) == 0;
    }
    return ok;
}

/* inverse of pack_configs; returns 0 if a value >= states or a padding bit
 * is set (corruption: check_configs's rule), 1 otherwise */
static int unpack_configs(uint8_t *dst, const uint8_t *src, int64_t n, int32_t width, int32_t states) {
    int b = bits_per_site(states);
    int64_t row = ((int64_t)width * b + 7) / 8;
    if (b == 8) {
        memcpy(dst, src, (size_t)(n * width));
        return check_configs(src, n, width, states);
    }
    for (int64_t r = 0; r < n; r++) {
        uint8_t *d = dst + r * width;
        const uint8_t *s = src + r * row;
        if (b == 1) {
            int32_t i = 0;
            for (; i + 8 <= width; i += 8) {
                uint8_t v = s[i >> 3];
                for (int k = 0; k < 8; k++) d[i + k] = (v >> k) & 1;
            }
            for (; i < width; i++) d[i] = (s[i >> 3] >> (i & 7)) & 1;
        } else {
            for (int32_t i = 0; i < width; i++) d[i] = (s[i >> 2] >> (2 * (i & 3))) & 3;
        }
    }
    return check_configs(src, n, width, states);
}

/* ---- writer ------------------------------------------------------------------ */

struct tp_dump_writer {
    int fd;
    int muted;      /* output muted (tp_io_set_muted): a shadow, never synced */
    char *path;
    int32_t nf;
    tp_dump_field *fields;
    int64_t *ubytes, *pbytes;   /* per record: unpacked / packed bytes per field */
    uint8_t **cols;             /* per field: chunk_records * ubytes */
    int64_t cap, nbuf;          /* records per chunk, records buffered */
    int64_t next_chunk, written_records, offset;
    int sync;
    ZSTD_CCtx *cctx;
    uint8_t *raw, *out;         /* chunk payload, entry + compressed frame */
    size_t raw_cap, out_cap;
};

void tp_dump_opts_default(tp_dump_opts *o) {
    o->level = 3;
    o->workers = 0;
    o->chunk_records = 0;
    o->sync = 0;
    o->append = 0;
}

static void make_entry(uint8_t *e, int kind, uint64_t seq, uint64_t first, uint64_t raw,
                       uint32_t records, const uint8_t *frame, uint32_t csize) {
    put32(e, SKIP_MAGIC);
    put32(e + 4, ENTRY_PAYLOAD);
    uint8_t *p = e + 8;
    memcpy(p, ENTRY_MAGIC, 4);
    p[4] = FORMAT_VERSION; p[5] = 0;
    p[6] = (uint8_t)kind; p[7] = 0;
    put64(p + 8, seq);
    put64(p + 16, first);
    put64(p + 24, raw);
    put32(p + 32, records);
    put32(p + 36, csize);
    put64(p + 40, frame_hash(frame, csize));
    put64(p + 48, frame_hash(p, 48));
}

static tp_status write_all(int fd, const uint8_t *p, size_t n, int64_t off) {
    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, (off_t)off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return TP_ERROR(TP_ERR_IO, "write failed: %s", w < 0 ? strerror(errno) : "no progress");
        p += w; n -= (size_t)w; off += w;
    }
    return TP_OK;
}

/* Compress raw[0..rawn) as one frame after a 64-byte entry in w->out and
 * write both at w->offset.  On failure the file is cut back to w->offset. */
static tp_status emit_frame(tp_dump_writer *w, int kind, uint64_t seq, uint64_t first,
                            uint32_t records, size_t rawn) {
    size_t bound = ZSTD_compressBound(rawn) + ENTRY_BYTES;
    if (bound > w->out_cap) {
        uint8_t *nb = realloc(w->out, bound);
        if (!nb) return TP_ERROR(TP_ERR_NOMEM, "dump: out of memory (%zu bytes)", bound);
        w->out = nb; w->out_cap = bound;
    }
    size_t c = ZSTD_compress2(w->cctx, w->out + ENTRY_BYTES, w->out_cap - ENTRY_BYTES, w->raw, rawn);
    if (ZSTD_isError(c)) return TP_ERROR(TP_ERR_INTERNAL, "dump: zstd compression failed: %s", ZSTD_getErrorName(c));
    if (c > UINT32_MAX) return TP_ERROR(TP_ERR_INTERNAL, "dump: compressed frame too large");
    make_entry(w->out, kind, seq, first, rawn, records, w->out + ENTRY_BYTES, (uint32_t)c);
    tp_status st = write_all(w->fd, w->out, c + ENTRY_BYTES, w->offset);
    if (st == TP_OK && w->sync && !w->muted && fdatasync(w->fd) != 0)
        st = TP_ERROR(TP_ERR_IO, "dump: fdatasync failed: %s", strerror(errno));
    if (st != TP_OK) {
        /* keep the file a valid dump: drop the partial frame */
        if (ftruncate(w->fd, (off_t)w->offset) != 0) { /* the reader reports the torn tail */ }
        char pre[512];
        snprintf(pre, sizeof pre, "dump %s: chunk %lld not written: ", w->path, (long long)w->next_chunk);
        return rewrap(st, pre);
    }
    w->offset += (int64_t)(c + ENTRY_BYTES);
    return TP_OK;
}

static tp_status ensure_raw(tp_dump_writer *w, size_t n) {
    if (n <= w->raw_cap) return TP_OK;
    uint8_t *nb = realloc(w->raw, n);
    if (!nb) return TP_ERROR(TP_ERR_NOMEM, "dump: out of memory (%zu bytes)", n);
    w->raw = nb; w->raw_cap = n;
    return TP_OK;
}

static tp_status write_header(tp_dump_writer *w, const char *const *keys, const char *const *values,
                              int32_t nmeta, const char *sha) {
    size_t n = 24;
    for (int32_t i = 0; i < nmeta; i++) n += 8 + strlen(keys[i]) + strlen(values[i]);
    if (sha) n += 8 + strlen("recipe_sha256") + 64;
    for (int32_t i = 0; i < w->nf; i++) n += 4 + strlen(w->fields[i].name) + 32;
    if (n > TP_DUMP_MAX_HEADER) return TP_ERROR(TP_ERR_ARG, "dump: header metadata too large (%zu bytes)", n);
    TP_TRY(ensure_raw(w, n));
    uint8_t *p = w->raw;
    memcpy(p, HDR_MAGIC, 8);
    put32(p + 8, FORMAT_VERSION);
    put32(p + 12, (uint32_t)nmeta + (sha ? 1 : 0));
    put32(p + 16, (uint32_t)w->nf);
    put32(p + 20, 0);
    p += 24;
    for (int32_t i = 0; i <= nmeta; i++) {
        const char *k, *v;
        if (i < nmeta) { k = keys[i]; v = values[i]; }
        else if (sha) { k = "recipe_sha256"; v = sha; }
        else break;
        size_t kl = strlen(k), vl = strlen(v);
        put32(p, (uint32_t)kl); memcpy(p + 4, k, kl); p += 4 + kl;
        put32(p, (uint32_t)vl); memcpy(p + 4, v, vl); p += 4 + vl;
    }
    for (int32_t i = 0; i < w->nf; i++) {
        const tp_dump_field *f = &w->fields[i];
        size_t nl = strlen(f->name);
        put32(p, (uint32_t)nl); memcpy(p + 4, f->name, nl); p += 4 + nl;
        put32(p, (uint32_t)f->type); put32(p + 4, (uint32_t)f->width);
        put32(p + 8, (uint32_t)f->states); put32(p + 12, (uint32_t)f->ndims);
        for (int d = 0; d < 4; d++) put32(p + 16 + 4 * d, (uint32_t)f->dims[d]);
        p += 32;
    }
    TP_ASSERT((size_t)(p - w->raw) == n);
    return emit_frame(w, KIND_HEADER, 0, 0, 0, n);
}

tp_status tp_dump_writer_flush(tp_dump_writer *w) {
    if (!w) return TP_ERROR(TP_ERR_ARG, "dump: writer is NULL");
    if (w->fd < 0) return TP_ERROR(TP_ERR_ARG, "dump: writer is closed");
    if (w->nbuf == 0) return TP_OK;
    size_t n = CHUNK_HEAD;
    for (int32_t i = 0; i < w->nf; i++) n += 8 + (size_t)(w->nbuf * w->pbytes[i]);
    TP_TRY(ensure_raw(w, n));
    uint8_t *p = w->raw;
    memcpy(p, CHUNK_MAGIC, 8);
    put64(p + 8, (uint64_t)w->next_chunk);
    put64(p + 16, (uint64_t)w->written_records);
    put32(p + 24, (uint32_t)w->nbuf);
    put32(p + 28, (uint32_t)w->nf);
    p += CHUNK_HEAD;
    for (int32_t i = 0; i < w->nf; i++) {
        const tp_dump_field *f = &w->fields[i];
        int64_t len = w->nbuf * w->pbytes[i];
        put64(p, (uint64_t)len);
        p += 8;
        if (f->type == TP_DUMP_CONFIG) pack_configs(p, w->cols[i], w->nbuf, f->width, f->states);
        else memcpy(p, w->cols[i], (size_t)len);   /* x86-64 and arm64 are little-endian */
        p += len;
    }
    TP_TRY(emit_frame(w, KIND_CHUNK, (uint64_t)w->next_chunk, (uint64_t)w->written_records, (uint32_t)w->nbuf, n));
    w->next_chunk++;
    w->written_records += w->nbuf;
    w->nbuf = 0;
    return TP_OK;
}

tp_status tp_dump_writer_append(tp_dump_writer *w, int64_t n, const void *const *cols) {
    if (!w) return TP_ERROR(TP_ERR_ARG, "dump: writer is NULL");
    if (w->fd < 0) return TP_ERROR(TP_ERR_ARG, "dump: writer is closed");
    if (n < 0) return TP_ERROR(TP_ERR_ARG, "dump: negative record count %lld", (long long)n);
    if (n == 0) return TP_OK;
    if (!cols) return TP_ERROR(TP_ERR_ARG, "dump: no columns given");
    for (int32_t i = 0; i < w->nf; i++) {
        const tp_dump_field *f = &w->fields[i];
        if (!cols[i]) return TP_ERROR(TP_ERR_ARG, "dump: no data for field '%s'", f->name);
        if (f->type == TP_DUMP_CONFIG) {
            const uint8_t *s = cols[i];
            int64_t m = n * f->width;
            int bad = 0;
            if ((f->states & (f->states - 1)) == 0) {
                /* a power of two: no byte may have a bit at or above log2(states) */
                uint64_t mask = 0x0101010101010101ull * (uint8_t)(0x100 - f->states), acc = 0, x;
                int64_t k = 0;
                for (; k + 8 <= m; k += 8) { memcpy(&x, s + k, 8); acc |= x; }
                for (; k < m; k++) acc |= s[k];
                bad = (acc & mask) != 0;
            } else {
                uint8_t mx = 0;
                for (int64_t k = 0; k < m; k++) mx = s[k] > mx ? s[k] : mx;
                bad = mx >= f->states;
            }
            if (bad) {
                int64_t k = 0;
                while (s[k] < f->states) k++;
                return TP_ERROR(TP_ERR_ARG, "dump: field '%s' record %lld site %lld has state %d (states = %d)",
                                f->name, (long long)(k / f->width), (long long)(k % f->width), s[k], (int)f->states);
            }
        }
    }
    int64_t done = 0;
    while (done < n) {
        int64_t take = n - done;
        if (take > w->cap - w->nbuf) take = w->cap - w->nbuf;
        for (int32_t i = 0; i < w->nf; i++)
            memcpy(w->cols[i] + w->nbuf * w->ubytes[i], (const uint8_t *)cols[i] + done * w->ubytes[i],
                   (size_t)(take * w->ubytes[i]));
        w->nbuf += take;
        done += take;
        if (w->nbuf == w->cap) TP_TRY(tp_dump_writer_flush(w));
    }
    return TP_OK;
}

int64_t tp_dump_writer_records(const tp_dump_writer *w) { return w ? w->written_records + w->nbuf : 0; }
int64_t tp_dump_writer_records_written(const tp_dump_writer *w) { return w ? w->written_records : 0; }
int64_t tp_dump_writer_chunks(const tp_dump_writer *w) { return w ? w->next_chunk : 0; }
int64_t tp_dump_writer_bytes(const tp_dump_writer *w) { return w ? w->offset : 0; }

void tp_dump_writer_free(tp_dump_writer *w) {
    if (!w) return;
    if (w->fd >= 0) close(w->fd);
    if (w->cols) for (int32_t i = 0; i < w->nf; i++) free(w->cols[i]);
    free(w->cols);
    free(w->ubytes);
    free(w->pbytes);
    free_schema(w->fields, w->nf);
    ZSTD_freeCCtx(w->cctx);
    free(w->raw);
    free(w->out);
    free(w->path);
    free(w);
}

/* the end entry: chunk count and record count, no frame */
static tp_status write_end(tp_dump_writer *w) {
    uint8_t e[ENTRY_BYTES];
    make_entry(e, KIND_END, (uint64_t)w->next_chunk, (uint64_t)w->written_records, 0, 0, e, 0);
    tp_status st = write_all(w->fd, e, ENTRY_BYTES, w->offset);
    if (st != TP_OK) {
        if (ftruncate(w->fd, (off_t)w->offset) != 0) { /* reported as incomplete */ }
        return st;
    }
    w->offset += ENTRY_BYTES;
    return TP_OK;
}

tp_status tp_dump_writer_close(tp_dump_writer *w) {
    if (!w) return TP_OK;
    tp_status st = w->fd >= 0 ? tp_dump_writer_flush(w) : TP_OK;
    if (st == TP_OK && w->fd >= 0) st = write_end(w);
    if (st == TP_OK && w->fd >= 0 && !w->muted && fsync(w->fd) != 0)
        st = TP_ERROR(TP_ERR_IO, "dump %s: fsync failed: %s", w->path, strerror(errno));
    tp_dump_writer_free(w);
    return st;
}

static int same_schema(const tp_dump_field *a, const tp_dump_field *b) {
    if (strcmp(a->name, b->name) || a->type != b->type || a->width != b->width ||
        a->states != b->states || a->ndims != b->ndims) return 0;
    for (int d = 0; d < 4; d++) if (a->dims[d] != b->dims[d]) return 0;
    return 1;
}

static tp_dump_reader *reader_open(const char *path, tp_status *st);
static int64_t reader_end_off(const tp_dump_reader *r);

static tp_status setup_append(tp_dump_writer *w) {
    tp_status ost;
    tp_dump_reader *r = reader_open(w->path, &ost);
    if (!r) {
        char pre[512];
        snprintf(pre, sizeof pre, "cannot append to %s: ", w->path);
        return rewrap(ost, pre);
    }
    tp_status st = TP_OK;
    if (tp_dump_reader_nfields(r) != w->nf) {
        st = TP_ERROR(TP_ERR_ARG, "cannot append to %s: it has %d fields, the writer %d",
                      w->path, (int)tp_dump_reader_nfields(r), (int)w->nf);
    }
    for (int32_t i = 0; st == TP_OK && i < w->nf; i++)
        if (!same_schema(tp_dump_reader_field(r, i), &w->fields[i]))
            st = TP_ERROR(TP_ERR_ARG, "cannot append to %s: field %d ('%s') differs from the file's ('%s')",
                          w->path, (int)i, w->fields[i].name, tp_dump_reader_field(r, i)->name);
    int32_t got = 1;
    while (st == TP_OK && got) {
        tp_status rs = tp_dump_reader_next(r, &got);
        if (rs != TP_OK) {
            /* a torn or damaged tail (a crash while writing): keep the intact prefix */
            if (!tp_log_quiet())
                fprintf(stderr, "tempera: dump %s: dropping %lld damaged bytes at its end (%s)\n", w->path,
                        (long long)(tp_dump_reader_file_size(r) - tp_dump_reader_good_bytes(r)), tp_last_error());
            break;
        }
        if (got) {
            w->next_chunk = tp_dump_chunk_index(r) + 1;
            w->written_records = tp_dump_chunk_first(r) + tp_dump_chunk_records(r);
        }
    }
    if (st == TP_OK) {
        /* continue before the end entry of a closed dump */
        w->offset = reader_end_off(r) >= 0 ? reader_end_off(r) : tp_dump_reader_good_bytes(r);
        if (ftruncate(w->fd, (off_t)w->offset) != 0)
            st = TP_ERROR(TP_ERR_IO, "cannot append to %s: %s", w->path, strerror(errno));
    }
    tp_dump_reader_free(r);
    return st;
}

/* A new dump at path replaces an existing file only while holding that
 * file's lock (a writer still at work holds it): *old_fd gets the locked
 * file, or -1 when there is none.  The file is looked up again when it was
 * replaced between the open and the lock. */
static tp_status claim_path(const char *path, int *old_fd) {
    *old_fd = -1;
    for (;;) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            if (errno == ENOENT) return TP_OK;
            return TP_ERROR(TP_ERR_IO, "cannot create dump %s: %s", path, strerror(errno));
        }
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            close(fd);
            return TP_ERROR(TP_ERR_IO, "dump %s is being written by another process (a second writer would "
                            "replace its file); give each run its own path", path);
        }
        struct stat a, b;
        if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev) {
            *old_fd = fd;
            return TP_OK;
        }
        close(fd);
    }
}

tp_dump_writer *tp_dump_writer_open(const char *path, const tp_dump_field *fields, int32_t nfields,
                                    const char *const *keys, const char *const *values, int32_t nmeta,
                                    const tp_dump_opts *opts) {
    tp_dump_opts o;
    if (opts) o = *opts; else tp_dump_opts_default(&o);
    if (!path || !*path) { TP_ERROR(TP_ERR_ARG, "dump: no path given"); return NULL; }
    if (nfields < 1 || !fields) { TP_ERROR(TP_ERR_ARG, "dump %s: at least one field is needed", path); return NULL; }
    if (check_schema(fields, nfields, "") != TP_OK) {
        char pre[512];
        snprintf(pre, sizeof pre, "dump %s: ", path);
        rewrap(TP_ERR_ARG, pre);
        return NULL;
    }
    if (nmeta < 0 || nmeta > MAX_META || (nmeta > 0 && (!keys || !values))) {
        TP_ERROR(TP_ERR_ARG, "dump %s: bad metadata (%d entries)", path, (int)nmeta);
        return NULL;
    }
    for (int32_t i = 0; i < nmeta; i++)
        if (!keys[i] || !values[i] || !*keys[i]) { TP_ERROR(TP_ERR_ARG, "dump %s: metadata entry %d is empty", path, (int)i); return NULL; }
    if (o.chunk_records < 0) { TP_ERROR(TP_ERR_ARG, "dump %s: chunk_records must be >= 0", path); return NULL; }
    if (o.workers < 0) { TP_ERROR(TP_ERR_ARG, "dump %s: workers must be >= 0", path); return NULL; }
    if (o.level < ZSTD_minCLevel() || o.level > ZSTD_maxCLevel()) {
        TP_ERROR(TP_ERR_ARG, "dump %s: zstd level %d out of range %d..%d", path, (int)o.level, ZSTD_minCLevel(), ZSTD_maxCLevel());
        return NULL;
    }

    /* an MPI rank other than 0 writes this process's shadow of the dump */
    char shadow[4352];
    path = tp_io_write_path(path, shadow, sizeof shadow);
    tp_dump_writer *w = calloc(1, sizeof *w);
    if (!w) { TP_ERROR(TP_ERR_NOMEM, "dump: out of memory"); return NULL; }
    w->muted = tp_io_muted();
    w->fd = -1;
    w->nf = nfields;
    w->sync = o.sync != 0;
    w->path = strdup(path);
    w->fields = copy_schema(fields, nfields);
    w->ubytes = calloc((size_t)nfields, sizeof *w->ubytes);
    w->pbytes = calloc((size_t)nfields, sizeof *w->pbytes);
    w->cols = calloc((size_t)nfields, sizeof *w->cols);
    w->cctx = ZSTD_createCCtx();
    if (!w->path || !w->fields || !w->ubytes || !w->pbytes || !w->cols || !w->cctx) goto nomem;
    int64_t rec_packed = 0;
    for (int32_t i = 0; i < nfields; i++) {
        w->ubytes[i] = tp_dump_field_bytes(&fields[i]);
        w->pbytes[i] = tp_dump_field_packed_bytes(&fields[i]);
        rec_packed += w->pbytes[i];
    }
    w->cap = o.chunk_records;
    if (w->cap == 0) {
        w->cap = (1 << 20) / rec_packed;
        if (w->cap < 1) w->cap = 1;
        if (w->cap > 65536) w->cap = 65536;
    }
    if (w->cap * rec_packed + CHUNK_HEAD + 8 * nfields > (int64_t)TP_DUMP_MAX_RAW || w->cap > UINT32_MAX) {
        TP_ERROR(TP_ERR_ARG, "dump %s: a chunk of %lld records would exceed %u MiB; use fewer chunk_records",
                 path, (long long)w->cap, TP_DUMP_MAX_RAW >> 20);
        tp_dump_writer_free(w);
        return NULL;
    }
    for (int32_t i = 0; i < nfields; i++)
        if (!(w->cols[i] = malloc((size_t)(w->cap * w->ubytes[i])))) goto nomem;

    size_t e;
    if (ZSTD_isError(e = ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, o.level)) ||
        ZSTD_isError(e = ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 1)) ||
        ZSTD_isError(e = ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_contentSizeFlag, 1))) {
        TP_ERROR(TP_ERR_ARG, "dump %s: zstd: %s", path, ZSTD_getErrorName(e));
        tp_dump_writer_free(w);
        return NULL;
    }
    if (o.workers > 0 && ZSTD_isError(e = ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_nbWorkers, o.workers))) {
        TP_ERROR(TP_ERR_ARG, "dump %s: zstd cannot use %d worker threads: %s", path, (int)o.workers, ZSTD_getErrorName(e));
        tp_dump_writer_free(w);
        return NULL;
    }

    struct stat sb;
    int appending = o.append && stat(path, &sb) == 0 && sb.st_size > 0;
    int old_fd = -1;   /* the file a new dump replaces, locked meanwhile */
    if (appending) {
        w->fd = open(path, O_RDWR | O_CLOEXEC);
    } else {
        if (claim_path(path, &old_fd) != TP_OK) { tp_dump_writer_free(w); return NULL; }
        /* the header goes to a temporary file renamed into place, so path is
         * never a dump without a complete header */
        size_t pl = strlen(path) + 16;
        char *tmp = malloc(pl);
        if (!tmp) goto nomem;
        snprintf(tmp, pl, "%s.tmp%ld", path, (long)getpid());
        w->fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (w->fd < 0 || flock(w->fd, LOCK_EX | LOCK_NB) != 0) {   /* locked before anyone can see it */
            TP_ERROR(TP_ERR_IO, "cannot create dump %s: %s", path, strerror(errno));
            if (w->fd >= 0) unlink(tmp);
            free(tmp);
            if (old_fd >= 0) close(old_fd);
            tp_dump_writer_free(w);
            return NULL;
        }
        const char *recipe = NULL;
        int has_sha = 0;
        for (int32_t i = 0; i < nmeta; i++) {
            if (!strcmp(keys[i], "recipe")) recipe = values[i];
            if (!strcmp(keys[i], "recipe_sha256")) has_sha = 1;
        }
        char sha[65];
        if (recipe && !has_sha) tp_sha256_hex(recipe, strlen(recipe), sha);
        tp_status st = write_header(w, keys, values, nmeta, recipe && !has_sha ? sha : NULL);
        if (st == TP_OK && fsync(w->fd) != 0) st = TP_ERROR(TP_ERR_IO, "fsync: %s", strerror(errno));
        if (st == TP_OK) {
            if (old_fd >= 0) {   /* we hold the old file's lock: replace it */
                if (rename(tmp, path) != 0) st = TP_ERROR(TP_ERR_IO, "rename: %s", strerror(errno));
            } else if (link(tmp, path) != 0) {   /* no file before: create it only if still none */
                st = errno == EEXIST ? TP_ERROR(TP_ERR_IO, "another process created it meanwhile")
                                     : TP_ERROR(TP_ERR_IO, "link: %s", strerror(errno));
            } else {
                unlink(tmp);
            }
        }
        if (old_fd >= 0) close(old_fd);
        if (st == TP_OK && w->sync) tp_fsync_parent(path);   /* the rename itself durable */
        if (st != TP_OK) {
            char pre[512];
            snprintf(pre, sizeof pre, "cannot create dump %s: ", path);
            rewrap(st, pre);
            unlink(tmp);
            free(tmp);
            tp_dump_writer_free(w);
            return NULL;
        }
        free(tmp);
    }
    if (w->fd < 0) {
        TP_ERROR(TP_ERR_IO, "cannot open dump %s: %s", path, strerror(errno));
        tp_dump_writer_free(w);
        return NULL;
    }
    if (flock(w->fd, LOCK_EX | LOCK_NB) != 0) {
        TP_ERROR(TP_ERR_IO, "dump %s is being written by another process", path);
        tp_dump_writer_free(w);
        return NULL;
    }
    if (appending && setup_append(w) != TP_OK) {
        tp_dump_writer_free(w);
        return NULL;
    }
    return w;

nomem:
    TP_ERROR(TP_ERR_NOMEM, "dump %s: out of memory", path);
    tp_dump_writer_free(w);
    return NULL;
}

/* ---- reader -------------------------------------------------------------------- */

typedef struct entry {
    int kind;
    uint64_t seq, first, raw, hash;
    uint32_t records, csize;
} entry;

struct tp_dump_reader {
    int fd;
    int64_t size;
    int32_t version;
    int32_t nf, nmeta;
    tp_dump_field *fields;
    char **keys, **vals;
    size_t *vlens;
    int64_t data_start;        /* offset of the first chunk's entry */
    int64_t end_off;           /* offset of the end entry, -1 before it */
    /* iteration */
    int64_t pos, frame_no, next_chunk, next_first;
    int64_t chunks_read, records_read;   /* intact chunks returned since rewind */
    tp_status err;
    char errmsg[512];
    int64_t err_off, err_frame;
    /* current chunk */
    int have;
    int64_t c_index, c_first, c_records, c_comp, c_off;
    size_t *col_off;
    uint8_t *raw, *in;
    size_t raw_len, raw_cap, in_cap;
    ZSTD_DCtx *dctx;
};

/* read exactly n bytes at off (the caller has bounded off + n by the size) */
static int read_at(int fd, void *buf, size_t n, int64_t off) {
    uint8_t *p = buf;
    while (n > 0) {
        ssize_t g = pread(fd, p, n, (off_t)off);
        if (g < 0 && errno == EINTR) continue;
        if (g == 0) errno = ENODATA;   /* the file shrank while being read */
        if (g <= 0) return -1;
        p += g; n -= (size_t)g; off += g;
    }
    return 0;
}

/* Record a sticky error at frame frame_no / byte off and return it. */
static tp_status fail(tp_dump_reader *r, int64_t off, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static tp_status fail(tp_dump_reader *r, int64_t off, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->err = TP_ERR_FORMAT;
    r->err_off = off;
    r->err_frame = r->frame_no;
    r->have = 0;
    char frame[32] = "frame ?";   /* frame numbers are unknown after a resync */
    if (r->frame_no >= 0) snprintf(frame, sizeof frame, "frame %lld", (long long)r->frame_no);
    snprintf(r->errmsg, sizeof r->errmsg, "%s at byte %lld: %s (after %lld intact chunks, %lld records)",
             frame, (long long)off, msg, (long long)r->chunks_read, (long long)r->records_read);
    return TP_ERROR(TP_ERR_FORMAT, "%s", r->errmsg);
}

/* Check the 64 entry bytes at b; NULL if valid (e filled), else why not. */
static const char *parse_entry(const uint8_t *b, entry *e) {
    const uint8_t *p = b + 8;
    if (get32(b) != SKIP_MAGIC || get32(b + 4) != ENTRY_PAYLOAD) return "not an index entry";
    if (memcmp(p, ENTRY_MAGIC, 4) || get64(p + 48) != frame_hash(p, 48)) return "damaged index entry (bad magic or hash)";
    if (p[4] != FORMAT_VERSION || p[5] != 0 || p[7] != 0 || p[6] > KIND_END)
        return "index entry of an unsupported version or kind";
    e->kind = p[6];
    e->seq = get64(p + 8);
    e->first = get64(p + 16);
    e->raw = get64(p + 24);
    e->records = get32(p + 32);
    e->csize = get32(p + 36);
    e->hash = get64(p + 40);
    return NULL;
}

/* Read and check the entry at r->pos; advances nothing. */
static tp_status read_entry(tp_dump_reader *r, entry *e) {
    int64_t left = r->size - r->pos;
    uint8_t b[ENTRY_BYTES];
    if (left < 8) return fail(r, r->pos, "truncated: %lld bytes where an index entry should start", (long long)left);
    if (read_at(r->fd, b, 8, r->pos)) return fail(r, r->pos, "read error: %s", strerror(errno));
    uint32_t magic = get32(b), sz = get32(b + 4);
    if (magic == ZSTD_MAGICNUMBER) return fail(r, r->pos, "zstd frame without its index entry");
    if (magic != SKIP_MAGIC) return fail(r, r->pos, "not an index entry (magic 0x%08x)", magic);
    if (sz != ENTRY_PAYLOAD) return fail(r, r->pos, "index entry of %u bytes (expected %d)", sz, ENTRY_PAYLOAD);
    if (left < ENTRY_BYTES) return fail(r, r->pos, "truncated inside an index entry");
    if (read_at(r->fd, b, ENTRY_BYTES, r->pos)) return fail(r, r->pos, "read error: %s", strerror(errno));
    const char *why = parse_entry(b, e);
    if (why) return fail(r, r->pos, "%s", why);
    if (e->raw > TP_DUMP_MAX_RAW) return fail(r, r->pos, "frame claims %llu bytes (limit %u)", (unsigned long long)e->raw, TP_DUMP_MAX_RAW);
    if ((int64_t)e->csize > left - ENTRY_BYTES)
        return fail(r, r->pos + ENTRY_BYTES, "truncated: frame of %u bytes, %lld left in the file",
                    e->csize, (long long)(left - ENTRY_BYTES));
    return TP_OK;
}

/* Read the frame described by e (at r->pos + ENTRY_BYTES), check its hash
 * and decompress it into r->raw (exactly e->raw bytes). */
static tp_status read_frame(tp_dump_reader *r, const entry *e) {
    int64_t off = r->pos + ENTRY_BYTES;
    if (e->csize > r->in_cap) {
        uint8_t *nb = realloc(r->in, e->csize);
        if (!nb) return fail(r, off, "out of memory for a %u-byte frame", e->csize);
        r->in = nb; r->in_cap = e->csize;
    }
    if (e->raw + 1 > r->raw_cap) {
        uint8_t *nb = realloc(r->raw, e->raw + 1);
        if (!nb) return fail(r, off, "out of memory for a %llu-byte frame", (unsigned long long)e->raw);
        r->raw = nb; r->raw_cap = e->raw + 1;
    }
    if (read_at(r->fd, r->in, e->csize, off)) return fail(r, off, "read error: %s", strerror(errno));
    if (frame_hash(r->in, e->csize) != e->hash) return fail(r, off, "damaged frame (hash mismatch)");
    if (e->csize < 4 || get32(r->in) != ZSTD_MAGICNUMBER) return fail(r, off, "not a zstd frame");
    /* Frame_Header_Descriptor (RFC 8878 3.1.1.1.1): the writer always sets
     * Content_Checksum_flag and never a dictionary or the reserved bit */
    if (e->csize < 5 || (r->in[4] & 0x0F) != 0x04 ||
        ZSTD_getFrameContentSize(r->in, e->csize) != (unsigned long long)e->raw)
        return fail(r, off, "unexpected zstd frame header");
    size_t fsz = ZSTD_findFrameCompressedSize(r->in, e->csize);
    if (ZSTD_isError(fsz) || fsz != e->csize) return fail(r, off, "zstd frame size differs from its index entry");
    /* raw_cap > e->raw, so a frame that decodes to more than it claims is an error */
    size_t d = ZSTD_decompressDCtx(r->dctx, r->raw, r->raw_cap, r->in, e->csize);
    if (ZSTD_isError(d)) return fail(r, off, "zstd: %s", ZSTD_getErrorName(d));
    if (d != e->raw) return fail(r, off, "frame decompressed to %zu bytes, expected %llu", d, (unsigned long long)e->raw);
    r->raw_len = d;
    return TP_OK;
}

static void free_meta(tp_dump_reader *r) {
    for (int32_t i = 0; i < r->nmeta; i++) {
        if (r->keys) free(r->keys[i]);
        if (r->vals) free(r->vals[i]);
    }
    free(r->keys); free(r->vals); free(r->vlens);
    r->keys = r->vals = NULL; r->vlens = NULL;
}

int32_t tp_dump_being_written(const char *path) {
    int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    if (fd < 0) return 0;
    int busy = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    close(fd);   /* releases the shared lock, if taken */
    return busy;
}

void tp_dump_reader_free(tp_dump_reader *r) {
    if (!r) return;
    if (r->fd >= 0) close(r->fd);
    free_meta(r);
    free_schema(r->fields, r->nf);
    free(r->col_off);
    free(r->raw);
    free(r->in);
    ZSTD_freeDCtx(r->dctx);
    free(r);
}

/* parse the header payload in r->raw */
static tp_status parse_header(tp_dump_reader *r, int64_t off) {
    const uint8_t *p = r->raw, *end = r->raw + r->raw_len;
    if (r->raw_len < 24 || memcmp(p, HDR_MAGIC, 8)) return fail(r, off, "not a tempera dump header");
    r->version = (int32_t)get32(p + 8);
    if (r->version != FORMAT_VERSION) return fail(r, off, "format version %d is not supported (this tempera reads %d)", (int)r->version, FORMAT_VERSION);
    uint32_t nmeta = get32(p + 12), nf = get32(p + 16);
    if (nmeta > MAX_META || nf > MAX_FIELDS || nf == 0) return fail(r, off, "header: %u metadata entries, %u fields", nmeta, nf);
    if (get32(p + 20) != 0) return fail(r, off, "header: reserved word not zero");
    p += 24;
    r->keys = calloc(nmeta ? nmeta : 1, sizeof *r->keys);
    r->vals = calloc(nmeta ? nmeta : 1, sizeof *r->vals);
    r->vlens = calloc(nmeta ? nmeta : 1, sizeof *r->vlens);
    r->fields = calloc(nf, sizeof *r->fields);
    if (!r->keys || !r->vals || !r->vlens || !r->fields) return fail(r, off, "out of memory");
    for (uint32_t i = 0; i < 2 * nmeta; i++) {
        if (end - p < 4) return fail(r, off, "header: metadata runs past its end");
        uint32_t l = get32(p);
        p += 4;
        if ((uint64_t)(end - p) < l) return fail(r, off, "header: metadata runs past its end");
        char *s = malloc((size_t)l + 1);
        if (!s) return fail(r, off, "out of memory");
        memcpy(s, p, l);
        s[l] = 0;
        p += l;
        if (i % 2 == 0) { r->keys[i / 2] = s; r->nmeta = (int32_t)(i / 2 + 1); }
        else { r->vals[i / 2] = s; r->vlens[i / 2] = l; }
    }
    for (uint32_t i = 0; i < nf; i++) {
        if (end - p < 4) return fail(r, off, "header: fields run past its end");
        uint32_t l = get32(p);
        p += 4;
        if (l > MAX_NAME || (uint64_t)(end - p) < (uint64_t)l + 32) return fail(r, off, "header: field %u runs past its end", i);
        char *s = malloc((size_t)l + 1);
        if (!s) return fail(r, off, "out of memory");
        memcpy(s, p, l);
        s[l] = 0;
        p += l;
        tp_dump_field *f = &r->fields[i];
        f->name = s;
        r->nf = (int32_t)i + 1;
        f->type = (int32_t)get32(p); f->width = (int32_t)get32(p + 4);
        f->states = (int32_t)get32(p + 8); f->ndims = (int32_t)get32(p + 12);
        for (int d = 0; d < 4; d++) f->dims[d] = (int32_t)get32(p + 16 + 4 * d);
        p += 32;
    }
    if (p != end) return fail(r, off, "header: %lld trailing bytes", (long long)(end - p));
    char where[64];
    snprintf(where, sizeof where, "header: ");
    if (check_schema(r->fields, r->nf, where) != TP_OK) return fail(r, off, "%s", tp_last_error());
    r->col_off = calloc((size_t)r->nf, sizeof *r->col_off);
    if (!r->col_off) return fail(r, off, "out of memory");
    return TP_OK;
}

tp_dump_reader *tp_dump_reader_open(const char *path) {
    tp_status st;
    return reader_open(path, &st);
}

static tp_dump_reader *reader_open(const char *path, tp_status *ost) {
    *ost = TP_ERR_ARG;
    if (!path) { TP_ERROR(TP_ERR_ARG, "dump: no path given"); return NULL; }
    *ost = TP_ERR_NOMEM;
    tp_dump_reader *r = calloc(1, sizeof *r);
    if (!r) { TP_ERROR(TP_ERR_NOMEM, "out of memory"); return NULL; }
    *ost = TP_ERR_IO;
    char shadow[4352];
    r->fd = open(tp_io_read_path_buf(path, shadow, sizeof shadow), O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) {
        TP_ERROR(TP_ERR_IO, "cannot open dump %s: %s", path, strerror(errno));
        tp_dump_reader_free(r);
        return NULL;
    }
    struct stat sb;
    r->dctx = ZSTD_createDCtx();
    if (fstat(r->fd, &sb) != 0 || !r->dctx) {
        TP_ERROR(TP_ERR_IO, "cannot read dump %s: %s", path, strerror(errno));
        tp_dump_reader_free(r);
        return NULL;
    }
    r->size = sb.st_size;
    r->err_off = r->err_frame = -1;
    entry e;
    tp_status st = read_entry(r, &e);
    if (st == TP_OK && (e.kind != KIND_HEADER || e.raw > TP_DUMP_MAX_HEADER))
        st = fail(r, r->pos, "the file does not start with a dump header entry");
    if (st == TP_OK) st = read_frame(r, &e);
    if (st == TP_OK) st = parse_header(r, r->pos + ENTRY_BYTES);
    if (st != TP_OK) {
        *ost = st;
        TP_ERROR(st, "%s is not a readable tempera dump: %s", path, r->errmsg);
        tp_dump_reader_free(r);
        return NULL;
    }
    r->data_start = r->pos = ENTRY_BYTES + (int64_t)e.csize;
    r->frame_no = 2;
    r->err = TP_OK;
    r->end_off = -1;
    *ost = TP_OK;
    return r;
}

/* check the chunk payload in r->raw against e and the schema */
static tp_status parse_chunk(tp_dump_reader *r, const entry *e, int64_t off) {
    const uint8_t *p = r->raw;
    size_t n = r->raw_len;
    if (n < CHUNK_HEAD || memcmp(p, CHUNK_MAGIC, 8)) return fail(r, off, "not a chunk");
    uint64_t seq = get64(p + 8), first = get64(p + 16);
    uint32_t recs = get32(p + 24), nf = get32(p + 28);
    if (seq != e->seq || first != e->first || recs != e->records)
        return fail(r, off, "chunk header disagrees with its index entry");
    if (nf != (uint32_t)r->nf) return fail(r, off, "chunk has %u fields, the header %d", nf, (int)r->nf);
    size_t at = CHUNK_HEAD;
    for (int32_t i = 0; i < r->nf; i++) {
        uint64_t want = (uint64_t)recs * (uint64_t)tp_dump_field_packed_bytes(&r->fields[i]);
        if (n - at < 8 || get64(p + at) != want)
            return fail(r, off, "chunk column '%s' has the wrong length", r->fields[i].name);
        at += 8;
        if (n - at < want) return fail(r, off, "chunk column '%s' runs past the chunk", r->fields[i].name);
        r->col_off[i] = at;
        at += want;
    }
    if (at != n) return fail(r, off, "chunk has %zu trailing bytes", n - at);
    return TP_OK;
}

tp_status tp_dump_reader_next(tp_dump_reader *r, int32_t *got) {
    if (!r || !got) return TP_ERROR(TP_ERR_ARG, "dump: NULL reader");
    *got = 0;
    r->have = 0;
    if (r->err != TP_OK) return TP_ERROR(r->err, "%s", r->errmsg);
    if (r->pos >= r->size) {
        struct stat sb;   /* the file may have grown (a writer is still running) */
        if (fstat(r->fd, &sb) == 0) r->size = sb.st_size;
        if (r->pos >= r->size) return TP_OK;
    }
    if (r->end_off >= 0) return fail(r, r->pos, "%lld bytes after the end entry", (long long)(r->size - r->pos));
    entry e;
    TP_TRY(read_entry(r, &e));
    if (e.kind == KIND_HEADER) return fail(r, r->pos, "a second header inside the file");
    if (e.kind == KIND_END) {
        if (e.seq != (uint64_t)r->next_chunk || e.first != (uint64_t)r->next_first || e.csize || e.records || e.raw)
            return fail(r, r->pos, "end entry says %llu chunks and %llu records, the file has %lld and %lld",
                        (unsigned long long)e.seq, (unsigned long long)e.first, (long long)r->next_chunk, (long long)r->next_first);
        r->end_off = r->pos;
        r->pos += ENTRY_BYTES;
        if (r->frame_no >= 0) r->frame_no++;
        if (r->pos < r->size) return fail(r, r->pos, "%lld bytes after the end entry", (long long)(r->size - r->pos));
        return TP_OK;
    }
    if (e.seq != (uint64_t)r->next_chunk || e.first != (uint64_t)r->next_first)
        return fail(r, r->pos, "chunk %llu (first record %llu) where chunk %lld (record %lld) was expected",
                    (unsigned long long)e.seq, (unsigned long long)e.first, (long long)r->next_chunk, (long long)r->next_first);
    if (e.records == 0) return fail(r, r->pos, "empty chunk");
    if (r->frame_no >= 0) r->frame_no++;
    TP_TRY(read_frame(r, &e));
    TP_TRY(parse_chunk(r, &e, r->pos + ENTRY_BYTES));
    /* check configurations now (without unpacking them), so damage is
     * reported here and a reader need not materialise a chunk to verify it */
    for (int32_t i = 0; i < r->nf; i++) {
        const tp_dump_field *fd = &r->fields[i];
        if (fd->type == TP_DUMP_CONFIG && !check_configs(r->raw + r->col_off[i], e.records, fd->width, fd->states))
            return fail(r, r->pos + ENTRY_BYTES, "chunk %llu: field '%s' holds a state >= %d or a set padding bit",
                        (unsigned long long)e.seq, fd->name, (int)fd->states);
    }
    r->have = 1;
    r->c_index = (int64_t)e.seq;
    r->c_first = (int64_t)e.first;
    r->c_records = e.records;
    r->c_comp = e.csize;
    r->c_off = r->pos + ENTRY_BYTES;
    r->pos += ENTRY_BYTES + (int64_t)e.csize;
    if (r->frame_no >= 0) r->frame_no++;
    r->next_chunk++;
    r->next_first += e.records;
    r->chunks_read++;
    r->records_read += e.records;
    *got = 1;
    return TP_OK;
}

tp_status tp_dump_reader_rewind(tp_dump_reader *r) {
    if (!r) return TP_ERROR(TP_ERR_ARG, "dump: NULL reader");
    r->pos = r->data_start;
    r->frame_no = 2;
    r->next_chunk = r->next_first = 0;
    r->chunks_read = r->records_read = 0;
    r->have = 0;
    r->err = TP_OK;
    r->err_off = r->err_frame = -1;
    r->end_off = -1;
    return TP_OK;
}

tp_status tp_dump_reader_seek(tp_dump_reader *r, int64_t chunk) {
    if (!r) return TP_ERROR(TP_ERR_ARG, "dump: NULL reader");
    if (chunk < 0) return TP_ERROR(TP_ERR_ARG, "dump: negative chunk %lld", (long long)chunk);
    TP_TRY(tp_dump_reader_rewind(r));
    /* hop over entries; any inconsistency stops at the damage (sticky error) */
    while (r->next_chunk < chunk) {
        if (r->pos >= r->size) return TP_ERROR(TP_ERR_ARG, "dump has only %lld chunks", (long long)r->next_chunk);
        entry e;
        TP_TRY(read_entry(r, &e));
        if (e.kind == KIND_END) return TP_ERROR(TP_ERR_ARG, "dump has only %lld chunks", (long long)r->next_chunk);
        if (e.kind != KIND_CHUNK || e.seq != (uint64_t)r->next_chunk || e.first != (uint64_t)r->next_first)
            return fail(r, r->pos, "index entry out of sequence");
        r->pos += ENTRY_BYTES + (int64_t)e.csize;
        r->frame_no += 2;
        r->next_chunk++;
        r->next_first += e.records;
    }
    return TP_OK;
}

tp_status tp_dump_reader_resync(tp_dump_reader *r, int32_t *found) {
    if (!r || !found) return TP_ERROR(TP_ERR_ARG, "dump: NULL reader");
    *found = 0;
    if (r->err == TP_OK) return TP_OK;
    /* look for the next valid chunk or end entry after the damage */
    enum { BLOCK = 1 << 16 };
    uint8_t *buf = malloc(BLOCK + ENTRY_BYTES);
    if (!buf) return TP_ERROR(TP_ERR_NOMEM, "out of memory");
    int64_t off = (r->err_off > r->data_start ? r->err_off : r->data_start) + 1;
    while (off + ENTRY_BYTES <= r->size) {
        int64_t n = r->size - off;
        if (n > BLOCK + ENTRY_BYTES) n = BLOCK + ENTRY_BYTES;
        if (read_at(r->fd, buf, (size_t)n, off)) break;
        for (int64_t i = 0; i + ENTRY_BYTES <= n; i++) {
            entry e;
            if (buf[i] != 0x5E || parse_entry(buf + i, &e) || e.kind == KIND_HEADER) continue;
            if (e.kind == KIND_CHUNK && (int64_t)e.csize > r->size - (off + i) - ENTRY_BYTES) continue;
            r->pos = off + i;
            r->next_chunk = (int64_t)e.seq;
            r->next_first = (int64_t)e.first;
            r->frame_no = -1;
            r->err = TP_OK;
            r->have = 0;
            *found = 1;
            free(buf);
            return TP_OK;
        }
        off += n - ENTRY_BYTES + 1;
    }
    free(buf);
    return TP_OK;
}

int32_t tp_dump_reader_version(const tp_dump_reader *r) { return r ? r->version : 0; }
int64_t tp_dump_reader_file_size(const tp_dump_reader *r) { return r ? r->size : 0; }
int32_t tp_dump_reader_nfields(const tp_dump_reader *r) { return r ? r->nf : 0; }
const tp_dump_field *tp_dump_reader_field(const tp_dump_reader *r, int32_t i) {
    return r && i >= 0 && i < r->nf ? &r->fields[i] : NULL;
}
int32_t tp_dump_reader_find(const tp_dump_reader *r, const char *name) {
    if (!r || !name) return -1;
    for (int32_t i = 0; i < r->nf; i++) if (!strcmp(r->fields[i].name, name)) return i;
    return -1;
}
int32_t tp_dump_reader_nmeta(const tp_dump_reader *r) { return r ? r->nmeta : 0; }
const char *tp_dump_reader_meta_key(const tp_dump_reader *r, int32_t i) {
    return r && i >= 0 && i < r->nmeta ? r->keys[i] : NULL;
}
const char *tp_dump_reader_meta_value(const tp_dump_reader *r, int32_t i, size_t *len) {
    if (!r || i < 0 || i >= r->nmeta) return NULL;
    if (len) *len = r->vlens[i];
    return r->vals[i];
}
const char *tp_dump_reader_meta(const tp_dump_reader *r, const char *key) {
    if (!r || !key) return NULL;
    for (int32_t i = r->nmeta - 1; i >= 0; i--) if (!strcmp(r->keys[i], key)) return r->vals[i];
    return NULL;
}
int64_t tp_dump_chunk_index(const tp_dump_reader *r) { return r && r->have ? r->c_index : -1; }
int64_t tp_dump_chunk_first(const tp_dump_reader *r) { return r && r->have ? r->c_first : -1; }
int64_t tp_dump_chunk_records(const tp_dump_reader *r) { return r && r->have ? r->c_records : 0; }
int64_t tp_dump_chunk_compressed(const tp_dump_reader *r) { return r && r->have ? r->c_comp : 0; }
int64_t tp_dump_chunk_offset(const tp_dump_reader *r) { return r && r->have ? r->c_off : -1; }
int64_t tp_dump_reader_error_offset(const tp_dump_reader *r) { return r ? r->err_off : -1; }
int64_t tp_dump_reader_error_frame(const tp_dump_reader *r) { return r ? r->err_frame : -1; }
int64_t tp_dump_reader_good_bytes(const tp_dump_reader *r) { return r ? r->pos : 0; }
int32_t tp_dump_reader_complete(const tp_dump_reader *r) { return r && r->end_off >= 0; }
static int64_t reader_end_off(const tp_dump_reader *r) { return r->end_off; }

tp_status tp_dump_chunk_get_range(const tp_dump_reader *r, int32_t f, int64_t first, int64_t count,
                                  void *out, int64_t out_bytes) {
    if (!r || !r->have) return TP_ERROR(TP_ERR_ARG, "dump: no current chunk (call next first)");
    if (f < 0 || f >= r->nf) return TP_ERROR(TP_ERR_ARG, "dump: no field %d", (int)f);
    if (first < 0 || count < 0 || first > r->c_records || count > r->c_records - first)
        return TP_ERROR(TP_ERR_ARG, "dump: records %lld..%lld are outside the chunk's %lld", (long long)first,
                        (long long)(first + count), (long long)r->c_records);
    const tp_dump_field *fd = &r->fields[f];
    int64_t need = count * tp_dump_field_bytes(fd);
    if (!out || out_bytes < need)
        return TP_ERROR(TP_ERR_ARG, "dump: field '%s' needs %lld bytes, got room for %lld", fd->name,
                        (long long)need, (long long)out_bytes);
    const uint8_t *src = r->raw + r->col_off[f] + first * tp_dump_field_packed_bytes(fd);
    if (fd->type == TP_DUMP_CONFIG) {
        if (!unpack_configs(out, src, count, fd->width, fd->states))
            return TP_ERROR(TP_ERR_FORMAT, "dump: chunk %lld at byte %lld: field '%s' holds a state >= %d",
                            (long long)r->c_index, (long long)r->c_off, fd->name, (int)fd->states);
    } else {
        memcpy(out, src, (size_t)need);
    }
    return TP_OK;
}

tp_status tp_dump_chunk_get(const tp_dump_reader *r, int32_t f, void *out, int64_t out_bytes) {
    return tp_dump_chunk_get_range(r, f, 0, r && r->have ? r->c_records : 0, out, out_bytes);
}

/* ---- CSV ----------------------------------------------------------------------- */

static tp_status csv_select(tp_dump_reader *r, const char *fields, int32_t *sel, int32_t *nsel) {
    *nsel = 0;
    if (!fields || !*fields) {
        for (int32_t i = 0; i < r->nf; i++) sel[(*nsel)++] = i;
        return TP_OK;
    }
    const char *p = fields;
    while (*p) {
        const char *c = strchr(p, ',');
        size_t l = c ? (size_t)(c - p) : strlen(p);
        char name[MAX_NAME + 2];
        if (l == 0 || l > MAX_NAME) return TP_ERROR(TP_ERR_ARG, "bad field list '%s'", fields);
        memcpy(name, p, l);
        name[l] = 0;
        int32_t k = tp_dump_reader_find(r, name);
        if (k < 0) {
            char all[1024] = "";
            for (int32_t i = 0; i < r->nf && strlen(all) < 900; i++) {
                if (i) strcat(all, ", ");
                strncat(all, r->fields[i].name, MAX_NAME);
            }
            return TP_ERROR(TP_ERR_ARG, "no field '%s' in the dump (fields: %s)", name, all);
        }
        if (*nsel >= MAX_FIELDS) return TP_ERROR(TP_ERR_ARG, "too many fields");
        sel[(*nsel)++] = k;
        p += l;
        if (*p == ',') p++;
    }
    return TP_OK;
}

tp_status tp_dump_csv(const char *path, const char *fields, const char *out_path) {
    tp_status ost;
    tp_dump_reader *r = reader_open(path, &ost);
    if (!r) return ost;
    int32_t sel[MAX_FIELDS], nsel = 0;
    tp_status st = csv_select(r, fields, sel, &nsel);
    if (st != TP_OK) { tp_dump_reader_free(r); return st; }
    /* -o FILE: written beside it and renamed into place when complete, so
     * an interrupted or failed conversion leaves any previous FILE whole */
    FILE *out = stdout;
    tp_atomic_file af;
    if (out_path && *out_path && strcmp(out_path, "-")) {
        out = tp_atomic_open(&af, out_path);
        if (!out) {
            st = TP_ERR_IO;
            tp_dump_reader_free(r);
            return st;
        }
    }
    fputs("record", out);
    for (int32_t s = 0; s < nsel; s++) {
        const tp_dump_field *f = &r->fields[sel[s]];
        if (f->type == TP_DUMP_CONFIG || f->width == 1) fprintf(out, ",%s", f->name);
        else for (int32_t j = 0; j < f->width; j++) fprintf(out, ",%s[%d]", f->name, (int)j);
    }
    fputc('\n', out);
    void *bufs[MAX_FIELDS] = { 0 };
    int64_t row = 0;
    for (int32_t s = 0; s < nsel; s++) row += tp_dump_field_bytes(&r->fields[sel[s]]);
    int64_t batch = CSV_BATCH / (row ? row : 1);
    if (batch < 1) batch = 1;
    for (int32_t s = 0; s < nsel && st == TP_OK; s++)
        if (!(bufs[s] = malloc((size_t)(batch * tp_dump_field_bytes(&r->fields[sel[s]])))))
            st = TP_ERROR(TP_ERR_NOMEM, "out of memory");
    int32_t got = 1;
    while (st == TP_OK) {
        st = tp_dump_reader_next(r, &got);
        if (st != TP_OK || !got) break;
        /* a chunk may unpack to gigabytes: convert it a batch of records at
         * a time, each batch's columns in buffers of about CSV_BATCH bytes */
        int64_t n = tp_dump_chunk_records(r);
        for (int64_t b0 = 0; b0 < n && st == TP_OK; b0 += batch) {
        int64_t m = n - b0 < batch ? n - b0 : batch;
        for (int32_t s = 0; s < nsel && st == TP_OK; s++)
            st = tp_dump_chunk_get_range(r, sel[s], b0, m, bufs[s], m * tp_dump_field_bytes(&r->fields[sel[s]]));
        for (int64_t k = 0; k < m && st == TP_OK; k++) {
            fprintf(out, "%lld", (long long)(tp_dump_chunk_first(r) + b0 + k));
            for (int32_t s = 0; s < nsel; s++) {
                const tp_dump_field *f = &r->fields[sel[s]];
                int32_t w = f->width;
                if (f->type == TP_DUMP_CONFIG) {
                    const uint8_t *c = (const uint8_t *)bufs[s] + k * w;
                    fputc(',', out);
                    for (int32_t j = 0; j < w; j++) {
                        if (f->states <= 10) fputc('0' + c[j], out);
                        else fprintf(out, j ? ":%d" : "%d", c[j]);
                    }
                    continue;
                }
                for (int32_t j = 0; j < w; j++) {
                    switch (f->type) {
                    case TP_DUMP_F64: fprintf(out, ",%.17g", ((const double *)bufs[s])[k * w + j]); break;
                    case TP_DUMP_F32: fprintf(out, ",%.9g", (double)((const float *)bufs[s])[k * w + j]); break;
                    case TP_DUMP_I32: fprintf(out, ",%d", (int)((const int32_t *)bufs[s])[k * w + j]); break;
                    default: fprintf(out, ",%lld", (long long)((const int64_t *)bufs[s])[k * w + j]); break;
                    }
                }
            }
            fputc('\n', out);
        }
        if (ferror(out)) st = TP_ERROR(TP_ERR_IO, "cannot write %s: %s", out == stdout ? "standard output" : out_path,
                                       strerror(errno));
        }
    }
    for (int32_t s = 0; s < nsel; s++) free(bufs[s]);
    if (out != stdout) {
        if (st == TP_OK) st = tp_atomic_commit(&af, 0);
        else {   /* drop the partial file, keeping the first error's message */
            char why[1024];
            snprintf(why, sizeof why, "%s", tp_last_error());
            tp_atomic_commit(&af, 1);
            TP_ERROR(st, "%s", why);
        }
    } else {
        fflush(out);
    }
    if (st != TP_OK) {
        char pre[512];
        snprintf(pre, sizeof pre, "%s: ", path);
        st = rewrap(st, pre);
    }
    tp_dump_reader_free(r);
    return st;
}
