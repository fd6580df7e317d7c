#include "train/lora.h"

#include <cmath>

namespace st::train {

void LoraLinear::AttachLora(int64_t rank, double alpha, double dropout_p, at::Generator gen, bool rslora, bool dora) {
  const int64_t out = weight.size(0), in = weight.size(1);
  const double bound = 1.0 / std::sqrt(static_cast<double>(in));
  lora_a = at::empty({rank, in}, weight.options()).uniform_(-bound, bound, gen).set_requires_grad(true);
  lora_b = at::zeros({out, rank}, weight.options()).set_requires_grad(true);
  scale = rslora ? alpha / std::sqrt(static_cast<double>(rank)) : alpha / static_cast<double>(rank);
  dropout = dropout_p;
  if (dora) {
    at::NoGradGuard ng;
    magnitude = at::linalg_vector_norm(weight.to(at::kFloat), 2, {1}).set_requires_grad(true);  // B = 0: ||W||
  }
}

at::Tensor LoraLinear::Forward(const at::Tensor& x, bool training) const {
  at::Tensor base = at::matmul(x, weight.t());
  at::Tensor y = bias.defined() ? base + bias : base;
  if (!has_lora()) return y;
  const bool dropped = training && dropout > 0;
  at::Tensor xd = dropped ? at::dropout(x, dropout, true) : x;
  at::Tensor low = at::matmul(at::matmul(xd, lora_a.t()), lora_b.t()) * scale;
  if (!dora()) return y + low;
  at::Tensor norm;
  {
    at::NoGradGuard ng;
    norm = at::linalg_vector_norm(weight + at::matmul(lora_b, lora_a) * scale, 2, {1});
  }
  at::Tensor factor = magnitude / norm;  // (out,)
  at::Tensor base_d = dropped ? at::matmul(xd, weight.t()) : base;
  return y + (factor - 1) * base_d + factor * low;
}

}  // namespace st::train
