// A linear layer with an optional LoRA branch, as plain ATen tensors.
//
//   y = x @ W^T + s * (dropout(x) @ A^T) @ B^T,   s = alpha / r (rsLoRA: alpha / sqrt(r))
//   x (..., in), W (out, in) frozen, A (r, in), B (out, r) trainable.
// Initialisation follows PEFT's default: A ~ kaiming-uniform(a = sqrt(5)), i.e.
// U(-1/sqrt(in), 1/sqrt(in)); B = 0, so training starts from the base model.
// Gradients (autograd computes them; written out for the fused kernels to come),
// with x flattened to (N, in) and dy (N, out):
//   dB = s * dy^T @ (x @ A^T)          (out, r)
//   dA = s * (dy @ B)^T @ x            (r, in)
//   dx = dy @ W + s * (dy @ B) @ A     (N, in)
//
// DoRA (PEFT's tuners/lora/dora.py): a trainable magnitude m (out,), initialised
// to the row norms of W, and
//   n = ||W + s B A||_row (a constant: no gradient flows through it, DoRA §4.3)
//   y = x W^T + b + (m/n - 1) * (x_d W^T) + (m/n) * s * (x_d A^T) B^T
// where x_d is dropout(x) (x itself outside training), which equals
// x (m/n * (W + s B A))^T + b without dropout: the merged weight.
#pragma once

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <cstdint>
#include <memory>

#include "train/cpu_packed_gemm.h"
#include "train/nf4_weight.h"

namespace st::train {

struct LoraLinear {
  at::Tensor weight;     // (out, in); undefined when the base is held in NF4
  Nf4Weight nf4;         // QLoRA: the frozen weight in NF4 (train.quantize_base)
  at::Tensor bias;       // (out,) or undefined
  at::Tensor lora_a;     // (r, in) or undefined
  at::Tensor lora_b;     // (out, r) or undefined
  at::Tensor magnitude;  // (out,) DoRA only, else undefined
  double scale = 0.0;
  double dropout = 0.0;
  // MKL's packs of `weight` for the CPU training loop's products (train/cpu_packed_gemm.h),
  // made by the first training step; shared by copies, as the weight is.
  mutable std::shared_ptr<PackedWeight> packed;

  bool has_lora() const { return lora_a.defined(); }
  bool dora() const { return magnitude.defined(); }
  int64_t out_features() const { return nf4.defined() ? nf4.out : weight.size(0); }
  int64_t in_features() const { return nf4.defined() ? nf4.in : weight.size(1); }
  // Creates trainable A, B (and m for DoRA) on weight's device; `gen` seeds A.
  void AttachLora(int64_t rank, double alpha, double dropout_p, at::Generator gen, bool rslora = false, bool dora = false);
  at::Tensor Forward(const at::Tensor& x, bool training) const;
};

}  // namespace st::train
