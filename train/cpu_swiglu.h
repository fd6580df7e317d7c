// SwiGLU, silu(g) * u, on the CPU as one autograd node (the GPU has its kernel,
// kernels/swiglu.h).
//
// The composite (silu, then a product; backward two products and silu's
// gradient) passes over the (tokens x intermediate) activations about eight times
// and keeps silu(g) for backward. Here forward reads g and u once and writes the
// output; backward reads dy, g and u once and writes both gradients:
//   s = sigmoid(g),  y = g s u,  du = dy g s,  dg = dy u s (1 + g (1 - s))
// float32 inside. The exponential is a Cody-Waite reduced polynomial (Cephes'
// expf coefficients) that the compiler vectorizes; within 2 ulp of expf.
#pragma once

#include <ATen/ATen.h>

namespace st::train {

// Whether SwigluCpu takes g and u: CPU float32 or bf16 tensors of one shape and type.
bool SwigluCpuApplies(const at::Tensor& g, const at::Tensor& u);
at::Tensor SwigluCpu(const at::Tensor& g, const at::Tensor& u);

// The exponential used inside, exposed for its accuracy test.
float SwigluExp(float x);

}  // namespace st::train
