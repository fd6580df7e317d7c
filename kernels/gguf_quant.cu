#include "kernels/cuda_common.cuh"
#include "kernels/gguf_quant_block.h"
#include "kernels/gguf_quant.h"

namespace st::kernels {
namespace {

// One thread per block: the reference's per-block code, unchanged (built with
// -fmad=false, IEEE division and square root, so every float operation rounds as
// on the host).
__global__ void QuantizeBlocks(GgufBlockType t, int64_t blocks, int64_t per_row, int64_t vals, int64_t bytes,
                               const float* __restrict__ x, const float* __restrict__ importance, uint8_t* out) {
  for (int64_t b = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; b < blocks; b += (int64_t)gridDim.x * blockDim.x)
    GgufQuantizeBlock(t, b, per_row, vals, bytes, x, importance, out);
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

bool GgufGpuAvailable(std::string* why) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess || n == 0) {
    *why = e != cudaSuccess ? cudaGetErrorString(e) : "no CUDA device";
    return false;
  }
  return true;
}

int GgufQuantizeOnGpu(GgufBlockType t, int64_t rows, int64_t cols, const float* x, const float* importance,
                      uint8_t* out) {
  const size_t in_bytes = sizeof(float) * rows * cols, imp_bytes = importance ? sizeof(float) * cols : 0;
  const size_t out_bytes = (size_t)(rows * cols / GgufBlockValues(t) * GgufBlockBytes(t));
  float *dx = nullptr, *dimp = nullptr;
  uint8_t* dout = nullptr;
  int rc = (int)cudaMalloc(&dx, in_bytes);
  if (!rc && imp_bytes) rc = (int)cudaMalloc(&dimp, imp_bytes);
  if (!rc) rc = (int)cudaMalloc(&dout, out_bytes);
  if (!rc) rc = (int)cudaMemcpy(dx, x, in_bytes, cudaMemcpyHostToDevice);
  if (!rc && imp_bytes) rc = (int)cudaMemcpy(dimp, importance, imp_bytes, cudaMemcpyHostToDevice);
  if (!rc) rc = GgufQuantizeCuda(t, rows, cols, dx, dimp, dout, nullptr);
  if (!rc) rc = (int)cudaMemcpy(out, dout, out_bytes, cudaMemcpyDeviceToHost);
  cudaFree(dx);
  cudaFree(dimp);
  cudaFree(dout);
  return rc;
}

}  // namespace st::kernels
