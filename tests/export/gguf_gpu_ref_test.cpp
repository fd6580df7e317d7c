// The GPU quantizer's CPU reference (kernels/gguf_quant.h: the per-block code the
// CUDA kernel runs) writes the export path's bytes (export/quant, ggml's bytes by
// tests/python/test_kquants.py), with and without an importance vector, on rows
// with ordinary, all-zero, constant and outlier blocks.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "export/quant/quantize.h"
#include "kernels/gguf_quant.h"

namespace st {
namespace {

std::vector<float> Rows(int64_t rows, int64_t cols, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(0.0f, 0.02f);
  std::vector<float> x(rows * cols);
  for (auto& v : x) v = d(rng);
  for (int64_t i = 0; i < 256; ++i) x[i] = 0.0f;                 // an all-zero super-block
  for (int64_t i = 256; i < 512 && i < (int64_t)x.size(); ++i) x[i] = 0.5f;  // a constant one
  x[700 % x.size()] = 3.0f;                                      // an outlier
  return x;
}

TEST(GgufGpuReference, EqualsExportBytes) {
  const int64_t rows = 6, cols = 768;
  const std::vector<float> x = Rows(rows, cols, 3);
  std::vector<float> imp(cols);
  std::mt19937_64 rng(4);
  std::uniform_real_distribution<float> u(0.01f, 5.0f);
  for (auto& v : imp) v = u(rng);
  const std::pair<kernels::GgufBlockType, quant::Type> types[] = {{kernels::GgufBlockType::kQ8_0, quant::Type::kQ8_0},
                                                                  {kernels::GgufBlockType::kQ4_K, quant::Type::kQ4_K},
                                                                  {kernels::GgufBlockType::kQ6_K, quant::Type::kQ6_K}};
  for (auto [kt, qt] : types)
    for (const float* importance : {(const float*)nullptr, (const float*)imp.data()}) {
      std::vector<uint8_t> want;
      quant::QuantizeRows(qt, x.data(), rows, cols, &want, 1, importance);
      std::vector<uint8_t> got(rows * cols / kernels::GgufBlockValues(kt) * kernels::GgufBlockBytes(kt));
      ASSERT_EQ(got.size(), want.size()) << quant::Info(qt).name;
      kernels::GgufQuantizeRef(kt, rows, cols, x.data(), importance, got.data());
      EXPECT_EQ(got, want) << quant::Info(qt).name << (importance ? " with importance" : "");
    }
}

}  // namespace
}  // namespace st
