#include "train/cpu_range_attention.h"

#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "train/cpu_exp.h"

namespace st::train {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

// A (B, heads, T, D) operand: element (b, h, t, d) at p + b sb + h sh + t st + d.
struct Operand {
  const void* p = nullptr;
  int64_t sb = 0, sh = 0, st = 0;
  static Operand Of(const at::Tensor& x) { return {x.const_data_ptr(), x.stride(0), x.stride(1), x.stride(2)}; }
  template <typename T>
  const T* Row(int64_t b, int64_t h, int64_t t) const {
    return static_cast<const T*>(p) + b * sb + h * sh + t * st;
  }
};

struct Problem {
  int64_t B = 0, H = 0, T = 0, D = 0;
  float scale = 1;
  const int32_t *lo = nullptr, *hi = nullptr;
  Operand q, k, v, o, dout;
  void* out = nullptr;     // forward: (B, T, H, D) contiguous; backward: dq
  void *dk = nullptr, *dv = nullptr;  // backward: (B, T, H, D) contiguous
  float* lse = nullptr;    // (B, H, T)
  // The shapes, ranges and inputs both directions read.
  static Problem Of(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& lo,
                    const at::Tensor& hi, double scale) {
    Problem pr;
    pr.B = q.size(0), pr.H = q.size(1), pr.T = q.size(2), pr.D = q.size(3);
    pr.scale = (float)scale;
    pr.lo = lo.const_data_ptr<int32_t>();
    pr.hi = hi.const_data_ptr<int32_t>();
    pr.q = Operand::Of(q), pr.k = Operand::Of(k), pr.v = Operand::Of(v);
    return pr;
  }
  template <typename E>
  E* Dest(void* base, int64_t b, int64_t h, int64_t t) const {
    return static_cast<E*>(base) + ((b * T + t) * H + h) * D;
  }
};

// Sixteen floats as one GCC vector: element-wise arithmetic, which each per-CPU
// copy lowers to its own registers (one zmm, two ymm, four xmm) with the same
// results in every lane.
typedef float V16 __attribute__((vector_size(64)));
typedef float V8 __attribute__((vector_size(32)));
typedef float V4 __attribute__((vector_size(16)));

__attribute__((always_inline)) inline V16 Ld(const float* p) {
  V16 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
__attribute__((always_inline)) inline void St(float* p, V16 v) { std::memcpy(p, &v, sizeof v); }

// The lanes' sum, folded in halves (the same order everywhere).
__attribute__((always_inline)) inline float Sum(V16 v) {
  V8 a = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) + __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
  V4 b = __builtin_shufflevector(a, a, 0, 1, 2, 3) + __builtin_shufflevector(a, a, 4, 5, 6, 7);
  return (b[0] + b[2]) + (b[1] + b[3]);
}

// A (t, D) block as float32 rows: the input itself when it is float32, else
// converted into `buf`.
template <typename T>
__attribute__((always_inline)) inline const float* Rows(const Operand& x, int64_t b, int64_t h, int64_t T_, int64_t D,
                                                        std::vector<float>& buf, int64_t* stride) {
  if constexpr (std::is_same_v<T, float>) {
    *stride = x.st;
    return x.Row<float>(b, h, 0);
  } else {
    for (int64_t t = 0; t < T_; ++t) {
      const T* src = x.Row<T>(b, h, t);
      for (int64_t d = 0; d < D; ++d) buf[t * D + d] = static_cast<float>(src[d]);
    }
    *stride = D;
    return buf.data();
  }
}

template <typename T>
__attribute__((always_inline)) inline void LoadRow(const T* src, int64_t nc, V16* dst) {
#pragma GCC unroll 16
  for (int64_t c = 0; c < nc; ++c) {
    float tmp[16];
    for (int l = 0; l < 16; ++l) tmp[l] = static_cast<float>(src[c * 16 + l]);
    dst[c] = Ld(tmp);
  }
}

template <typename T>
__attribute__((always_inline)) inline void StoreRow(const V16* src, int64_t nc, float factor, T* dst) {
#pragma GCC unroll 16
  for (int64_t c = 0; c < nc; ++c) {
    float tmp[16];
    St(tmp, src[c] * factor);
    for (int l = 0; l < 16; ++l) dst[c * 16 + l] = static_cast<T>(tmp[l]);
  }
}

template <typename T>
__attribute__((always_inline)) inline void CopyRow(const float* src, int64_t n, T* dst) {
  if constexpr (std::is_same_v<T, float>) {
    std::memcpy(dst, src, n * sizeof(float));
  } else {
#pragma omp simd
    for (int64_t d = 0; d < n; ++d) dst[d] = static_cast<T>(src[d]);
  }
}

constexpr int64_t kMaxChunks = 16;  // head_dim up to 256

struct Scratch {
  std::vector<float> k, v, dk, dv, s, t;
  Scratch(int64_t T, int64_t D, bool backward, bool convert) : s(T), t(T) {
    if (convert) {
      k.resize(T * D);
      v.resize(T * D);
    }
    if (backward) {
      dk.resize(T * D);
      dv.resize(T * D);
    }
  }
};

// One (row, head)'s keys and values as float32 rows.
template <typename T>
struct KeysValues {
  const float *k, *v;
  int64_t ks, vs;
  __attribute__((always_inline)) KeysValues(const Problem& pr, int64_t b, int64_t h, Scratch& w)
      : k(Rows<T>(pr.k, b, h, pr.T, pr.D, w.k, &ks)), v(Rows<T>(pr.v, b, h, pr.T, pr.D, w.v, &vs)) {}
};

// NC: head_dim / 16 when fixed at compile time (then q, dout and the
// accumulators live in registers), 0 for any other multiple of 16.
// Both directions go in passes over a query's keys: first the dot products (all
// independent), then the exponentials (vectorized over the keys), then the
// accumulations, so that no pass waits on a chain of latencies per key.
template <typename T, int NC>
__attribute__((always_inline)) inline void ForwardUnit(const Problem& pr, int64_t b, int64_t h, Scratch& w) {
  const int64_t T_ = pr.T, D = pr.D, nc = NC ? NC : D / 16;
  const KeysValues<T> kv(pr, b, h, w);
  float* s = w.s.data();
  V16 q[NC ? NC : kMaxChunks] = {}, acc[NC ? NC : kMaxChunks] = {};
  for (int64_t i = 0; i < T_; ++i) {
    const int64_t lo = pr.lo[b * T_ + i], n = pr.hi[b * T_ + i] - lo;
    LoadRow(pr.q.Row<T>(b, h, i), nc, q);
    for (int64_t j = 0; j < n; ++j) {
      const float* kj = kv.k + (lo + j) * kv.ks;
      V16 d = q[0] * Ld(kj);
#pragma GCC unroll 16
      for (int64_t c = 1; c < nc; ++c) d += q[c] * Ld(kj + 16 * c);
      s[j] = Sum(d) * pr.scale;
    }
    float m = s[0];
    for (int64_t j = 1; j < n; ++j) m = s[j] > m ? s[j] : m;
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) s[j] = CpuExp(s[j] - m);
    float l = 0;
    for (int64_t j = 0; j < n; ++j) l += s[j];
#pragma GCC unroll 16
    for (int64_t c = 0; c < nc; ++c) acc[c] = V16{};
    for (int64_t j = 0; j < n; ++j) {
      const float* vj = kv.v + (lo + j) * kv.vs;
#pragma GCC unroll 16
      for (int64_t c = 0; c < nc; ++c) acc[c] += s[j] * Ld(vj + 16 * c);
    }
    StoreRow(acc, nc, 1.0f / l, pr.Dest<T>(pr.out, b, h, i));
    pr.lse[(b * pr.H + h) * T_ + i] = m + std::log(l);
  }
}

template <typename T, int NC>
__attribute__((always_inline)) inline void BackwardUnit(const Problem& pr, int64_t b, int64_t h, Scratch& w) {
  const int64_t T_ = pr.T, D = pr.D, nc = NC ? NC : D / 16;
  const KeysValues<T> kv(pr, b, h, w);
  std::fill(w.dk.begin(), w.dk.end(), 0.0f);
  std::fill(w.dv.begin(), w.dv.end(), 0.0f);
  float *dK = w.dk.data(), *dV = w.dv.data(), *p = w.s.data(), *ds = w.t.data();
  V16 q[NC ? NC : kMaxChunks] = {}, dout[NC ? NC : kMaxChunks] = {}, acc[NC ? NC : kMaxChunks] = {};
  for (int64_t i = 0; i < T_; ++i) {
    const int64_t lo = pr.lo[b * T_ + i], n = pr.hi[b * T_ + i] - lo;
    LoadRow(pr.q.Row<T>(b, h, i), nc, q);
    LoadRow(pr.dout.Row<T>(b, h, i), nc, dout);
    V16 dd;
    {
      V16 o[NC ? NC : kMaxChunks] = {};
      LoadRow(pr.o.Row<T>(b, h, i), nc, o);
      dd = dout[0] * o[0];
#pragma GCC unroll 16
      for (int64_t c = 1; c < nc; ++c) dd += dout[c] * o[c];
    }
    const float delta = Sum(dd), lse = pr.lse[(b * pr.H + h) * T_ + i], scale = pr.scale;
    for (int64_t j = 0; j < n; ++j) {
      const float *kj = kv.k + (lo + j) * kv.ks, *vj = kv.v + (lo + j) * kv.vs;
      V16 sk = q[0] * Ld(kj), sv = dout[0] * Ld(vj);
#pragma GCC unroll 16
      for (int64_t c = 1; c < nc; ++c) {
        sk += q[c] * Ld(kj + 16 * c);
        sv += dout[c] * Ld(vj + 16 * c);
      }
      p[j] = Sum(sk);
      ds[j] = Sum(sv);
    }
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) {
      p[j] = CpuExp(p[j] * scale - lse);
      ds[j] = p[j] * (ds[j] - delta);
    }
#pragma GCC unroll 16
    for (int64_t c = 0; c < nc; ++c) acc[c] = V16{};
    for (int64_t j = 0; j < n; ++j) {
      const float* kj = kv.k + (lo + j) * kv.ks;
      float *dkj = dK + (lo + j) * D, *dvj = dV + (lo + j) * D;
      const float dss = ds[j] * scale;
#pragma GCC unroll 16
      for (int64_t c = 0; c < nc; ++c) {
        acc[c] += ds[j] * Ld(kj + 16 * c);
        St(dkj + 16 * c, Ld(dkj + 16 * c) + dss * q[c]);
        St(dvj + 16 * c, Ld(dvj + 16 * c) + p[j] * dout[c]);
      }
    }
    StoreRow(acc, nc, scale, pr.Dest<T>(pr.out, b, h, i));
  }
  for (int64_t t = 0; t < T_; ++t) {
    CopyRow(dK + t * D, D, pr.Dest<T>(pr.dk, b, h, t));
    CopyRow(dV + t * D, D, pr.Dest<T>(pr.dv, b, h, t));
  }
}

template <typename T>
__attribute__((always_inline)) inline void Forward(const Problem& pr, int64_t b, int64_t h, Scratch& w) {
  if (pr.D == 64) ForwardUnit<T, 4>(pr, b, h, w);
  else if (pr.D == 128) ForwardUnit<T, 8>(pr, b, h, w);
  else ForwardUnit<T, 0>(pr, b, h, w);
}

template <typename T>
__attribute__((always_inline)) inline void Backward(const Problem& pr, int64_t b, int64_t h, Scratch& w) {
  if (pr.D == 64) BackwardUnit<T, 4>(pr, b, h, w);
  else if (pr.D == 128) BackwardUnit<T, 8>(pr, b, h, w);
  else BackwardUnit<T, 0>(pr, b, h, w);
}

// One copy per instruction set (GCC's function multiversioning), as in cpu_swiglu.cpp.
#define ST_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
ST_CLONES void ForwardF(const Problem& pr, int64_t b, int64_t h, Scratch& w) { Forward<float>(pr, b, h, w); }
ST_CLONES void ForwardB(const Problem& pr, int64_t b, int64_t h, Scratch& w) { Forward<c10::BFloat16>(pr, b, h, w); }
ST_CLONES void BackwardF(const Problem& pr, int64_t b, int64_t h, Scratch& w) { Backward<float>(pr, b, h, w); }
ST_CLONES void BackwardB(const Problem& pr, int64_t b, int64_t h, Scratch& w) { Backward<c10::BFloat16>(pr, b, h, w); }
#undef ST_CLONES

// Every (row, head) is one task; a thread keeps its scratch over its tasks.
void RunUnits(const Problem& pr, bool backward, bool bf16) {
  at::parallel_for(0, pr.B * pr.H, 1, [&](int64_t u0, int64_t u1) {
    Scratch w(pr.T, pr.D, backward, bf16);
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t b = u / pr.H, h = u % pr.H;
      if (backward) bf16 ? BackwardB(pr, b, h, w) : BackwardF(pr, b, h, w);
      else bf16 ? ForwardB(pr, b, h, w) : ForwardF(pr, b, h, w);
    }
  });
}

at::Tensor LastDimContiguous(const at::Tensor& x) { return x.stride(3) == 1 ? x : x.contiguous(); }

// Inputs (B, heads, T, D); output (B, T, heads, D), contiguous (the caller transposes).
struct RangeAttentionFn : torch::autograd::Function<RangeAttentionFn> {
  static at::Tensor forward(AutogradContext* ctx, at::Tensor q, at::Tensor k, at::Tensor v, at::Tensor lo,
                            at::Tensor hi, double scale) {
    q = LastDimContiguous(q);
    k = LastDimContiguous(k);
    v = LastDimContiguous(v);
    Problem pr = Problem::Of(q, k, v, lo, hi, scale);
    at::Tensor out = at::empty({pr.B, pr.T, pr.H, pr.D}, q.options());
    at::Tensor lse = at::empty({pr.B, pr.H, pr.T}, q.options().dtype(at::kFloat));
    pr.out = out.mutable_data_ptr();
    pr.lse = lse.mutable_data_ptr<float>();
    RunUnits(pr, false, q.scalar_type() == at::kBFloat16);
    ctx->save_for_backward({q, k, v, out, lse, lo, hi});
    ctx->saved_data["scale"] = scale;
    return out;
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    auto s = ctx->get_saved_variables();
    const at::Tensor &q = s[0], &k = s[1], &v = s[2], &out = s[3], &lse = s[4], &lo = s[5], &hi = s[6];
    Problem pr = Problem::Of(q, k, v, lo, hi, ctx->saved_data["scale"].toDouble());
    // out and its gradient are (B, T, H, D): as operands, (b, h, t) strides.
    at::Tensor dout = grads[0].to(q.scalar_type());
    if (dout.stride(3) != 1) dout = dout.contiguous();
    pr.o = {out.const_data_ptr(), out.stride(0), out.stride(2), out.stride(1)};
    pr.dout = {dout.const_data_ptr(), dout.stride(0), dout.stride(2), dout.stride(1)};
    at::Tensor dq = at::empty({pr.B, pr.T, pr.H, pr.D}, q.options()), dk = at::empty_like(dq), dv = at::empty_like(dq);
    pr.out = dq.mutable_data_ptr();
    pr.dk = dk.mutable_data_ptr();
    pr.dv = dv.mutable_data_ptr();
    pr.lse = const_cast<float*>(lse.const_data_ptr<float>());
    RunUnits(pr, true, q.scalar_type() == at::kBFloat16);
    return {dq.transpose(1, 2), dk.transpose(1, 2), dv.transpose(1, 2), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

bool KeyRangesFromMask(const at::Tensor& mask, KeyRanges* out) {
  if (!mask.defined() || mask.scalar_type() != at::kBool || mask.dim() != 4 || mask.size(1) != 1 ||
      mask.size(2) != mask.size(3) || !mask.is_cpu())
    return false;
  at::Tensor m = mask.contiguous();
  const int64_t B = m.size(0), T = m.size(2);
  if (T == 0 || T > std::numeric_limits<int32_t>::max()) return false;
  const auto* p = reinterpret_cast<const unsigned char*>(m.const_data_ptr<bool>());
  KeyRanges r;
  r.batch = B;
  r.length = T;
  r.lo.resize(B * T);
  r.hi.resize(B * T);
  for (int64_t row = 0; row < B * T; ++row) {
    const unsigned char* keys = p + row * T;
    const auto* first = static_cast<const unsigned char*>(std::memchr(keys, 1, T));
    if (!first) return false;
    const auto* last = static_cast<const unsigned char*>(memrchr(keys, 1, T));
    if (std::memchr(first, 0, last - first + 1)) return false;  // a gap: not one run
    r.lo[row] = (int32_t)(first - keys);
    r.hi[row] = (int32_t)(last - keys + 1);
    r.pairs += r.hi[row] - r.lo[row];
  }
  *out = std::move(r);
  return true;
}

at::Tensor RangeAttentionCpu(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, KeyRanges ranges,
                             double scale) {
  const at::ScalarType type = q.scalar_type();
  const bool fits = q.is_cpu() && (type == at::kFloat || type == at::kBFloat16) && k.scalar_type() == type &&
                    v.scalar_type() == type && q.dim() == 4 && k.sizes() == q.sizes() && v.sizes() == q.sizes() &&
                    q.size(0) == ranges.batch && q.size(2) == ranges.length && q.size(3) % 16 == 0 &&
                    q.size(3) > 0 && q.size(3) <= 16 * kMaxChunks && q.size(1) > 0;
  if (!fits) return at::Tensor();
  const int64_t n = ranges.batch * ranges.length;
  at::Tensor lo = at::from_blob(ranges.lo.data(), {n}, at::kInt).clone();
  at::Tensor hi = at::from_blob(ranges.hi.data(), {n}, at::kInt).clone();
  return RangeAttentionFn::apply(q, k, v, lo, hi, scale).transpose(1, 2);
}

}  // namespace st::train
