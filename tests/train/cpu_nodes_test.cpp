// The CPU autograd nodes (train/lora_matmul.h, train/cpu_norm.h) against the
// composite formulas they replace (the same ops with the switch off), forward and
// every gradient, in float32 and bf16.
#include <gtest/gtest.h>

#include <ATen/Parallel.h>

#include <cmath>
#include <string>
#include <vector>

#include "train/cpu_doc_attention.h"
#include "train/cpu_range_attention.h"
#include "train/cpu_rope.h"
#include "train/cpu_swiglu.h"
#include "train/fused_ops.h"
#include "train/lora.h"
#include "train/lora_matmul.h"

namespace st::train {
namespace {

// The switches are process-wide: put them back whatever a test does.
struct SwitchesOff {
  explicit SwitchesOff(const std::vector<std::string>& names) { EXPECT_TRUE(SetKernelsOff(names).ok()); }
  ~SwitchesOff() { EXPECT_TRUE(SetKernelsOff({}).ok()); }
};

double RelErr(const at::Tensor& a, const at::Tensor& b) {
  return ((a.to(at::kFloat) - b.to(at::kFloat)).abs().max() / b.to(at::kFloat).abs().max()).item<double>();
}

struct Grads {
  at::Tensor y, dx, da, db;
};

Grads RunLora(const LoraLinear& l, const at::Tensor& x0, const at::Tensor& dy, bool training, uint64_t seed) {
  for (const at::Tensor& p : {l.lora_a, l.lora_b})
    if (p.grad().defined()) p.mutable_grad().reset();
  at::Tensor x = x0.detach().clone().set_requires_grad(true);
  at::manual_seed(seed);  // the dropout mask
  at::Tensor y = l.Forward(x, training);
  y.backward(dy);
  return {y.detach(), x.grad(), l.lora_a.grad().clone(), l.lora_b.grad().clone()};
}

void CheckLora(at::ScalarType type, bool bias, double dropout, double tol) {
  at::manual_seed(7);
  const int64_t in = 48, out = 40, r = 8;
  LoraLinear l;
  l.weight = (at::randn({out, in}) * 0.1).to(type);
  if (bias) l.bias = (at::randn({out}) * 0.1).to(type);
  l.AttachLora(r, 16.0, dropout, at::detail::getDefaultCPUGenerator());
  {
    at::NoGradGuard ng;
    l.lora_b.normal_(0.0, 0.1);  // B starts at zero: make the branch count
  }
  at::Tensor x = at::randn({3, 5, in}).to(type), dy = at::randn({3, 5, out}).to(type);
  Grads fast = RunLora(l, x, dy, true, 11);
  Grads ref;
  {
    SwitchesOff off({"lora"});
    ref = RunLora(l, x, dy, true, 11);
  }
  EXPECT_EQ(fast.y.scalar_type(), type);
  EXPECT_EQ(fast.da.scalar_type(), at::kFloat);
  EXPECT_LT(RelErr(fast.y, ref.y), tol);
  EXPECT_LT(RelErr(fast.dx, ref.dx), tol);
  EXPECT_LT(RelErr(fast.da, ref.da), tol);
  EXPECT_LT(RelErr(fast.db, ref.db), tol);
}

struct GroupGrads {
  std::vector<at::Tensor> ys, da, db;
  at::Tensor dx;
};

GroupGrads RunGroup(const std::vector<LoraLinear>& ls, const at::Tensor& x0, const std::vector<at::Tensor>& dys,
                    bool shared) {
  std::vector<const LoraLinear*> ptrs;
  for (const LoraLinear& l : ls) {
    ptrs.push_back(&l);
    for (const at::Tensor& p : {l.lora_a, l.lora_b})
      if (p.defined() && p.grad().defined()) p.mutable_grad().reset();
  }
  at::Tensor x = x0.detach().clone().set_requires_grad(true);
  at::manual_seed(11);  // the dropout mask
  std::vector<at::Tensor> ys;
  if (shared) {
    ys = LoraMatmulSharedForward(x, ptrs, true);
  } else {
    for (const LoraLinear& l : ls) ys.push_back(l.Forward(x, true));
  }
  at::Tensor loss = at::zeros({}, at::kFloat);
  for (size_t i = 0; i < ys.size(); ++i) loss = loss + (ys[i].to(at::kFloat) * dys[i].to(at::kFloat)).sum();
  loss.backward();
  GroupGrads g;
  g.dx = x.grad();
  for (size_t i = 0; i < ls.size(); ++i) {
    g.ys.push_back(ys[i].detach());
    g.da.push_back(ls[i].has_lora() ? ls[i].lora_a.grad().clone() : at::Tensor());
    g.db.push_back(ls[i].has_lora() ? ls[i].lora_b.grad().clone() : at::Tensor());
  }
  if (shared) {  // the LoRA layers without dropout (0 and 2) are one node; the others their own
    EXPECT_EQ(ys[0].grad_fn().get(), ys[2].grad_fn().get());
    EXPECT_NE(ys[0].grad_fn().get(), ys[3].grad_fn().get());
  }
  return g;
}

// Layers that read one input (a block's q/k/v): those with LoRA and without dropout
// run as one node, whose outputs and gradients must be the composite's; among
// them a layer without LoRA and one with dropout, which keep their own paths. 80
// rows in float32 training run on MKL's packs (64 rows and more).
void CheckLoraGroup(at::ScalarType type, int64_t rows, double tol) {
  at::manual_seed(9);
  const int64_t in = 48, outs[] = {40, 24, 40, 56};
  std::vector<LoraLinear> ls(4);
  for (int i = 0; i < 4; ++i) {
    ls[i].weight = (at::randn({outs[i], in}) * 0.1).to(type);
    if (i == 1) continue;  // no LoRA here
    ls[i].AttachLora(i == 3 ? 4 : 8, 16.0, i == 3 ? 0.25 : 0.0, at::detail::getDefaultCPUGenerator(), /*rslora=*/i == 2);
    at::NoGradGuard ng;
    ls[i].lora_b.normal_(0.0, 0.1);  // B starts at zero: make the branch count
  }
  ls[2].bias = (at::randn({outs[2]}) * 0.1).to(type);
  at::Tensor x = at::randn({rows / 5, 5, in}).to(type);
  std::vector<at::Tensor> dys;
  for (int64_t o : outs) dys.push_back(at::randn({rows / 5, 5, o}).to(type));
  GroupGrads fast = RunGroup(ls, x, dys, true), ref;
  {
    SwitchesOff off({"lora"});
    ref = RunGroup(ls, x, dys, false);
  }
  EXPECT_LT(RelErr(fast.dx, ref.dx), tol);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(fast.ys[i].scalar_type(), type);
    EXPECT_LT(RelErr(fast.ys[i], ref.ys[i]), tol) << "layer " << i;
    if (i == 1) continue;
    EXPECT_LT(RelErr(fast.da[i], ref.da[i]), tol) << "layer " << i;
    EXPECT_LT(RelErr(fast.db[i], ref.db[i]), tol) << "layer " << i;
  }
}

void CheckSwiglu(at::ScalarType type, double tol) {
  at::manual_seed(5);
  // odd sizes: tasks and vector tails; large |g| for the exponential's range
  at::Tensor g0 = (at::randn({3, 7, 333}) * 4).to(type), u0 = at::randn({3, 7, 333}).to(type);
  g0.view({-1}).slice(0, 0, 4).copy_(at::tensor({-100.0, 100.0, 0.0, -30.0}).to(type));
  at::Tensor dy = at::randn({3, 7, 333}).to(type);
  auto run = [&](at::Tensor* y, at::Tensor* dg, at::Tensor* du) {
    at::Tensor g = g0.clone().set_requires_grad(true), u = u0.clone().set_requires_grad(true);
    *y = SwigluOp(g, u);
    y->backward(dy);
    *dg = g.grad(), *du = u.grad();
  };
  at::Tensor y, dg, du, ry, rdg, rdu;
  run(&y, &dg, &du);
  {
    SwitchesOff off({"swiglu"});
    run(&ry, &rdg, &rdu);
  }
  EXPECT_EQ(y.scalar_type(), type);
  EXPECT_LT(RelErr(y, ry), tol);
  EXPECT_LT(RelErr(dg, rdg), tol);
  EXPECT_LT(RelErr(du, rdu), tol);
  EXPECT_TRUE(at::isfinite(dg).all().item<bool>());
}

TEST(CpuNodes, SwigluMatchesTheComposite) {
  CheckSwiglu(at::kFloat, 1e-6);
  CheckSwiglu(at::kBFloat16, 1e-2);  // rounded once here, after each op there
}

TEST(CpuNodes, SwigluExponentialIsAccurateOverTheFloatRange) {
  double worst = 0;
  for (float x = -87.0f; x <= 88.0f; x += 0.0137f) {
    const double ref = std::exp((double)x), got = SwigluExp(x);
    worst = std::max(worst, std::abs(got - ref) / ref);
  }
  EXPECT_LT(worst, 3e-7);  // ~2.5 ulp of float
  EXPECT_EQ(SwigluExp(0.0f), 1.0f);
  EXPECT_TRUE(std::isinf(SwigluExp(1000.0f)) || SwigluExp(1000.0f) > 3e38f);
  EXPECT_LT(SwigluExp(-1000.0f), 1e-37f);
  EXPECT_TRUE(std::isnan(SwigluExp(std::nanf(""))));
}

TEST(CpuNodes, LoraMatchesTheCompositeInFloat32) {
  CheckLora(at::kFloat, false, 0.0, 1e-5);
  CheckLora(at::kFloat, true, 0.0, 1e-5);
}

TEST(CpuNodes, LoraWithDropoutDrawsTheSameMask) { CheckLora(at::kFloat, true, 0.3, 1e-5); }

TEST(CpuNodes, LoraMatchesTheCompositeInBf16) {
  // The branch runs in bf16 here (float32 in the composite): about one bf16 step
  // apart (0.3-0.6% measured); the float32 test above holds the algebra exactly.
  CheckLora(at::kBFloat16, false, 0.0, 1.5e-2);
  CheckLora(at::kBFloat16, true, 0.2, 1.5e-2);
}

TEST(CpuNodes, LoraLayersOnOneInputAreOneNode) {
  CheckLoraGroup(at::kFloat, 15, 1e-5);
  CheckLoraGroup(at::kFloat, 80, 1e-5);  // on the packs where MKL has them
  CheckLoraGroup(at::kBFloat16, 80, 1.5e-2);
}

TEST(CpuNodes, LoraWithoutGradModeIsTheForward) {
  at::manual_seed(3);
  LoraLinear l;
  l.weight = at::randn({6, 10});
  l.AttachLora(2, 4.0, 0.0, at::detail::getDefaultCPUGenerator());
  at::Tensor x = at::randn({4, 10});
  at::Tensor want = at::matmul(x, l.weight.t()) +
                    at::matmul(at::matmul(x, l.lora_a.t()), l.lora_b.t()) * l.scale;  // B = 0: the base
  at::NoGradGuard ng;
  EXPECT_LT(RelErr(l.Forward(x, false), want), 1e-6);
}

void CheckNorm(at::ScalarType type, double tol) {
  at::manual_seed(5);
  at::Tensor w = (at::rand({64}) + 0.5).to(type);
  at::Tensor x0 = (at::randn({2, 7, 64}) * 3).to(type), dy = at::randn({2, 7, 64}).to(type);
  auto run = [&] {
    at::Tensor x = x0.detach().clone().set_requires_grad(true);
    at::Tensor y = RmsNormOp(x, w, 1e-5);
    y.backward(dy);
    return std::make_pair(y.detach(), x.grad());
  };
  auto fast = run();
  std::pair<at::Tensor, at::Tensor> ref;
  {
    SwitchesOff off({"rmsnorm"});
    ref = run();
  }
  EXPECT_EQ(fast.first.scalar_type(), type);
  EXPECT_LT(RelErr(fast.first, ref.first), tol);
  EXPECT_LT(RelErr(fast.second, ref.second), tol);
}

TEST(CpuNodes, RmsNormMatchesTheComposite) {
  CheckNorm(at::kFloat, 1e-5);
  CheckNorm(at::kBFloat16, 1e-2);  // both float32 inside: the outputs' bf16 rounding apart
}

TEST(CpuNodes, TrainableGainKeepsTheComposite) {
  at::Tensor w = at::ones({8}).set_requires_grad(true), x = at::randn({3, 8});
  RmsNormOp(x, w, 1e-6).sum().backward();
  ASSERT_TRUE(w.grad().defined());  // full fine-tuning trains the gain
  EXPECT_GT(w.grad().abs().sum().item<double>(), 0.0);
}

// transformers' apply_rotary_pos_emb over (B, heads, T, D), as the model's composite path.
at::Tensor RopeComposite(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const int64_t d = x.size(-1) / 2;
  at::Tensor xt = x.transpose(1, 2);
  at::Tensor rot = at::cat({-xt.narrow(-1, d, d), xt.narrow(-1, 0, d)}, -1);
  return (xt * cos + rot * sin).transpose(1, 2);
}

void CheckRope(at::ScalarType type, bool per_row, double tol) {
  at::manual_seed(9);
  const int64_t B = 2, T = 6, H = 3, D = 8;
  at::Tensor pos = per_row ? at::randint(0, 50, {B, T}, at::kLong).to(at::kFloat) : at::arange(T, at::kFloat);
  at::Tensor inv = at::pow(10000.0, -at::arange(0, D, 2, at::kFloat) / D);
  at::Tensor f = pos.unsqueeze(-1) * inv;  // (T, D/2) or (B, T, D/2)
  at::Tensor emb = at::cat({f, f}, -1);
  at::Tensor cos = emb.cos(), sin = emb.sin();
  if (per_row) {
    cos = cos.unsqueeze(1);
    sin = sin.unsqueeze(1);
  }
  cos = cos.to(type);
  sin = sin.to(type);
  at::Tensor x0 = at::randn({B, T, H, D}).to(type), dy = at::randn({B, T, H, D}).to(type);
  ASSERT_TRUE(RopeCpuApplies(x0, cos));
  auto run = [&](bool fast) {
    at::Tensor x = x0.detach().clone().set_requires_grad(true);
    at::Tensor y = fast ? RopeCpu(x, cos, sin) : RopeComposite(x, cos, sin);
    y.backward(dy);
    return std::make_pair(y.detach(), x.grad());
  };
  auto fast = run(true), ref = run(false);
  EXPECT_EQ(fast.first.scalar_type(), type);
  EXPECT_LT(RelErr(fast.first, ref.first), tol);
  EXPECT_LT(RelErr(fast.second, ref.second), tol);
}

TEST(CpuNodes, RopeMatchesTheComposite) {
  CheckRope(at::kFloat, false, 1e-6);
  CheckRope(at::kFloat, true, 1e-6);
  CheckRope(at::kBFloat16, true, 1e-2);  // rounded once here, three times in the composite
}

TEST(CpuNodes, RopeTakesOnlyTablesThatFit) {
  at::Tensor x = at::randn({2, 5, 3, 8});
  EXPECT_TRUE(RopeCpuApplies(x, at::ones({5, 8})));
  EXPECT_TRUE(RopeCpuApplies(x, at::ones({2, 1, 5, 8})));
  EXPECT_FALSE(RopeCpuApplies(x, at::ones({4, 8})));
  EXPECT_FALSE(RopeCpuApplies(x, at::ones({1, 1, 5, 8})));
  EXPECT_FALSE(RopeCpuApplies(at::randn({2, 5, 3, 7}), at::ones({5, 7})));
}

// The model's mask for packed rows: documents restart where the position is 0
// (a row may begin inside a document), causal, optionally a sliding window.
at::Tensor PackedMask(const at::Tensor& positions, int64_t window) {
  const int64_t T = positions.size(1);
  at::Tensor doc = positions.eq(0).to(at::kLong).cumsum(1);
  at::Tensor i = at::arange(T).view({T, 1}), j = at::arange(T).view({1, T});
  at::Tensor causal = j <= i;
  if (window > 0) causal = causal.logical_and(j > i - window);
  return doc.unsqueeze(2).eq(doc.unsqueeze(1)).logical_and(causal).unsqueeze(1);
}

void CheckAttention(int64_t window) {
  at::manual_seed(13);
  const int64_t B = 2, H = 3, T = 300, D = 16;
  // Row 0: documents of 40, 7, 200 and 53 tokens; row 1 starts 12 tokens into a document, then one long one.
  std::vector<int64_t> p;
  for (int64_t len : {40, 7, 200, 53})
    for (int64_t t = 0; t < len; ++t) p.push_back(t);
  for (int64_t t = 0; t < 20; ++t) p.push_back(12 + t);
  for (int64_t t = 0; t < T - 20; ++t) p.push_back(t);
  at::Tensor positions = at::tensor(p).view({B, T});
  at::Tensor mask = PackedMask(positions, window);
  at::Tensor q0 = at::randn({B, H, T, D}), k0 = at::randn({B, H, T, D}), v0 = at::randn({B, H, T, D});
  at::Tensor dy = at::randn({B, H, T, D});
  const double scale = 0.25;
  auto run = [&](bool fast) {
    at::Tensor q = q0.clone().set_requires_grad(true), k = k0.clone().set_requires_grad(true),
               v = v0.clone().set_requires_grad(true);
    at::Tensor y = fast ? DocAttentionCpu(q, k, v, mask, scale)
                        : at::scaled_dot_product_attention(q, k, v, mask, 0.0, false, scale);
    EXPECT_TRUE(y.defined());
    y.backward(dy);
    return std::vector<at::Tensor>{y.detach(), q.grad(), k.grad(), v.grad()};
  };
  auto fast = run(true), ref = run(false);
  for (size_t n = 0; n < fast.size(); ++n) EXPECT_LT(RelErr(fast[n], ref[n]), 1e-5) << "output/dq/dk/dv " << n;
}

TEST(CpuNodes, DocAttentionMatchesSdpaOnPackedRows) {
  CheckAttention(0);
  CheckAttention(64);  // Mistral's sliding window
}

TEST(CpuNodes, DocAttentionLeavesOtherCasesToSdpa) {
  at::Tensor q = at::randn({1, 2, 8, 4});
  at::Tensor mask = PackedMask(at::arange(8).view({1, 8}), 0);
  EXPECT_TRUE(DocAttentionCpu(q, q, q, mask, 0.5).defined());
  // bf16: only through the key ranges (this D = 4 is no multiple of 16), never the block path.
  EXPECT_FALSE(DocAttentionCpu(q.to(at::kBFloat16), q.to(at::kBFloat16), q.to(at::kBFloat16), mask, 0.5).defined());
  EXPECT_FALSE(DocAttentionCpu(q, q, q, mask.squeeze(1).squeeze(0), 0.5).defined());  // (T, T): not packed rows
  at::Tensor blind = mask.clone();
  blind.select(2, 3).fill_(false);  // query 3 sees nothing: sdpa's business
  EXPECT_FALSE(DocAttentionCpu(q, q, q, blind, 0.5).defined());
}

// The key-range kernel against sdpa with the mask, on q, k, v laid out as the
// model has them ((B, T, heads, D) transposed), with gradients.
void CheckRangeAttention(int64_t D, at::ScalarType type, int64_t window, double tol, bool kv_contiguous = false) {
  at::manual_seed(17);
  const int64_t B = 2, H = 3, T = 300;
  std::vector<int64_t> p;
  for (int64_t len : {40, 7, 200, 53})
    for (int64_t t = 0; t < len; ++t) p.push_back(t);
  for (int64_t t = 0; t < 20; ++t) p.push_back(12 + t);  // row 1 starts inside a document
  for (int64_t t = 0; t < T - 20; ++t) p.push_back(t);
  at::Tensor mask = PackedMask(at::tensor(p).view({B, T}), window);
  auto layout = [&](at::Tensor x) { return x.view({B, T, H, D}).transpose(1, 2); };
  at::Tensor q0 = at::randn({B, T, H, D}), k0 = at::randn({B, T, H, D}), v0 = at::randn({B, T, H, D});
  at::Tensor dy = at::randn({B, H, T, D});
  const double scale = 1.0 / std::sqrt((double)D);
  auto run = [&](bool fast) {
    // The reference runs in float32 on the same (rounded) inputs.
    const at::ScalarType t = fast ? type : at::kFloat;
    at::Tensor q = layout(q0.to(type).to(t)).detach().set_requires_grad(true);
    // With grouped-query attention the model repeats k and v into new (B, heads, T, D) tensors.
    auto kv = [&](const at::Tensor& x) { return kv_contiguous ? layout(x).contiguous() : layout(x); };
    at::Tensor k = kv(k0.to(type).to(t)).detach().set_requires_grad(true);
    at::Tensor v = kv(v0.to(type).to(t)).detach().set_requires_grad(true);
    at::Tensor y;
    if (fast) {
      KeyRanges r;
      EXPECT_TRUE(KeyRangesFromMask(mask, &r));
      y = RangeAttentionCpu(q, k, v, r, scale);
    } else {
      y = at::scaled_dot_product_attention(q, k, v, mask, 0.0, false, scale);
    }
    EXPECT_TRUE(y.defined());
    EXPECT_EQ(y.scalar_type(), t);
    y.backward(dy.to(type).to(t));
    return std::vector<at::Tensor>{y.detach().to(at::kFloat), q.grad().to(at::kFloat), k.grad().to(at::kFloat),
                                   v.grad().to(at::kFloat)};
  };
  auto fast = run(true), ref = run(false);
  for (size_t n = 0; n < fast.size(); ++n)
    EXPECT_LT(RelErr(fast[n], ref[n]), tol) << "D " << D << " window " << window << ": output/dq/dk/dv " << n;
}

TEST(CpuNodes, RangeAttentionMatchesSdpa) {
  CheckRangeAttention(64, at::kFloat, 0, 1e-5);    // head_dim 64: registers
  CheckRangeAttention(128, at::kFloat, 0, 1e-5);   // 128: registers
  CheckRangeAttention(80, at::kFloat, 0, 1e-5);    // any other multiple of 16
  CheckRangeAttention(64, at::kFloat, 64, 1e-5);   // Mistral's sliding window
  CheckRangeAttention(64, at::kBFloat16, 0, 1e-2); // bf16 in and out, float32 inside
  CheckRangeAttention(64, at::kFloat, 0, 1e-5, /*kv_contiguous=*/true);  // q a view, k and v repeated copies
}

TEST(CpuNodes, RangeAttentionIsTheSameOnAnyThreadCount) {
  at::manual_seed(5);
  const int64_t B = 2, H = 4, T = 96, D = 64;
  std::vector<int64_t> p;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t) p.push_back(t % (17 + 6 * b));
  at::Tensor mask = PackedMask(at::tensor(p).view({B, T}), 0);
  at::Tensor q0 = at::randn({B, H, T, D}), k0 = at::randn({B, H, T, D}), v0 = at::randn({B, H, T, D}), dy = at::randn({B, H, T, D});
  const int threads = at::get_num_threads();
  auto run = [&](int n) {
    at::set_num_threads(n);
    at::Tensor q = q0.clone().set_requires_grad(true), k = k0.clone().set_requires_grad(true), v = v0.clone().set_requires_grad(true);
    KeyRanges r;
    EXPECT_TRUE(KeyRangesFromMask(mask, &r));
    at::Tensor y = RangeAttentionCpu(q, k, v, r, 0.125);
    y.backward(dy);
    return std::vector<at::Tensor>{y.detach(), q.grad(), k.grad(), v.grad()};
  };
  auto one = run(1), two = run(2);
  at::set_num_threads(threads);
  for (size_t n = 0; n < one.size(); ++n) EXPECT_TRUE(at::equal(one[n], two[n])) << "output/dq/dk/dv " << n;
}

TEST(CpuNodes, KeyRangesTakeOnlyOneRunPerQuery) {
  at::Tensor mask = PackedMask(at::tensor(std::vector<int64_t>{0, 1, 2, 0, 1, 0}).view({1, 6}), 0);
  KeyRanges r;
  ASSERT_TRUE(KeyRangesFromMask(mask, &r));
  EXPECT_EQ(r.lo, (std::vector<int32_t>{0, 0, 0, 3, 3, 5}));
  EXPECT_EQ(r.hi, (std::vector<int32_t>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(r.pairs, 1 + 2 + 3 + 1 + 2 + 1);
  at::Tensor gap = mask.clone();
  gap.select(2, 2).select(2, 1).fill_(false);  // query 2 sees keys 0 and 2, not 1
  EXPECT_FALSE(KeyRangesFromMask(gap, &r));
  at::Tensor blind = mask.clone();
  blind.select(2, 4).fill_(false);  // query 4 sees nothing
  EXPECT_FALSE(KeyRangesFromMask(blind, &r));
  EXPECT_FALSE(KeyRangesFromMask(mask.squeeze(1), &r));  // not (B, 1, T, T)
  // Head dims the kernel does not take: the caller falls back.
  ASSERT_TRUE(KeyRangesFromMask(mask, &r));
  at::Tensor odd = at::randn({1, 2, 6, 24});
  EXPECT_FALSE(RangeAttentionCpu(odd, odd, odd, r, 0.5).defined());
  at::Tensor fits = at::randn({1, 2, 6, 32});
  EXPECT_TRUE(RangeAttentionCpu(fits, fits, fits, r, 0.5).defined());
}

}  // namespace
}  // namespace st::train

