// RMSNorm over the last dimension (transformers' LlamaRMSNorm):
//   r = 1 / sqrt(mean_j x_j^2 + eps),   y_j = w_j * x_j * r
// x, y (rows, dim); w (dim,); rstd (rows,) float32 keeps r for the backward.
// Backward (derivation at RmsNormBackwardRef in rmsnorm_ref.cpp):
//   dx_j = r * (w_j dy_j - x_j * r^2 / dim * sum_i dy_i w_i x_i),   dw_j = sum_rows dy_j x_j r
#pragma once

#include <cstdint>

#include "kernels/kernel_common.h"

namespace st::kernels {

// CPU references, float32.
void RmsNormForwardRef(int64_t rows, int64_t dim, const float* x, const float* w, float eps, float* y, float* rstd);
// dw may be null (a frozen norm); otherwise it is overwritten with the sum over rows.
void RmsNormBackwardRef(int64_t rows, int64_t dim, const float* dy, const float* x, const float* w, const float* rstd,
                        float* dx, float* dw);

// CUDA: x, w, y, dy, dx of type `t` on the device; rstd and dw float32. One block
// per row. dw (may be null) is overwritten. Returns 0 or the cudaError_t (-1 without CUDA).
int RmsNormForwardCuda(int64_t rows, int64_t dim, DType t, const void* x, const void* w, float eps, void* y,
                       float* rstd, void* stream);
int RmsNormBackwardCuda(int64_t rows, int64_t dim, DType t, const void* dy, const void* x, const void* w,
                        const float* rstd, void* dx, float* dw, void* stream);

}  // namespace st::kernels
