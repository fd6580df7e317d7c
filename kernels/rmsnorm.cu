#include "kernels/cuda_common.cuh"
#include "kernels/rmsnorm.h"

namespace st::kernels {
namespace {
using namespace cuda;

// One block per row: sum of squares, r, then y. Rows are read twice (the second
// time mostly from L1/L2: a row of 8192 bf16 is 16 KB).
template <typename T>
__global__ void RmsForward(int64_t dim, const T* __restrict__ x, const T* __restrict__ w, float eps,
                           T* __restrict__ y, float* __restrict__ rstd) {
  const int64_t row = blockIdx.x;
  const T* xr = x + row * dim;
  float ss = 0.0f;
  for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) {
    const float v = Load(xr, j);
    ss += v * v;
  }
  ss = BlockSum(ss);
  const float rs = rsqrtf(ss / (float)dim + eps);
  if (threadIdx.x == 0) rstd[row] = rs;
  for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) Store(y, row * dim + j, Load(w, j) * (Load(xr, j) * rs));
}

// Backward of the same row. With y_j = w_j x_j r, r = (m + eps)^(-1/2), m = sum x^2 / dim:
//   dr/dx_k = -r^3 x_k / dim, so dx_k = r w_k dy_k - x_k (r^3 / dim) sum_j dy_j w_j x_j
//   (c below is the second factor's r^2 / dim * sum; dx = r (w dy - x c)), dw_j = sum_rows dy_j x_j r.
// dw accumulates across rows with atomics (frozen norms pass null and skip it).
template <typename T>
__global__ void RmsBackward(int64_t dim, const T* __restrict__ dy, const T* __restrict__ x, const T* __restrict__ w,
                            const float* __restrict__ rstd, T* __restrict__ dx, float* __restrict__ dw) {
  const int64_t row = blockIdx.x;
  const T *xr = x + row * dim, *gr = dy + row * dim;
  const float rs = rstd[row];
  float dot = 0.0f;
  for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) dot += Load(gr, j) * Load(w, j) * Load(xr, j);
  dot = BlockSum(dot);
  const float c = dot * rs * rs / (float)dim;
  for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) {
    const float g = Load(gr, j), xv = Load(xr, j);
    Store(dx, row * dim + j, rs * (Load(w, j) * g - xv * c));
    if (dw) atomicAdd(dw + j, g * xv * rs);
  }
}

int Threads(int64_t dim) { return dim >= 4096 ? 1024 : dim >= 1024 ? 256 : dim >= 256 ? 128 : 32; }

}  // namespace

int RmsNormForwardCuda(int64_t rows, int64_t dim, DType t, const void* x, const void* w, float eps, void* y,
                       float* rstd, void* stream) {
  if (rows <= 0) return 0;
  auto s = static_cast<cudaStream_t>(stream);
  return Dispatch(t, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    RmsForward<T><<<(unsigned)rows, Threads(dim), 0, s>>>(dim, (const T*)x, (const T*)w, eps, (T*)y, rstd);
    return Launched();
  });
}

int RmsNormBackwardCuda(int64_t rows, int64_t dim, DType t, const void* dy, const void* x, const void* w,
                        const float* rstd, void* dx, float* dw, void* stream) {
  auto s = static_cast<cudaStream_t>(stream);
  if (dw && cudaMemsetAsync(dw, 0, sizeof(float) * dim, s) != cudaSuccess) return Launched();
  if (rows <= 0) return 0;
  return Dispatch(t, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    RmsBackward<T><<<(unsigned)rows, Threads(dim), 0, s>>>(dim, (const T*)dy, (const T*)x, (const T*)w, rstd, (T*)dx,
                                                           dw);
    return Launched();
  });
}

}  // namespace st::kernels
