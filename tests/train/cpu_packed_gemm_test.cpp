// MKL's packed products of a frozen weight (train/cpu_packed_gemm.h) against
// at::mm, and the LoRA node using them in a training step against the same node
// with them switched off.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "train/cpu_packed_gemm.h"
#include "train/fused_ops.h"
#include "train/lora.h"

namespace st::train {
namespace {

double RelErr(const at::Tensor& a, const at::Tensor& b) {
  return ((a - b).abs().max() / b.abs().max()).item<double>();
}

#define SKIP_WITHOUT_PACKED_API()                                                                         \
  if (!PackedWeight::Available())                                                                        \
  GTEST_SKIP() << "this process's BLAS has no cblas_sgemm_pack/compute (LibTorch built without MKL): " \
                  "the LoRA node uses at::mm"

TEST(PackedGemm, ProductsMatchTheUnpackedOnes) {
  SKIP_WITHOUT_PACKED_API();
  at::manual_seed(1);
  const int64_t rows = 130, out = 200, in = 136;  // not multiples of any panel width
  at::Tensor w = at::randn({out, in}), bias = at::randn({out}), x = at::randn({rows, in}), dy = at::randn({rows, out});
  PackedWeight p;
  EXPECT_FALSE(p.Forward(x, w, at::Tensor()).defined());  // nothing packed yet
  p.Prepare(w, rows);
  at::Tensor y = p.Forward(x, w, at::Tensor()), yb = p.Forward(x, w, bias), dx = p.Backward(dy, w);
  ASSERT_TRUE(y.defined() && yb.defined() && dx.defined());
  EXPECT_LT(RelErr(y, at::mm(x, w.t())), 1e-6);
  EXPECT_LT(RelErr(yb, at::addmm(bias, x, w.t())), 1e-6);
  EXPECT_LT(RelErr(dx, at::mm(dy, w)), 1e-6);
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{rows, out}));
  EXPECT_EQ(dx.sizes(), (std::vector<int64_t>{rows, in}));
  // Added into an existing tensor (a group of layers summing their input gradients).
  at::Tensor acc = at::randn({rows, in}), want = acc + at::mm(dy, w);
  ASSERT_TRUE(p.AddBackward(dy, w, acc));
  EXPECT_LT(RelErr(acc, want), 1e-6);
  at::Tensor wrong = at::randn({rows, in + 1}), strided = at::randn({in, rows}).t();
  EXPECT_FALSE(p.AddBackward(dy, w, wrong));
  EXPECT_FALSE(p.AddBackward(dy, w, strided));  // not row-major: the caller's at::mm
}

TEST(PackedGemm, OnlyForThePackedRowCountAndWeight) {
  SKIP_WITHOUT_PACKED_API();
  at::manual_seed(2);
  at::Tensor w = at::randn({48, 40});
  PackedWeight p;
  p.Prepare(w, 64);
  EXPECT_TRUE(p.Forward(at::randn({64, 40}), w, at::Tensor()).defined());
  EXPECT_FALSE(p.Forward(at::randn({63, 40}), w, at::Tensor()).defined());  // another row count: at::mm's
  EXPECT_FALSE(p.Backward(at::randn({65, 48}), w).defined());
  p.Prepare(w, 32);  // the first count stays
  EXPECT_FALSE(p.Forward(at::randn({32, 40}), w, at::Tensor()).defined());
  EXPECT_FALSE(p.Forward(at::randn({64, 40}).t().contiguous().t(), w, at::Tensor()).defined());  // not row-major

  // A weight changed in place is packed again before it is used.
  at::Tensor x = at::randn({64, 40}), dy = at::randn({64, 48});
  EXPECT_TRUE(p.Backward(dy, w).defined());
  w.mul_(2.0);
  EXPECT_FALSE(p.Forward(x, w, at::Tensor()).defined());
  EXPECT_FALSE(p.Backward(dy, w).defined());
  p.Prepare(w, 64);
  EXPECT_LT(RelErr(p.Forward(x, w, at::Tensor()), at::mm(x, w.t())), 1e-6);
  EXPECT_LT(RelErr(p.Backward(dy, w), at::mm(dy, w)), 1e-6);

  // A layer whose weight is replaced by another tensor (another storage, whatever
  // its address) drops its packs; the same values in a new storage count as new.
  at::Tensor copy = w.clone();
  EXPECT_FALSE(p.Forward(x, copy, at::Tensor()).defined());
  EXPECT_FALSE(p.Forward(x, w, at::Tensor()).defined());  // dropped, not kept beside
  p.Prepare(copy, 64);
  EXPECT_LT(RelErr(p.Forward(x, copy, at::Tensor()), at::mm(x, w.t())), 1e-6);
}

TEST(PackedGemm, IgnoresWeightsItCannotPack) {
  SKIP_WITHOUT_PACKED_API();
  PackedWeight p;
  at::Tensor bf = at::randn({48, 40}).to(at::kBFloat16), strided = at::randn({40, 48}).t();
  p.Prepare(bf, 64);
  EXPECT_FALSE(p.Forward(at::randn({64, 40}).to(at::kBFloat16), bf, at::Tensor()).defined());
  p.Prepare(strided, 64);
  EXPECT_FALSE(p.Forward(at::randn({64, 40}), strided, at::Tensor()).defined());
}

struct Step {
  at::Tensor y, dx, da, db;
};

Step TrainStep(const LoraLinear& l, const at::Tensor& x0, const at::Tensor& dy) {
  for (const at::Tensor& p : {l.lora_a, l.lora_b})
    if (p.grad().defined()) p.mutable_grad().reset();
  at::Tensor x = x0.detach().clone().set_requires_grad(true);
  at::Tensor y = l.Forward(x, true);
  y.backward(dy);
  return {y.detach(), x.grad(), l.lora_a.grad().clone(), l.lora_b.grad().clone()};
}

TEST(PackedGemm, LoraTrainingStepMatchesTheUnpackedNode) {
  SKIP_WITHOUT_PACKED_API();
  at::manual_seed(3);
  LoraLinear l;
  l.weight = at::randn({96, 80}) * 0.1;
  l.bias = at::randn({96}) * 0.1;
  l.AttachLora(8, 16.0, 0.0, at::detail::getDefaultCPUGenerator());
  {
    at::NoGradGuard ng;
    l.lora_b.normal_(0.0, 0.1);
  }
  at::Tensor x = at::randn({2, 64, 80}), dy = at::randn({2, 64, 96});
  {
    at::NoGradGuard ng;
    l.Forward(x, false);  // evaluation alone makes no packs
  }
  EXPECT_EQ(l.packed, nullptr);
  Step packed = TrainStep(l, x, dy);
  ASSERT_NE(l.packed, nullptr);
  EXPECT_TRUE(l.packed->Forward(x.reshape({128, 80}), l.weight, at::Tensor()).defined());
  Step plain;
  {
    ASSERT_TRUE(SetKernelsOff({"packed_gemm"}).ok());
    plain = TrainStep(l, x, dy);
    ASSERT_TRUE(SetKernelsOff({}).ok());
  }
  EXPECT_LT(RelErr(packed.y, plain.y), 1e-6);
  EXPECT_LT(RelErr(packed.dx, plain.dx), 1e-6);
  EXPECT_LT(RelErr(packed.da, plain.da), 1e-6);
  EXPECT_LT(RelErr(packed.db, plain.db), 1e-6);
}

}  // namespace
}  // namespace st::train
