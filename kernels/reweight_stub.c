/*
 * kernels/reweight_stub.c -- the CUDA entry points of reweight.h when
 * tempera is built without CUDA (HAVE_CUDA=0): each returns TP_ERR_NO_CUDA.
 * With CUDA they come from reweight_cuda.cu and this file is empty.
 */
#include "reweight.h"

#ifndef TP_HAVE_CUDA
#define TP_RW_NO_CUDA() TP_ERROR(TP_ERR_NO_CUDA, "tempera was built without CUDA (HAVE_CUDA=0)")

tp_status tp_rw_logsumexp_cuda(double *out, const double *logw, int64_t n, void *stream) {
    return TP_RW_NO_CUDA();
}
tp_status tp_rw_normalize_cuda(double *w, const double *logw, int64_t n, void *stream) {
    return TP_RW_NO_CUDA();
}
tp_status tp_rw_moments_cuda(double *acc, double *shift, const double *x, const double *logw,
                             int32_t stride, int64_t n, void *stream) {
    return TP_RW_NO_CUDA();
}
tp_status tp_rw_hist1d_cuda(double *hist, double *shift, const double *x, const double *logw,
                            double lo, double hi, int32_t nbins, int32_t stride, int64_t n, void *stream) {
    return TP_RW_NO_CUDA();
}
tp_status tp_rw_hist2d_cuda(double *hist, double *shift, const double *xy, const double *logw,
                            double xlo, double xhi, double ylo, double yhi,
                            int32_t nx, int32_t ny, int32_t stride, int64_t n, void *stream) {
    return TP_RW_NO_CUDA();
}
tp_status tp_rw_corr_cuda(double *acc, double *shift, const uint8_t *x, const double *logw,
                          int32_t L, int32_t q, int32_t rmax, int64_t n, void *stream) {
    return TP_RW_NO_CUDA();
}
tp_status tp_rw_moments_boot_cuda(double *acc, double *shift, const double *x, const double *logw,
                                  uint64_t seed, int64_t first, int64_t block,
                                  int32_t stride, int32_t R, int64_t n, void *stream) {
    return TP_RW_NO_CUDA();
}
tp_status tp_rw_hist1d_boot_cuda(double *hist, double *shift, const double *x, const double *logw,
                                 double lo, double hi, uint64_t seed, int64_t first, int64_t block,
                                 int32_t nbins, int32_t stride, int32_t R, int64_t n, void *stream) {
    return TP_RW_NO_CUDA();
}
tp_status tp_rw_pmf_cuda(double *F, const double *hist, double kT, int32_t nbins, void *stream) {
    return TP_RW_NO_CUDA();
}
tp_status tp_rw_pmf_boot_err_cuda(double *err, const double *hist, double kT, int32_t R, int32_t nbins, void *stream) {
    return TP_RW_NO_CUDA();
}
tp_status tp_rw_pmf_from_bias_cuda(double *F, const double *V, double gamma, int64_t n, void *stream) {
    return TP_RW_NO_CUDA();
}
tp_status tp_rw_pmf_rmse_cuda(double *rmse, int64_t *used, const double *F1, const double *F2, int64_t n,
                              void *stream) {
    return TP_RW_NO_CUDA();
}
tp_status tp_rw_js_cuda(double *js, const double *p, const double *q, int64_t n, void *stream) {
    return TP_RW_NO_CUDA();
}
#else
typedef int tp_reweight_stub_unused;   /* ISO C forbids an empty file */
#endif
