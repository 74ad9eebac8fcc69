/*
 * kernels/backend.c -- the backend tables (kernels/backend.h).  The CPU
 * table wraps the *_cpu references; the CUDA table wraps the *_cuda twins
 * on the default stream and is handed out only when a device exists.
 */
#include "backend.h"
#include "cuda.h"
#include "cond.h"

#include <stdlib.h>
#include <string.h>

static const tp_backend_i cpu_backend = {
    "cpu", TP_DEVICE_CPU,
    tp_tf_forward_cpu, tp_tf_backward_cpu, tp_loss_masked_nll_cpu, tp_loss_sample_step_cpu,
    tp_optim_adam_cpu, tp_optim_ema_cpu, tp_optim_sumsq_cpu, tp_optim_scale_cpu,
    tp_tf_forward_cond_cpu, tp_tf_backward_cond_cpu, tp_cond_forward_cpu, tp_cond_backward_cpu,
    tp_tf_forward_site_cpu,
};

static tp_status cu_tf_forward(float *acts, float *logp, const uint8_t *tokens, const float *params,
                               const float *rope, const tp_tf_config *cfg, int32_t rows) {
    return tp_tf_forward_cuda(acts, logp, tokens, params, rope, cfg, rows, NULL);
}
static tp_status cu_tf_forward_site(float *acts, float *logp, const uint8_t *tokens, const int32_t *site,
                                    const float *params, const float *rope, const tp_tf_config *cfg,
                                    int32_t rows) {
    return tp_tf_forward_site_cuda(acts, logp, tokens, site, params, rope, cfg, rows, NULL);
}
static tp_status cu_tf_backward(float *grads, float *scratch, const float *dlogp, const float *logp,
                                const float *acts, const uint8_t *tokens, const float *params,
                                const float *rope, const tp_tf_config *cfg, int32_t rows) {
    return tp_tf_backward_cuda(grads, scratch, dlogp, logp, acts, tokens, params, rope, cfg, rows, NULL);
}
static tp_status cu_masked_nll(double *loss, float *dlogp, const float *logp, const uint8_t *targets,
                               const uint8_t *input, const double *rw, int32_t rows, int32_t T,
                               int32_t q, int32_t all_sites) {
    return tp_loss_masked_nll_cuda(loss, dlogp, logp, targets, input, rw, rows, T, q, all_sites, NULL);
}
static tp_status cu_sample_step(uint8_t *work, double *logq, const float *logp, const uint8_t *truth,
                                const int32_t *site, const float *u, int32_t rows, int32_t T, int32_t q) {
    return tp_loss_sample_step_cuda(work, logq, logp, truth, site, u, rows, T, q, NULL);
}
static tp_status cu_adam(float *params, float *m, float *v, const float *grads,
                         const tp_adam_config *cfg, int64_t t, int64_t n) {
    return tp_optim_adam_cuda(params, m, v, grads, cfg, t, n, NULL);
}
static tp_status cu_ema(float *ema, const float *params, float decay, int64_t n) {
    return tp_optim_ema_cuda(ema, params, decay, n, NULL);
}
static tp_status cu_sumsq(double *out, const float *x, int64_t n) {
    return tp_optim_sumsq_cuda(out, x, n, NULL);
}
static tp_status cu_scale(float *x, float s, int64_t n) {
    return tp_optim_scale_cuda(x, s, n, NULL);
}

static tp_status cu_tf_forward_cond(float *acts, float *logp, const uint8_t *tokens, const float *cemb,
                                    const float *params, const float *rope, const tp_tf_config *cfg,
                                    int32_t rows) {
    return tp_tf_forward_cond_cuda(acts, logp, tokens, cemb, params, rope, cfg, rows, NULL);
}
static tp_status cu_tf_backward_cond(float *grads, float *dcemb, float *scratch, const float *dlogp,
                                     const float *logp, const float *acts, const uint8_t *tokens,
                                     const float *params, const float *rope, const tp_tf_config *cfg,
                                     int32_t rows) {
    return tp_tf_backward_cond_cuda(grads, dcemb, scratch, dlogp, logp, acts, tokens, params, rope, cfg, rows, NULL);
}
static tp_status cu_cond_forward(float *cemb, float *acts, const float *cond, const float *params,
                                 const tp_tf_config *cfg, int32_t rows) {
    return tp_cond_forward_cuda(cemb, acts, cond, params, cfg, rows, NULL);
}
static tp_status cu_cond_backward(float *grads, const float *dcemb, const float *acts, const float *params,
                                  const tp_tf_config *cfg, int32_t rows) {
    return tp_cond_backward_cuda(grads, dcemb, acts, params, cfg, rows, NULL);
}

static const tp_backend_i cuda_backend = {
    "cuda", TP_DEVICE_CUDA,
    cu_tf_forward, cu_tf_backward, cu_masked_nll, cu_sample_step,
    cu_adam, cu_ema, cu_sumsq, cu_scale,
    cu_tf_forward_cond, cu_tf_backward_cond, cu_cond_forward, cu_cond_backward,
    cu_tf_forward_site,
};

static int cuda_usable(void) {
    return tp_cuda_compiled() && tp_cuda_device_count() > 0;
}

const tp_backend_i *tp_backend_cpu(void) { return &cpu_backend; }

const char *tp_backend_default_name(void) {
    const char *e = getenv("TEMPERA_BACKEND");
    if (e && strcmp(e, "cpu") == 0) return "cpu";
    return cuda_usable() ? "cuda" : "cpu";
}

int tp_backend_available(const char *name) {
    if (!name) return 0;
    if (strcmp(name, "cpu") == 0) return 1;
    if (strcmp(name, "cuda") == 0) return cuda_usable();
    return 0;
}

const tp_backend_i *tp_backend_get(const char *name) {
    if (!name || !*name || strcmp(name, "auto") == 0) {
        const char *e = getenv("TEMPERA_BACKEND");
        name = (e && *e) ? e : tp_backend_default_name();
    }
    if (strcmp(name, "cpu") == 0) return &cpu_backend;
    if (strcmp(name, "cuda") == 0) {
        if (!tp_cuda_compiled()) {
            TP_ERROR(TP_ERR_NO_CUDA, "backend 'cuda': tempera was built without CUDA");
            return NULL;
        }
        if (tp_cuda_device_count() <= 0) {
            TP_ERROR(TP_ERR_NO_CUDA, "backend 'cuda': no CUDA device found");
            return NULL;
        }
        return &cuda_backend;
    }
    TP_ERROR(TP_ERR_ARG, "unknown backend '%s' (valid: cpu, cuda, auto)", name);
    return NULL;
}
