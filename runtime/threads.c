/*
 * runtime/threads.c -- the worker-thread count shared by OpenMP loops and
 * OpenBLAS.  Results never depend on it (RNG streams are per chain/row);
 * only speed does.  Default: TEMPERA_THREADS, else every core.
 */
#include "tp_ffi.h"

#include <omp.h>
#include <stdlib.h>
#include <cblas.h>

static int nthreads = 0;

int tp_threads_get(void) {
    if (nthreads == 0) {
        const char *e = getenv("TEMPERA_THREADS");
        int n = e ? atoi(e) : 0;
        if (n <= 0) n = omp_get_num_procs();
        tp_threads_set(n);
    }
    return nthreads;
}

tp_status tp_threads_set(int n) {
    if (n < 1 || n > 4096) return TP_ERROR(TP_ERR_ARG, "thread count must be in 1..4096, got %d", n);
    nthreads = n;
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
    tp_cpu_flush_subnormals();   /* every thread of the new team */
    return TP_OK;
}
