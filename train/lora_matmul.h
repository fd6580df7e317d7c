// The LoRA linear layer on the CPU as one autograd node over ATen's matrix
// products (the GPU has its own fused kernel, train/fused_ops.h).
//
// Left to autograd, y = x W^T + s (x_d A^T) B^T over a bf16 base converts x to
// float32 for the branch, makes the (N, out) product in float32, scales it,
// converts it back and adds it: four passes over an (N, out) tensor for a rank-16
// update, several times the cost of the base product itself on a CPU with AMX.
// Here the branch runs in the base's type, the way autocast runs PEFT's:
//   xa = x_d A^T                          (N, r)       A rounded to the base type
//   y  = x W^T + bias + s xa B^T          one product, accumulated into y
//   g  = dy B                             (N, r)
//   dx = dy W + s g A                     (x_d = x: accumulated into one tensor)
//   dA = s g^T x_d,  dB = s dy^T xa       float32, from products in the base type
// Every product accumulates in float32 inside the BLAS; A, B, their gradients and
// the optimizer stay float32. In float32 mode this is the same algebra with the
// scale folded into the product, and one (N, out) temporary fewer; in float32
// training x W^T and dy W run on MKL's packs of W (train/cpu_packed_gemm.h).
// Layers that read the same x (a block's q/k/v, gate and up) share one node:
//   xa = x [A_1; ...; A_m]^T,  dA_i from one (R, N) x (N, in) product,
//   dx = [g_1 ... g_m] [s_1 A_1; ...; s_m A_m] + sum_i dy_i W_i
// with each dy_i W_i added into dx by the BLAS (beta = 1) instead of one (N, in)
// tensor per layer summed by autograd.
#pragma once

#include <ATen/ATen.h>

#include <vector>

namespace st::train {

struct LoraLinear;

// The layer's output when this path applies (a CPU tensor, a dense frozen base,
// plain LoRA or rsLoRA); an undefined tensor otherwise, for the caller's own path.
at::Tensor LoraMatmulForward(const at::Tensor& x, const LoraLinear& layer, bool training);

// The outputs of layers that read the same input (a block's q/k/v, or gate and
// up), in their order: those this path applies to (without dropout) as one node,
// which reads x once for all their x A^T and sums their input gradients in one
// tensor; any other layer through its own Forward.
std::vector<at::Tensor> LoraMatmulSharedForward(const at::Tensor& x, const std::vector<const LoraLinear*>& layers,
                                                bool training);

}  // namespace st::train
