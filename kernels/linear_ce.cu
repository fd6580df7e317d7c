#include <algorithm>

#include "kernels/cublas_gemm.cuh"
#include "kernels/cuda_common.cuh"
#include "kernels/linear_ce.h"

namespace st::kernels {
namespace {
using namespace cuda;

// Pass 1, one block per token of the chunk: this vocabulary chunk's max and sum of
// exponentials merged into the running (m, sum); the target's logit if it falls here.
__global__ void ChunkStats(int64_t cv, int64_t v0, const float* __restrict__ logits, const int64_t* __restrict__ targets,
                           bool first, float* __restrict__ m, float* __restrict__ sum, float* __restrict__ tl) {
  const int64_t t = blockIdx.x;
  const float* l = logits + t * cv;
  float cm = -INFINITY;
  for (int64_t v = threadIdx.x; v < cv; v += blockDim.x) cm = fmaxf(cm, l[v]);
  cm = BlockMax(cm);
  float cs = 0.0f;
  for (int64_t v = threadIdx.x; v < cv; v += blockDim.x) cs += expf(l[v] - cm);
  cs = BlockSum(cs);
  if (threadIdx.x == 0) {
    const float om = first ? -INFINITY : m[t], os = first ? 0.0f : sum[t];
    const float nm = fmaxf(om, cm);
    sum[t] = os * expf(om - nm) + cs * expf(cm - nm);
    m[t] = nm;
    const int64_t tg = targets[t];
    if (first) tl[t] = 0.0f;
    if (tg >= v0 && tg < v0 + cv) tl[t] = l[tg - v0];
  }
}

// m becomes lse; nll per token.
__global__ void Finish(int64_t ct, const int64_t* __restrict__ targets, int64_t ignore, float* __restrict__ m,
                       const float* __restrict__ sum, const float* __restrict__ tl, float* __restrict__ nll) {
  const int64_t t = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (t >= ct) return;
  const float lse = m[t] + logf(sum[t]);
  m[t] = lse;
  nll[t] = targets[t] == ignore ? 0.0f : lse - tl[t];
}

// Pass 2: the gradient of nll_t = lse_t - l_t,target with respect to the logits
// is d lse / d l_j - [j = target] = softmax_j - onehot_j; times `scale`, zero rows
// for ignored tokens. Then dh = G W (the logits are h W^T).
template <typename T>
__global__ void Grad(int64_t ct, int64_t cv, int64_t v0, const float* __restrict__ logits,
                     const float* __restrict__ lse, const int64_t* __restrict__ targets, int64_t ignore, float scale,
                     T* __restrict__ g) {
  const int64_t n = ct * cv;
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < n; e += (int64_t)gridDim.x * blockDim.x) {
    const int64_t t = e / cv, v = e % cv, tg = targets[t];
    const float p = expf(logits[e] - lse[t]);
    Store(g, e, tg == ignore ? 0.0f : scale * (p - (v0 + v == tg ? 1.0f : 0.0f)));
  }
}

template <typename T>
__global__ void CastRows(int64_t n, const float* __restrict__ src, T* __restrict__ dst) {
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < n; e += (int64_t)gridDim.x * blockDim.x)
    Store(dst, e, src[e]);
}

struct Chunks {
  int64_t ct, cv;
};
Chunks ChunksOf(const LinearCeShape& s) {
  return {s.chunk_tokens > 0 ? std::min(s.chunk_tokens, s.tokens) : s.tokens,
          s.chunk_vocab > 0 ? std::min(s.chunk_vocab, s.vocab) : s.vocab};
}

}  // namespace

size_t LinearCrossEntropyWorkspaceCuda(const LinearCeShape& s, DType t) {
  const Chunks c = ChunksOf(s);
  auto a = [](size_t b) { return (b + 255) & ~(size_t)255; };
  size_t bytes = a(sizeof(float) * c.ct * c.cv) + 3 * a(sizeof(float) * c.ct);
  if (t == DType::kBF16) bytes += a(2 * c.ct * c.cv) + a(sizeof(float) * c.ct * s.dim);
  return bytes;
}

int LinearCrossEntropyCuda(const LinearCeShape& s, DType t, const void* hidden, const void* weight,
                           const int64_t* targets, int64_t ignore_index, float scale, float* nll, void* dhidden,
                           void* workspace, size_t workspace_bytes, void* cublas, void* stream) {
  if (s.tokens <= 0) return 0;
  auto st = static_cast<cudaStream_t>(stream);
  auto h = static_cast<cublasHandle_t>(cublas);
  if (int rc = BlasError(cublasSetStream(h, st))) return rc;
  const Chunks c = ChunksOf(s);
  Arena arena{static_cast<char*>(workspace), workspace_bytes};
  float* logits = arena.Take<float>(c.ct * c.cv);
  float *m = arena.Take<float>(c.ct), *sum = arena.Take<float>(c.ct), *tl = arena.Take<float>(c.ct);
  const bool bf16 = t == DType::kBF16;
  void* g = bf16 ? (void*)arena.Take<uint16_t>(c.ct * c.cv) : (void*)logits;  // float32: G in place
  float* dh_acc = bf16 ? arena.Take<float>(c.ct * s.dim) : nullptr;
  if (!logits || !tl || !g || (bf16 && !dh_acc)) return (int)cudaErrorInvalidValue;  // workspace too small
  const cudaDataType ty = CudaType(t);
  const size_t esize = bf16 ? 2 : 4;
  const int64_t vchunks = (s.vocab + c.cv - 1) / c.cv;
  for (int64_t t0 = 0; t0 < s.tokens; t0 += c.ct) {
    const int64_t ct = std::min(c.ct, s.tokens - t0);
    const char* hid = static_cast<const char*>(hidden) + esize * t0 * s.dim;
    const int64_t* tg = targets + t0;
    auto logits_of = [&](int64_t v0, int64_t cv) {  // (ct, cv) = h W_chunk^T
      const char* w = static_cast<const char*>(weight) + esize * v0 * s.dim;
      return BlasError(Gemm(h, false, true, ct, cv, s.dim, 1.0f, hid, ty, s.dim, w, ty, s.dim, 0.0f, logits,
                            CUDA_R_32F, cv));
    };
    for (int64_t v0 = 0; v0 < s.vocab; v0 += c.cv) {
      const int64_t cv = std::min(c.cv, s.vocab - v0);
      if (int rc = logits_of(v0, cv)) return rc;
      ChunkStats<<<(unsigned)ct, 256, 0, st>>>(cv, v0, logits, tg, v0 == 0, m, sum, tl);
    }
    Finish<<<GridFor(ct, 256), 256, 0, st>>>(ct, tg, ignore_index, m, sum, tl, nll + t0);
    if (!dhidden) continue;
    char* dh_out = static_cast<char*>(dhidden) + esize * t0 * s.dim;
    for (int64_t v0 = 0; v0 < s.vocab; v0 += c.cv) {
      const int64_t cv = std::min(c.cv, s.vocab - v0);
      if (vchunks > 1)
        if (int rc = logits_of(v0, cv)) return rc;
      const int rc = Dispatch(t, [&](auto* tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        Grad<T><<<GridFor(ct * cv, 256), 256, 0, st>>>(ct, cv, v0, logits, m, tg, ignore_index, scale, (T*)g);
        return Launched();
      });
      if (rc) return rc;
      // dh (ct, dim) (+)= G (ct, cv) W_chunk (cv, dim)
      const char* w = static_cast<const char*>(weight) + esize * v0 * s.dim;
      void* dst = bf16 ? (void*)dh_acc : (void*)dh_out;
      if (int e = BlasError(Gemm(h, false, false, ct, s.dim, cv, 1.0f, g, ty, cv, w, ty, s.dim, v0 == 0 ? 0.0f : 1.0f,
                                 dst, CUDA_R_32F, s.dim)))
        return e;
    }
    if (bf16) CastRows<__nv_bfloat16><<<GridFor(ct * s.dim, 256), 256, 0, st>>>(ct * s.dim, dh_acc,
                                                                                   (__nv_bfloat16*)dh_out);
  }
  return Launched();
}

}  // namespace st::kernels
