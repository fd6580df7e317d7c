// A linear layer with an optional LoRA branch, as plain ATen tensors.
//
//   y = x @ W^T + scale * (dropout(x) @ A^T) @ B^T,   scale = alpha / r
//   x (..., in), W (out, in) frozen, A (r, in), B (out, r) trainable.
// Initialisation follows PEFT's default: A ~ kaiming-uniform(a = sqrt(5)), i.e.
// U(-1/sqrt(in), 1/sqrt(in)); B = 0, so training starts from the base model.
// Gradients (autograd computes them; written out for the fused kernels to come),
// with x flattened to (N, in) and dy (N, out):
//   dB = scale * dy^T @ (x @ A^T)          (out, r)
//   dA = scale * (dy @ B)^T @ x            (r, in)
//   dx = dy @ W + scale * (dy @ B) @ A     (N, in)
#pragma once

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <cstdint>

namespace st::train {

struct LoraLinear {
  at::Tensor weight;  // (out, in)
  at::Tensor bias;    // (out,) or undefined
  at::Tensor lora_a;  // (r, in) or undefined
  at::Tensor lora_b;  // (out, r) or undefined
  double scale = 0.0;
  double dropout = 0.0;

  bool has_lora() const { return lora_a.defined(); }
  // Creates trainable A, B on weight's device; `gen` seeds A.
  void AttachLora(int64_t rank, double alpha, double dropout_p, at::Generator gen);
  at::Tensor Forward(const at::Tensor& x, bool training) const;
};

}  // namespace st::train
