#include "kernels/cuda_common.cuh"
#include "kernels/nf4.h"
#include "kernels/nf4_tables.h"

namespace st::kernels {
namespace {
using namespace cuda;

__constant__ float kNf4Dev[16] = ST_NF4_CODE;
__constant__ float kDyn8Dev[256] = ST_DYNAMIC8_CODE;

__device__ float ScaledDev(float v, float absmax) {
  const float inv = 1.0f / fmaxf(absmax, 1e-38f);
  return fminf(1.0f, fmaxf(-1.0f, v * inv));
}

// One warp per block of 64 values: each lane owns values 2k, 2k+1 and writes byte k.
template <typename T>
__global__ void QuantizeNf4(int64_t n, int64_t blocks, const T* __restrict__ x, uint8_t* __restrict__ packed,
                            float* __restrict__ absmax) {
  const int lane = threadIdx.x & 31;
  const int64_t b = blockIdx.x * (int64_t)(blockDim.x / 32) + threadIdx.x / 32;
  if (b >= blocks) return;
  const int64_t i0 = b * kNf4Block + 2 * lane;
  const float v0 = i0 < n ? Load(x, i0) : 0.0f, v1 = i0 + 1 < n ? Load(x, i0 + 1) : 0.0f;
  const float a = WarpMax(fmaxf(fabsf(v0), fabsf(v1)));
  if (lane == 0) absmax[b] = a;
  if (i0 < 2 * ((n + 1) / 2)) {
    const int q0 = NearestCode(kNf4Dev, 16, ScaledDev(v0, a));
    const int q1 = NearestCode(kNf4Dev, 16, i0 + 1 < n ? ScaledDev(v1, a) : 0.0f);
    packed[i0 / 2] = (uint8_t)(q0 << 4 | q1);
  }
}

// offset = mean of the block maxima (summed in double), then subtracted from them.
__global__ void CenterAbsMax(int64_t blocks, float* __restrict__ absmax, float* __restrict__ offset) {
  __shared__ double part[1024];
  double s = 0;
  for (int64_t i = threadIdx.x; i < blocks; i += blockDim.x) s += absmax[i];
  part[threadIdx.x] = s;
  __syncthreads();
  for (int w = blockDim.x / 2; w > 0; w >>= 1) {
    if ((int)threadIdx.x < w) part[threadIdx.x] += part[threadIdx.x + w];
    __syncthreads();
  }
  const float off = (float)(part[0] / (double)blocks);
  if (threadIdx.x == 0) *offset = off;
  for (int64_t i = threadIdx.x; i < blocks; i += blockDim.x) absmax[i] -= off;
}

// One thread block of 256 per group of 256 centred maxima: their absmax, then codes.
__global__ void QuantizeAbsMax(int64_t blocks, const float* __restrict__ centred, uint8_t* __restrict__ absmax_q,
                               float* __restrict__ absmax2) {
  __shared__ float part[8];
  const int64_t i = blockIdx.x * (int64_t)kNf4Block2 + threadIdx.x;
  const float v = i < blocks ? centred[i] : 0.0f;
  float m = WarpMax(fabsf(v));
  if ((threadIdx.x & 31) == 0) part[threadIdx.x / 32] = m;
  __syncthreads();
  m = part[0];
  for (int w = 1; w < 8; ++w) m = fmaxf(m, part[w]);
  if (threadIdx.x == 0) absmax2[blockIdx.x] = m;
  if (i < blocks) absmax_q[i] = (uint8_t)NearestCode(kDyn8Dev, 256, ScaledDev(v, m));
}

__device__ __forceinline__ float BlockScale(int64_t b, const uint8_t* absmax_q, const float* absmax2, float offset) {
  return kDyn8Dev[absmax_q[b]] * absmax2[b / kNf4Block2] + offset;  // unfused (-fmad=false), as the reference
}

__device__ __forceinline__ float Nf4Value(int64_t i, const uint8_t* packed, const uint8_t* absmax_q,
                                          const float* absmax2, float offset) {
  const uint8_t byte = packed[i / 2];
  const int q = (i & 1) ? byte & 15 : byte >> 4;
  return kNf4Dev[q] * BlockScale(i / kNf4Block, absmax_q, absmax2, offset);
}

// One thread per byte (two values).
template <typename T>
__global__ void DequantizeNf4(int64_t n, const uint8_t* __restrict__ packed, const uint8_t* __restrict__ absmax_q,
                              const float* __restrict__ absmax2, const float* __restrict__ offset, T* __restrict__ out) {
  const float off = *offset;
  const int64_t bytes = (n + 1) / 2;
  for (int64_t k = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; k < bytes; k += (int64_t)gridDim.x * blockDim.x) {
    const float a = BlockScale(2 * k / kNf4Block, absmax_q, absmax2, off);
    const uint8_t byte = packed[k];
    Store(out, 2 * k, kNf4Dev[byte >> 4] * a);
    if (2 * k + 1 < n) Store(out, 2 * k + 1, kNf4Dev[byte & 15] * a);
  }
}

// y (rows, out) = x W^T with W dequantized while its tile is loaded into shared
// memory. Tile: 16 rows x 64 outputs, 64 of `in` at a time; 256 threads, each
// accumulates 4 outputs (one column, 4 rows) in float32 with explicit FMAs (the
// file is built with -fmad=false for the exact dequantization above).
constexpr int kTm = 16, kTn = 64, kTk = 64;
template <typename T>
__global__ void Nf4Matmul(int64_t rows, int64_t in, int64_t out, const T* __restrict__ x,
                          const uint8_t* __restrict__ packed, const uint8_t* __restrict__ absmax_q,
                          const float* __restrict__ absmax2, const float* __restrict__ offset, T* __restrict__ y) {
  __shared__ float xs[kTm][kTk + 1];
  __shared__ float ws[kTn][kTk + 1];
  const float off = *offset;
  const int tid = threadIdx.x, col = tid % kTn, row0 = (tid / kTn) * 4;
  const int64_t r_base = blockIdx.y * (int64_t)kTm, o_base = blockIdx.x * (int64_t)kTn;
  float acc[4] = {0, 0, 0, 0};
  for (int64_t k0 = 0; k0 < in; k0 += kTk) {
    for (int e = tid; e < kTm * kTk; e += blockDim.x) {
      const int r = e / kTk, k = e % kTk;
      const int64_t gr = r_base + r, gk = k0 + k;
      xs[r][k] = (gr < rows && gk < in) ? Load(x, gr * in + gk) : 0.0f;
    }
    for (int e = tid; e < kTn * kTk; e += blockDim.x) {
      const int o = e / kTk, k = e % kTk;
      const int64_t go = o_base + o, gk = k0 + k;
      ws[o][k] = (go < out && gk < in) ? Nf4Value(go * in + gk, packed, absmax_q, absmax2, off) : 0.0f;
    }
    __syncthreads();
    for (int k = 0; k < kTk; ++k) {
      const float w = ws[col][k];
#pragma unroll
      for (int j = 0; j < 4; ++j) acc[j] = __fmaf_rn(xs[row0 + j][k], w, acc[j]);
    }
    __syncthreads();
  }
  const int64_t go = o_base + col;
  if (go >= out) return;
  for (int j = 0; j < 4; ++j) {
    const int64_t gr = r_base + row0 + j;
    if (gr < rows) Store(y, gr * out + go, acc[j]);
  }
}

}  // namespace

int Nf4QuantizeCuda(int64_t n, DType t, const void* x, uint8_t* packed, uint8_t* absmax_q, float* absmax2,
                    float* offset, float* workspace, void* stream) {
  if (n <= 0) return (int)cudaErrorInvalidValue;
  auto s = static_cast<cudaStream_t>(stream);
  const Nf4Sizes sz = Nf4SizesFor(n);
  const int rc = Dispatch(t, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const int warps = 8;
    QuantizeNf4<T><<<(unsigned)((sz.blocks + warps - 1) / warps), warps * 32, 0, s>>>(n, sz.blocks, (const T*)x,
                                                                                        packed, workspace);
    return Launched();
  });
  if (rc) return rc;
  CenterAbsMax<<<1, 1024, 0, s>>>(sz.blocks, workspace, offset);
  QuantizeAbsMax<<<(unsigned)sz.blocks2, kNf4Block2, 0, s>>>(sz.blocks, workspace, absmax_q, absmax2);
  return Launched();
}

int Nf4DequantizeCuda(int64_t n, DType t, const uint8_t* packed, const uint8_t* absmax_q, const float* absmax2,
                      const float* offset, void* out, void* stream) {
  if (n <= 0) return 0;
  return Dispatch(t, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    DequantizeNf4<T><<<GridFor((n + 1) / 2, 256), 256, 0, static_cast<cudaStream_t>(stream)>>>(
        n, packed, absmax_q, absmax2, offset, (T*)out);
    return Launched();
  });
}

int Nf4MatmulCuda(int64_t rows, int64_t in, int64_t out, DType t, const void* x, const uint8_t* packed,
                  const uint8_t* absmax_q, const float* absmax2, const float* offset, void* y, void* stream) {
  if (rows <= 0 || out <= 0) return 0;
  if ((rows + kTm - 1) / kTm > 65535) return (int)cudaErrorInvalidValue;
  return Dispatch(t, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    dim3 grid((unsigned)((out + kTn - 1) / kTn), (unsigned)((rows + kTm - 1) / kTm));
    Nf4Matmul<T><<<grid, 256, 0, static_cast<cudaStream_t>(stream)>>>(rows, in, out, (const T*)x, packed, absmax_q,
                                                                      absmax2, offset, (T*)y);
    return Launched();
  });
}

}  // namespace st::kernels
