#include "train/cpu_rope.h"

#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>
#include <torch/csrc/autograd/custom_function.h>

namespace st::train {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

struct RopeShape {
  int64_t batch, tokens, heads, dim;
  int64_t table_batch_stride;  // 0: one table for every row
};

// Forward when `transpose` is false, the gradient's map otherwise (see the header).
template <typename T>
void Rotate(const RopeShape& s, const T* x, const float* cos, const float* sin, bool transpose, T* y) {
  const int64_t d = s.dim / 2;
  at::parallel_for(0, s.batch * s.tokens, 16, [&](int64_t begin, int64_t end) {
    for (int64_t bt = begin; bt < end; ++bt) {
      const int64_t b = bt / s.tokens, t = bt % s.tokens;
      const float* c = cos + b * s.table_batch_stride + t * s.dim;
      const float* sn = sin + b * s.table_batch_stride + t * s.dim;
      for (int64_t h = 0; h < s.heads; ++h) {
        const T* xr = x + (bt * s.heads + h) * s.dim;
        T* yr = y + (bt * s.heads + h) * s.dim;
        if (!transpose) {
          for (int64_t j = 0; j < d; ++j) {
            const float lo = static_cast<float>(xr[j]), hi = static_cast<float>(xr[j + d]);
            yr[j] = static_cast<T>(lo * c[j] - hi * sn[j]);
            yr[j + d] = static_cast<T>(hi * c[j + d] + lo * sn[j + d]);
          }
        } else {
          for (int64_t j = 0; j < d; ++j) {
            const float lo = static_cast<float>(xr[j]), hi = static_cast<float>(xr[j + d]);
            yr[j] = static_cast<T>(lo * c[j] + hi * sn[j + d]);
            yr[j + d] = static_cast<T>(hi * c[j + d] - lo * sn[j]);
          }
        }
      }
    }
  });
}

at::Tensor Apply(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, bool transpose) {
  const RopeShape s{x.size(0), x.size(1), x.size(2), x.size(3), cos.size(0) == 1 ? 0 : x.size(1) * x.size(3)};
  at::Tensor xc = x.contiguous(), y = at::empty_like(xc);
  if (x.scalar_type() == at::kBFloat16)
    Rotate(s, xc.const_data_ptr<c10::BFloat16>(), cos.const_data_ptr<float>(), sin.const_data_ptr<float>(), transpose,
           y.mutable_data_ptr<c10::BFloat16>());
  else
    Rotate(s, xc.const_data_ptr<float>(), cos.const_data_ptr<float>(), sin.const_data_ptr<float>(), transpose,
           y.mutable_data_ptr<float>());
  return y;
}

// Tables as (1 or B, T, head_dim) float32, contiguous.
at::Tensor Table(const at::Tensor& t, const at::Tensor& x) {
  return t.to(at::kFloat).reshape({-1, x.size(1), x.size(3)}).contiguous();
}

struct RopeCpuFn : torch::autograd::Function<RopeCpuFn> {
  static at::Tensor forward(AutogradContext* ctx, at::Tensor x, at::Tensor cos, at::Tensor sin) {
    at::Tensor c = Table(cos, x), s = Table(sin, x);
    ctx->save_for_backward({c, s});
    return Apply(x, c, s, false);
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    auto t = ctx->get_saved_variables();
    return {Apply(grads[0], t[0], t[1], true), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

bool RopeCpuApplies(const at::Tensor& x, const at::Tensor& cos) {
  if (!x.is_cpu() || x.dim() != 4 || (x.scalar_type() != at::kFloat && x.scalar_type() != at::kBFloat16) ||
      x.size(3) % 2 != 0 || x.numel() == 0)
    return false;
  const int64_t T = x.size(1), D = x.size(3);
  if (cos.dim() == 2) return cos.size(0) == T && cos.size(1) == D;
  return cos.dim() == 4 && cos.size(0) == x.size(0) && cos.size(1) == 1 && cos.size(2) == T && cos.size(3) == D;
}

at::Tensor RopeCpu(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  return RopeCpuFn::apply(x, cos, sin);
}

}  // namespace st::train
