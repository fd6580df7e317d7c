#include "train/lora.h"

#include <cmath>

namespace st::train {

void LoraLinear::AttachLora(int64_t rank, double alpha, double dropout_p, at::Generator gen) {
  const int64_t out = weight.size(0), in = weight.size(1);
  const double bound = 1.0 / std::sqrt(static_cast<double>(in));
  lora_a = at::empty({rank, in}, weight.options()).uniform_(-bound, bound, gen).set_requires_grad(true);
  lora_b = at::zeros({out, rank}, weight.options()).set_requires_grad(true);
  scale = alpha / static_cast<double>(rank);
  dropout = dropout_p;
}

at::Tensor LoraLinear::Forward(const at::Tensor& x, bool training) const {
  at::Tensor y = at::matmul(x, weight.t());
  if (bias.defined()) y = y + bias;
  if (!has_lora()) return y;
  at::Tensor xd = (training && dropout > 0) ? at::dropout(x, dropout, true) : x;
  return y + at::matmul(at::matmul(xd, lora_a.t()), lora_b.t()) * scale;
}

}  // namespace st::train
