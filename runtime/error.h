/*
 * runtime/error.h -- error conventions for runtime/ (status codes and the
 * message buffer live in kernels/common.h, the lowest layer).
 */
#ifndef TP_ERROR_H
#define TP_ERROR_H

#include "tp_ffi.h"

/* Exit statuses of the tempera command (documented in tempera(1)). */
enum {
    TP_EXIT_OK        = 0,
    TP_EXIT_RUN       = 1,   /* the recipe raised an error while running */
    TP_EXIT_USAGE     = 2,   /* bad command line */
    TP_EXIT_LOAD      = 3,   /* the recipe could not be read or parsed */
    TP_EXIT_INTERRUPT = 130  /* Ctrl-C */
};

#endif /* TP_ERROR_H */
