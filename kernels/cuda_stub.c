/*
 * kernels/cuda_stub.c -- compiled instead of every kernels/NAME.cu file when nvcc is
 * absent (HAVE_CUDA=0).  Each entry point reports "no CUDA": tempera then
 * runs on the CPU backend only.  Keep one stub per CUDA entry point.
 */
#include "cuda.h"

int tp_cuda_compiled(void) { return 0; }
int tp_cuda_device_count(void) { return 0; }
int tp_cuda_runtime_version(void) { return 0; }

tp_status tp_cuda_device_name(int dev, char *buf, size_t len) {
    if (buf && len) buf[0] = 0;
    return TP_ERROR(TP_ERR_NO_CUDA, "tempera was built without CUDA (HAVE_CUDA=0)");
}
tp_status tp_cuda_select_device(int dev) {
    (void)dev;
    return TP_ERROR(TP_ERR_NO_CUDA, "tempera was built without CUDA (HAVE_CUDA=0)");
}

int32_t tp_nccl_compiled(void) { return 0; }
tp_status tp_nccl_unique_id(uint8_t *id, int32_t len) {
    (void)id; (void)len;
    return TP_ERROR(TP_ERR_NO_CUDA, "tempera was built without CUDA (HAVE_CUDA=0)");
}
tp_status tp_nccl_init(const uint8_t *id, int32_t len, int32_t nranks, int32_t rank) {
    (void)id; (void)len; (void)nranks; (void)rank;
    return TP_ERROR(TP_ERR_NO_CUDA, "tempera was built without CUDA (HAVE_CUDA=0)");
}
tp_status tp_nccl_sum_f32(float *dev, int64_t n) {
    (void)dev; (void)n;
    return TP_ERROR(TP_ERR_NO_CUDA, "tempera was built without CUDA (HAVE_CUDA=0)");
}
void tp_nccl_free(void) {}

/* ---- tensor, transformer, loss, optim (issue 6) ---------------------------- */
#include "tensor.h"
#include "transformer.h"
#include "loss.h"
#include "optim.h"

#define TP_NO_CUDA_BUILD() TP_ERROR(TP_ERR_NO_CUDA, "tempera was built without CUDA (HAVE_CUDA=0)")

void *tp_cuda_alloc(size_t bytes) { (void)bytes; TP_NO_CUDA_BUILD(); return NULL; }
void tp_cuda_free(void *p) { (void)p; }
tp_status tp_cuda_copy(void *dst, const void *src, size_t bytes, int kind) { return TP_NO_CUDA_BUILD(); }
tp_status tp_cuda_zero(void *p, size_t bytes) { return TP_NO_CUDA_BUILD(); }
tp_status tp_cuda_sync(void) { return TP_NO_CUDA_BUILD(); }

tp_status tp_tf_forward_cuda(float *acts, float *logp, const uint8_t *tokens, const float *params,
                             const float *rope, const tp_tf_config *cfg, int32_t rows, void *stream) {
    return TP_NO_CUDA_BUILD();
}
tp_status tp_tf_forward_site_cuda(float *acts, float *logp, const uint8_t *tokens, const int32_t *site,
                                  const float *params, const float *rope, const tp_tf_config *cfg,
                                  int32_t rows, void *stream) {
    return TP_NO_CUDA_BUILD();
}
tp_status tp_tf_backward_cuda(float *grads, float *scratch, const float *dlogp, const float *logp,
                              const float *acts, const uint8_t *tokens, const float *params,
                              const float *rope, const tp_tf_config *cfg, int32_t rows, void *stream) {
    return TP_NO_CUDA_BUILD();
}
tp_status tp_loss_masked_nll_cuda(double *loss, float *dlogp, const float *logp, const uint8_t *targets,
                                  const uint8_t *input, const double *rw, int32_t rows, int32_t T,
                                  int32_t q, int32_t all_sites, void *stream) {
    return TP_NO_CUDA_BUILD();
}
tp_status tp_loss_sample_step_cuda(uint8_t *work, double *logq, const float *logp, const uint8_t *truth,
                                   const int32_t *site, const float *u, int32_t rows, int32_t T,
                                   int32_t q, void *stream) {
    return TP_NO_CUDA_BUILD();
}
tp_status tp_optim_adam_cuda(float *params, float *m, float *v, const float *grads,
                             const tp_adam_config *cfg, int64_t t, int64_t n, void *stream) {
    return TP_NO_CUDA_BUILD();
}
tp_status tp_optim_ema_cuda(float *ema, const float *params, float decay, int64_t n, void *stream) {
    return TP_NO_CUDA_BUILD();
}
tp_status tp_optim_sumsq_cuda(double *out, const float *x, int64_t n, void *stream) {
    return TP_NO_CUDA_BUILD();
}
tp_status tp_optim_scale_cuda(float *x, float s, int64_t n, void *stream) {
    return TP_NO_CUDA_BUILD();
}
tp_status tp_tf_sgemm_gflops_cuda(double *out, int32_t n, int32_t reps) {
    *out = 0;
    return TP_NO_CUDA_BUILD();
}

/* ---- conditioning on CUDA (kernels/cond.h, transformer.h _cond twins) ------- */
#include "cond.h"

tp_status tp_tf_forward_cond_cuda(float *acts, float *logp, const uint8_t *tokens, const float *cemb,
                                  const float *params, const float *rope,
                                  const tp_tf_config *cfg, int32_t rows, void *stream) {
    return TP_NO_CUDA_BUILD();
}
tp_status tp_tf_backward_cond_cuda(float *grads, float *dcemb, float *scratch, const float *dlogp,
                                   const float *logp, const float *acts, const uint8_t *tokens,
                                   const float *params, const float *rope,
                                   const tp_tf_config *cfg, int32_t rows, void *stream) {
    return TP_NO_CUDA_BUILD();
}
tp_status tp_cond_forward_cuda(float *cemb, float *acts, const float *cond, const float *params,
                               const tp_tf_config *cfg, int32_t rows, void *stream) {
    return TP_NO_CUDA_BUILD();
}
tp_status tp_cond_backward_cuda(float *grads, const float *dcemb, const float *acts,
                                const float *params, const tp_tf_config *cfg, int32_t rows, void *stream) {
    return TP_NO_CUDA_BUILD();
}
