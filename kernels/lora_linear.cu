#include "kernels/cublas_gemm.cuh"
#include "kernels/cuda_common.cuh"
#include "kernels/lora_linear.h"

namespace st::kernels {
namespace {
using namespace cuda;

template <typename T>
__global__ void ToType(int64_t n, const float* __restrict__ src, T* __restrict__ dst) {
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < n; e += (int64_t)gridDim.x * blockDim.x)
    Store(dst, e, src[e]);
}

// xd = D(x)
template <typename T>
__global__ void Dropout(int64_t n, const T* __restrict__ x, float p, uint64_t seed, T* __restrict__ xd) {
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < n; e += (int64_t)gridDim.x * blockDim.x)
    Store(xd, e, Load(x, e) * DropoutFactor(seed, (uint64_t)e, p));
}

// y[i, o] += bias[o] + s * sum_k xa[i, k] B[o, k]: one pass over y, the rank-r
// product in float32 registers (xa's row and B's row stay in L1/L2).
template <typename T>
__global__ void LowRankAdd(int64_t n, int64_t out, int64_t rank, const float* __restrict__ xa,
                           const float* __restrict__ b, const T* __restrict__ bias, float scale, T* __restrict__ y) {
  const int64_t total = n * out;
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    const int64_t i = e / out, o = e % out;
    const float *xr = xa + i * rank, *br = b + o * rank;
    float acc = 0.0f;
    for (int64_t k = 0; k < rank; ++k) acc = __fmaf_rn(xr[k], br[k], acc);
    Store(y, e, Load(y, e) + (bias ? Load(bias, o) : 0.0f) + scale * acc);
  }
}

// Backward of y = x W^T + s (D(x) A^T) B^T with g = dy B (n, rank):
//   dL/dD(x) = s g A, and D(x)_ij = x_ij * factor(i, j), so dx = dy W + s * factor . (g A);
//   dA = s g^T D(x); dB = s dy^T (D(x) A^T) = s dy^T xa (the cuBLAS products below).
// This kernel adds the masked low-rank term: dx[i, j] += s * factor(i, j) * sum_k g[i, k] A[k, j]
template <typename T>
__global__ void LowRankAddMasked(int64_t n, int64_t in, int64_t rank, const float* __restrict__ g,
                                 const float* __restrict__ a, float scale, float p, uint64_t seed, T* __restrict__ dx) {
  const int64_t total = n * in;
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    const int64_t i = e / in, j = e % in;
    const float* gr = g + i * rank;
    float acc = 0.0f;
    for (int64_t k = 0; k < rank; ++k) acc = __fmaf_rn(gr[k], a[k * in + j], acc);
    Store(dx, e, Load(dx, e) + scale * DropoutFactor(seed, (uint64_t)e, p) * acc);
  }
}

constexpr int kThreads = 256;

// D(x) into the workspace (x itself without dropout); null when the workspace is short.
template <typename T>
const void* DroppedInput(Arena& arena, const LoraShape& s, const void* x, float p, uint64_t seed, cudaStream_t st) {
  if (p <= 0) return x;
  T* buf = arena.Take<T>(s.n * s.in);
  if (buf) Dropout<T><<<GridFor(s.n * s.in, kThreads), kThreads, 0, st>>>(s.n * s.in, (const T*)x, p, seed, buf);
  return buf;
}

}  // namespace

size_t LoraLinearWorkspaceCuda(const LoraShape& s, DType t, float p) {
  auto a = [](size_t b) { return (b + 255) & ~(size_t)255; };
  const size_t es = t == DType::kBF16 ? 2 : 4;
  size_t bytes = a(4 * s.n * s.rank);               // g
  if (p > 0) bytes += a(es * s.n * s.in);           // D(x)
  if (t == DType::kBF16)                            // bf16 copies of A, B, g, xa
    bytes += a(2 * s.rank * s.in) + a(2 * s.out * s.rank) + 2 * a(2 * s.n * s.rank);
  return bytes;
}

int LoraLinearForwardCuda(const LoraShape& s, DType t, const void* x, const void* w, const void* bias, const float* a,
                          const float* b, float scale, float p, uint64_t seed, void* y, float* xa, void* workspace,
                          size_t workspace_bytes, void* cublas, void* stream) {
  if (s.n <= 0) return 0;
  auto st = static_cast<cudaStream_t>(stream);
  auto h = static_cast<cublasHandle_t>(cublas);
  if (int rc = BlasError(cublasSetStream(h, st))) return rc;
  Arena arena{static_cast<char*>(workspace), workspace_bytes};
  const bool bf16 = t == DType::kBF16;
  const cudaDataType ty = CudaType(t);
  return Dispatch(t, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const void* xd = DroppedInput<T>(arena, s, x, p, seed, st);
    if (!xd) return (int)cudaErrorInvalidValue;
    const void* a_t = a;
    if (bf16) {
      auto* ab = arena.Take<__nv_bfloat16>(s.rank * s.in);
      if (!ab) return (int)cudaErrorInvalidValue;
      ToType<<<GridFor(s.rank * s.in, kThreads), kThreads, 0, st>>>(s.rank * s.in, a, ab);
      a_t = ab;
    }
    // y = x W^T;  xa = D(x) A^T (float32 out)
    if (int e = BlasError(Gemm(h, false, true, s.n, s.out, s.in, 1.0f, x, ty, s.in, w, ty, s.in, 0.0f, y, ty, s.out)))
      return e;
    if (int e = BlasError(Gemm(h, false, true, s.n, s.rank, s.in, 1.0f, xd, ty, s.in, a_t, ty, s.in, 0.0f, xa,
                               CUDA_R_32F, s.rank)))
      return e;
    LowRankAdd<T><<<GridFor(s.n * s.out, kThreads), kThreads, 0, st>>>(s.n, s.out, s.rank, xa, b, (const T*)bias,
                                                                        scale, (T*)y);
    return Launched();
  });
}

int LoraLinearBackwardCuda(const LoraShape& s, DType t, const void* dy, const void* x, const void* w, const float* a,
                           const float* b, const float* xa, float scale, float p, uint64_t seed, void* dx, float* da,
                           float* db, void* workspace, size_t workspace_bytes, void* cublas, void* stream) {
  auto st = static_cast<cudaStream_t>(stream);
  auto h = static_cast<cublasHandle_t>(cublas);
  if (s.n <= 0) {
    cudaMemsetAsync(da, 0, 4 * s.rank * s.in, st);
    cudaMemsetAsync(db, 0, 4 * s.out * s.rank, st);
    return Launched();
  }
  if (int rc = BlasError(cublasSetStream(h, st))) return rc;
  Arena arena{static_cast<char*>(workspace), workspace_bytes};
  const bool bf16 = t == DType::kBF16;
  const cudaDataType ty = CudaType(t);
  return Dispatch(t, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    float* g = arena.Take<float>(s.n * s.rank);
    if (!g) return (int)cudaErrorInvalidValue;
    const void *b_t = b, *g_t = g, *xa_t = xa;
    if (bf16) {
      auto* bb = arena.Take<__nv_bfloat16>(s.out * s.rank);
      auto* gb = arena.Take<__nv_bfloat16>(s.n * s.rank);
      auto* xb = arena.Take<__nv_bfloat16>(s.n * s.rank);
      if (!xb) return (int)cudaErrorInvalidValue;
      ToType<<<GridFor(s.out * s.rank, kThreads), kThreads, 0, st>>>(s.out * s.rank, b, bb);
      ToType<<<GridFor(s.n * s.rank, kThreads), kThreads, 0, st>>>(s.n * s.rank, xa, xb);
      b_t = bb;
      g_t = gb;
      xa_t = xb;
    }
    const void* xd = DroppedInput<T>(arena, s, x, p, seed, st);
    if (!xd) return (int)cudaErrorInvalidValue;
    // g = dy B (n, rank), float32
    if (int e = BlasError(Gemm(h, false, false, s.n, s.rank, s.out, 1.0f, dy, ty, s.out, b_t, ty, s.rank, 0.0f, g,
                               CUDA_R_32F, s.rank)))
      return e;
    if (bf16) ToType<<<GridFor(s.n * s.rank, kThreads), kThreads, 0, st>>>(s.n * s.rank, g, (__nv_bfloat16*)g_t);
    if (dx) {  // dx = dy W, then + s * D'(g A)
      if (int e = BlasError(Gemm(h, false, false, s.n, s.in, s.out, 1.0f, dy, ty, s.out, w, ty, s.in, 0.0f, dx, ty,
                                 s.in)))
        return e;
      LowRankAddMasked<T><<<GridFor(s.n * s.in, kThreads), kThreads, 0, st>>>(s.n, s.in, s.rank, g, a, scale, p, seed,
                                                                               (T*)dx);
    }
    // dA = s g^T D(x) (rank, in);  dB = s dy^T xa (out, rank)
    if (int e = BlasError(Gemm(h, true, false, s.rank, s.in, s.n, scale, g_t, ty, s.rank, xd, ty, s.in, 0.0f, da,
                               CUDA_R_32F, s.in)))
      return e;
    if (int e = BlasError(Gemm(h, true, false, s.out, s.rank, s.n, scale, dy, ty, s.out, xa_t, ty, s.rank, 0.0f, db,
                               CUDA_R_32F, s.rank)))
      return e;
    return Launched();
  });
}

}  // namespace st::kernels
