#include "train/fused_ops.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/cuda/CUDAContext.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <iterator>
#include <mutex>

#include "kernels/linear_ce.h"
#include "kernels/lora_linear.h"
#include "kernels/nf4.h"
#include "kernels/rmsnorm.h"
#include "kernels/rope.h"
#include "kernels/swiglu.h"
#include "train/cpu_swiglu.h"
#include "train/cpu_norm.h"
#include "train/llama_model.h"
#include "train/lora.h"

namespace st::train {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;
namespace k = st::kernels;

bool KernelType(const at::Tensor& t) { return t.scalar_type() == at::kFloat || t.scalar_type() == at::kBFloat16; }
k::DType DTypeOf(const at::Tensor& t) { return t.scalar_type() == at::kBFloat16 ? k::DType::kBF16 : k::DType::kF32; }
bool On(bool sw, const at::Tensor& t) { return sw && t.is_cuda() && KernelType(t); }

void* Stream() { return at::cuda::getCurrentCUDAStream().stream(); }
void* Blas() { return at::cuda::getCurrentCUDABlasHandle(); }

void Check(int rc, const char* what) {
  TORCH_CHECK(rc == 0, "slicetune kernel ", what, " failed with code ", rc);
}

// A seed for one dropout mask, drawn from the default CPU generator (which the
// trainer seeds per step), so masks follow the recipe's seed.
uint64_t DrawSeed() {
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get<at::CPUGeneratorImpl>()->random64();
}

struct RmsNormFn : torch::autograd::Function<RmsNormFn> {
  static at::Tensor forward(AutogradContext* ctx, at::Tensor x, at::Tensor w, double eps) {
    at::Tensor xc = x.contiguous(), wc = w.to(x.scalar_type()).contiguous();
    const int64_t dim = x.size(-1), rows = x.numel() / dim;
    at::Tensor y = at::empty_like(xc), rstd = at::empty({rows}, x.options().dtype(at::kFloat));
    Check(k::RmsNormForwardCuda(rows, dim, DTypeOf(xc), xc.data_ptr(), wc.data_ptr(), (float)eps, y.data_ptr(),
                                rstd.data_ptr<float>(), Stream()),
          "rmsnorm forward");
    ctx->save_for_backward({xc, wc, rstd});
    return y;
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    auto s = ctx->get_saved_variables();
    at::Tensor dy = grads[0].contiguous(), dx = at::empty_like(s[0]);
    const int64_t dim = s[0].size(-1), rows = s[0].numel() / dim;
    Check(k::RmsNormBackwardCuda(rows, dim, DTypeOf(dy), dy.data_ptr(), s[0].data_ptr(), s[1].data_ptr(),
                                 s[2].data_ptr<float>(), dx.data_ptr(), nullptr, Stream()),
          "rmsnorm backward");
    return {dx, at::Tensor(), at::Tensor()};  // norm gains are frozen
  }
};

struct SwigluFn : torch::autograd::Function<SwigluFn> {
  static at::Tensor forward(AutogradContext* ctx, at::Tensor g, at::Tensor u) {
    at::Tensor gc = g.contiguous(), uc = u.contiguous(), h = at::empty_like(gc);
    Check(k::SwigluForwardCuda(gc.numel(), DTypeOf(gc), gc.data_ptr(), uc.data_ptr(), h.data_ptr(), Stream()),
          "swiglu forward");
    ctx->save_for_backward({gc, uc});
    return h;
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    auto s = ctx->get_saved_variables();
    at::Tensor dh = grads[0].contiguous(), dg = at::empty_like(s[0]), du = at::empty_like(s[1]);
    Check(k::SwigluBackwardCuda(dh.numel(), DTypeOf(dh), dh.data_ptr(), s[0].data_ptr(), s[1].data_ptr(),
                                dg.data_ptr(), du.data_ptr(), Stream()),
          "swiglu backward");
    return {dg, du};
  }
};

struct RopeFn : torch::autograd::Function<RopeFn> {
  static at::Tensor forward(AutogradContext* ctx, at::Tensor x, at::Tensor pos, at::Tensor inv_freq) {
    at::Tensor y = x.contiguous().clone(), p = pos.contiguous(), f = inv_freq.to(at::kFloat).contiguous();
    const int64_t heads = x.size(2), hd = x.size(3), tokens = x.numel() / (heads * hd);
    Check(k::RopeCuda(tokens, heads, hd, DTypeOf(y), y.data_ptr(), p.data_ptr<int64_t>(), f.data_ptr<float>(), false,
                      Stream()),
          "rope forward");
    ctx->save_for_backward({p, f});
    return y;
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    auto s = ctx->get_saved_variables();
    at::Tensor dx = grads[0].contiguous().clone();
    const int64_t heads = dx.size(2), hd = dx.size(3), tokens = dx.numel() / (heads * hd);
    Check(k::RopeCuda(tokens, heads, hd, DTypeOf(dx), dx.data_ptr(), s[0].data_ptr<int64_t>(), s[1].data_ptr<float>(),
                      true, Stream()),
          "rope backward");
    return {dx, at::Tensor(), at::Tensor()};
  }
};

// Sum of the per-token losses; the gradient of that sum is made in the forward
// pass (the logits are gone afterwards) and scaled by the incoming gradient.
struct LinearCeFn : torch::autograd::Function<LinearCeFn> {
  static at::Tensor forward(AutogradContext* ctx, at::Tensor hidden, at::Tensor weight, at::Tensor targets) {
    at::Tensor h = hidden.contiguous(), w = weight.to(hidden.scalar_type()).contiguous(), t = targets.contiguous();
    const int64_t n = h.size(0), dim = h.size(1), vocab = w.size(0);
    // Token chunks whose float32 logits stay near 256 MB.
    const int64_t ct = std::max<int64_t>(1, std::min<int64_t>(n, (int64_t)(256ll << 20) / (4 * vocab)));
    k::LinearCeShape s{n, dim, vocab, ct, 0};
    const bool grad = hidden.requires_grad() && at::GradMode::is_enabled();
    at::Tensor nll = at::empty({n}, h.options().dtype(at::kFloat)), dh = grad ? at::empty_like(h) : at::Tensor();
    at::Tensor ws = at::empty({(int64_t)k::LinearCrossEntropyWorkspaceCuda(s, DTypeOf(h))}, h.options().dtype(at::kByte));
    Check(k::LinearCrossEntropyCuda(s, DTypeOf(h), h.data_ptr(), w.data_ptr(), t.data_ptr<int64_t>(), -100, 1.0f,
                                    nll.data_ptr<float>(), grad ? dh.data_ptr() : nullptr, ws.data_ptr(), ws.numel(),
                                    Blas(), Stream()),
          "linear cross-entropy");
    ctx->save_for_backward({dh});
    return nll.sum();
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    at::Tensor dh = ctx->get_saved_variables()[0];
    return {dh * grads[0].to(dh.scalar_type()), at::Tensor(), at::Tensor()};
  }
};

struct LoraFn : torch::autograd::Function<LoraFn> {
  static at::Tensor forward(AutogradContext* ctx, at::Tensor x, at::Tensor a, at::Tensor b, const LoraLinear* l,
                            bool training) {
    const int64_t in = x.size(-1), n = x.numel() / in, r = a.size(0);
    at::Tensor w = l->nf4.defined() ? DequantizeNf4(l->nf4, x.scalar_type()) : l->weight.contiguous();
    const int64_t out = w.size(0);
    at::Tensor xc = x.reshape({n, in}).contiguous(), ac = a.contiguous(), bc = b.contiguous();
    at::Tensor bias = l->bias.defined() ? l->bias.to(x.scalar_type()).contiguous() : at::Tensor();
    const float p = training ? (float)l->dropout : 0.0f;
    const uint64_t seed = p > 0 ? DrawSeed() : 0;
    k::LoraShape s{n, in, out, r};
    at::Tensor y = at::empty({n, out}, x.options()), xa = at::empty({n, r}, x.options().dtype(at::kFloat));
    at::Tensor ws = at::empty({(int64_t)k::LoraLinearWorkspaceCuda(s, DTypeOf(xc), p)}, x.options().dtype(at::kByte));
    Check(k::LoraLinearForwardCuda(s, DTypeOf(xc), xc.data_ptr(), w.data_ptr(), bias.defined() ? bias.data_ptr() : nullptr,
                                   ac.data_ptr<float>(), bc.data_ptr<float>(), (float)l->scale, p, seed, y.data_ptr(),
                                   xa.data_ptr<float>(), ws.data_ptr(), ws.numel(), Blas(), Stream()),
          "lora forward");
    ctx->save_for_backward({xc, ac, bc, xa});
    ctx->saved_data["layer"] = (int64_t)reinterpret_cast<intptr_t>(l);
    ctx->saved_data["p"] = (double)p;
    ctx->saved_data["seed"] = (int64_t)seed;
    ctx->saved_data["needs_dx"] = x.requires_grad();
    std::vector<int64_t> shape = x.sizes().vec();
    shape.back() = out;
    return y.view(shape);
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    auto s = ctx->get_saved_variables();
    const auto* l = reinterpret_cast<const LoraLinear*>((intptr_t)ctx->saved_data["layer"].toInt());
    const float p = (float)ctx->saved_data["p"].toDouble();
    const uint64_t seed = (uint64_t)ctx->saved_data["seed"].toInt();
    const at::Tensor& x = s[0];
    const int64_t n = x.size(0), in = x.size(1), r = s[1].size(0);
    at::Tensor w = l->nf4.defined() ? DequantizeNf4(l->nf4, x.scalar_type()) : l->weight.contiguous();
    const int64_t out = w.size(0);
    at::Tensor dy = grads[0].reshape({n, out}).to(x.scalar_type()).contiguous();
    const bool needs_dx = ctx->saved_data["needs_dx"].toBool();
    at::Tensor dx = needs_dx ? at::empty_like(x) : at::Tensor();
    at::Tensor da = at::empty_like(s[1]), db = at::empty_like(s[2]);
    k::LoraShape sh{n, in, out, r};
    at::Tensor ws = at::empty({(int64_t)k::LoraLinearWorkspaceCuda(sh, DTypeOf(x), p)}, x.options().dtype(at::kByte));
    Check(k::LoraLinearBackwardCuda(sh, DTypeOf(x), dy.data_ptr(), x.data_ptr(), w.data_ptr(), s[1].data_ptr<float>(),
                                    s[2].data_ptr<float>(), s[3].data_ptr<float>(), (float)l->scale, p, seed,
                                    needs_dx ? dx.data_ptr() : nullptr, da.data_ptr<float>(), db.data_ptr<float>(),
                                    ws.data_ptr(), ws.numel(), Blas(), Stream()),
          "lora backward");
    std::vector<int64_t> shape = grads[0].sizes().vec();
    shape.back() = in;
    return {needs_dx ? dx.view(shape) : at::Tensor(), da, db, at::Tensor(), at::Tensor()};
  }
};

// Few rows (generation): the dequantize-fused product; its backward dequantizes.
struct Nf4MatmulFn : torch::autograd::Function<Nf4MatmulFn> {
  static at::Tensor forward(AutogradContext* ctx, at::Tensor x, const Nf4Weight* w) {
    const int64_t in = x.size(-1), n = x.numel() / in;
    at::Tensor xc = x.reshape({n, in}).contiguous(), y = at::empty({n, w->out}, x.options());
    Check(k::Nf4MatmulCuda(n, in, w->out, DTypeOf(xc), xc.data_ptr(), w->packed.data_ptr<uint8_t>(),
                           w->absmax_q.data_ptr<uint8_t>(), w->absmax2.data_ptr<float>(), w->offset.data_ptr<float>(),
                           y.data_ptr(), Stream()),
          "nf4 matmul");
    ctx->saved_data["w"] = (int64_t)reinterpret_cast<intptr_t>(w);
    std::vector<int64_t> shape = x.sizes().vec();
    shape.back() = w->out;
    return y.view(shape);
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    const auto* w = reinterpret_cast<const Nf4Weight*>((intptr_t)ctx->saved_data["w"].toInt());
    return {at::matmul(grads[0], DequantizeNf4(*w, grads[0].scalar_type())), at::Tensor()};
  }
};

}  // namespace

KernelSwitches& Kernels() {
  static KernelSwitches s;
  return s;
}

Status SetKernelsOff(const std::vector<std::string>& names) {
  static const std::pair<const char*, bool KernelSwitches::*> kSwitches[] = {
      {"rmsnorm", &KernelSwitches::rmsnorm}, {"rope", &KernelSwitches::rope},   {"swiglu", &KernelSwitches::swiglu},
      {"linear_ce", &KernelSwitches::linear_ce}, {"lora", &KernelSwitches::lora}, {"nf4", &KernelSwitches::nf4},
      {"attention", &KernelSwitches::attention}, {"packed_gemm", &KernelSwitches::packed_gemm}};
  KernelSwitches s;
  for (const auto& n : names) {
    auto it = std::find_if(std::begin(kSwitches), std::end(kSwitches), [&](const auto& k) { return n == k.first; });
    if (it == std::end(kSwitches)) {
      std::string known;
      for (const auto& k : kSwitches) known += (known.empty() ? "" : ", ") + std::string(k.first);
      return InvalidInput("unknown kernel '" + n + "' (known: " + known + ")");
    }
    s.*(it->second) = false;
  }
  Kernels() = s;
  return Status::Ok();
}

at::Tensor RmsNormOp(const at::Tensor& x, const at::Tensor& w, double eps) {
  if (On(Kernels().rmsnorm, x)) return RmsNormFn::apply(x, w, eps);
  if (Kernels().rmsnorm && RmsNormCpuApplies(x, w)) return RmsNormCpu(x, w, eps);
  if (x.scalar_type() != at::kFloat) {
    at::Tensor xf = x.to(at::kFloat);
    return (w * (xf * at::rsqrt(xf.pow(2).mean(-1, true) + eps))).to(x.scalar_type());
  }
  at::Tensor var = x.pow(2).mean(-1, /*keepdim=*/true);
  return w * (x * at::rsqrt(var + eps));
}

at::Tensor SwigluOp(const at::Tensor& g, const at::Tensor& u) {
  if (On(Kernels().swiglu, g)) return SwigluFn::apply(g, u);
  if (Kernels().swiglu && SwigluCpuApplies(g, u)) return SwigluCpu(g, u);
  return at::silu(g) * u;
}

bool RopeKernelApplies(const at::Tensor& x) { return On(Kernels().rope, x); }

at::Tensor RopeOp(const at::Tensor& x, const at::Tensor& positions, const at::Tensor& inv_freq) {
  TORCH_CHECK(RopeKernelApplies(x), "RopeOp runs on CUDA tensors only");
  return RopeFn::apply(x, positions, inv_freq);
}

std::pair<at::Tensor, int64_t> HeadLossOp(const at::Tensor& hidden, const at::Tensor& lm_head, const at::Tensor& ids,
                                          const at::Tensor& mask) {
  const int64_t T = hidden.size(1);
  if (!On(Kernels().linear_ce, hidden))
    return MaskedNextTokenLoss(at::matmul(hidden, lm_head.t()).to(at::kFloat), ids, mask);
  at::Tensor h = hidden.narrow(1, 0, T - 1).reshape({-1, hidden.size(-1)});
  at::Tensor m = mask.narrow(1, 1, T - 1).reshape({-1});
  at::Tensor tgt = at::where(m.ne(0), ids.narrow(1, 1, T - 1).reshape({-1}), at::full_like(m, -100, at::kLong));
  const int64_t n = m.ne(0).sum().item<int64_t>();
  return {LinearCeFn::apply(h, lm_head, tgt) / (double)std::max<int64_t>(n, 1), n};
}

at::Tensor FusedLoraForward(const at::Tensor& x, const LoraLinear& l, bool training) {
  if (!On(Kernels().lora, x) || !l.has_lora() || l.dora()) return at::Tensor();
  return LoraFn::apply(x, l.lora_a, l.lora_b, &l, training);
}

Nf4Weight QuantizeNf4(const at::Tensor& w) {
  Nf4Weight q;
  q.out = w.size(0);
  q.in = w.size(1);
  const int64_t n = w.numel();
  const k::Nf4Sizes sz = k::Nf4SizesFor(n);
  auto u8 = w.options().dtype(at::kByte), f32 = w.options().dtype(at::kFloat);
  q.packed = at::empty({sz.packed}, u8);
  q.absmax_q = at::empty({sz.blocks}, u8);
  q.absmax2 = at::empty({sz.blocks2}, f32);
  q.offset = at::empty({1}, f32);
  if (w.is_cuda()) {
    at::Tensor wc = KernelType(w) ? w.contiguous() : w.to(at::kFloat).contiguous();
    at::Tensor ws = at::empty({sz.blocks}, f32);
    Check(k::Nf4QuantizeCuda(n, DTypeOf(wc), wc.data_ptr(), q.packed.data_ptr<uint8_t>(), q.absmax_q.data_ptr<uint8_t>(),
                             q.absmax2.data_ptr<float>(), q.offset.data_ptr<float>(), ws.data_ptr<float>(), Stream()),
          "nf4 quantize");
  } else {
    at::Tensor wf = w.to(at::kFloat).contiguous();
    k::Nf4QuantizeRef(n, wf.data_ptr<float>(), q.packed.data_ptr<uint8_t>(), q.absmax_q.data_ptr<uint8_t>(),
                      q.absmax2.data_ptr<float>(), q.offset.data_ptr<float>());
  }
  return q;
}

at::Tensor DequantizeNf4(const Nf4Weight& q, at::ScalarType type) {
  const int64_t n = q.out * q.in;
  if (q.packed.is_cuda() && (type == at::kFloat || type == at::kBFloat16)) {
    at::Tensor out = at::empty({q.out, q.in}, q.packed.options().dtype(type));
    Check(k::Nf4DequantizeCuda(n, DTypeOf(out), q.packed.data_ptr<uint8_t>(), q.absmax_q.data_ptr<uint8_t>(),
                               q.absmax2.data_ptr<float>(), q.offset.data_ptr<float>(), out.data_ptr(), Stream()),
          "nf4 dequantize");
    return out;
  }
  at::Tensor out = at::empty({q.out, q.in}, at::kFloat);
  at::Tensor packed = q.packed.cpu(), aq = q.absmax_q.cpu(), a2 = q.absmax2.cpu();
  k::Nf4DequantizeRef(n, packed.data_ptr<uint8_t>(), aq.data_ptr<uint8_t>(), a2.data_ptr<float>(),
                      q.offset.cpu().item<float>(), out.data_ptr<float>());
  return out.to(q.packed.device(), type);
}

at::Tensor Nf4LinearOp(const at::Tensor& x, const Nf4Weight& w) {
  const int64_t rows = x.numel() / x.size(-1);
  if (On(Kernels().nf4, x) && rows <= 16) return Nf4MatmulFn::apply(x, &w);
  return at::matmul(x, DequantizeNf4(w, x.scalar_type()).t());
}

}  // namespace st::train
