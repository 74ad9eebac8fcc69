/*
 * runtime/dump.h -- sample dumps (.tpd): zstd-compressed, self-describing,
 * crash-safe files of records (configurations plus per-sample numbers).
 * The byte format is specified in man/tempera-dump.5; in short a dump is a
 * sequence of independent zstd frames with content checksums:
 *
 *   [entry][header frame] ([entry][chunk frame])* [end entry]
 *
 * The header carries magic, format version, metadata (recipe text and its
 * SHA-256, parameters, seed, version, lattice, model) and the record schema.
 * Each chunk frame holds a run of records stored column by column, with
 * configurations bit-packed by their number of states.  The 64-byte index
 * entry (a zstd skippable frame) before each frame gives its compressed
 * size and a hash of its bytes, so a reader can hop from chunk to chunk
 * without decompressing, and every byte of the file is checked.  A clean
 * close appends an end entry; a dump without one is still readable up to
 * its last whole chunk.
 *
 * Writer: records are buffered column by column for at most chunk_records
 * records (bounded memory); a full chunk is compressed into one frame and
 * written, with its index entry, in one piece at the end of the file (and
 * fdatasync'ed when sync is set).  Once tp_dump_writer_append/flush has
 * reported a chunk written, a kill at any later moment cannot lose it.  A
 * failed write (disk full) truncates the file back to the last whole chunk.
 * Append mode reopens an existing dump with the same schema, drops a torn
 * tail left by a crash, and continues the record numbering.
 *
 * Reader: iterates chunks and copies selected columns out (configurations
 * unpacked to one byte per site).  Every length, count and offset read from
 * the file is checked before use, so no input can crash it or make it read
 * out of bounds; truncation and corruption are reported as TP_ERR_FORMAT
 * with the frame number and byte offset, after every intact chunk before
 * the damage has been returned.
 *
 * Ownership: *_open returns an owned handle, freed by *_close / *_free
 * (NULL is a no-op).  Strings returned by getters live as long as the
 * handle.  Not thread-safe per handle.
 */
#ifndef TP_DUMP_H
#define TP_DUMP_H

#include <stdint.h>
#include <stddef.h>
#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ffi:begin */
/* ---- dumps (runtime/dump.c; format: tempera-dump(5)) --------------------- */
typedef enum tp_dump_type {
    TP_DUMP_F64    = 1,   /* double, width values per record */
    TP_DUMP_F32    = 2,   /* float */
    TP_DUMP_I32    = 3,   /* int32_t */
    TP_DUMP_I64    = 4,   /* int64_t */
    TP_DUMP_CONFIG = 5    /* width sites with values 0..states-1, bit-packed */
} tp_dump_type;

/* One column of the record schema. */
typedef struct tp_dump_field {
    const char *name;     /* [A-Za-z_][A-Za-z0-9_]*, at most 63 bytes, unique */
    int32_t type;         /* tp_dump_type */
    int32_t width;        /* values (or sites) per record, >= 1 */
    int32_t states;       /* TP_DUMP_CONFIG: 2..256; others: 0 */
    int32_t ndims;        /* 0..4: optional shape, product of dims == width */
    int32_t dims[4];
} tp_dump_field;

typedef struct tp_dump_opts {
    int32_t level;          /* zstd level (default 3; negative = fast modes) */
    int32_t workers;        /* zstd worker threads (0: compress in the caller) */
    int32_t chunk_records;  /* records per chunk (0: about 1 MiB of packed data) */
    int32_t sync;           /* 1: fdatasync after every chunk (power-loss safe) */
    int32_t append;         /* 1: append to an existing dump with the same schema */
} tp_dump_opts;

typedef struct tp_dump_writer tp_dump_writer;
typedef struct tp_dump_reader tp_dump_reader;

/* Fill opts with the defaults above. */
TP_FFI void tp_dump_opts_default(tp_dump_opts *opts);

/* Create path (replacing it) or, with opts->append and an existing non-empty
 * file, reopen it for appending (then meta is ignored and the fields must
 * equal the file's).  meta: nmeta key/value pairs of NUL-terminated strings
 * recorded in the header; a "recipe" key also records "recipe_sha256".
 * opts NULL: defaults.  Caller owns the result; NULL on failure. */
TP_FFI tp_dump_writer *tp_dump_writer_open(const char *path, const tp_dump_field *fields, int32_t nfields,
                                           const char *const *keys, const char *const *values, int32_t nmeta,
                                           const tp_dump_opts *opts);
/* Append n records.  cols[f] points to n*width values of field f's type, in
 * record order (TP_DUMP_CONFIG: uint8_t per site, each < states).  Writes
 * every chunk that fills up; on return those are safe on disk. */
TP_FFI tp_status tp_dump_writer_append(tp_dump_writer *w, int64_t n, const void *const *cols);
/* Write the buffered records (if any) as a chunk now. */
TP_FFI tp_status tp_dump_writer_flush(tp_dump_writer *w);
/* Records appended in total / records safely written / chunks written
 * (all include what an appended-to file already held). */
TP_FFI int64_t tp_dump_writer_records(const tp_dump_writer *w);
TP_FFI int64_t tp_dump_writer_records_written(const tp_dump_writer *w);
TP_FFI int64_t tp_dump_writer_chunks(const tp_dump_writer *w);
/* Bytes in the file so far. */
TP_FFI int64_t tp_dump_writer_bytes(const tp_dump_writer *w);
/* Flush, close and free.  NULL is a no-op.  The writer is freed even when
 * the final flush fails (the status says so). */
TP_FFI tp_status tp_dump_writer_close(tp_dump_writer *w);
/* Free without flushing buffered records (what a crash would keep). */
TP_FFI void tp_dump_writer_free(tp_dump_writer *w);

/* Open a dump and read its header.  NULL on failure (missing file:
 * TP_ERR_IO; not a dump or damaged header: TP_ERR_FORMAT). */
TP_FFI tp_dump_reader *tp_dump_reader_open(const char *path);
/* 1 when a writer holds path's lock (the dump is still being written: a
 * torn last chunk is its writer at work, not damage), else 0. */
TP_FFI int32_t tp_dump_being_written(const char *path);
TP_FFI void tp_dump_reader_free(tp_dump_reader *r);
TP_FFI int32_t tp_dump_reader_version(const tp_dump_reader *r);
TP_FFI int64_t tp_dump_reader_file_size(const tp_dump_reader *r);
TP_FFI int32_t tp_dump_reader_nfields(const tp_dump_reader *r);
/* i-th field (0-based) or NULL; its name lives as long as r. */
TP_FFI const tp_dump_field *tp_dump_reader_field(const tp_dump_reader *r, int32_t i);
/* index of the field called name, or -1 */
TP_FFI int32_t tp_dump_reader_find(const tp_dump_reader *r, const char *name);
TP_FFI int32_t tp_dump_reader_nmeta(const tp_dump_reader *r);
TP_FFI const char *tp_dump_reader_meta_key(const tp_dump_reader *r, int32_t i);
/* value of the i-th entry; *len (optional) gets its length */
TP_FFI const char *tp_dump_reader_meta_value(const tp_dump_reader *r, int32_t i, size_t *len);
/* value for key, or NULL */
TP_FFI const char *tp_dump_reader_meta(const tp_dump_reader *r, const char *key);

/* Load the next chunk.  *got = 1 and TP_OK: a chunk is current; *got = 0 and
 * TP_OK: clean end of file.  TP_ERR_FORMAT: truncation or corruption (the
 * message names the frame and byte offset; see error_offset); the reader
 * stays at the damage and keeps returning that error. */
TP_FFI tp_status tp_dump_reader_next(tp_dump_reader *r, int32_t *got);
/* After an error: skip to the next valid chunk (or end) entry past the
 * damage, so the chunks after it can be salvaged.  *found = 0 when there is
 * none.  Record numbering continues from that chunk's own (see
 * tp_dump_chunk_first: a gap shows what was lost); frame numbers in later
 * messages are "?" since the damaged region's frames are unknown. */
TP_FFI tp_status tp_dump_reader_resync(tp_dump_reader *r, int32_t *found);
/* Go back to the first chunk (clears a sticky error). */
TP_FFI tp_status tp_dump_reader_rewind(tp_dump_reader *r);
/* Make chunk k (0-based) the next one next() returns, hopping over the index
 * entries without decompressing.  Falls back to reading chunks in order when
 * an entry is missing or damaged. */
TP_FFI tp_status tp_dump_reader_seek(tp_dump_reader *r, int64_t chunk);
/* The current chunk: sequence number, first record number, record count,
 * compressed frame size and byte offset of its frame. */
TP_FFI int64_t tp_dump_chunk_index(const tp_dump_reader *r);
TP_FFI int64_t tp_dump_chunk_first(const tp_dump_reader *r);
TP_FFI int64_t tp_dump_chunk_records(const tp_dump_reader *r);
TP_FFI int64_t tp_dump_chunk_compressed(const tp_dump_reader *r);
TP_FFI int64_t tp_dump_chunk_offset(const tp_dump_reader *r);
/* Copy field f of the current chunk into out (records*width values of the
 * field's type; TP_DUMP_CONFIG: one uint8_t per site).  out_bytes is the
 * room in out, checked. */
TP_FFI tp_status tp_dump_chunk_get(const tp_dump_reader *r, int32_t f, void *out, int64_t out_bytes);
/* The same for records first..first+count-1 of the chunk only: a reader
 * can take a chunk that unpacks to gigabytes a slice at a time. */
TP_FFI tp_status tp_dump_chunk_get_range(const tp_dump_reader *r, int32_t f, int64_t first, int64_t count,
                                         void *out, int64_t out_bytes);
/* After an error: byte offset and frame number (header = frame 0, every
 * zstd or skippable frame counts) of the damage; -1 if none. */
TP_FFI int64_t tp_dump_reader_error_offset(const tp_dump_reader *r);
TP_FFI int64_t tp_dump_reader_error_frame(const tp_dump_reader *r);
/* Bytes of intact frames read so far (the good prefix of the file). */
TP_FFI int64_t tp_dump_reader_good_bytes(const tp_dump_reader *r);
/* 1 once next() has reached the end entry written by a clean close; a
 * dump that ends without it was not closed (killed writer, or cut at a
 * chunk boundary): every chunk in it is intact, but more may be missing. */
TP_FFI int32_t tp_dump_reader_complete(const tp_dump_reader *r);

/* Bytes one record of field f takes unpacked (CONFIG: 1 per site) and
 * packed in a chunk. */
TP_FFI int64_t tp_dump_field_bytes(const tp_dump_field *f);
TP_FFI int64_t tp_dump_field_packed_bytes(const tp_dump_field *f);

/* Write the records of path as CSV to out_path (NULL or "-": stdout).
 * fields: comma-separated names, NULL or "" for all.  Columns: record,
 * then each field (vectors as name[i]; configurations as one column of
 * digits, or of values joined by ':' when states > 10).  Stops at the
 * first damage with TP_ERR_FORMAT after writing every intact record. */
TP_FFI tp_status tp_dump_csv(const char *path, const char *fields, const char *out_path);

/* SHA-256 of data as 64 lowercase hex digits + NUL in hex65. */
TP_FFI void tp_sha256_hex(const void *data, size_t n, char *hex65);
/* ffi:end */

#ifdef __cplusplus
}
#endif
#endif /* TP_DUMP_H */
