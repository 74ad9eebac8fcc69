/*
 * runtime/tp_mpi.c -- rank, size and collectives over Open MPI (runtime/tp_mpi.h).
 * Built with MPI when config.mk finds it (TP_HAVE_MPI); without it every
 * function is the one-process case.
 */
#include "tp_mpi.h"
#include "error.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef TP_HAVE_MPI
#include <mpi.h>
#endif

static int g_active, g_rank, g_size = 1;
static double g_comm_s, g_comm_bytes;

/* one process: a gather is a copy */
static tp_status local_copy(const void *send, const int64_t *counts, void *recv, int64_t esize) {
    if (counts[0] < 0) return TP_ERROR(TP_ERR_ARG, "mpi: negative count %lld", (long long)counts[0]);
    if (counts[0] > 0 && send != recv) memmove(recv, send, (size_t)(counts[0] * esize));
    return TP_OK;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void tp_mpi_split(int64_t n, int32_t rank, int32_t size, int64_t *first, int64_t *count) {
    if (size < 1) size = 1;
    if (rank < 0) rank = 0;
    if (rank >= size) rank = size - 1;
    int64_t q = n / size, r = n % size;
    int64_t f = rank * q + (rank < r ? rank : r);
    if (first) *first = f;
    if (count) *count = q + (rank < r ? 1 : 0);
}

int32_t tp_mpi_built(void) {
#ifdef TP_HAVE_MPI
    return 1;
#else
    return 0;
#endif
}
int32_t tp_mpi_active(void) { return g_active; }
int32_t tp_mpi_rank(void) { return g_rank; }
int32_t tp_mpi_size(void) { return g_size; }
double tp_mpi_comm_seconds(void) { return g_comm_s; }
double tp_mpi_comm_bytes(void) { return g_comm_bytes; }

#ifdef TP_HAVE_MPI

/* the largest piece one MPI call moves (MPI counts are int) */
#define PIECE ((int64_t)1 << 28)

static tp_status mpi_fail(const char *what, int rc) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS) snprintf(msg, sizeof msg, "error %d", rc);
    return TP_ERROR(TP_ERR_IO, "mpi: %s failed on rank %d: %s", what, g_rank, msg);
}

tp_status tp_mpi_init(int *argc, char ***argv) {
    if (g_active) return TP_OK;
    /* only under a launcher: a plain run never pays MPI's start-up */
    if (!getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMIX_RANK") && !getenv("PMI_RANK")) return TP_OK;
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) {
        int provided = 0, rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
        if (rc != MPI_SUCCESS) return mpi_fail("MPI_Init_thread", rc);
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    g_active = 1;
    return TP_OK;
}

void tp_mpi_finalize(void) {
    if (!g_active) return;
    int fin = 0;
    MPI_Finalized(&fin);
    if (!fin) MPI_Finalize();
    g_active = 0;
}

void tp_mpi_abort(int32_t status) {
    if (g_active && g_size > 1) {
        fflush(stdout);
        fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, status ? status : 1);
    }
}

tp_status tp_mpi_barrier(void) {
    if (!g_active || g_size == 1) return TP_OK;
    double t0 = now();
    int rc = MPI_Barrier(MPI_COMM_WORLD);
    g_comm_s += now() - t0;
    return rc == MPI_SUCCESS ? TP_OK : mpi_fail("MPI_Barrier", rc);
}

/* allgatherv of bytes with int64 counts: piece by piece, each piece one
 * MPI_Allgatherv of at most PIECE bytes per rank */
static tp_status gatherv_bytes(const void *send, const int64_t *counts, void *recv, int64_t esize) {
    if (!g_active || g_size == 1) return local_copy(send, counts, recv, esize);
    int64_t *off = malloc(sizeof(int64_t) * (size_t)g_size);
    int *rc_counts = malloc(sizeof(int) * (size_t)g_size), *displs = malloc(sizeof(int) * (size_t)g_size);
    char *stage = NULL;
    tp_status st = TP_OK;
    if (!off || !rc_counts || !displs) { st = TP_ERROR(TP_ERR_NOMEM, "mpi: out of memory"); goto done; }
    int64_t total = 0, most = 0;
    for (int r = 0; r < g_size; r++) {
        if (counts[r] < 0) { st = TP_ERROR(TP_ERR_ARG, "mpi: negative count %lld for rank %d", (long long)counts[r], r); goto done; }
        off[r] = total;
        total += counts[r] * esize;
        if (counts[r] * esize > most) most = counts[r] * esize;
    }
    double t0 = now();
    if (most <= PIECE && total <= 0x7fffffff) {
        for (int r = 0; r < g_size; r++) { rc_counts[r] = (int)(counts[r] * esize); displs[r] = (int)off[r]; }
        int rc = MPI_Allgatherv(send, (int)(counts[g_rank] * esize), MPI_BYTE, recv, rc_counts, displs, MPI_BYTE,
                                MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) { st = mpi_fail("MPI_Allgatherv", rc); goto done; }
    } else {
        /* pieces of up to PIECE bytes from every rank, staged then placed */
        stage = malloc((size_t)PIECE * (size_t)g_size);
        if (!stage) { st = TP_ERROR(TP_ERR_NOMEM, "mpi: out of memory for a %lld-byte gather", (long long)total); goto done; }
        for (int64_t at = 0; at < most; at += PIECE) {
            int dpos = 0;
            for (int r = 0; r < g_size; r++) {
                int64_t left = counts[r] * esize - at;
                rc_counts[r] = (int)(left <= 0 ? 0 : left < PIECE ? left : PIECE);
                displs[r] = dpos;
                dpos += rc_counts[r];
            }
            int rc = MPI_Allgatherv((const char *)send + at, rc_counts[g_rank], MPI_BYTE, stage, rc_counts, displs,
                                    MPI_BYTE, MPI_COMM_WORLD);
            if (rc != MPI_SUCCESS) { st = mpi_fail("MPI_Allgatherv", rc); goto done; }
            for (int r = 0; r < g_size; r++)
                if (rc_counts[r] > 0) memcpy((char *)recv + off[r] + at, stage + displs[r], (size_t)rc_counts[r]);
        }
    }
    g_comm_s += now() - t0;
    g_comm_bytes += (double)total;
done:
    free(off); free(rc_counts); free(displs); free(stage);
    return st;
}

tp_status tp_mpi_bcast(void *buf, int64_t bytes, int32_t root) {
    if (bytes < 0 || (bytes > 0 && !buf)) return TP_ERROR(TP_ERR_ARG, "mpi bcast: bad buffer");
    if (root < 0 || root >= g_size) return TP_ERROR(TP_ERR_ARG, "mpi bcast: root %d is not a rank (size %d)", root, g_size);
    if (!g_active || g_size == 1) return TP_OK;
    double t0 = now();
    for (int64_t at = 0; at < bytes; at += PIECE) {
        int64_t len = bytes - at < PIECE ? bytes - at : PIECE;
        int rc = MPI_Bcast((char *)buf + at, (int)len, MPI_BYTE, root, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return mpi_fail("MPI_Bcast", rc);
    }
    g_comm_s += now() - t0;
    g_comm_bytes += (double)bytes;
    return TP_OK;
}

#else   /* ---- one process ------------------------------------------------------ */

tp_status tp_mpi_init(int *argc, char ***argv) { (void)argc; (void)argv; return TP_OK; }
void tp_mpi_finalize(void) {}
void tp_mpi_abort(int32_t status) { (void)status; }
tp_status tp_mpi_barrier(void) { return TP_OK; }
static tp_status gatherv_bytes(const void *send, const int64_t *counts, void *recv, int64_t esize) {
    return local_copy(send, counts, recv, esize);
}
tp_status tp_mpi_bcast(void *buf, int64_t bytes, int32_t root) {
    if (bytes < 0 || (bytes > 0 && !buf)) return TP_ERROR(TP_ERR_ARG, "mpi bcast: bad buffer");
    if (root != 0) return TP_ERROR(TP_ERR_ARG, "mpi bcast: root %d is not a rank (size 1)", root);
    return TP_OK;
}

#endif

/* ---- built on the gathers: the same with or without MPI ---------------------- */

static tp_status gatherv(const void *send, const int64_t *counts, void *recv, int64_t esize, const char *what) {
    if (!counts) return TP_ERROR(TP_ERR_ARG, "mpi %s: NULL counts", what);
    int64_t total = 0;
    for (int r = 0; r < g_size; r++) total += counts[r];
    if ((counts[g_rank] > 0 && !send) || (total > 0 && !recv)) return TP_ERROR(TP_ERR_ARG, "mpi %s: NULL buffer", what);
    return gatherv_bytes(send, counts, recv, esize);
}

static tp_status gather_equal(const void *send, int64_t n, void *recv, int64_t esize, const char *what) {
    if (n < 0) return TP_ERROR(TP_ERR_ARG, "mpi %s: negative count %lld", what, (long long)n);
    int64_t *counts = malloc(sizeof(int64_t) * (size_t)g_size);
    if (!counts) return TP_ERROR(TP_ERR_NOMEM, "mpi: out of memory");
    for (int r = 0; r < g_size; r++) counts[r] = n;
    tp_status st = gatherv(send, counts, recv, esize, what);
    free(counts);
    return st;
}

tp_status tp_mpi_allgather_f64(const double *send, int64_t n, double *recv) {
    return gather_equal(send, n, recv, 8, "allgather");
}
tp_status tp_mpi_allgather_u8(const uint8_t *send, int64_t n, uint8_t *recv) {
    return gather_equal(send, n, recv, 1, "allgather");
}
tp_status tp_mpi_allgatherv_f64(const double *send, const int64_t *counts, double *recv) {
    return gatherv(send, counts, recv, 8, "allgatherv");
}
tp_status tp_mpi_allgatherv_u8(const uint8_t *send, const int64_t *counts, uint8_t *recv) {
    return gatherv(send, counts, recv, 1, "allgatherv");
}

/* every rank's vector gathered, then added in rank order: the same bits
 * everywhere (a reduction tree's order would depend on MPI's choice) */
#define ORDERED_SUM(T, NAME)                                                                  \
    tp_status NAME(T *buf, int64_t n) {                                                       \
        if (n < 0 || (n > 0 && !buf)) return TP_ERROR(TP_ERR_ARG, "mpi sum: bad buffer");     \
        if (g_size == 1 || n == 0) return TP_OK;                                              \
        T *all = malloc(sizeof(T) * (size_t)n * (size_t)g_size);                              \
        if (!all) return TP_ERROR(TP_ERR_NOMEM, "mpi sum: out of memory for %lld values x %d ranks", \
                                  (long long)n, g_size);                                      \
        tp_status st = gather_equal(buf, n, all, (int64_t)sizeof(T), "sum");                  \
        if (st == TP_OK) {                                                                    \
            for (int64_t i = 0; i < n; i++) {                                                 \
                T s = all[i];                                                                 \
                for (int r = 1; r < g_size; r++) s += all[(int64_t)r * n + i];                \
                buf[i] = s;                                                                   \
            }                                                                                 \
        }                                                                                     \
        free(all);                                                                            \
        return st;                                                                            \
    }
ORDERED_SUM(double, tp_mpi_sum_f64)
ORDERED_SUM(float, tp_mpi_sum_f32)

tp_status tp_mpi_extreme_f64(double *buf, int64_t n, int32_t op) {
    if (op != 1 && op != 2) return TP_ERROR(TP_ERR_ARG, "mpi extreme: op must be 1 (max) or 2 (min), got %d", op);
    if (n < 0 || (n > 0 && !buf)) return TP_ERROR(TP_ERR_ARG, "mpi extreme: bad buffer");
    if (g_size == 1 || n == 0) return TP_OK;
    double *all = malloc(sizeof(double) * (size_t)n * (size_t)g_size);
    if (!all) return TP_ERROR(TP_ERR_NOMEM, "mpi extreme: out of memory");
    tp_status st = gather_equal(buf, n, all, 8, "extreme");
    if (st == TP_OK) {
        for (int64_t i = 0; i < n; i++) {
            double v = all[i];
            for (int r = 1; r < g_size; r++) {
                double w = all[(int64_t)r * n + i];
                if (op == 1 ? w > v : w < v) v = w;
            }
            buf[i] = v;
        }
    }
    free(all);
    return st;
}
