/*
 * runtime/version.c -- version strings of tempera and of the libraries it
 * was built against, for 'tempera version', dumps and the ABI handshake.
 */
#include "tp_ffi.h"

#include <luajit.h>
#include <zstd.h>
#include <cblas.h>

#ifndef TP_VERSION
#define TP_VERSION "0.0.0"
#endif

int tp_abi_version(void) { return TP_ABI_VERSION; }
const char *tp_version(void) { return TP_VERSION; }
const char *tp_version_luajit(void) { return LUAJIT_VERSION; }
const char *tp_version_zstd(void) { return ZSTD_versionString(); }
const char *tp_version_openblas(void) { return openblas_get_config(); }
