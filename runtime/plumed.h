/*
 * runtime/plumed.h -- PLUMED-style text files (HILLS, COLVAR) so a tempera
 * bias can be cross-checked with PLUMED's own tools (plumed sum_hills).
 * man tempera-analysis(5) documents the format and the height convention.
 *
 * Format: lines "#! FIELDS name1 name2 ..." name the columns; lines
 * "#! SET key value" carry constants (e.g. "#! SET multivariate false");
 * other lines starting with '#' are comments; every other non-blank line
 * is one row of whitespace-separated numbers, one per field.  A repeated
 * FIELDS line (a restarted run) must name the same fields.
 *
 * Well-tempered heights: PLUMED writes in a HILLS file the deposited height
 * multiplied by gamma/(gamma-1) (gamma = biasf > 1; plain metadynamics is
 * written as is), so that summing the file's Gaussians gives -F directly.
 * tp_plumed_write_hills applies that factor and records it in a "biasf"
 * column; readers divide by it (tp_plumed_hills_scale) to recover the bias.
 *
 * Ownership: tp_plumed_read returns an owned table (tp_plumed_free(NULL) is
 * a no-op); strings and columns returned by getters live as long as it.
 * Errors: missing file TP_ERR_IO; malformed content TP_ERR_FORMAT naming
 * path:line.
 */
#ifndef TP_PLUMED_H
#define TP_PLUMED_H

#include <stdint.h>
#include <stddef.h>
#include "common.h"
#include "bias.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ffi:begin */
/* ---- PLUMED HILLS / COLVAR files (runtime/plumed.c) ---------------------- */
typedef struct tp_plumed tp_plumed;

TP_FFI tp_plumed *tp_plumed_read(const char *path);
TP_FFI void tp_plumed_free(tp_plumed *t);
/* 1 if the file's last line was half-written (no newline, not a whole row)
 * and was skipped, as a reader of a running simulation's file must. */
TP_FFI int32_t tp_plumed_torn(const tp_plumed *t);
TP_FFI int32_t tp_plumed_nfields(const tp_plumed *t);
/* name of field i, or NULL */
TP_FFI const char *tp_plumed_field(const tp_plumed *t, int32_t i);
/* index of the field called name, or -1 */
TP_FFI int32_t tp_plumed_find(const tp_plumed *t, const char *name);
TP_FFI int64_t tp_plumed_rows(const tp_plumed *t);
/* column i: (rows) values, or NULL */
TP_FFI const double *tp_plumed_column(const tp_plumed *t, int32_t i);
TP_FFI int32_t tp_plumed_nset(const tp_plumed *t);
TP_FFI const char *tp_plumed_set_key(const tp_plumed *t, int32_t i);
TP_FFI const char *tp_plumed_set_value(const tp_plumed *t, int32_t i);
/* value of "#! SET key", or NULL */
TP_FFI const char *tp_plumed_set(const tp_plumed *t, const char *key);

/* Write rows to path.  fields: (nfields) names; cols: (nfields) pointers,
 * column f's value in row r is cols[f][r * strides[f]] (strides NULL: all
 * 1); sets: nset key/value pairs.  append = 1 adds rows to an existing
 * file (the header is written only when the file is new or empty).
 * Numbers are written with %.17g, so reading gives back the same doubles. */
TP_FFI tp_status tp_plumed_write(const char *path, const char *const *fields, int32_t nfields,
                                 const char *const *set_keys, const char *const *set_values, int32_t nset,
                                 const double *const *cols, const int32_t *strides, int64_t rows,
                                 int32_t append);

/* Write (or append) hills in PLUMED's HILLS layout:
 *   #! FIELDS time cv1 .. cvD sigma_cv1 .. sigma_cvD height biasf
 *   #! SET multivariate false
 *   #! SET kerneltype gaussian
 * names: (dim) CV names; time: (n) [optional: NULL = 1, 2, ...];
 * centers: (n, dim); sigma: (dim); heights: (n) DEPOSITED heights (energy
 * units), written times gamma/(gamma-1) when gamma > 1 (PLUMED's
 * convention); gamma <= 1 or inf: written as is, biasf column 1;
 * set_keys, set_values: nset (0..30) more "#! SET key value" lines
 * (tempera writes energy_unit and time_unit). */
TP_FFI tp_status tp_plumed_write_hills(const char *path, const char *const *names, const double *time,
                                       const double *centers, const double *sigma, const double *heights,
                                       double gamma, int32_t dim, int64_t n, const char *const *set_keys,
                                       const char *const *set_values, int32_t nset, int32_t append);
/* Factor turning a HILLS height column back into deposited heights:
 * (gamma-1)/gamma for gamma > 1 (finite), else 1. */
TP_FFI double tp_plumed_hills_scale(double gamma);

/* Sum Gaussian hills on a regular grid (the grid layout of tp_bias: points
 * per dimension including both ends, last dimension fastest):
 * V[j] = sum_h heights[h] exp(-sum_k (g_jk - c_hk)^2 / (2 sigma_hk^2)).
 * V: (prod points) [out]; centers, sigma: (dim) column pointers, each
 * (nhills) values with stride (1 for columns, dim for (n, dim) rows);
 * heights: (nhills); lo, hi: (dim); points: (dim), each >= 2. */
TP_FFI tp_status tp_plumed_sum_hills(double *V, const double *const *centers, const double *const *sigma,
                                     const double *heights, const double *lo, const double *hi,
                                     const int32_t *points, int32_t stride, int32_t dim, int64_t nhills);
/* The same with PLUMED's conventions: period (dim) [optional]: > 0 where
 * the CV is periodic with that period (#! SET min_X / max_X), distances
 * then taken to the nearest image, 0 elsewhere; kernel: TP_PLUMED_GAUSSIAN
 * (the sum above) or TP_PLUMED_STRETCHED (PLUMED's default
 * "stretched-gaussian": with dp2 = sum_k d_k^2 / (2 sigma_k^2), a hill adds
 * h (exp(-dp2) - exp(-6.25)) / (1 - exp(-6.25)) where dp2 < 6.25 and
 * nothing beyond). */
typedef enum tp_plumed_kernel { TP_PLUMED_GAUSSIAN = 0, TP_PLUMED_STRETCHED = 1 } tp_plumed_kernel;
TP_FFI tp_status tp_plumed_sum_hills_ex(double *V, const double *const *centers, const double *const *sigma,
                                        const double *heights, const double *lo, const double *hi,
                                        const int32_t *points, int32_t stride, int32_t dim, int64_t nhills,
                                        const double *period, int32_t kernel);

/* ffi:end */

#ifdef __cplusplus
}
#endif
#endif /* TP_PLUMED_H */
