#include "export/merge.h"

#include <gtest/gtest.h>

#include <random>

namespace st::exporter {
namespace {

TEST(Merge, AddLoraDeltaEqualsScaledBTimesA) {
  const int64_t out = 5, in = 7, r = 3;
  std::mt19937 rng(1);
  std::normal_distribution<float> n;
  LoraPair p;
  p.a.resize(r * in);
  p.b.resize(out * r);
  for (auto& x : p.a) x = n(rng);
  for (auto& x : p.b) x = n(rng);
  std::vector<float> w(out * in), expect(out * in);
  for (auto& x : w) x = n(rng);
  for (int64_t o = 0; o < out; ++o)
    for (int64_t i = 0; i < in; ++i) {
      double acc = 0;
      for (int64_t k = 0; k < r; ++k) acc += (double)p.b[o * r + k] * p.a[k * in + i];
      expect[o * in + i] = w[o * in + i] + 0.5f * (float)acc;
    }
  AddLoraDelta(p, out, in, r, 0.5f, w.data());
  for (size_t i = 0; i < w.size(); ++i) EXPECT_NEAR(w[i], expect[i], 1e-5f);
}

}  // namespace
}  // namespace st::exporter
