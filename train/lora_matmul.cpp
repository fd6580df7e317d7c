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

using Layers = std::vector<const LoraLinear*>;

// Whether this path applies to the layer (a CPU input, a dense frozen base of the
// input's type, plain LoRA or rsLoRA).
bool Applies(const at::Tensor& x, const LoraLinear& l) {
  return Kernels().lora && x.is_cpu() && l.has_lora() && !l.dora() && !l.nf4.defined() && l.weight.defined() &&
         !l.weight.requires_grad() && l.weight.scalar_type() == x.scalar_type() &&
         (x.scalar_type() == at::kFloat || x.scalar_type() == at::kBFloat16);
}

// dx += dy W (dx = dy W when undefined), on the layer's pack where it has one.
void AddBaseGradient(const LoraLinear& l, bool packed, const at::Tensor& dy, at::Tensor& dx) {
  const bool pack = packed && l.packed;
  if (!dx.defined()) {
    if (pack) dx = l.packed->Backward(dy, l.weight);
    if (!dx.defined()) dx = at::mm(dy, l.weight);
  } else if (!(pack && l.packed->AddBackward(dy, l.weight, dx))) {
    dx.addmm_(dy, l.weight);
  }
}

// Inputs: x, x_d (dropout(x), or x itself when `same`), then A and B of each
// layer. Several layers only when `same`: they all read x, so their x A^T are one
// product over the stacked A's, and their dx one tensor that each dy W is added to
// (autograd would sum one (N, in) tensor per layer). The frozen weights and biases
// come from the layers, which outlive the graph (as in fused_ops.cpp).
struct LoraMatmulFn : torch::autograd::Function<LoraMatmulFn> {
  static tensor_list forward(AutogradContext* ctx, at::Tensor x, at::Tensor xd, at::TensorList ab, Layers ls,
                             bool same, bool packed) {
    const at::ScalarType type = x.scalar_type();
    const int64_t in = x.size(-1), n = x.numel() / in;
    at::Tensor x2 = x.reshape({n, in}), xd2 = same ? x2 : xd.reshape({n, in});
    std::vector<at::Tensor> as;
    for (size_t i = 0; i < ls.size(); ++i) as.push_back(ab[2 * i]);
    at::Tensor a_all = (as.size() == 1 ? as[0] : at::cat(as)).to(type);  // (R, in), R the ranks' sum
    at::Tensor xa = at::mm(xd2, a_all.t());                                  // (n, R)
    tensor_list ys;
    int64_t off = 0;
    for (size_t i = 0; i < ls.size(); ++i) {
      const LoraLinear* l = ls[i];
      const int64_t r = as[i].size(0);
      at::Tensor y = packed && l->packed ? l->packed->Forward(x2, l->weight, l->bias) : at::Tensor();
      if (!y.defined())
        y = l->bias.defined() ? at::addmm(l->bias.to(type), x2, l->weight.t()) : at::mm(x2, l->weight.t());
      // B^T made contiguous first: MKL's (n, r) x (r, out) product is ~20% faster on it than on the transposed view.
      y.addmm_(xa.narrow(1, off, r), ab[2 * i + 1].to(type).t().contiguous(), /*beta=*/1.0, /*alpha=*/l->scale);
      off += r;
      std::vector<int64_t> shape = x.sizes().vec();
      shape.back() = y.size(1);
      ys.push_back(y.view(shape));
    }
    std::vector<at::Tensor> saved = {xd2, xa, a_all};
    saved.insert(saved.end(), ab.begin(), ab.end());
    ctx->save_for_backward(saved);
    std::vector<int64_t> ptrs;
    for (const LoraLinear* l : ls) ptrs.push_back(reinterpret_cast<intptr_t>(l));
    ctx->saved_data["layers"] = ptrs;
    ctx->saved_data["shape"] = x.sizes().vec();
    ctx->saved_data["same"] = same;
    ctx->saved_data["packed"] = packed;
    return ys;
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    auto s = ctx->get_saved_variables();
    Layers ls;
    for (int64_t p : ctx->saved_data["layers"].toIntVector()) ls.push_back(reinterpret_cast<const LoraLinear*>(p));
    const bool same = ctx->saved_data["same"].toBool(), packed = ctx->saved_data["packed"].toBool();
    const at::Tensor &xd = s[0], &xa = s[1], &a_all = s[2];
    const at::ScalarType type = xd.scalar_type();
    const int64_t n = xd.size(0);
    const size_t m = ls.size();
    std::vector<at::Tensor> dys(m), gs(m);
    tensor_list out(2 * m + 5);  // x, x_d, A and B of each layer, then the three other arguments
    int64_t off = 0;
    for (size_t i = 0; i < m; ++i) {
      const int64_t r = s[3 + 2 * i].size(0);
      dys[i] = grads[i].reshape({n, -1}).to(type);  // autograd gives zeros for an unused output
      gs[i] = at::mm(dys[i], s[4 + 2 * i].to(type));  // (n, r)
      // dB as (xa^T dy)^T: MKL runs the (r, n) x (n, out) form about twice as fast as (out, n) x (n, r) here.
      out[3 + 2 * i] = at::mm(xa.narrow(1, off, r).t(), dys[i]).t().to(at::kFloat).mul(ls[i]->scale).contiguous();
      off += r;
    }
    at::Tensor g_all = m == 1 ? gs[0] : at::cat(gs, 1);  // (n, R)
    at::Tensor da_all = at::mm(g_all.t(), xd);            // (R, in): one pass over x_d for every layer's dA
    off = 0;
    for (size_t i = 0; i < m; ++i) {
      const int64_t r = gs[i].size(1);
      out[2 + 2 * i] = da_all.narrow(0, off, r).to(at::kFloat).mul(ls[i]->scale);
      off += r;
    }
    // [g_1 ... g_m] [s_1 A_1; ...; s_m A_m]: the rank-r part of dx (or of dx_d),
    // formed only when one of them is wanted (layer 0's q/k/v want neither).
    auto low_rank = [&] {
      std::vector<at::Tensor> scaled(m);
      int64_t o = 0;
      for (size_t i = 0; i < m; ++i) {
        scaled[i] = a_all.narrow(0, o, gs[i].size(1)) * ls[i]->scale;
        o += gs[i].size(1);
      }
      return at::mm(g_all, m == 1 ? scaled[0] : at::cat(scaled));
    };
    const std::vector<int64_t> shape = ctx->saved_data["shape"].toIntVector();
    if (ctx->needs_input_grad(0)) {
      // dx = sum_i dy_i W_i (+ the rank-r part when x_d is x), each product added into one tensor.
      at::Tensor dx = same ? low_rank() : at::Tensor();
      for (size_t i = 0; i < m; ++i) AddBaseGradient(*ls[i], packed, dys[i], dx);
      out[0] = dx.view(shape);
    }
    if (!same && ctx->needs_input_grad(1)) out[1] = low_rank().view(shape);
    return out;
  }
};

// One LoRA node over `ls`, all applicable to x; several only without dropout.
tensor_list Run(const at::Tensor& x, const Layers& ls, bool training) {
  // MKL's packs of the frozen weights, made at the first training step (not for
  // evaluation or generation alone: they cost about the weight's size each).
  const bool packs = Kernels().packed_gemm && x.scalar_type() == at::kFloat;
  const int64_t rows = x.numel() / x.size(-1);
  if (packs && training && rows >= kMinPackedRows && PackedWeight::Available())
    for (const LoraLinear* l : ls) {
      if (!l->packed) l->packed = std::make_shared<PackedWeight>();
      l->packed->Prepare(l->weight, rows);
    }
  const bool dropped = ls.size() == 1 && training && ls[0]->dropout > 0;
  // The same dropout call, in the same order, as the generic path: a seed gives
  // the same masks on either path.
  at::Tensor xd = dropped ? at::dropout(x, ls[0]->dropout, true) : x;
  std::vector<at::Tensor> ab;
  for (const LoraLinear* l : ls) {
    ab.push_back(l->lora_a);
    ab.push_back(l->lora_b);
  }
  return LoraMatmulFn::apply(x, xd, at::TensorList(ab), ls, !dropped, packs);
}

}  // namespace

at::Tensor LoraMatmulForward(const at::Tensor& x, const LoraLinear& l, bool training) {
  if (!Applies(x, l)) return at::Tensor();
  return Run(x, {&l}, training)[0];
}

std::vector<at::Tensor> LoraMatmulSharedForward(const at::Tensor& x, const std::vector<const LoraLinear*>& layers,
                                                bool training) {
  std::vector<at::Tensor> ys(layers.size());
  Layers group;
  std::vector<size_t> where;
  for (size_t i = 0; i < layers.size(); ++i)
    if (Applies(x, *layers[i]) && !(training && layers[i]->dropout > 0)) {
      group.push_back(layers[i]);
      where.push_back(i);
    }
  if (group.size() >= 2) {
    tensor_list got = Run(x, group, training);
    for (size_t j = 0; j < group.size(); ++j) ys[where[j]] = got[j];
  }
  for (size_t i = 0; i < layers.size(); ++i)
    if (!ys[i].defined()) ys[i] = layers[i]->Forward(x, training);
  return ys;
}

}  // namespace st::train
