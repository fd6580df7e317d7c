// Device helpers shared by the kernels/*.cu files: element loads and stores by
// type (float32 or bfloat16, math always in float32), warp and block sums, and
// the launch-error convention (0, or the cudaError_t value).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <type_traits>

#include "kernels/kernel_common.h"

namespace st::kernels::cuda {

__device__ __forceinline__ float Load(const float* p, int64_t i) { return p[i]; }
__device__ __forceinline__ float Load(const __nv_bfloat16* p, int64_t i) { return __bfloat162float(p[i]); }
__device__ __forceinline__ void Store(float* p, int64_t i, float v) { p[i] = v; }
__device__ __forceinline__ void Store(__nv_bfloat16* p, int64_t i, float v) { p[i] = __float2bfloat16_rn(v); }

__device__ __forceinline__ float WarpSum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets it.
__device__ __forceinline__ float BlockSum(float v) {
  __shared__ float part[32];
  v = WarpSum(v);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();  // `part` may still be read from a previous call
  if (lane == 0) part[warp] = v;
  __syncthreads();
  const int warps = blockDim.x >> 5;
  float t = lane < warps ? part[lane] : 0.0f;
  return WarpSum(t);
}

__device__ __forceinline__ float WarpMax(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Max over the block, as BlockSum.
__device__ __forceinline__ float BlockMax(float v) {
  __shared__ float part[32];
  v = WarpMax(v);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();
  if (lane == 0) part[warp] = v;
  __syncthreads();
  const int warps = blockDim.x >> 5;
  float t = lane < warps ? part[lane] : -INFINITY;
  return WarpMax(t);
}

inline int GridFor(int64_t n, int threads, int cap = 65535 * 8) {
  const int64_t want = (n + threads - 1) / threads;
  return (int)(want < 1 ? 1 : (want < cap ? want : cap));
}

inline int Launched() { return (int)cudaGetLastError(); }

// Calls `f` with a typed null pointer for the element type (float or __nv_bfloat16).
template <typename F>
int Dispatch(DType t, F&& f) {
  if (t == DType::kF32) return f((float*)nullptr);
  if (t == DType::kBF16) return f((__nv_bfloat16*)nullptr);
  return (int)cudaErrorInvalidValue;
}

}  // namespace st::kernels::cuda
