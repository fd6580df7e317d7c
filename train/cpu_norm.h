// RMSNorm on the CPU as one autograd node (the GPU has its kernel, train/fused_ops.h).
//
// The composite formula (x to float32, square, mean, rsqrt, two products, back to
// the input's type) costs about ten passes over the activations forward and more
// backward; at hidden sizes near 1k that is as much time as the block's matrix
// products in bf16. Here each row is read once forward and once backward:
//   r = 1 / sqrt(mean_j x_j^2 + eps),   y_j = w_j * (x_j * r)      (float32 inside)
//   dx_j = r * (w_j dy_j - x_j * r^2 / dim * sum_i dy_i w_i x_i)
// (kernels/rmsnorm.h has the same algebra as the GPU's reference). The gain w is
// frozen here; a trainable one (full fine-tuning) keeps the composite path.
#pragma once

#include <ATen/ATen.h>

namespace st::train {

// Whether RmsNormCpu takes x and w: a CPU float32 or bf16 x, a gain that needs no gradient.
bool RmsNormCpuApplies(const at::Tensor& x, const at::Tensor& w);
at::Tensor RmsNormCpu(const at::Tensor& x, const at::Tensor& w, double eps);

}  // namespace st::train
