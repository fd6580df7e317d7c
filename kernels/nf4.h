// 4-bit NormalFloat weights with double quantization, in bitsandbytes' layout
// (functional.quantize_4bit(quant_type="nf4", blocksize=64, compress_statistics=True)),
// so a base quantized here is the base PEFT's QLoRA trains on:
//   n values in blocks of 64; block b has absmax a_b = max |x| over it;
//   q = the nearest NF4 code to clamp(x * (1 / a_b), -1, 1) (ties to the lower code);
//   packed[k] = q[2k] << 4 | q[2k + 1] (n odd: the code of 0.0, 7, pads the end);
//   offset = mean(a); the a_b - offset in blocks of 256 quantized to the nearest
//   code of the signed dynamic 8-bit map against their block's absmax absmax2[c]:
//   absmax_q[b];
// and back: a_b = dyn[absmax_q[b]] * absmax2[b / 256] + offset,  x = nf4[q] * a_b
// (float32 products and sum, in that order, as bitsandbytes dequantizes).
#pragma once

#include <cstdint>

#include "kernels/kernel_common.h"

namespace st::kernels {

inline constexpr int64_t kNf4Block = 64, kNf4Block2 = 256;

struct Nf4Sizes {
  int64_t packed, blocks, blocks2;  // bytes of codes, absmax_q entries, absmax2 entries
};
inline Nf4Sizes Nf4SizesFor(int64_t n) {
  const int64_t blocks = (n + kNf4Block - 1) / kNf4Block;
  return {(n + 1) / 2, blocks, (blocks + kNf4Block2 - 1) / kNf4Block2};
}

// CPU references.
void Nf4QuantizeRef(int64_t n, const float* x, uint8_t* packed, uint8_t* absmax_q, float* absmax2, float* offset);
void Nf4DequantizeRef(int64_t n, const uint8_t* packed, const uint8_t* absmax_q, const float* absmax2, float offset,
                      float* out);
// y (rows, out) = x (rows, in) W^T for W (out, in) stored as n = out * in NF4 values.
void Nf4MatmulRef(int64_t rows, int64_t in, int64_t out, const float* x, const uint8_t* packed, const uint8_t* absmax_q,
                  const float* absmax2, float offset, float* y);

// CUDA. x / out / y of type `t`; `offset` is a device float32. Quantize needs a
// float32 workspace of Nf4SizesFor(n).blocks values.
int Nf4QuantizeCuda(int64_t n, DType t, const void* x, uint8_t* packed, uint8_t* absmax_q, float* absmax2,
                    float* offset, float* workspace, void* stream);
int Nf4DequantizeCuda(int64_t n, DType t, const uint8_t* packed, const uint8_t* absmax_q, const float* absmax2,
                      const float* offset, void* out, void* stream);
// The product with the dequantization fused into the tile loads (W never exists
// in full precision): meant for few rows (generation); training-sized products
// dequantize into a buffer and use cuBLAS (train/fused_ops.cpp).
int Nf4MatmulCuda(int64_t rows, int64_t in, int64_t out, DType t, const void* x, const uint8_t* packed,
                  const uint8_t* absmax_q, const float* absmax2, const float* offset, void* y, void* stream);

}  // namespace st::kernels
