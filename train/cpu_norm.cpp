#include "train/cpu_norm.h"

#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>
#include <vector>

namespace st::train {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

constexpr int64_t kRowsPerTask = 16;

// Eight running sums, so the compiler can keep them in vector lanes.
template <typename F>
float Sum(int64_t n, F&& term) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int k = 0; k < 8; ++k) acc[k] += term(j + k);
  for (; j < n; ++j) acc[0] += term(j);
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

template <typename T>
void Forward(int64_t rows, int64_t dim, const T* x, const float* w, float eps, T* y, float* rstd) {
  at::parallel_for(0, rows, kRowsPerTask, [&](int64_t begin, int64_t end) {
    std::vector<float> f(dim);
    for (int64_t r = begin; r < end; ++r) {
      const T* xr = x + r * dim;
      for (int64_t j = 0; j < dim; ++j) f[j] = static_cast<float>(xr[j]);
      const float ss = Sum(dim, [&](int64_t j) { return f[j] * f[j]; });
      const float rs = 1.0f / std::sqrt(ss / static_cast<float>(dim) + eps);
      rstd[r] = rs;
      T* yr = y + r * dim;
      for (int64_t j = 0; j < dim; ++j) yr[j] = static_cast<T>(w[j] * (f[j] * rs));
    }
  });
}

template <typename T>
void Backward(int64_t rows, int64_t dim, const T* dy, const T* x, const float* w, const float* rstd, T* dx) {
  at::parallel_for(0, rows, kRowsPerTask, [&](int64_t begin, int64_t end) {
    std::vector<float> fx(dim), fg(dim);
    for (int64_t r = begin; r < end; ++r) {
      const T *xr = x + r * dim, *gr = dy + r * dim;
      for (int64_t j = 0; j < dim; ++j) {
        fx[j] = static_cast<float>(xr[j]);
        fg[j] = static_cast<float>(gr[j]) * w[j];
      }
      const float rs = rstd[r];
      const float s = Sum(dim, [&](int64_t j) { return fg[j] * fx[j]; });
      const float c = rs * rs * rs * s / static_cast<float>(dim);
      T* dr = dx + r * dim;
      for (int64_t j = 0; j < dim; ++j) dr[j] = static_cast<T>(rs * fg[j] - fx[j] * c);
    }
  });
}

struct RmsNormCpuFn : torch::autograd::Function<RmsNormCpuFn> {
  static at::Tensor forward(AutogradContext* ctx, at::Tensor x, at::Tensor w, double eps) {
    at::Tensor xc = x.contiguous(), wf = w.to(at::kFloat).contiguous();
    const int64_t dim = x.size(-1), rows = x.numel() / dim;
    at::Tensor y = at::empty_like(xc), rstd = at::empty({rows}, x.options().dtype(at::kFloat));
    if (x.scalar_type() == at::kBFloat16)
      Forward(rows, dim, xc.const_data_ptr<c10::BFloat16>(), wf.const_data_ptr<float>(), (float)eps,
              y.mutable_data_ptr<c10::BFloat16>(), rstd.mutable_data_ptr<float>());
    else
      Forward(rows, dim, xc.const_data_ptr<float>(), wf.const_data_ptr<float>(), (float)eps, y.mutable_data_ptr<float>(),
              rstd.mutable_data_ptr<float>());
    ctx->save_for_backward({xc, wf, rstd});
    return y;
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    auto s = ctx->get_saved_variables();
    const at::Tensor &x = s[0], &w = s[1], &rstd = s[2];
    at::Tensor dy = grads[0].to(x.scalar_type()).contiguous(), dx = at::empty_like(x);
    const int64_t dim = x.size(-1), rows = x.numel() / dim;
    if (x.scalar_type() == at::kBFloat16)
      Backward(rows, dim, dy.const_data_ptr<c10::BFloat16>(), x.const_data_ptr<c10::BFloat16>(), w.const_data_ptr<float>(),
               rstd.const_data_ptr<float>(), dx.mutable_data_ptr<c10::BFloat16>());
    else
      Backward(rows, dim, dy.const_data_ptr<float>(), x.const_data_ptr<float>(), w.const_data_ptr<float>(),
               rstd.const_data_ptr<float>(), dx.mutable_data_ptr<float>());
    return {dx, at::Tensor(), at::Tensor()};
  }
};

}  // namespace

bool RmsNormCpuApplies(const at::Tensor& x, const at::Tensor& w) {
  return x.is_cpu() && (x.scalar_type() == at::kFloat || x.scalar_type() == at::kBFloat16) && x.numel() > 0 &&
         !w.requires_grad() && w.dim() == 1 && w.size(0) == x.size(-1);
}

at::Tensor RmsNormCpu(const at::Tensor& x, const at::Tensor& w, double eps) { return RmsNormCpuFn::apply(x, w, eps); }

}  // namespace st::train
