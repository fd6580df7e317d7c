#include "kernels/cuda_common.cuh"
#include "kernels/rope.h"

namespace st::kernels {
namespace {
using namespace cuda;

// One thread per (token, pair i), looping over the heads, so each sine and cosine
// is computed once per token and reused by every head. Backward (`inverse`): the
// pair is rotated by R(a) = [[c, -s], [s, c]], orthogonal, so dx = R(a)^T dy =
// R(-a) dy: the same kernel with the sine negated.
template <typename T>
__global__ void Rope(int64_t tokens, int64_t heads, int64_t head_dim, T* __restrict__ x,
                     const int64_t* __restrict__ pos, const float* __restrict__ inv_freq, bool inverse) {
  const int64_t half = head_dim / 2, n = tokens * half;
  for (int64_t k = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; k < n; k += (int64_t)gridDim.x * blockDim.x) {
    const int64_t t = k / half, i = k % half;
    float s, c;
    sincosf((float)pos[t] * inv_freq[i], &s, &c);
    if (inverse) s = -s;
    for (int64_t h = 0; h < heads; ++h) {
      T* xh = x + (t * heads + h) * head_dim;
      const float x1 = Load(xh, i), x2 = Load(xh, i + half);
      Store(xh, i, x1 * c - x2 * s);
      Store(xh, i + half, x2 * c + x1 * s);
    }
  }
}

}  // namespace

int RopeCuda(int64_t tokens, int64_t heads, int64_t head_dim, DType t, void* x, const int64_t* pos,
             const float* inv_freq, bool inverse, void* stream) {
  if (tokens <= 0) return 0;
  auto s = static_cast<cudaStream_t>(stream);
  return Dispatch(t, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const int threads = 256;
    Rope<T><<<GridFor(tokens * (head_dim / 2), threads), threads, 0, s>>>(tokens, heads, head_dim, (T*)x, pos,
                                                                          inv_freq, inverse);
    return Launched();
  });
}

}  // namespace st::kernels
