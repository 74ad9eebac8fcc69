/*
 * kernels/backend.h -- the backend table (ggml_backend_i style): one
 * vtable per backend with the same kernel signatures (the CUDA twins' last
 * 'stream' argument is NULL here).  CPU is always available; CUDA when
 * compiled in and a device exists at run time.  TEMPERA_BACKEND=cpu forces
 * the CPU; TEMPERA_BACKEND=cuda asks for CUDA (an error if unavailable).
 */
#ifndef TP_BACKEND_H
#define TP_BACKEND_H

#include "common.h"
#include "tensor.h"
#include "transformer.h"
#include "loss.h"
#include "optim.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tp_backend_i {
    const char *name;
    tp_device device;
    tp_status (*tf_forward)(float *acts, float *logp, const uint8_t *tokens, const float *params,
                            const float *rope, const tp_tf_config *cfg, int32_t rows);
    tp_status (*tf_backward)(float *grads, float *scratch, const float *dlogp, const float *logp,
                             const float *acts, const uint8_t *tokens, const float *params,
                             const float *rope, const tp_tf_config *cfg, int32_t rows);
    /* loss is host memory; every other pointer lives on the backend */
    tp_status (*masked_nll)(double *loss, float *dlogp, const float *logp, const uint8_t *targets,
                            const uint8_t *input, const double *rw, int32_t rows, int32_t T,
                            int32_t q, int32_t all_sites);
    /* every pointer lives on the backend */
    tp_status (*sample_step)(uint8_t *work, double *logq, const float *logp, const uint8_t *truth,
                             const int32_t *site, const float *u, int32_t rows, int32_t T, int32_t q);
    tp_status (*adam)(float *params, float *m, float *v, const float *grads,
                      const tp_adam_config *cfg, int64_t t, int64_t n);
    tp_status (*ema)(float *ema, const float *params, float decay, int64_t n);
    tp_status (*sumsq)(double *out, const float *x, int64_t n);   /* out: host */
    tp_status (*scale)(float *x, float s, int64_t n);
    /* conditioned networks (kernels/cond.h): the transformer with a per-row
     * embedding, and the condition MLP; every pointer on the backend */
    tp_status (*tf_forward_cond)(float *acts, float *logp, const uint8_t *tokens, const float *cemb,
                                 const float *params, const float *rope, const tp_tf_config *cfg,
                                 int32_t rows);
    tp_status (*tf_backward_cond)(float *grads, float *dcemb, float *scratch, const float *dlogp,
                                  const float *logp, const float *acts, const uint8_t *tokens,
                                  const float *params, const float *rope, const tp_tf_config *cfg,
                                  int32_t rows);
    tp_status (*cond_forward)(float *cemb, float *acts, const float *cond, const float *params,
                              const tp_tf_config *cfg, int32_t rows);
    tp_status (*cond_backward)(float *grads, const float *dcemb, const float *acts, const float *params,
                               const tp_tf_config *cfg, int32_t rows);
    /* optional (NULL: use tf_forward): the sampling forward of an
     * unconditioned network, logp only at site[r] of each row
     * (tp_tf_forward_site_cpu); every pointer on the backend */
    tp_status (*tf_forward_site)(float *acts, float *logp, const uint8_t *tokens, const int32_t *site,
                                 const float *params, const float *rope, const tp_tf_config *cfg,
                                 int32_t rows);
} tp_backend_i;

/* ffi:begin */
/* Name of the backend a new network gets: "cuda" when compiled in, a device
 * exists and TEMPERA_BACKEND is not "cpu"; else "cpu". */
TP_FFI const char *tp_backend_default_name(void);
/* 1 when the named backend ("cpu", "cuda") is usable now. */
TP_FFI int tp_backend_available(const char *name);
/* ffi:end */

/* The table for name ("cpu", "cuda", or NULL/"" / "auto" for the default);
 * NULL with a message when unknown or unavailable. */
const tp_backend_i *tp_backend_get(const char *name);
const tp_backend_i *tp_backend_cpu(void);

#ifdef __cplusplus
}
#endif
#endif /* TP_BACKEND_H */
