#include "train/adamw.h"

#include <gtest/gtest.h>

#include <cmath>

namespace st::train {
namespace {

TEST(AdamW, FirstStepsMatchTheClosedForm) {
  at::Tensor p = at::tensor({1.0f, -2.0f}).set_requires_grad(true);
  AdamW opt({p}, /*weight_decay=*/0.1);
  const double lr = 0.01;
  double expect0 = 1.0, m = 0, v = 0;
  for (int t = 1; t <= 3; ++t) {
    p.mutable_grad() = at::tensor({0.5f, 0.25f});
    opt.Step(lr);
    const double g = 0.5;
    expect0 *= 1.0 - lr * 0.1;
    m = 0.9 * m + 0.1 * g;
    v = 0.999 * v + 0.001 * g * g;
    expect0 -= lr * (m / (1 - std::pow(0.9, t))) / (std::sqrt(v / (1 - std::pow(0.999, t))) + 1e-8);
  }
  EXPECT_NEAR(p[0].item<double>(), expect0, 1e-6);
}

TEST(AdamW, ClipGradNormScalesToTheBound) {
  at::Tensor p = at::zeros({2}).set_requires_grad(true);
  AdamW opt({p}, 0.0);
  p.mutable_grad() = at::tensor({3.0f, 4.0f});
  EXPECT_NEAR(opt.ClipGradNorm(1.0), 5.0, 1e-6);
  EXPECT_NEAR(p.grad().norm().item<double>(), 1.0, 1e-5);
}

TEST(Schedule, WarmupThenCosineToZero) {
  EXPECT_DOUBLE_EQ(ScheduledLr("cosine", 1.0, 0, 10, 110), 0.0);
  EXPECT_DOUBLE_EQ(ScheduledLr("cosine", 1.0, 5, 10, 110), 0.5);
  EXPECT_DOUBLE_EQ(ScheduledLr("cosine", 1.0, 10, 10, 110), 1.0);
  EXPECT_NEAR(ScheduledLr("cosine", 1.0, 60, 10, 110), 0.5, 1e-12);
  EXPECT_NEAR(ScheduledLr("linear", 1.0, 60, 10, 110), 0.5, 1e-12);
  EXPECT_DOUBLE_EQ(ScheduledLr("constant", 1.0, 100, 10, 110), 1.0);
}

}  // namespace
}  // namespace st::train
