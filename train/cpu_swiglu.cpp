#include "train/cpu_swiglu.h"

#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>
#include <cstdint>
#include <cstring>

#include "train/cpu_exp.h"

namespace st::train {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

constexpr int64_t kGrain = 1 << 14;  // elements per task

template <typename T>
__attribute__((always_inline)) inline void ForwardRange(int64_t begin, int64_t end, const T* g, const T* u, T* y) {
#pragma omp simd
  for (int64_t i = begin; i < end; ++i) {
    const float gf = static_cast<float>(g[i]);
    const float s = 1.0f / (1.0f + CpuExp(-gf));
    y[i] = static_cast<T>(gf * s * static_cast<float>(u[i]));
  }
}

template <typename T>
__attribute__((always_inline)) inline void BackwardRange(int64_t begin, int64_t end, const T* dy, const T* g,
                                                         const T* u, T* dg, T* du) {
#pragma omp simd
  for (int64_t i = begin; i < end; ++i) {
    const float gf = static_cast<float>(g[i]), uf = static_cast<float>(u[i]), d = static_cast<float>(dy[i]);
    const float s = 1.0f / (1.0f + CpuExp(-gf));
    du[i] = static_cast<T>(d * gf * s);
    dg[i] = static_cast<T>(d * uf * s * (1.0f + gf * (1.0f - s)));
  }
}

// One copy per instruction set, picked when the program loads (GCC's function
// multiversioning). Element-wise only and built with -ffp-contract=off, so every
// copy rounds the same way: the same bits on any x86-64 CPU.
#define ST_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
ST_CLONES void ForwardF(int64_t b, int64_t e, const float* g, const float* u, float* y) { ForwardRange(b, e, g, u, y); }
ST_CLONES void ForwardB(int64_t b, int64_t e, const c10::BFloat16* g, const c10::BFloat16* u, c10::BFloat16* y) {
  ForwardRange(b, e, g, u, y);
}
ST_CLONES void BackwardF(int64_t b, int64_t e, const float* dy, const float* g, const float* u, float* dg, float* du) {
  BackwardRange(b, e, dy, g, u, dg, du);
}
ST_CLONES void BackwardB(int64_t b, int64_t e, const c10::BFloat16* dy, const c10::BFloat16* g,
                         const c10::BFloat16* u, c10::BFloat16* dg, c10::BFloat16* du) {
  BackwardRange(b, e, dy, g, u, dg, du);
}
#undef ST_CLONES

void Forward(int64_t n, const float* g, const float* u, float* y) {
  at::parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) { ForwardF(b, e, g, u, y); });
}
void Forward(int64_t n, const c10::BFloat16* g, const c10::BFloat16* u, c10::BFloat16* y) {
  at::parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) { ForwardB(b, e, g, u, y); });
}
void Backward(int64_t n, const float* dy, const float* g, const float* u, float* dg, float* du) {
  at::parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) { BackwardF(b, e, dy, g, u, dg, du); });
}
void Backward(int64_t n, const c10::BFloat16* dy, const c10::BFloat16* g, const c10::BFloat16* u, c10::BFloat16* dg,
              c10::BFloat16* du) {
  at::parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) { BackwardB(b, e, dy, g, u, dg, du); });
}

struct SwigluCpuFn : torch::autograd::Function<SwigluCpuFn> {
  static at::Tensor forward(AutogradContext* ctx, at::Tensor g, at::Tensor u) {
    at::Tensor gc = g.contiguous(), uc = u.contiguous(), y = at::empty_like(gc);
    if (g.scalar_type() == at::kBFloat16)
      Forward(gc.numel(), gc.const_data_ptr<c10::BFloat16>(), uc.const_data_ptr<c10::BFloat16>(),
              y.mutable_data_ptr<c10::BFloat16>());
    else
      Forward(gc.numel(), gc.const_data_ptr<float>(), uc.const_data_ptr<float>(), y.mutable_data_ptr<float>());
    ctx->save_for_backward({gc, uc});
    return y;
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    auto s = ctx->get_saved_variables();
    const at::Tensor &g = s[0], &u = s[1];
    at::Tensor dy = grads[0].to(g.scalar_type()).contiguous(), dg = at::empty_like(g), du = at::empty_like(u);
    if (g.scalar_type() == at::kBFloat16)
      Backward(g.numel(), dy.const_data_ptr<c10::BFloat16>(), g.const_data_ptr<c10::BFloat16>(),
               u.const_data_ptr<c10::BFloat16>(), dg.mutable_data_ptr<c10::BFloat16>(),
               du.mutable_data_ptr<c10::BFloat16>());
    else
      Backward(g.numel(), dy.const_data_ptr<float>(), g.const_data_ptr<float>(), u.const_data_ptr<float>(),
               dg.mutable_data_ptr<float>(), du.mutable_data_ptr<float>());
    return {dg, du};
  }
};

}  // namespace

bool SwigluCpuApplies(const at::Tensor& g, const at::Tensor& u) {
  return g.is_cpu() && u.is_cpu() && (g.scalar_type() == at::kFloat || g.scalar_type() == at::kBFloat16) &&
         u.scalar_type() == g.scalar_type() && g.sizes() == u.sizes() && g.numel() > 0;
}

at::Tensor SwigluCpu(const at::Tensor& g, const at::Tensor& u) { return SwigluCpuFn::apply(g, u); }

float SwigluExp(float x) { return CpuExp(x); }

}  // namespace st::train
