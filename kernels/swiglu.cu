#include "kernels/cuda_common.cuh"
#include "kernels/swiglu.h"

namespace st::kernels {
namespace {
using namespace cuda;

template <typename T>
__global__ void SwigluFwd(int64_t n, const T* __restrict__ g, const T* __restrict__ u, T* __restrict__ h) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    const float gv = Load(g, i);
    Store(h, i, gv / (1.0f + expf(-gv)) * Load(u, i));
  }
}

// h = g s(g) u with s the sigmoid, s' = s (1 - s):
//   dh/dg = u (s + g s (1 - s)) = u s (1 + g (1 - s)),   dh/du = g s.
template <typename T>
__global__ void SwigluBwd(int64_t n, const T* __restrict__ dh, const T* __restrict__ g, const T* __restrict__ u,
                          T* __restrict__ dg, T* __restrict__ du) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    const float gv = Load(g, i), d = Load(dh, i);
    const float s = 1.0f / (1.0f + expf(-gv));
    Store(dg, i, d * Load(u, i) * s * (1.0f + gv * (1.0f - s)));
    Store(du, i, d * gv * s);
  }
}

}  // namespace

int SwigluForwardCuda(int64_t n, DType t, const void* g, const void* u, void* h, void* stream) {
  if (n <= 0) return 0;
  return Dispatch(t, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    SwigluFwd<T><<<GridFor(n, 256), 256, 0, static_cast<cudaStream_t>(stream)>>>(n, (const T*)g, (const T*)u, (T*)h);
    return Launched();
  });
}

int SwigluBackwardCuda(int64_t n, DType t, const void* dh, const void* g, const void* u, void* dg, void* du,
                       void* stream) {
  if (n <= 0) return 0;
  return Dispatch(t, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    SwigluBwd<T><<<GridFor(n, 256), 256, 0, static_cast<cudaStream_t>(stream)>>>(n, (const T*)dh, (const T*)g,
                                                                                   (const T*)u, (T*)dg, (T*)du);
    return Launched();
  });
}

}  // namespace st::kernels
