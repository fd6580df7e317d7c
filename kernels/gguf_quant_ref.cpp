#include "kernels/gguf_quant.h"
#include "kernels/gguf_quant_block.h"

namespace st::kernels {

int64_t GgufBlockValues(GgufBlockType t) { return t == GgufBlockType::kQ8_0 ? quant::kBlock : quant::kSuper; }

int64_t GgufBlockBytes(GgufBlockType t) {
  return t == GgufBlockType::kQ8_0 ? (int64_t)sizeof(quant::BlockQ8_0)
         : t == GgufBlockType::kQ4_K ? (int64_t)sizeof(quant::BlockQ4_K)
                                     : (int64_t)sizeof(quant::BlockQ6_K);
}

void GgufQuantizeRef(GgufBlockType t, int64_t rows, int64_t cols, const float* x, const float* importance,
                     uint8_t* out) {
  const int64_t per_row = cols / GgufBlockValues(t), vals = GgufBlockValues(t), bytes = GgufBlockBytes(t);
  for (int64_t b = 0; b < rows * per_row; ++b) GgufQuantizeBlock(t, b, per_row, vals, bytes, x, importance, out);
}

}  // namespace st::kernels
