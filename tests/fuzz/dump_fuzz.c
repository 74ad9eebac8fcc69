/*
 * tests/fuzz/dump_fuzz.c -- fuzz target for the dump reader.
 *
 * tp_dump_fuzz_one(data, n) must never crash, hang or read out of bounds,
 * whatever the bytes.  The first input byte picks how the rest is used:
 *   0..  raw: the rest is the whole file;
 *   1    header: the rest is a header payload, sealed into a valid entry and
 *        zstd frame (so the fuzzer reaches the header parser past the
 *        checksums), followed by one valid chunk of a fixed schema;
 *   2    chunk: a valid header of a fixed schema, then the rest as a chunk
 *        payload, sealed likewise (reaches the chunk parser and unpacking).
 * Built two ways: with -DTP_LIBFUZZER by 'make fuzz' (clang -fsanitize=fuzzer,
 * LLVMFuzzerTestOneInput below), and #included by tests/check_dump.c, whose
 * deterministic random driver runs it under 'make check' (and under ASan
 * with 'make SANITIZE=address check').  The sealing code follows
 * tempera-dump(5) independently of runtime/dump.c, which also checks the
 * documented format.
 */
#include "dump.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zstd.h>

/* FNV-1a over 64-bit little-endian words, then the length (tempera-dump(5)) */
static uint64_t fz_hash(const uint8_t *p, size_t n) {
    const uint64_t P = 0x100000001b3ull;
    uint64_t h = 0xcbf29ce484222325ull;
    size_t i = 0;
    for (; i < n; i += 8) {
        uint64_t w = 0;
        for (size_t k = 0; k < 8 && i + k < n; k++) w |= (uint64_t)p[i + k] << (8 * k);
        h = (h ^ w) * P;
    }
    return (h ^ (uint64_t)n) * P;
}

static void fz_put(uint8_t *p, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Append [entry][zstd frame of payload] to buf at *len (buf has room). */
static void fz_seal(uint8_t *buf, size_t *len, int kind, uint64_t seq, uint64_t first, uint32_t records,
                    const uint8_t *payload, size_t n) {
    uint8_t *e = buf + *len, *f = e + 64;
    /* the reader requires content checksums: compress through a context */
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
    size_t c = ZSTD_compress2(cc, f, ZSTD_compressBound(n), payload, n);
    ZSTD_freeCCtx(cc);
    if (ZSTD_isError(c)) c = 0;
    fz_put(e, 0x184D2A5E, 4);
    fz_put(e + 4, 56, 4);
    uint8_t *p = e + 8;
    memcpy(p, "TPDI", 4);
    p[4] = 1; p[5] = 0; p[6] = (uint8_t)kind; p[7] = 0;
    fz_put(p + 8, seq, 8);
    fz_put(p + 16, first, 8);
    fz_put(p + 24, n, 8);
    fz_put(p + 32, records, 4);
    fz_put(p + 36, c, 4);
    fz_put(p + 40, fz_hash(f, c), 8);
    fz_put(p + 48, fz_hash(p, 48), 8);
    *len += 64 + c;
}

/* fixed schema: "c" config q=3 width 5, "e" f64 */
static size_t fz_header(uint8_t *p) {
    size_t n = 0;
    memcpy(p, "TPDUMP\0\0", 8); n = 8;
    fz_put(p + n, 1, 4); fz_put(p + n + 4, 0, 4); fz_put(p + n + 8, 2, 4); fz_put(p + n + 12, 0, 4); n += 16;
    const char *names[2] = { "c", "e" };
    const uint32_t desc[2][8] = { { 5, 5, 3, 0, 0, 0, 0, 0 }, { 1, 1, 0, 0, 0, 0, 0, 0 } };
    for (int i = 0; i < 2; i++) {
        fz_put(p + n, 1, 4); p[n + 4] = (uint8_t)names[i][0]; n += 5;
        for (int k = 0; k < 8; k++) { fz_put(p + n, desc[i][k], 4); n += 4; }
    }
    return n;
}

/* one record: c = 2 bytes packed (q=3: 2 bits per site), e = 8 bytes */
static size_t fz_chunk(uint8_t *p) {
    memcpy(p, "TPDCHUNK", 8);
    fz_put(p + 8, 0, 8); fz_put(p + 16, 0, 8); fz_put(p + 24, 1, 4); fz_put(p + 28, 2, 4);
    fz_put(p + 32, 2, 8); p[40] = 0x24; p[41] = 0x01;
    fz_put(p + 42, 8, 8); fz_put(p + 50, 0x3ff0000000000000ull, 8);
    return 58;
}

static void fz_read_all(const char *path) {
    tp_dump_reader *r = tp_dump_reader_open(path);
    if (!r) return;
    for (int32_t i = 0; i < tp_dump_reader_nmeta(r); i++) {
        size_t l;
        (void)tp_dump_reader_meta_value(r, i, &l);
    }
    int32_t got = 1, found = 1;
    for (int pass = 0; pass < 2; pass++) {
        for (int resyncs = 0; found && resyncs < 64; resyncs++) {
            tp_status st;
            while ((st = tp_dump_reader_next(r, &got)) == TP_OK && got) {
                for (int32_t f = 0; f < tp_dump_reader_nfields(r); f++) {
                    int64_t need = tp_dump_chunk_records(r) * tp_dump_field_bytes(tp_dump_reader_field(r, f));
                    void *buf = malloc((size_t)(need ? need : 1));
                    if (buf) { tp_dump_chunk_get(r, f, buf, need); free(buf); }
                }
            }
            if (st == TP_OK) break;
            tp_dump_reader_resync(r, &found);   /* salvage past the damage */
        }
        tp_dump_reader_seek(r, 1);
        found = 1;
    }
    tp_dump_reader_free(r);
}

int tp_dump_fuzz_one(const uint8_t *data, size_t size) {
    if (size < 1 || size > (1u << 20)) return 0;
    int mode = data[0] % 3;
    data++; size--;
    size_t cap = 2 * size + 4096;
    uint8_t *file = malloc(cap + 2 * ZSTD_compressBound(size + 256));
    if (!file) return 0;
    size_t len = 0;
    if (mode == 0) {
        memcpy(file, data, size);
        len = size;
    } else if (mode == 1) {
        fz_seal(file, &len, 0, 0, 0, 0, data, size);
        uint8_t ch[64];
        size_t cn = fz_chunk(ch);
        fz_seal(file, &len, 1, 0, 0, 1, ch, cn);
    } else {
        uint8_t h[128];
        size_t hn = fz_header(h);
        fz_seal(file, &len, 0, 0, 0, 0, h, hn);
        uint32_t recs = size >= 28 ? (uint32_t)data[24] | (uint32_t)data[25] << 8 : 1;
        fz_seal(file, &len, 1, 0, 0, recs, data, size);
    }
    int fd = memfd_create("tpdump", 0);
    if (fd >= 0) {
        size_t off = 0;
        while (off < len) {
            ssize_t w = write(fd, file + off, len - off);
            if (w <= 0) break;
            off += (size_t)w;
        }
        char path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        fz_read_all(path);
        close(fd);
    }
    free(file);
    return 0;
}

#ifdef TP_LIBFUZZER
/* the fuzz binary links only runtime/dump.c and kernels/common.c: stand in
 * for the one runtime/progress.c function dump.c uses */
int tp_log_quiet(void) { return 1; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return tp_dump_fuzz_one(data, size); }
#endif
