#include "kernels/cuda_common.cuh"
#include "kernels/gguf_kblocks.h"
#include "kernels/gguf_quant.h"

namespace st::kernels {
namespace {

// One thread per block: the reference's per-block code, unchanged (built with
// -fmad=false, IEEE division and square root, so every float operation rounds as
// on the host).
__global__ void QuantizeBlocks(GgufBlockType t, int64_t blocks, int64_t per_row, int64_t vals, int64_t bytes,
                               const float* __restrict__ x, const float* __restrict__ importance, uint8_t* out) {
  for (int64_t b = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; b < blocks; b += (int64_t)gridDim.x * blockDim.x) {
    const float* xb = x + b * vals;
    const float* qw = importance ? importance + (b % per_row) * vals : nullptr;
    uint8_t* ob = out + b * bytes;
    if (t == GgufBlockType::kQ8_0) quant::Q8_0Block(xb, reinterpret_cast<quant::BlockQ8_0*>(ob));
    else if (t == GgufBlockType::kQ4_K) quant::Q4KBlock(xb, qw, reinterpret_cast<quant::BlockQ4_K*>(ob), quant::AffineSearch8<15>());
    else quant::Q6KBlock(xb, qw, reinterpret_cast<quant::BlockQ6_K*>(ob), quant::SymmetricSearch16());
  }
}

}  // namespace

int GgufQuantizeCuda(GgufBlockType t, int64_t rows, int64_t cols, const float* x, const float* importance,
                     uint8_t* out, void* stream) {
  const int64_t vals = GgufBlockValues(t);
  if (cols % vals) return (int)cudaErrorInvalidValue;
  const int64_t per_row = cols / vals, blocks = rows * per_row;
  if (blocks <= 0) return 0;
  // Blocks (structs of 34 to 210 bytes, 2-byte aligned) are written in place.
  const int threads = t == GgufBlockType::kQ8_0 ? 256 : 64;
  QuantizeBlocks<<<cuda::GridFor(blocks, threads), threads, 0, static_cast<cudaStream_t>(stream)>>>(
      t, blocks, per_row, vals, GgufBlockBytes(t), x, importance, out);
  return cuda::Launched();
}

}  // namespace st::kernels
