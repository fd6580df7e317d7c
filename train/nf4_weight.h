// A frozen linear weight held in NF4 (kernels/nf4.h's bitsandbytes layout) for
// QLoRA: the packed codes and the double-quantized block scales as tensors on
// the weight's device.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>

namespace st::train {

struct Nf4Weight {
  at::Tensor packed;    // uint8 (ceil(n / 2),)
  at::Tensor absmax_q;  // uint8 (blocks,)
  at::Tensor absmax2;   // float32 (ceil(blocks / 256),)
  at::Tensor offset;    // float32 (1,)
  int64_t out = 0, in = 0;
  bool defined() const { return packed.defined(); }
};

// Quantizes a (out, in) weight (any float type, CPU or CUDA).
Nf4Weight QuantizeNf4(const at::Tensor& w);
// Back to a dense (out, in) weight of `type` on the same device.
at::Tensor DequantizeNf4(const Nf4Weight& q, at::ScalarType type);

}  // namespace st::train
