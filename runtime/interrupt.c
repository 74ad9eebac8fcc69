/*
 * runtime/interrupt.c -- the Ctrl-C flag.  The SIGINT handler (runtime/host.c)
 * sets tp_abort_flag; long C loops poll it and return TP_ABORTED, Lua loops
 * call tempera.check_interrupt().  Nothing here exits: the run unwinds
 * normally so files are closed and every finished result stays on disk.
 */
#include "tp_ffi.h"

int tp_interrupted(void) { return tp_abort_flag != 0; }
void tp_interrupt_clear(void) { tp_abort_flag = 0; }
void tp_interrupt_raise(void) { tp_abort_flag = 1; }
