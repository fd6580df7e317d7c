// The kernels' CPU references (kernels/*_ref.cpp) against plain LibTorch autograd
// on fresh random inputs, values and gradients, at several shapes including ones
// that are not multiples of any block or chunk size. These references are what
// the CUDA kernels are held to on a GPU (tests/kernels/cuda_parity_test.cpp).
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>

#include <tuple>
#include <vector>

#include "core/model_spec.h"
#include "kernels/linear_ce.h"
#include "kernels/lora_linear.h"
#include "kernels/nf4.h"
#include "kernels/nf4_tables.h"
#include "kernels/rmsnorm.h"
#include "kernels/rope.h"
#include "kernels/swiglu.h"

namespace st::kernels {
namespace {

at::Tensor Randn(std::vector<int64_t> shape, uint64_t seed) {
  return at::randn(shape, at::detail::createCPUGenerator(seed), at::kFloat);
}
float* F(at::Tensor& t) { return t.data_ptr<float>(); }
at::Tensor Empty(std::vector<int64_t> shape) { return at::empty(shape, at::kFloat); }

void ExpectClose(const at::Tensor& got, const at::Tensor& want, double rtol = 1e-5, double atol = 1e-5) {
  ASSERT_EQ(got.sizes(), want.sizes());
  const double err = (got - want).abs().max().item<double>();
  const double bound = atol + rtol * want.abs().max().item<double>();
  EXPECT_LE(err, bound) << "max abs error " << err << " over bound " << bound;
}

at::Tensor Grad(const at::Tensor& out, const at::Tensor& dy, const at::Tensor& wrt) {
  return torch::autograd::grad({out}, {wrt}, {dy}, /*retain_graph=*/true)[0];
}

TEST(KernelRef, RmsNormMatchesAutograd) {
  for (auto [rows, dim] : std::vector<std::pair<int64_t, int64_t>>{{1, 8}, {5, 67}, {33, 256}}) {
    at::Tensor x = Randn({rows, dim}, 1).requires_grad_(), w = Randn({dim}, 2).requires_grad_();
    at::Tensor dy = Randn({rows, dim}, 3);
    const double eps = 1e-6;
    at::Tensor y = w * (x * at::rsqrt(x.pow(2).mean(-1, true) + eps));
    at::Tensor dx_want = Grad(y, dy, x), dw_want = Grad(y, dy, w);
    at::Tensor xd = x.detach(), wd = w.detach(), yr = Empty({rows, dim}), rstd = Empty({rows});
    RmsNormForwardRef(rows, dim, F(xd), F(wd), (float)eps, F(yr), F(rstd));
    ExpectClose(yr, y.detach());
    at::Tensor dx = Empty({rows, dim}), dw = Empty({dim});
    RmsNormBackwardRef(rows, dim, F(dy), F(xd), F(wd), F(rstd), F(dx), F(dw));
    ExpectClose(dx, dx_want);
    ExpectClose(dw, dw_want);
    RmsNormBackwardRef(rows, dim, F(dy), F(xd), F(wd), F(rstd), F(dx), nullptr);  // frozen weight
    ExpectClose(dx, dx_want);
  }
}

TEST(KernelRef, RopeMatchesAutogradWithLlama3Scaling) {
  ModelSpec spec;
  spec.head_dim = 64;
  spec.rope_theta = 500000.0;
  spec.rope_scaling.type = "llama3";
  spec.rope_scaling.factor = 8.0;
  spec.rope_scaling.original_max_position_embeddings = 64;  // small, so the three bands all occur
  const std::vector<float> factors = RopeFreqFactors(spec);
  for (auto [tokens, heads, hd] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{{7, 3, 64}, {40, 2, 64}}) {
    at::Tensor inv = 1.0 / at::pow(spec.rope_theta, at::arange(0, hd, 2, at::kLong).to(at::kFloat) / (double)hd);
    inv = (inv / at::tensor(factors, at::kFloat)).contiguous();
    at::Tensor pos = at::randint(0, 5000, {tokens}, at::detail::createCPUGenerator(4), at::kLong);
    at::Tensor x = Randn({tokens, heads, hd}, 5).requires_grad_(), dy = Randn({tokens, heads, hd}, 6);
    at::Tensor ang = pos.to(at::kFloat).unsqueeze(-1) * inv;  // (T, hd/2)
    at::Tensor emb = at::cat({ang, ang}, -1).unsqueeze(1);     // (T, 1, hd)
    const int64_t h = hd / 2;
    at::Tensor rot = at::cat({-x.narrow(-1, h, h), x.narrow(-1, 0, h)}, -1);
    at::Tensor y = x * emb.cos() + rot * emb.sin();
    at::Tensor dx_want = Grad(y, dy, x);
    at::Tensor got = x.detach().clone();
    RopeRef(tokens, heads, hd, F(got), pos.data_ptr<int64_t>(), F(inv), false);
    ExpectClose(got, y.detach(), 1e-5, 1e-4);
    at::Tensor g = dy.clone();
    RopeRef(tokens, heads, hd, F(g), pos.data_ptr<int64_t>(), F(inv), true);
    ExpectClose(g, dx_want, 1e-5, 1e-4);
  }
}

TEST(KernelRef, SwigluMatchesAutograd) {
  for (int64_t n : {1, 37, 4096}) {
    at::Tensor g = Randn({n}, 7).mul(3).requires_grad_(), u = Randn({n}, 8).requires_grad_(), dh = Randn({n}, 9);
    at::Tensor h = at::silu(g) * u;
    at::Tensor dg_want = Grad(h, dh, g), du_want = Grad(h, dh, u);
    at::Tensor gd = g.detach(), ud = u.detach(), hr = Empty({n}), dg = Empty({n}), du = Empty({n});
    SwigluForwardRef(n, F(gd), F(ud), F(hr));
    ExpectClose(hr, h.detach());
    SwigluBackwardRef(n, F(dh), F(gd), F(ud), F(dg), F(du));
    ExpectClose(dg, dg_want);
    ExpectClose(du, du_want);
  }
}

TEST(KernelRef, LinearCrossEntropyMatchesAutogradOverChunkings) {
  const int64_t tokens = 23, dim = 40, vocab = 101, ignore = -100;
  at::Tensor h = Randn({tokens, dim}, 10).requires_grad_(), w = Randn({vocab, dim}, 11).mul(0.3);
  at::Tensor tg = at::randint(0, vocab, {tokens}, at::detail::createCPUGenerator(12), at::kLong);
  tg.index_put_({at::tensor({0, 5, 22}, at::kLong)}, ignore);
  const float scale = 1.0f / 20.0f;  // 20 counted targets
  at::Tensor nll_want = at::cross_entropy_loss(at::matmul(h, w.t()), tg, {}, at::Reduction::None, ignore);
  at::Tensor loss = nll_want.sum() * scale;
  at::Tensor dh_want = torch::autograd::grad({loss}, {h})[0];
  at::Tensor hd = h.detach();
  for (auto [ct, cv] : std::vector<std::pair<int64_t, int64_t>>{{0, 0}, {4, 17}, {23, 100}, {1, 101}, {7, 1}}) {
    LinearCeShape s{tokens, dim, vocab, ct, cv};
    at::Tensor nll = Empty({tokens}), dh = Empty({tokens, dim});
    LinearCrossEntropyRef(s, F(hd), F(w), tg.data_ptr<int64_t>(), ignore, scale, F(nll), F(dh));
    ExpectClose(nll, nll_want.detach(), 1e-5, 1e-5);
    ExpectClose(dh, dh_want, 1e-5, 1e-6);
    EXPECT_EQ(nll[0].item<float>(), 0.0f);
  }
}

at::Tensor DropoutMask(int64_t n, int64_t in, float p, uint64_t seed) {
  at::Tensor m = Empty({n, in});
  for (int64_t i = 0; i < n * in; ++i) F(m)[i] = DropoutFactor(seed, (uint64_t)i, p);
  return m;
}

TEST(KernelRef, LoraLinearMatchesAutogradWithDropout) {
  for (auto [n, in, out, r, p] : std::vector<std::tuple<int64_t, int64_t, int64_t, int64_t, float>>{
           {5, 24, 17, 4, 0.0f}, {33, 40, 64, 8, 0.1f}, {9, 70, 30, 1, 0.5f}}) {
    LoraShape s{n, in, out, r};
    const float scale = 2.0f;
    const uint64_t seed = 99 + n;
    at::Tensor x = Randn({n, in}, 20).requires_grad_(), w = Randn({out, in}, 21), bias = Randn({out}, 22);
    at::Tensor a = Randn({r, in}, 23).requires_grad_(), b = Randn({out, r}, 24).requires_grad_();
    at::Tensor dy = Randn({n, out}, 25);
    at::Tensor mask = DropoutMask(n, in, p, seed);
    at::Tensor y = at::matmul(x, w.t()) + bias + scale * at::matmul(at::matmul(x * mask, a.t()), b.t());
    at::Tensor dx_want = Grad(y, dy, x), da_want = Grad(y, dy, a), db_want = Grad(y, dy, b);
    at::Tensor xd = x.detach(), ad = a.detach(), bd = b.detach();
    at::Tensor yr = Empty({n, out}), xa = Empty({n, r});
    LoraLinearForwardRef(s, F(xd), F(w), F(bias), F(ad), F(bd), scale, p, seed, F(yr), F(xa));
    ExpectClose(yr, y.detach());
    ExpectClose(xa, at::matmul(xd * mask, ad.t()));
    at::Tensor dx = Empty({n, in}), da = Empty({r, in}), db = Empty({out, r});
    LoraLinearBackwardRef(s, F(dy), F(xd), F(w), F(ad), F(bd), F(xa), scale, p, seed, F(dx), F(da), F(db));
    ExpectClose(dx, dx_want);
    ExpectClose(da, da_want);
    ExpectClose(db, db_want);
  }
}

TEST(KernelRef, DropoutMaskKeepsAboutOneMinusP) {
  const at::Tensor m = DropoutMask(100, 1000, 0.25f, 5);
  const double kept = m.ne(0).to(at::kDouble).mean().item<double>();
  EXPECT_NEAR(kept, 0.75, 0.01);
  EXPECT_FLOAT_EQ(m.max().item<float>(), 1.0f / 0.75f);
  EXPECT_FALSE(DropoutMask(10, 10, 0.25f, 6).equal(DropoutMask(10, 10, 0.25f, 7)));  // the seed matters
}

TEST(KernelRef, Nf4RoundTripsWithinHalfACodeStep) {
  for (int64_t n : {64, 1000, 64 * 300 + 7}) {
    at::Tensor x = Randn({n}, 30);
    const Nf4Sizes sz = Nf4SizesFor(n);
    std::vector<uint8_t> packed(sz.packed), aq(sz.blocks);
    std::vector<float> a2(sz.blocks2);
    float offset = 0;
    Nf4QuantizeRef(n, F(x), packed.data(), aq.data(), a2.data(), &offset);
    at::Tensor back = Empty({n});
    Nf4DequantizeRef(n, packed.data(), aq.data(), a2.data(), offset, F(back));
    // Largest gap between neighbouring NF4 codes is 1 - 0.7230 (the top one); the
    // double-quantized absmax adds a little on top.
    for (int64_t b = 0; b < sz.blocks; ++b) {
      const int64_t len = std::min<int64_t>(64, n - b * 64);
      at::Tensor xs = x.narrow(0, b * 64, len), bs = back.narrow(0, b * 64, len);
      const double amax = xs.abs().max().item<double>();
      EXPECT_LE((xs - bs).abs().max().item<double>(), amax * (0.14 + 0.02)) << "block " << b;
    }
    if (n % 2) {
      EXPECT_EQ(packed.back() & 15, 7) << "the pad nibble is the code of 0";
    }
    // The matmul reference is the product with the dequantized weight.
    const int64_t in = 64, out = n / 64, rows = 3;
    if (out == 0) continue;
    at::Tensor xin = Randn({rows, in}, 31), y = Empty({rows, out});
    Nf4MatmulRef(rows, in, out, F(xin), packed.data(), aq.data(), a2.data(), offset, F(y));
    ExpectClose(y, at::matmul(xin, back.narrow(0, 0, in * out).view({out, in}).t()));
  }
}

TEST(KernelRef, Nf4CodeBooksAreSortedAndSymmetricAtTheEnds) {
  for (int i = 1; i < 16; ++i) EXPECT_LT(kNf4Code[i - 1], kNf4Code[i]);
  for (int i = 1; i < 256; ++i) EXPECT_LE(kDynamic8Code[i - 1], kDynamic8Code[i]);
  EXPECT_EQ(kNf4Code[0], -1.0f);
  EXPECT_EQ(kNf4Code[7], 0.0f);
  EXPECT_EQ(kNf4Code[15], 1.0f);
  EXPECT_EQ(kDynamic8Code[255], 1.0f);
}

}  // namespace
}  // namespace st::kernels
