/*
 * runtime/tp_mpi.h -- several processes of one recipe (mpirun -np N tempera
 * run recipe.lua) over Open MPI: rank, size and the few collectives that
 * tempera's multiple-walker metadynamics and data-parallel training use.
 * man tempera-mpi(7).
 *
 * Start: tp_mpi_init() initialises MPI only when the process was started
 * by an MPI launcher (mpirun sets OMPI_COMM_WORLD_SIZE, PMIx PMIX_RANK);
 * otherwise, and in a build without MPI (HAVE_MPI=0), every call below
 * works as one process: rank 0 of size 1, collectives copy or do nothing.
 *
 * Determinism: sums are never left to MPI's reduction tree.  Every
 * tp_mpi_sum_* gathers all ranks' vectors and adds them in rank order on
 * every rank, so the result is the same bits on every rank and in every
 * run, whatever the network or the MPI library's algorithm.
 *
 * Errors: a failed MPI call returns TP_ERR_IO with MPI's message; a rank
 * whose recipe fails calls tp_mpi_abort, which ends every rank (no rank is
 * left waiting in a collective).  Counts are int64 and split into pieces
 * MPI's int counts can hold.
 */
#ifndef TP_MPI_H
#define TP_MPI_H

#include <stdint.h>
#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Initialise (see above); idempotent.  Called by main before the recipe. */
tp_status tp_mpi_init(int *argc, char ***argv);
/* MPI_Finalize when initialised; idempotent. */
void tp_mpi_finalize(void);

/* ffi:begin */
/* ---- several processes (runtime/tp_mpi.c) ----------------------------------- */
/* 1 when this build has MPI, 0 otherwise */
TP_FFI int32_t tp_mpi_built(void);
/* 1 when MPI was initialised (started by mpirun), 0 otherwise */
TP_FFI int32_t tp_mpi_active(void);
TP_FFI int32_t tp_mpi_rank(void);
TP_FFI int32_t tp_mpi_size(void);
TP_FFI tp_status tp_mpi_barrier(void);
/* recv (size * n) [out] = every rank's send (n), in rank order */
TP_FFI tp_status tp_mpi_allgather_f64(const double *send, int64_t n, double *recv);
TP_FFI tp_status tp_mpi_allgather_u8(const uint8_t *send, int64_t n, uint8_t *recv);
/* Varying counts: rank r sends counts[r] values; recv (sum counts) [out]
 * holds them in rank order.  counts (size) [in], the same on every rank. */
TP_FFI tp_status tp_mpi_allgatherv_f64(const double *send, const int64_t *counts, double *recv);
TP_FFI tp_status tp_mpi_allgatherv_u8(const uint8_t *send, const int64_t *counts, uint8_t *recv);
/* buf (n) [in/out] = the sum over ranks, added in rank order (see above) */
TP_FFI tp_status tp_mpi_sum_f64(double *buf, int64_t n);
TP_FFI tp_status tp_mpi_sum_f32(float *buf, int64_t n);
/* buf (n) [in/out] = the max (op 1) or min (op 2) over ranks */
TP_FFI tp_status tp_mpi_extreme_f64(double *buf, int64_t n, int32_t op);
/* buf (bytes) [in/out] = root's */
TP_FFI tp_status tp_mpi_bcast(void *buf, int64_t bytes, int32_t root);
/* End every rank with this exit status (after this rank's message). */
TP_FFI void tp_mpi_abort(int32_t status);
/* Seconds spent inside the collectives above and bytes received by them,
 * since the start (for the communication time per cycle). */
TP_FFI double tp_mpi_comm_seconds(void);
TP_FFI double tp_mpi_comm_bytes(void);
/* The rows [first, first + count) of n that rank r of size handles:
 * contiguous blocks in rank order, sizes differing by at most one. */
TP_FFI void tp_mpi_split(int64_t n, int32_t rank, int32_t size, int64_t *first, int64_t *count);
/* ffi:end */

#ifdef __cplusplus
}
#endif
#endif
