#include "train/lora.h"

#include <cmath>

#include "train/fused_ops.h"
#include "train/lora_matmul.h"

namespace st::train {

void LoraLinear::AttachLora(int64_t rank, double alpha, double dropout_p, at::Generator gen, bool rslora, bool dora) {
  const int64_t out = out_features(), in = in_features();
  const double bound = 1.0 / std::sqrt(static_cast<double>(in));
  const auto f32 = (nf4.defined() ? nf4.packed : weight).options().dtype(at::kFloat);  // float32 over any base type
  // Drawn on the CPU from `gen` on any device, so a seed gives the same factors everywhere.
  lora_a = at::empty({rank, in}, at::kFloat).uniform_(-bound, bound, gen).to(f32.device()).set_requires_grad(true);
  lora_b = at::zeros({out, rank}, f32).set_requires_grad(true);
  scale = rslora ? alpha / std::sqrt(static_cast<double>(rank)) : alpha / static_cast<double>(rank);
  dropout = dropout_p;
  if (dora) {
    at::NoGradGuard ng;
    magnitude = at::linalg_vector_norm(weight.to(at::kFloat), 2, {1}).set_requires_grad(true);  // B = 0: ||W||
  }
}

at::Tensor LoraLinear::Forward(const at::Tensor& x, bool training) const {
  if (at::Tensor fused = FusedLoraForward(x, *this, training); fused.defined()) return fused;
  if (at::Tensor cpu = LoraMatmulForward(x, *this, training); cpu.defined()) return cpu;
  at::Tensor base = nf4.defined() ? Nf4LinearOp(x, nf4) : at::matmul(x, weight.t());
  at::Tensor y = bias.defined() ? base + bias : base;
  if (!has_lora()) return y;
  const bool dropped = training && dropout > 0;
  at::Tensor xd = dropped ? at::dropout(x, dropout, true) : x;
  // The LoRA factors stay float32 over a bf16 base: the branch runs in float32
  // and is added in the base's type (as PEFT does for a bf16 model).
  at::Tensor low = at::matmul(at::matmul(xd.to(lora_a.scalar_type()), lora_a.t()), lora_b.t()) * scale;
  if (!dora()) return y + low.to(y.scalar_type());
  at::Tensor norm;
  {
    at::NoGradGuard ng;
    norm = at::linalg_vector_norm(weight.to(at::kFloat) + at::matmul(lora_b, lora_a) * scale, 2, {1});
  }
  at::Tensor factor = magnitude / norm;  // (out,)
  at::Tensor base_d = dropped ? at::matmul(xd, weight.t()) : base;  // DoRA: never NF4 (recipe check)
  return y + ((factor - 1) * base_d + factor * low).to(y.scalar_type());
}

}  // namespace st::train
