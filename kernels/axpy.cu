#include <cuda_runtime.h>

#include "kernels/axpy.h"

namespace st::kernels {
namespace {

// One thread per element, grid-stride loop. x, y are (n,).
__global__ void AxpyKernel(int64_t n, float alpha, const float* __restrict__ x, float* __restrict__ y) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    y[i] = y[i] + alpha * x[i];  // unfused (built with -fmad=false) to match the reference bit for bit
}

}  // namespace

int AxpyCuda(int64_t n, float alpha, const float* x, float* y, void* stream) {
  if (n <= 0) return 0;
  const int threads = 256;
  const int64_t want = (n + threads - 1) / threads;
  const int blocks = (int)(want < 65535 ? want : 65535);
  AxpyKernel<<<blocks, threads, 0, static_cast<cudaStream_t>(stream)>>>(n, alpha, x, y);
  return (int)cudaGetLastError();
}

}  // namespace st::kernels
