// Block `b` of a GGUF quantization (kernels/gguf_quant.h), the one body the CPU
// reference loops over and each GPU thread runs.
#pragma once

#include "kernels/gguf_kblocks.h"
#include "kernels/gguf_quant.h"
#include "kernels/kernel_common.h"

namespace st::kernels {

ST_HD inline void GgufQuantizeBlock(GgufBlockType t, int64_t b, int64_t per_row, int64_t vals, int64_t bytes,
                                    const float* x, const float* importance, uint8_t* out) {
  const float* xb = x + b * vals;
  const float* qw = importance ? importance + (b % per_row) * vals : nullptr;
  uint8_t* ob = out + b * bytes;
  if (t == GgufBlockType::kQ8_0) quant::Q8_0Block(xb, reinterpret_cast<quant::BlockQ8_0*>(ob));
  else if (t == GgufBlockType::kQ4_K) quant::Q4KBlock(xb, qw, reinterpret_cast<quant::BlockQ4_K*>(ob), quant::AffineSearch8<15>());
  else quant::Q6KBlock(xb, qw, reinterpret_cast<quant::BlockQ6_K*>(ob), quant::SymmetricSearch16());
}

}  // namespace st::kernels
