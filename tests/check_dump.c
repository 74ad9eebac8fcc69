/*
 * tests/check_dump.c -- sample dumps (runtime/dump.c, tempera-dump(5)):
 * round trips of every field type and state count, append/resume, seeking,
 * crash safety (a child writer killed with SIGKILL at random moments),
 * corruption (random flips and truncations: always reported, intact chunks
 * before the damage still returned), a deterministic random driver for the
 * fuzz target tests/fuzz/dump_fuzz.c, and the 'tempera dump' command
 * (csv output equal to the Lua API read).
 */
#include "check_util.h"
#include "dump.h"
#include "tp_ffi.h"

#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fuzz/dump_fuzz.c"

#include <zstd.h>

/* ---- helpers ----------------------------------------------------------------- */

static char *scratch(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* remove a flat scratch directory and its files, then free its name */
static void cleanup(char *dir) {
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char *p = scratch(dir, e->d_name);
            unlink(p);
            free(p);
        }
        closedir(d);
    }
    rmdir(dir);
    free(dir);
}

static int64_t file_size(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 ? (int64_t)sb.st_size : -1;
}

static uint8_t *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)sz + 1);
    *n = fread(b, 1, (size_t)sz, f);
    fclose(f);
    return b;
}

static void spit(const char *path, const uint8_t *b, size_t n) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(b, 1, n, f), n);
    fclose(f);
}

/* random columns for n records of the schema (malloc'ed) */
static void **gen_cols(tp_rng *rng, const tp_dump_field *f, int nf, int64_t n) {
    void **cols = calloc((size_t)nf, sizeof *cols);
    for (int i = 0; i < nf; i++) {
        int64_t bytes = n * tp_dump_field_bytes(&f[i]);
        cols[i] = malloc((size_t)(bytes ? bytes : 1));
        int64_t m = n * f[i].width;
        for (int64_t k = 0; k < m; k++) {
            switch (f[i].type) {
            case TP_DUMP_CONFIG: ((uint8_t *)cols[i])[k] = (uint8_t)tp_rng_below(rng, (uint32_t)f[i].states); break;
            case TP_DUMP_F64: ((double *)cols[i])[k] = tp_rng_normal(rng) * 1e3; break;
            case TP_DUMP_F32: ((float *)cols[i])[k] = (float)tp_rng_normal(rng); break;
            case TP_DUMP_I32: ((int32_t *)cols[i])[k] = (int32_t)tp_rng_u32(rng); break;
            default: ((int64_t *)cols[i])[k] = (int64_t)((uint64_t)tp_rng_u32(rng) << 32 | tp_rng_u32(rng)); break;
            }
        }
    }
    return cols;
}

static void free_cols(void **cols, int nf) {
    for (int i = 0; i < nf; i++) free(cols[i]);
    free(cols);
}

static const void *const *cptr(void **cols) { return (const void *const *)cols; }

/* Read every chunk of path; compare with want (n records); return the
 * number of chunks, *complete = end entry seen. */
static int64_t read_compare(const char *path, const tp_dump_field *f, int nf, void **want, int64_t n, int *complete) {
    tp_dump_reader *r = tp_dump_reader_open(path);
    ck_assert_msg(r != NULL, "open %s: %s", path, tp_last_error());
    ck_assert_int_eq(tp_dump_reader_nfields(r), nf);
    for (int i = 0; i < nf; i++) {
        const tp_dump_field *g = tp_dump_reader_field(r, i);
        ck_assert_str_eq(g->name, f[i].name);
        ck_assert_int_eq(g->type, f[i].type);
        ck_assert_int_eq(g->width, f[i].width);
        ck_assert_int_eq(g->states, f[i].states);
        ck_assert_int_eq(g->ndims, f[i].ndims);
    }
    int64_t rec = 0, chunks = 0;
    int32_t got = 1;
    for (;;) {
        tp_status st = tp_dump_reader_next(r, &got);
        ck_assert_msg(st == TP_OK, "next: %s", tp_last_error());
        if (!got) break;
        ck_assert_int_eq(tp_dump_chunk_index(r), chunks);
        ck_assert_int_eq(tp_dump_chunk_first(r), rec);
        int64_t m = tp_dump_chunk_records(r);
        ck_assert(rec + m <= n);
        for (int i = 0; i < nf; i++) {
            int64_t b = tp_dump_field_bytes(&f[i]);
            uint8_t *buf = malloc((size_t)(m * b));
            ck_assert_int_eq(tp_dump_chunk_get(r, i, buf, m * b - 1), TP_ERR_ARG); /* room is checked */
            ck_assert_int_eq(tp_dump_chunk_get(r, i, buf, m * b), TP_OK);
            ck_assert_msg(memcmp(buf, (uint8_t *)want[i] + rec * b, (size_t)(m * b)) == 0,
                          "field %s differs in chunk %lld", f[i].name, (long long)chunks);
            free(buf);
        }
        rec += m;
        chunks++;
    }
    ck_assert_int_eq(rec, n);
    *complete = tp_dump_reader_complete(r);
    tp_dump_reader_free(r);
    return chunks;
}

/* every field type; configurations with 2, 3, 4, 5 and 17 states and widths
 * that do not fill whole bytes */
static const tp_dump_field ALL_FIELDS[] = {
    { "c2", TP_DUMP_CONFIG, 13, 2, 0, { 0 } },
    { "c3", TP_DUMP_CONFIG, 7, 3, 0, { 0 } },
    { "c4", TP_DUMP_CONFIG, 9, 4, 2, { 3, 3 } },
    { "c5", TP_DUMP_CONFIG, 10, 5, 0, { 0 } },
    { "c17", TP_DUMP_CONFIG, 6, 17, 2, { 2, 3 } },
    { "c256", TP_DUMP_CONFIG, 3, 256, 0, { 0 } },
    { "energy", TP_DUMP_F64, 1, 0, 0, { 0 } },
    { "cv", TP_DUMP_F64, 3, 0, 0, { 0 } },
    { "logw", TP_DUMP_F32, 2, 0, 0, { 0 } },
    { "chain", TP_DUMP_I32, 1, 0, 0, { 0 } },
    { "step", TP_DUMP_I64, 1, 0, 0, { 0 } },
};
#define NALL ((int)(sizeof ALL_FIELDS / sizeof ALL_FIELDS[0]))

/* ---- tests ----------------------------------------------------------------- */

START_TEST(test_dump_sha256_known_answers) {
    char hex[65];
    tp_sha256_hex("abc", 3, hex);
    ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    tp_sha256_hex("", 0, hex);
    ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    tp_sha256_hex(m, strlen(m), hex);
    ck_assert_str_eq(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}
END_TEST

START_TEST(test_dump_roundtrip_every_type) {
    char *dir = tp_test_scratch_dir("dump");
    char *path = scratch(dir, "all.tpd");
    const int64_t counts[] = { 0, 1, 7, 8, 50, 1000 };
    const char *keys[] = { "recipe", "seed", "lattice" };
    const char *vals[] = { "print('hello')\n", "42", "square(4)" };
    tp_rng rng;
    tp_rng_init(&rng, 7, 0);
    for (size_t t = 0; t < sizeof counts / sizeof counts[0]; t++) {
        int64_t n = counts[t];
        void **cols = gen_cols(&rng, ALL_FIELDS, NALL, n);
        tp_dump_opts o;
        tp_dump_opts_default(&o);
        o.chunk_records = 7;
        o.level = (int)t % 2 ? 1 : 19;
        tp_dump_writer *w = tp_dump_writer_open(path, ALL_FIELDS, NALL, keys, vals, 3, &o);
        ck_assert_msg(w != NULL, "%s", tp_last_error());
        /* appends of uneven sizes cross chunk boundaries */
        int64_t done = 0, step = 1;
        while (done < n) {
            int64_t k = n - done < step ? n - done : step;
            const void *p[NALL];
            for (int i = 0; i < NALL; i++) p[i] = (const uint8_t *)cols[i] + done * tp_dump_field_bytes(&ALL_FIELDS[i]);
            ck_assert_int_eq(tp_dump_writer_append(w, k, p), TP_OK);
            done += k;
            step = step * 3 % 17 + 1;
        }
        ck_assert_int_eq(tp_dump_writer_records(w), n);
        ck_assert_int_eq(tp_dump_writer_records_written(w), n / 7 * 7);
        ck_assert_int_eq(tp_dump_writer_close(w), TP_OK);
        int complete = 0;
        int64_t chunks = read_compare(path, ALL_FIELDS, NALL, cols, n, &complete);
        ck_assert_int_eq(chunks, (n + 6) / 7);
        ck_assert_int_eq(complete, 1);

        tp_dump_reader *r = tp_dump_reader_open(path);
        ck_assert_str_eq(tp_dump_reader_meta(r, "seed"), "42");
        ck_assert_str_eq(tp_dump_reader_meta(r, "recipe"), vals[0]);
        char hex[65];
        tp_sha256_hex(vals[0], strlen(vals[0]), hex);
        ck_assert_str_eq(tp_dump_reader_meta(r, "recipe_sha256"), hex);
        ck_assert_ptr_null(tp_dump_reader_meta(r, "nope"));
        ck_assert_int_eq(tp_dump_reader_find(r, "step"), NALL - 1);
        ck_assert_int_eq(tp_dump_reader_find(r, "nope"), -1);
        tp_dump_reader_free(r);
        free_cols(cols, NALL);
    }
    free(path);
    cleanup(dir);
}
END_TEST

START_TEST(test_dump_pack_density) {
    /* 2 states: 1 bit per site, <= 4: 2 bits, else bytes */
    tp_dump_field f = { "c", TP_DUMP_CONFIG, 256, 2, 0, { 0 } };
    ck_assert_int_eq(tp_dump_field_packed_bytes(&f), 32);
    f.states = 3; ck_assert_int_eq(tp_dump_field_packed_bytes(&f), 64);
    f.states = 4; ck_assert_int_eq(tp_dump_field_packed_bytes(&f), 64);
    f.states = 5; ck_assert_int_eq(tp_dump_field_packed_bytes(&f), 256);
    f.width = 13; f.states = 2; ck_assert_int_eq(tp_dump_field_packed_bytes(&f), 2);
}
END_TEST

START_TEST(test_dump_bad_arguments) {
    char *dir = tp_test_scratch_dir("dump");
    char *path = scratch(dir, "bad.tpd");
    tp_dump_field f[2] = { { "c", TP_DUMP_CONFIG, 4, 1, 0, { 0 } }, { "e", TP_DUMP_F64, 1, 0, 0, { 0 } } };
    ck_assert_ptr_null(tp_dump_writer_open(path, f, 2, NULL, NULL, 0, NULL));    /* 1 state */
    f[0].states = 257;
    ck_assert_ptr_null(tp_dump_writer_open(path, f, 2, NULL, NULL, 0, NULL));
    f[0].states = 2;
    f[1].name = "c";
    ck_assert_ptr_null(tp_dump_writer_open(path, f, 2, NULL, NULL, 0, NULL));    /* duplicate */
    ck_assert_msg(strstr(tp_last_error(), "twice") != NULL, "%s", tp_last_error());
    f[1].name = "1e";
    ck_assert_ptr_null(tp_dump_writer_open(path, f, 2, NULL, NULL, 0, NULL));    /* not an identifier */
    f[1].name = "e";
    f[0].ndims = 2; f[0].dims[0] = 3; f[0].dims[1] = 3;
    ck_assert_ptr_null(tp_dump_writer_open(path, f, 2, NULL, NULL, 0, NULL));    /* shape != width */
    f[0].dims[0] = 2; f[0].dims[1] = 2;
    ck_assert_ptr_null(tp_dump_writer_open(path, f, 0, NULL, NULL, 0, NULL));    /* no fields */
    tp_dump_opts o;
    tp_dump_opts_default(&o);
    o.level = 99;
    ck_assert_ptr_null(tp_dump_writer_open(path, f, 2, NULL, NULL, 0, &o));
    ck_assert_int_eq(file_size(path), -1);   /* nothing was created */

    tp_dump_writer *w = tp_dump_writer_open(path, f, 2, NULL, NULL, 0, NULL);
    ck_assert_ptr_nonnull(w);
    uint8_t x[8] = { 0, 1, 1, 0, 0, 2, 1, 0 };   /* a 2 in a 2-state config */
    double e[2] = { 1, 2 };
    const void *cols[2] = { x, e };
    ck_assert_int_eq(tp_dump_writer_append(w, 2, cols), TP_ERR_ARG);
    ck_assert_int_eq(tp_dump_writer_records(w), 0);
    cols[1] = NULL;
    ck_assert_int_eq(tp_dump_writer_append(w, 1, cols), TP_ERR_ARG);
    ck_assert_int_eq(tp_dump_writer_append(w, -1, cols), TP_ERR_ARG);
    ck_assert_int_eq(tp_dump_writer_close(w), TP_OK);
    /* append with another schema is refused */
    o.level = 3;
    o.append = 1;
    f[1].type = TP_DUMP_F32;
    ck_assert_ptr_null(tp_dump_writer_open(path, f, 2, NULL, NULL, 0, &o));
    ck_assert_msg(strstr(tp_last_error(), "differs") != NULL, "%s", tp_last_error());
    /* not a dump at all */
    ck_assert_int_eq(tp_test_write_file(path, "hello, world\n"), 0);
    ck_assert_ptr_null(tp_dump_reader_open(path));
    ck_assert_ptr_null(tp_dump_writer_open(path, f, 2, NULL, NULL, 0, &o));
    char *missing = scratch(dir, "missing.tpd");
    ck_assert_ptr_null(tp_dump_reader_open(missing));
    ck_assert_msg(strstr(tp_last_error(), "cannot open") != NULL, "%s", tp_last_error());
    tp_dump_reader_free(NULL);
    ck_assert_int_eq(tp_dump_writer_close(NULL), TP_OK);
    free(missing);
    free(path);
    cleanup(dir);
}
END_TEST

START_TEST(test_dump_append_resume_and_seek) {
    char *dir = tp_test_scratch_dir("dump");
    char *path = scratch(dir, "app.tpd");
    tp_rng rng;
    tp_rng_init(&rng, 11, 0);
    const int64_t n = 103;
    void **cols = gen_cols(&rng, ALL_FIELDS, NALL, n);
    tp_dump_opts o;
    tp_dump_opts_default(&o);
    o.chunk_records = 10;
    o.append = 1;      /* append to a missing file creates it */
    int64_t at = 0;
    const int64_t parts[] = { 25, 0, 1, 40, 37 };
    for (int p = 0; p < 5; p++) {
        tp_dump_writer *w = tp_dump_writer_open(path, ALL_FIELDS, NALL, NULL, NULL, 0, &o);
        ck_assert_msg(w != NULL, "%s", tp_last_error());
        ck_assert_int_eq(tp_dump_writer_records(w), at);
        const void *ptr[NALL];
        for (int i = 0; i < NALL; i++) ptr[i] = (const uint8_t *)cols[i] + at * tp_dump_field_bytes(&ALL_FIELDS[i]);
        ck_assert_int_eq(tp_dump_writer_append(w, parts[p], ptr), TP_OK);
        at += parts[p];
        if (p == 3) {
            /* a killed writer: buffered records are lost, the file stays valid */
            at = tp_dump_writer_records_written(w);
            tp_dump_writer_free(w);
        } else {
            ck_assert_int_eq(tp_dump_writer_close(w), TP_OK);
        }
    }
    int complete;
    read_compare(path, ALL_FIELDS, NALL, cols, at, &complete);
    ck_assert_int_eq(complete, 1);

    /* a torn last chunk (power loss mid-write): the reader reports it, and
     * resuming drops it and continues after the last whole chunk */
    {
        tp_dump_reader *r0 = tp_dump_reader_open(path);
        int32_t g;
        int64_t last_off = 0, last_first = 0;
        while (tp_dump_reader_next(r0, &g) == TP_OK && g) {
            last_off = tp_dump_chunk_offset(r0);
            last_first = tp_dump_chunk_first(r0);
        }
        tp_dump_reader_free(r0);
        ck_assert_int_eq(truncate(path, (off_t)(last_off + 7)), 0);
        r0 = tp_dump_reader_open(path);
        while (tp_dump_reader_next(r0, &g) == TP_OK && g) {}
        ck_assert_int_eq(tp_dump_reader_next(r0, &g), TP_ERR_FORMAT);
        ck_assert_msg(strstr(tp_last_error(), "truncated"), "%s", tp_last_error());
        ck_assert_int_eq(tp_dump_reader_error_offset(r0), last_off);
        tp_dump_reader_free(r0);
        tp_log_set_quiet(1);
        tp_dump_writer *w = tp_dump_writer_open(path, ALL_FIELDS, NALL, NULL, NULL, 0, &o);
        tp_log_set_quiet(0);
        ck_assert_msg(w != NULL, "%s", tp_last_error());
        ck_assert_int_eq(tp_dump_writer_records(w), last_first);
        const void *ptr[NALL];
        for (int i = 0; i < NALL; i++) ptr[i] = (const uint8_t *)cols[i] + last_first * tp_dump_field_bytes(&ALL_FIELDS[i]);
        ck_assert_int_eq(tp_dump_writer_append(w, at - last_first, ptr), TP_OK);
        ck_assert_int_eq(tp_dump_writer_close(w), TP_OK);
        read_compare(path, ALL_FIELDS, NALL, cols, at, &complete);
        ck_assert_int_eq(complete, 1);
    }

    /* seek hops to any chunk; past the end is an argument error */
    tp_dump_reader *r = tp_dump_reader_open(path);
    int64_t nchunks = 0;
    int32_t got;
    while (tp_dump_reader_next(r, &got) == TP_OK && got) nchunks++;
    for (int64_t k = nchunks - 1; k >= 0; k -= 2) {
        ck_assert_int_eq(tp_dump_reader_seek(r, k), TP_OK);
        ck_assert_int_eq(tp_dump_reader_next(r, &got), TP_OK);
        ck_assert_int_eq(got, 1);
        ck_assert_int_eq(tp_dump_chunk_index(r), k);
    }
    ck_assert_int_eq(tp_dump_reader_seek(r, nchunks), TP_OK);
    ck_assert_int_eq(tp_dump_reader_next(r, &got), TP_OK);
    ck_assert_int_eq(got, 0);
    ck_assert_int_eq(tp_dump_reader_seek(r, nchunks + 1), TP_ERR_ARG);
    tp_dump_reader_free(r);
    free_cols(cols, NALL);
    free(path);
    cleanup(dir);
}
END_TEST

/* ---- crash safety -------------------------------------------------------------- */

static const tp_dump_field CRASH_FIELDS[] = {
    { "idx", TP_DUMP_I64, 1, 0, 0, { 0 } },
    { "c", TP_DUMP_CONFIG, 64, 2, 2, { 8, 8 } },
    { "e", TP_DUMP_F64, 1, 0, 0, { 0 } },
};
#define CRASH_CHUNK 2000

static void crash_record(int64_t idx, int64_t *x, uint8_t *c, double *e) {
    *x = idx;
    uint64_t h = (uint64_t)idx * 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < 64; i++) { h ^= h >> 29; h *= 0xBF58476D1CE4E5B9ull; c[i] = (uint8_t)(h >> 63); }
    *e = (double)idx * 0.5 - 3.0;
}

/* the child: append chunk after chunk, reporting each count on fd */
static void crash_child(const char *path, int fd) {
    tp_log_set_quiet(1);   /* no "dropping damaged bytes" lines on resume */
    tp_dump_opts o;
    tp_dump_opts_default(&o);
    o.chunk_records = CRASH_CHUNK;
    o.append = 1;
    o.level = 1;
    tp_dump_writer *w = tp_dump_writer_open(path, CRASH_FIELDS, 3, NULL, NULL, 0, &o);
    if (!w) _exit(3);
    int64_t *x = malloc(CRASH_CHUNK * sizeof *x);
    uint8_t *c = malloc(CRASH_CHUNK * 64);
    double *e = malloc(CRASH_CHUNK * sizeof *e);
    for (;;) {
        int64_t first = tp_dump_writer_records(w);
        for (int k = 0; k < CRASH_CHUNK; k++) crash_record(first + k, x + k, c + 64 * k, e + k);
        const void *cols[3] = { x, c, e };
        if (tp_dump_writer_append(w, CRASH_CHUNK, cols) != TP_OK) _exit(4);
        int64_t chunks = tp_dump_writer_chunks(w);
        if (write(fd, &chunks, sizeof chunks) != (ssize_t)sizeof chunks) _exit(5);
    }
}

START_TEST(test_dump_sigkill_keeps_reported_chunks) {
    char *dir = tp_test_scratch_dir("dump");
    char *path = scratch(dir, "crash.tpd");
    srand(12345);
    int64_t reported = 0;
    int torn = 0;
    for (int trial = 0; trial < 24; trial++) {
        int fds[2];
        ck_assert_int_eq(pipe(fds), 0);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            close(fds[0]);
            crash_child(path, fds[1]);
            _exit(0);
        }
        close(fds[1]);
        struct timespec ts = { 0, (long)(rand() % 25000) * 1000L };   /* 0..25 ms */
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        ck_assert_msg(WIFSIGNALED(status), "child exited with %d", WEXITSTATUS(status));
        int64_t v;
        while (read(fds[0], &v, sizeof v) == (ssize_t)sizeof v) reported = v;
        close(fds[0]);

        /* the reader recovers every reported chunk, and at most the one being
         * written when the report was cut off; the records are exact */
        if (file_size(path) < 0) { ck_assert_int_eq(reported, 0); continue; }
        tp_dump_reader *r = tp_dump_reader_open(path);
        ck_assert_msg(r != NULL, "trial %d: %s", trial, tp_last_error());
        int64_t chunks = 0, rec = 0;
        int32_t got;
        tp_status st;
        int64_t *x = malloc(CRASH_CHUNK * sizeof *x);
        uint8_t *c = malloc(CRASH_CHUNK * 64);
        double *e = malloc(CRASH_CHUNK * sizeof *e);
        while ((st = tp_dump_reader_next(r, &got)) == TP_OK && got) {
            int64_t m = tp_dump_chunk_records(r);
            ck_assert_int_eq(m, CRASH_CHUNK);
            ck_assert_int_eq(tp_dump_chunk_get(r, 0, x, m * 8), TP_OK);
            ck_assert_int_eq(tp_dump_chunk_get(r, 1, c, m * 64), TP_OK);
            ck_assert_int_eq(tp_dump_chunk_get(r, 2, e, m * 8), TP_OK);
            for (int64_t k = 0; k < m; k++) {
                int64_t wx; uint8_t wc[64]; double we;
                crash_record(rec + k, &wx, wc, &we);
                ck_assert(x[k] == wx && e[k] == we && memcmp(c + 64 * k, wc, 64) == 0);
            }
            rec += m;
            chunks++;
        }
        if (st != TP_OK) {
            torn++;
            ck_assert_int_eq(st, TP_ERR_FORMAT);
            ck_assert_msg(strstr(tp_last_error(), "truncated") != NULL, "trial %d: %s", trial, tp_last_error());
            ck_assert_int_ge(tp_dump_reader_error_offset(r), tp_dump_reader_good_bytes(r));
        }
        ck_assert_int_eq(tp_dump_reader_complete(r), 0);
        ck_assert_msg(chunks == reported || chunks == reported + 1,
                      "trial %d: %lld chunks readable, %lld reported", trial, (long long)chunks, (long long)reported);
        reported = chunks;   /* the next child resumes after what is on disk */
        free(x); free(c); free(e);
        tp_dump_reader_free(r);
    }
    fprintf(stderr, "sigkill: %lld chunks after 24 kills, %d torn tails dropped on resume\n", (long long)reported, torn);
    free(path);
    cleanup(dir);
}
END_TEST

START_TEST(test_dump_disk_full_keeps_file_valid) {
    /* RLIMIT_FSIZE makes writes past 40000 bytes fail (EFBIG) like a full disk */
    char *dir = tp_test_scratch_dir("dump");
    char *path = scratch(dir, "full.tpd");
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit old, lim;
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 40000;
    tp_dump_opts o;
    tp_dump_opts_default(&o);
    o.chunk_records = 300;
    o.level = 1;
    tp_dump_writer *w = tp_dump_writer_open(path, CRASH_FIELDS, 3, NULL, NULL, 0, &o);
    ck_assert_ptr_nonnull(w);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    int64_t x[300]; uint8_t c[300 * 64]; double e[300];
    tp_status st = TP_OK;
    int64_t chunks = 0;
    for (int k = 0; k < 1000 && st == TP_OK; k++) {
        int64_t first = tp_dump_writer_records(w);
        for (int i = 0; i < 300; i++) crash_record(first + i, x + i, c + 64 * i, e + i);
        const void *cols[3] = { x, c, e };
        st = tp_dump_writer_append(w, 300, cols);
        if (st == TP_OK) chunks = tp_dump_writer_chunks(w);
    }
    ck_assert_int_eq(st, TP_ERR_IO);
    ck_assert_msg(strstr(tp_last_error(), "not written"), "%s", tp_last_error());
    ck_assert_int_eq(tp_dump_writer_chunks(w), chunks);
    ck_assert_int_ge(chunks, 1);
    tp_dump_writer_free(w);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
    /* every reported chunk is there, and nothing torn after it */
    tp_dump_reader *r = tp_dump_reader_open(path);
    ck_assert_ptr_nonnull(r);
    int32_t got;
    int64_t n = 0;
    while ((st = tp_dump_reader_next(r, &got)) == TP_OK && got) n++;
    ck_assert_msg(st == TP_OK, "%s", tp_last_error());
    ck_assert_int_eq(n, chunks);
    ck_assert_int_eq(tp_dump_reader_complete(r), 0);
    tp_dump_reader_free(r);
    free(path);
    cleanup(dir);
}
END_TEST

/* ---- corruption ---------------------------------------------------------------- */

static const tp_dump_field CORRUPT_FIELDS[] = {
    { "c", TP_DUMP_CONFIG, 20, 3, 0, { 0 } },
    { "e", TP_DUMP_F64, 1, 0, 0, { 0 } },
    { "k", TP_DUMP_I32, 2, 0, 0, { 0 } },
};

typedef struct { int64_t start, end; } span;   /* a chunk's entry + frame bytes */

START_TEST(test_dump_corruption_always_detected) {
    char *dir = tp_test_scratch_dir("dump");
    char *path = scratch(dir, "good.tpd");
    char *bad = scratch(dir, "bad.tpd");
    tp_rng rng;
    tp_rng_init(&rng, 99, 0);
    const int64_t n = 60;
    void **cols = gen_cols(&rng, CORRUPT_FIELDS, 3, n);
    tp_dump_opts o;
    tp_dump_opts_default(&o);
    o.chunk_records = 8;
    const char *keys[] = { "recipe" };
    const char *vals[] = { "-- a recipe\n" };
    tp_dump_writer *w = tp_dump_writer_open(path, CORRUPT_FIELDS, 3, keys, vals, 1, &o);
    ck_assert_int_eq(tp_dump_writer_append(w, n, cptr(cols)), TP_OK);
    ck_assert_int_eq(tp_dump_writer_close(w), TP_OK);
    size_t size;
    uint8_t *good = slurp(path, &size);

    /* chunk spans in the intact file */
    span sp[16];
    int nsp = 0;
    tp_dump_reader *r = tp_dump_reader_open(path);
    int32_t got;
    while (tp_dump_reader_next(r, &got) == TP_OK && got) {
        sp[nsp].start = tp_dump_chunk_offset(r) - 64;
        sp[nsp].end = tp_dump_chunk_offset(r) + tp_dump_chunk_compressed(r);
        nsp++;
    }
    tp_dump_reader_free(r);
    ck_assert_int_eq(nsp, 8);

    uint8_t *buf = malloc(size + 16);
    int detected = 0, header = 0, boundary = 0, salvaged = 0;
    srand(2024);
    const int trials = 2500;
    for (int t = 0; t < trials; t++) {
        size_t len = size;
        memcpy(buf, good, size);
        int64_t first_bad;
        int mode = t % 4;
        if (mode == 3) {                       /* truncate */
            len = (size_t)rand() % size;
            first_bad = (int64_t)len;
        } else {                               /* flip 1 or a few bytes */
            int flips = mode == 2 ? 1 + rand() % 4 : 1;
            first_bad = (int64_t)size;
            for (int k = 0; k < flips; k++) {
                size_t pos = (size_t)rand() % size;
                buf[pos] ^= (uint8_t)(mode == 1 ? 1u << (rand() % 8) : 1u + (unsigned)rand() % 255u);
                if ((int64_t)pos < first_bad) first_bad = (int64_t)pos;
            }
        }
        spit(bad, buf, len);
        r = tp_dump_reader_open(bad);
        if (!r) {
            /* only damage in the header entry or frame may make the file unreadable */
            ck_assert_int_lt(first_bad, sp[0].start);
            header++;
            continue;
        }
        int64_t chunks = 0;
        tp_status st;
        while ((st = tp_dump_reader_next(r, &got)) == TP_OK && got) {
            /* a chunk returned is an intact one, identical to the original */
            ck_assert_int_lt(chunks, nsp);
            ck_assert_int_le(sp[chunks].end, first_bad);
            int64_t m = tp_dump_chunk_records(r);
            for (int i = 0; i < 3; i++) {
                int64_t b = tp_dump_field_bytes(&CORRUPT_FIELDS[i]);
                uint8_t *out = malloc((size_t)(m * b));
                ck_assert_int_eq(tp_dump_chunk_get(r, i, out, m * b), TP_OK);
                ck_assert(memcmp(out, (uint8_t *)cols[i] + tp_dump_chunk_first(r) * b, (size_t)(m * b)) == 0);
                free(out);
            }
            chunks++;
        }
        /* every chunk that ends before the damage was returned */
        int64_t want = 0;
        while (want < nsp && sp[want].end <= first_bad) want++;
        ck_assert_int_eq(chunks, want);
        if (st == TP_OK) {
            /* the only undetectable damage: a cut exactly at a chunk boundary,
             * which leaves a valid but incomplete (unclosed) dump */
            ck_assert_int_eq(mode, 3);
            ck_assert_int_eq(tp_dump_reader_complete(r), 0);
            ck_assert_int_eq(first_bad, chunks > 0 ? sp[chunks - 1].end : sp[0].start);
            boundary++;
        } else {
            ck_assert_int_eq(st, TP_ERR_FORMAT);
            ck_assert_int_le(tp_dump_reader_error_offset(r), first_bad);
            ck_assert_msg(strstr(tp_last_error(), "at byte") != NULL, "%s", tp_last_error());
            /* the error is sticky */
            ck_assert_int_eq(tp_dump_reader_next(r, &got), TP_ERR_FORMAT);
            detected++;
            /* one flip inside a chunk: resync salvages every chunk after it */
            if (mode < 2 && first_bad >= sp[0].start && first_bad < sp[nsp - 1].end) {
                int32_t found;
                ck_assert_int_eq(tp_dump_reader_resync(r, &found), TP_OK);
                ck_assert_int_eq(found, 1);
                int64_t after = 0;
                while ((st = tp_dump_reader_next(r, &got)) == TP_OK && got) {
                    int64_t k = tp_dump_chunk_index(r);
                    ck_assert_int_eq(k, want + 1 + after);
                    int64_t m = tp_dump_chunk_records(r);
                    double *e = malloc((size_t)m * sizeof *e);
                    ck_assert_int_eq(tp_dump_chunk_get(r, 1, e, m * 8), TP_OK);
                    ck_assert(memcmp(e, (double *)cols[1] + tp_dump_chunk_first(r), (size_t)m * 8) == 0);
                    free(e);
                    after++;
                }
                ck_assert_msg(st == TP_OK, "%s", tp_last_error());
                ck_assert_int_eq(tp_dump_reader_complete(r), 1);
                ck_assert_int_eq(after, nsp - want - 1);
                salvaged++;
            }
        }
        tp_dump_reader_free(r);
    }
    ck_assert_int_eq(detected + header + boundary, trials);
    fprintf(stderr, "corruption: %d trials, %d detected while reading chunks (%d salvaged after resync), "
            "%d in the header, %d cuts at chunk boundaries (incomplete dumps)\n", trials, detected, salvaged, header, boundary);
    free(buf);
    free(good);
    free_cols(cols, 3);
    free(bad);
    free(path);
    cleanup(dir);
}
END_TEST

START_TEST(test_dump_fuzz_driver) {
    /* deterministic random inputs for the fuzz target, in all three modes:
     * raw garbage and mutated dumps, sealed random headers, sealed random
     * chunks (structured so the parsers see plausible numbers) */
    tp_rng rng;
    tp_rng_init(&rng, 5, 0);
    uint8_t buf[4096];
    uint8_t hdr[128];
    size_t hn = fz_header(hdr);
    uint8_t ch[64];
    size_t cn = fz_chunk(ch);
    double t0 = tp_clock();
    int runs = 0;
    while (tp_clock() - t0 < 4.0 && runs < 20000) {
        int mode = runs % 3;
        size_t n;
        buf[0] = (uint8_t)mode;
        if (mode == 1) { memcpy(buf + 1, hdr, hn); n = hn + 1; }
        else if (mode == 2) { memcpy(buf + 1, ch, cn); n = cn + 1; }
        else { n = 1 + tp_rng_below(&rng, 600); for (size_t k = 1; k < n; k++) buf[k] = (uint8_t)tp_rng_u32(&rng); }
        int nm = 1 + (int)tp_rng_below(&rng, 4);
        for (int k = 0; k < nm && n > 1; k++) {
            size_t pos = 1 + tp_rng_below(&rng, (uint32_t)(n - 1));
            switch (tp_rng_below(&rng, 4)) {
            case 0: buf[pos] ^= (uint8_t)(1u << tp_rng_below(&rng, 8)); break;
            case 1: buf[pos] = (uint8_t)tp_rng_u32(&rng); break;
            case 2: if (n > 2) n--; break;
            default: if (n < sizeof buf) buf[n++] = (uint8_t)tp_rng_u32(&rng); break;
            }
        }
        tp_dump_fuzz_one(buf, n);
        runs++;
    }
    /* and the unmutated seeds: they must be valid dumps */
    ck_assert_int_ge(runs, 100);
    fprintf(stderr, "fuzz driver: %d inputs\n", runs);
}
END_TEST

/* ---- the 'tempera dump' command ---------------------------------------------- */

static char *make_cli_dump(const char *dir) {
    char *path = scratch(dir, "cli.tpd");
    tp_dump_field f[] = {
        { "config", TP_DUMP_CONFIG, 16, 2, 2, { 4, 4 } },
        { "energy", TP_DUMP_F64, 1, 0, 0, { 0 } },
        { "cv", TP_DUMP_F64, 2, 0, 0, { 0 } },
        { "spin3", TP_DUMP_CONFIG, 5, 3, 0, { 0 } },
        { "w", TP_DUMP_F32, 1, 0, 0, { 0 } },
        { "chain", TP_DUMP_I32, 1, 0, 0, { 0 } },
        { "step", TP_DUMP_I64, 1, 0, 0, { 0 } },
    };
    tp_rng rng;
    tp_rng_init(&rng, 3, 0);
    void **cols = gen_cols(&rng, f, 7, 23);
    tp_dump_opts o;
    tp_dump_opts_default(&o);
    o.chunk_records = 5;
    const char *keys[] = { "recipe", "seed" };
    const char *vals[] = { "local tp = require \"tempera\"\nprint(1)\n", "17" };
    tp_dump_writer *w = tp_dump_writer_open(path, f, 7, keys, vals, 2, &o);
    ck_assert_ptr_nonnull(w);
    ck_assert_int_eq(tp_dump_writer_append(w, 23, cptr(cols)), TP_OK);
    ck_assert_int_eq(tp_dump_writer_close(w), TP_OK);
    free_cols(cols, 7);
    return path;
}

START_TEST(test_dump_cli_csv_equals_lua_api) {
    char *dir = tp_test_scratch_dir("dump");
    char *path = make_cli_dump(dir);
    const char *argv[] = { "tempera", "dump", "csv", path, NULL };
    tp_cmd_result a = tp_test_run_cmd(dir, NULL, argv);
    ck_assert_msg(a.status == 0, "status %d: %s", a.status, a.err);
    /* the same table built from the Lua API */
    const char *lua =
        "local tp = require 'tempera'\n"
        "local d = assert(tp.dump.read(arg[1]))\n"
        "local t = assert(d:load())\n"
        "local hdr = { 'record' }\n"
        "for _, f in ipairs(d.fields) do\n"
        "  if f.type == 'config' or f.width == 1 then hdr[#hdr+1] = f.name\n"
        "  else for j = 0, f.width-1 do hdr[#hdr+1] = f.name .. '[' .. j .. ']' end end\n"
        "end\n"
        "io.write(table.concat(hdr, ','), '\\n')\n"
        "for r = 0, t.n - 1 do\n"
        "  local row = { tostring(r) }\n"
        "  for _, f in ipairs(d.fields) do\n"
        "    local a = t[f.name]\n"
        "    if f.type == 'config' then\n"
        "      local s = {} for j = 0, f.width-1 do s[#s+1] = tostring(a[r*f.width+j]) end\n"
        "      row[#row+1] = table.concat(s)\n"
        "    else for j = 0, f.width-1 do local v = a[r*f.width+j]\n"
        "      if f.type == 'f64' then v = string.format('%.17g', v)\n"
        "      elseif f.type == 'f32' then v = string.format('%.9g', v)\n"
        "      elseif f.type == 'i64' then v = (tostring(v):gsub('LL$', ''))\n"
        "      else v = tostring(tonumber(v)) end\n"
        "      row[#row+1] = v end end\n"
        "  end\n"
        "  io.write(table.concat(row, ','), '\\n')\n"
        "end\n";
    char *script = scratch(dir, "csv.lua");
    ck_assert_int_eq(tp_test_write_file(script, lua), 0);
    const char *argv2[] = { "tempera", "run", script, "--quiet", "--", path, NULL };
    tp_cmd_result b = tp_test_run_cmd(dir, NULL, argv2);
    ck_assert_msg(b.status == 0, "status %d: %s", b.status, b.err);
    const char *want_hdr = "record,config,energy,cv[0],cv[1],spin3,w,chain,step\n";
    ck_assert_msg(strncmp(a.out, want_hdr, strlen(want_hdr)) == 0, "%s", a.out);
    ck_assert_str_eq(a.out, b.out);
    int lines = 0;
    for (const char *p = a.out; *p; p++) lines += *p == '\n';
    ck_assert_int_eq(lines, 24);

    /* --fields selects and orders columns */
    const char *argv3[] = { "tempera", "dump", "csv", path, "--fields", "step,energy", NULL };
    tp_cmd_result c = tp_test_run_cmd(dir, NULL, argv3);
    ck_assert_msg(c.status == 0, "%s", c.err);
    ck_assert_msg(strncmp(c.out, "record,step,energy\n0,", 21) == 0, "%s", c.out);
    const char *argv4[] = { "tempera", "dump", "csv", path, "--fields", "nope", NULL };
    tp_cmd_result d = tp_test_run_cmd(dir, NULL, argv4);
    ck_assert_int_ne(d.status, 0);
    ck_assert_msg(strstr(d.err, "no field 'nope'") != NULL, "%s", d.err);
    tp_cmd_result_free(&a); tp_cmd_result_free(&b); tp_cmd_result_free(&c); tp_cmd_result_free(&d);
    free(script);
    free(path);
    cleanup(dir);
}
END_TEST

START_TEST(test_dump_cli_info_head_verify_recipe) {
    char *dir = tp_test_scratch_dir("dump");
    char *path = make_cli_dump(dir);
    const char *a1[] = { "tempera", "dump", "info", path, NULL };
    tp_cmd_result r = tp_test_run_cmd(dir, NULL, a1);
    ck_assert_msg(r.status == 0, "%s", r.err);
    ck_assert_msg(strstr(r.out, "records: 23") && strstr(r.out, "chunks: 5") && strstr(r.out, "energy") &&
                  strstr(r.out, "compression") && strstr(r.out, "seed: 17"), "%s", r.out);
    tp_cmd_result_free(&r);

    const char *a2[] = { "tempera", "dump", "head", path, "-n", "2", NULL };
    r = tp_test_run_cmd(dir, NULL, a2);
    ck_assert_msg(r.status == 0, "%s", r.err);
    ck_assert_msg(strstr(r.out, "record 0") && strstr(r.out, "record 1") && !strstr(r.out, "record 2"), "%s", r.out);
    tp_cmd_result_free(&r);

    const char *a3[] = { "tempera", "dump", "verify", path, NULL };
    r = tp_test_run_cmd(dir, NULL, a3);
    ck_assert_msg(r.status == 0 && strstr(r.out, "ok"), "%d %s %s", r.status, r.out, r.err);
    tp_cmd_result_free(&r);

    const char *a4[] = { "tempera", "dump", "recipe", path, NULL };
    r = tp_test_run_cmd(dir, NULL, a4);
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.out, "local tp = require \"tempera\"\nprint(1)\n");
    tp_cmd_result_free(&r);

    /* damage: verify fails, names the offset, and counts what is intact */
    size_t n;
    uint8_t *b = slurp(path, &n);
    b[n - 100] ^= 0x40;
    spit(path, b, n);
    free(b);
    r = tp_test_run_cmd(dir, NULL, a3);
    ck_assert_int_eq(r.status, 1);
    ck_assert_msg(strstr(r.out, "at byte") || strstr(r.err, "at byte"), "%s %s", r.out, r.err);
    tp_cmd_result_free(&r);

    const char *a5[] = { "tempera", "dump", "bogus", path, NULL };
    r = tp_test_run_cmd(dir, NULL, a5);
    ck_assert_int_eq(r.status, 2);
    tp_cmd_result_free(&r);
    const char *a6[] = { "tempera", "dump", "info", "/nonexistent.tpd", NULL };
    r = tp_test_run_cmd(dir, NULL, a6);
    ck_assert_int_eq(r.status, 1);
    ck_assert_msg(strstr(r.err, "cannot open"), "%s", r.err);
    tp_cmd_result_free(&r);
    free(path);
    cleanup(dir);
}
END_TEST


/* ---- hostile but valid dumps: allocation bombs ------------------------------- */

static void le32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void le64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }

/* The frame hash as tempera-dump(5) documents it (FNV-1a over 64-bit words). */
static uint64_t doc_hash(const uint8_t *p, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w = 0;
        for (int k = 0; k < 8; k++) w |= (uint64_t)p[i + k] << (8 * k);
        h = (h ^ w) * 0x100000001b3ull;
    }
    if (i < n) {
        uint64_t w = 0;
        for (size_t k = 0; i + k < n; k++) w |= (uint64_t)p[i + k] << (8 * k);
        h = (h ^ w) * 0x100000001b3ull;
    }
    return (h ^ (uint64_t)n) * 0x100000001b3ull;
}

/* Append to path one chunk of recs all-zero records of the schema
 * {x: config width 2048, 2 states; k: i64}, written by hand to the format's
 * rules: a few kilobytes on disk that unpack to recs * 2 KiB. */
static void append_bomb_chunk(const char *path, uint64_t seq, uint32_t recs) {
    const size_t xb = (size_t)recs * 256, kb = (size_t)recs * 8;
    const size_t raw = 32 + 8 + xb + 8 + kb;
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
    ZSTD_CCtx_setPledgedSrcSize(cc, raw);
    size_t cap = ZSTD_compressBound(raw) / 64 + (1 << 20), got = 0;
    uint8_t *frame = malloc(cap);
    uint8_t head[48] = { 0 }, *zero = calloc(1, 1 << 20);
    memcpy(head, "TPDCHUNK", 8);
    le64(head + 8, seq);
    le64(head + 16, seq * recs);
    le32(head + 24, recs);
    le32(head + 28, 2);
    le64(head + 32, xb);
    ZSTD_outBuffer out = { frame, cap, 0 };
    ZSTD_inBuffer in = { head, 40, 0 };
    ck_assert(!ZSTD_isError(ZSTD_compressStream2(cc, &out, &in, ZSTD_e_continue)));
    for (size_t left = xb + 8 + kb, part = 0; left > 0; left -= in.size, part++) {
        uint8_t lenk[8];
        if (left == kb + 8) { le64(lenk, kb); in = (ZSTD_inBuffer){ lenk, 8, 0 }; }
        else {
            size_t until = left > kb + 8 ? left - (kb + 8) : left;
            in = (ZSTD_inBuffer){ zero, until < (1u << 20) ? until : (1u << 20), 0 };
        }
        while (in.pos < in.size) ck_assert(!ZSTD_isError(ZSTD_compressStream2(cc, &out, &in, ZSTD_e_continue)));
        (void)part;
    }
    in = (ZSTD_inBuffer){ NULL, 0, 0 };
    size_t rem;
    do { rem = ZSTD_compressStream2(cc, &out, &in, ZSTD_e_end); ck_assert(!ZSTD_isError(rem)); } while (rem);
    got = out.pos;
    ZSTD_freeCCtx(cc);
    uint8_t e[64] = { 0 };
    le32(e, 0x184D2A5Eu);
    le32(e + 4, 56);
    memcpy(e + 8, "TPDI", 4);
    e[12] = 1; e[14] = 1;    /* version 1, kind chunk */
    le64(e + 16, seq);
    le64(e + 24, seq * recs);
    le64(e + 32, raw);
    le32(e + 40, recs);
    le32(e + 44, (uint32_t)got);
    le64(e + 48, doc_hash(frame, got));
    le64(e + 56, doc_hash(e + 8, 48));
    FILE *f = fopen(path, "ab");
    ck_assert(f && fwrite(e, 1, 64, f) == 64 && fwrite(frame, 1, got, f) == got && fclose(f) == 0);
    free(frame);
    free(zero);
}

static long child_maxrss_kb(void) {
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    return ru.ru_maxrss;
}

START_TEST(test_dump_allocation_bombs_stay_bounded) {
    /* Two chunks of 400000 records: about 10 KB on disk, 102 MB per chunk
     * once decompressed (the format allows 256 MB), 820 MB per chunk once
     * unpacked to a byte per site.  Reading may take the decompressed frame;
     * verify, info, head and csv must not unpack whole chunks. */
    char *dir = tp_test_scratch_dir("dump");
    char *path = scratch(dir, "bomb.tpd");
    tp_dump_field f[2] = { { "x", TP_DUMP_CONFIG, 2048, 2, 0, { 0 } }, { "k", TP_DUMP_I64, 1, 0, 0, { 0 } } };
    tp_dump_writer *w = tp_dump_writer_open(path, f, 2, NULL, NULL, 0, NULL);
    ck_assert_ptr_nonnull(w);
    tp_dump_writer_free(w);    /* header only, no end entry: as if killed */
    const uint32_t recs = 400000;
    append_bomb_chunk(path, 0, recs);
    append_bomb_chunk(path, 1, recs);
    ck_assert_msg(file_size(path) < 64 * 1024, "bomb is %lld bytes", (long long)file_size(path));
    const long unpacked_kb = (long)recs * 2048 / 1024, raw_kb = (long)recs * 264 / 1024;

    /* the process without any dump (libraries, stdlib): the baseline */
    const char *a0[] = { "tempera", "--version", NULL };
    tp_cmd_result r = tp_test_run_cmd(dir, NULL, a0);
    ck_assert_int_eq(r.status, 0);
    tp_cmd_result_free(&r);
    const long base_kb = child_maxrss_kb();
    const char *av[] = { "tempera", "dump", "verify", path, NULL };
    r = tp_test_run_cmd(dir, NULL, av);
    ck_assert_msg(r.status == 0 && strstr(r.out, "800000 records"), "%d %s %s", r.status, r.out, r.err);
    tp_cmd_result_free(&r);
    const char *ai[] = { "tempera", "dump", "info", path, NULL };
    r = tp_test_run_cmd(dir, NULL, ai);
    ck_assert_msg(r.status == 0 && strstr(r.out, "records: 800000"), "%d %s %s", r.status, r.out, r.err);
    tp_cmd_result_free(&r);
    const char *ah[] = { "tempera", "dump", "head", path, "-n", "2", NULL };
    r = tp_test_run_cmd(dir, NULL, ah);
    ck_assert_msg(r.status == 0 && strstr(r.out, "record 1") && !strstr(r.out, "record 2"), "%d %s", r.status, r.err);
    tp_cmd_result_free(&r);
    char *csv = scratch(dir, "k.csv");
    const char *ac[] = { "tempera", "dump", "csv", path, "--fields", "k", "-o", csv, NULL };
    r = tp_test_run_cmd(dir, NULL, ac);
    ck_assert_msg(r.status == 0, "%d %s", r.status, r.err);
    /* "record,k" then "i,0" for i = 0..799999: 10 one-digit numbers, 90 two-digit, ... */
    int64_t want = 9, pow10 = 1;
    for (int d = 1; d <= 6; d++, pow10 *= 10) {
        int64_t lo = d == 1 ? 0 : pow10, hi = pow10 * 10 < 800000 ? pow10 * 10 : 800000;
        want += (hi - lo) * (d + 3);
    }
    ck_assert_int_eq(file_size(csv), want);
    tp_cmd_result_free(&r);
    long peak = child_maxrss_kb();
    ck_assert_msg(peak - base_kb < raw_kb + 64 * 1024,
                  "readers peaked at %ld KiB above the bare process's %ld KiB (decompressed chunk %ld KiB, unpacked %ld KiB)",
                  peak - base_kb, base_kb, raw_kb, unpacked_kb);
    free(csv);
    free(path);
    cleanup(dir);
}
END_TEST

Suite *dump_suite(void) {
    Suite *s = suite_create("dump");
    TCase *tc = tp_test_tcase("format", 60);
    tcase_add_test(tc, test_dump_sha256_known_answers);
    tcase_add_test(tc, test_dump_pack_density);
    tcase_add_test(tc, test_dump_roundtrip_every_type);
    tcase_add_test(tc, test_dump_bad_arguments);
    tcase_add_test(tc, test_dump_append_resume_and_seek);
    suite_add_tcase(s, tc);
    TCase *tr = tp_test_tcase("robustness", 120);
    tcase_add_test(tr, test_dump_sigkill_keeps_reported_chunks);
    tcase_add_test(tr, test_dump_disk_full_keeps_file_valid);
    tcase_add_test(tr, test_dump_corruption_always_detected);
    tcase_add_test(tr, test_dump_fuzz_driver);
    tcase_add_test(tr, test_dump_allocation_bombs_stay_bounded);
    suite_add_tcase(s, tr);
    TCase *tcli = tp_test_tcase("cli", 60);
    tcase_add_test(tcli, test_dump_cli_csv_equals_lua_api);
    tcase_add_test(tcli, test_dump_cli_info_head_verify_recipe);
    suite_add_tcase(s, tcli);
    return s;
}
