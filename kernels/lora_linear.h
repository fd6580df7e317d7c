// Fused LoRA linear layer over a frozen base (train/lora.h has the model side):
//   y = x W^T + bias + s * (D(x) A^T) B^T
// x (n, in), W (out, in), bias (out,) or null, y (n, out) of the base type;
// A (rank, in), B (out, rank) float32 trainable; D is dropout with probability p
// whose mask is regenerated from (seed, row * in + col) by DropoutFactor
// (kernel_common.h), so nothing of the mask is stored.
// The forward also returns xa = D(x) A^T (n, rank) float32 for the backward:
//   g  = dy B                                  (n, rank)
//   dx = dy W + s * D'(g A)   (D' the same mask and 1/(1-p) factor: y depends on
//                               x through D(x) = x * factor elementwise)
//   dA = s * g^T D(x)                          (rank, in)
//   dB = s * dy^T xa                           (out, rank)
// On the GPU the base products run through cuBLAS (bf16 in, float32 accumulate)
// and the rank-r products are fused into one pass over y (forward) and dx
// (backward) with the scale, the bias and the dropout mask.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/kernel_common.h"

namespace st::kernels {

struct LoraShape {
  int64_t n, in, out, rank;
};

// CPU references, float32 throughout.
void LoraLinearForwardRef(const LoraShape& s, const float* x, const float* w, const float* bias, const float* a,
                          const float* b, float scale, float p, uint64_t seed, float* y, float* xa);
// dx may be null (the layer's input needs no gradient).
void LoraLinearBackwardRef(const LoraShape& s, const float* dy, const float* x, const float* w, const float* a,
                           const float* b, const float* xa, float scale, float p, uint64_t seed, float* dx, float* da,
                           float* db);

// CUDA: x, w, bias, y, dy, dx of type `t`; a, b, xa, da, db float32; `cublas`
// a cublasHandle_t. The workspace sizes cover forward and backward.
size_t LoraLinearWorkspaceCuda(const LoraShape& s, DType t, float p);
int LoraLinearForwardCuda(const LoraShape& s, DType t, const void* x, const void* w, const void* bias, const float* a,
                          const float* b, float scale, float p, uint64_t seed, void* y, float* xa, void* workspace,
                          size_t workspace_bytes, void* cublas, void* stream);
int LoraLinearBackwardCuda(const LoraShape& s, DType t, const void* dy, const void* x, const void* w, const float* a,
                           const float* b, const float* xa, float scale, float p, uint64_t seed, void* dx, float* da,
                           float* db, void* workspace, size_t workspace_bytes, void* cublas, void* stream);

}  // namespace st::kernels
