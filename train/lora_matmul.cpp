#include "train/lora_matmul.h"

#include <torch/csrc/autograd/custom_function.h>

#include <memory>
#include <vector>

#include "train/cpu_packed_gemm.h"
#include "train/fused_ops.h"
#include "train/lora.h"

namespace st::train {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

// Below this many rows a product is too small for packing the weight to pay.
constexpr int64_t kMinPackedRows = 64;

// Inputs: x, x_d (dropout(x), or x itself when `same`), A, B; the frozen weight
// and bias come from the layer, which outlives the graph (as in fused_ops.cpp).
struct LoraMatmulFn : torch::autograd::Function<LoraMatmulFn> {
  static at::Tensor forward(AutogradContext* ctx, at::Tensor x, at::Tensor xd, at::Tensor a, at::Tensor b,
                            const LoraLinear* l, bool same, bool packed) {
    const at::ScalarType type = x.scalar_type();
    const int64_t in = x.size(-1), n = x.numel() / in;
    at::Tensor x2 = x.reshape({n, in}), xd2 = same ? x2 : xd.reshape({n, in});
    at::Tensor xa = at::mm(xd2, a.to(type).t());  // (n, r)
    at::Tensor y = packed ? l->packed->Forward(x2, l->weight, l->bias) : at::Tensor();
    if (!y.defined())
      y = l->bias.defined() ? at::addmm(l->bias.to(type), x2, l->weight.t()) : at::mm(x2, l->weight.t());
    // B^T made contiguous first: MKL's (n, r) x (r, out) product is ~20% faster on it than on the transposed view.
    y.addmm_(xa, b.to(type).t().contiguous(), /*beta=*/1.0, /*alpha=*/l->scale);
    ctx->save_for_backward({xd2, xa, a, b});
    ctx->saved_data["layer"] = reinterpret_cast<intptr_t>(l);
    ctx->saved_data["same"] = same;
    ctx->saved_data["packed"] = packed;
    std::vector<int64_t> shape = x.sizes().vec();
    shape.back() = y.size(1);
    return y.view(shape);
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    auto s = ctx->get_saved_variables();
    const auto* l = reinterpret_cast<const LoraLinear*>(ctx->saved_data["layer"].toInt());
    const bool same = ctx->saved_data["same"].toBool(), packed = ctx->saved_data["packed"].toBool();
    const at::Tensor &xd = s[0], &xa = s[1], &a = s[2], &b = s[3];
    const at::ScalarType type = xd.scalar_type();
    const int64_t n = xd.size(0), in = xd.size(1);
    at::Tensor dy = grads[0].reshape({n, -1}).to(type);
    at::Tensor at_ = a.to(type);
    at::Tensor g = at::mm(dy, b.to(type));  // (n, r)
    at::Tensor da = at::mm(g.t(), xd).to(at::kFloat).mul_(l->scale);
    // dB as (xa^T dy)^T: MKL runs the (r, n) x (n, out) form about twice as fast as (out, n) x (n, r) here.
    at::Tensor db = at::mm(xa.t(), dy).t().to(at::kFloat).mul_(l->scale).contiguous();
    std::vector<int64_t> shape = grads[0].sizes().vec();
    shape.back() = in;
    at::Tensor dx, dxd;
    if (ctx->needs_input_grad(0)) {
      if (packed) dx = l->packed->Backward(dy, l->weight);
      if (!dx.defined()) dx = at::mm(dy, l->weight);
      if (same) dx.addmm_(g, at_, /*beta=*/1.0, /*alpha=*/l->scale);
      dx = dx.view(shape);
    }
    if (!same && ctx->needs_input_grad(1)) dxd = at::mm(g, at_).mul_(l->scale).view(shape);
    return {dx, dxd, da, db, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor LoraMatmulForward(const at::Tensor& x, const LoraLinear& l, bool training) {
  if (!Kernels().lora || !x.is_cpu() || !l.has_lora() || l.dora() || l.nf4.defined() || !l.weight.defined() ||
      l.weight.requires_grad() || l.weight.scalar_type() != x.scalar_type() ||
      (x.scalar_type() != at::kFloat && x.scalar_type() != at::kBFloat16))
    return at::Tensor();
  // MKL's packs of the frozen weight, made at the first training step (not for
  // evaluation or generation alone: they cost about the weight's size each).
  const bool packs = Kernels().packed_gemm && x.scalar_type() == at::kFloat;
  const int64_t rows = x.numel() / x.size(-1);
  if (packs && training && rows >= kMinPackedRows && PackedWeight::Available()) {
    if (!l.packed) l.packed = std::make_shared<PackedWeight>();
    l.packed->Prepare(l.weight, rows);
  }
  const bool dropped = training && l.dropout > 0;
  // The same dropout call, in the same order, as the generic path: a seed gives
  // the same masks on either path.
  at::Tensor xd = dropped ? at::dropout(x, l.dropout, true) : x;
  return LoraMatmulFn::apply(x, xd, l.lora_a, l.lora_b, &l, !dropped, packs && l.packed);
}

}  // namespace st::train
