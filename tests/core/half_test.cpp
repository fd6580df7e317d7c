#include "core/half.h"

#include <gtest/gtest.h>

#include <cmath>

namespace st {
namespace {

TEST(Half, EveryF16RoundTripsThroughF32) {
  for (uint32_t h = 0; h < 65536; ++h) {
    float f = F16ToF32((uint16_t)h);
    if (std::isnan(f)) continue;
    EXPECT_EQ(F32ToF16(f), h) << h;
  }
}

TEST(Half, F32ToF16RoundsToNearestEven) {
  EXPECT_EQ(F32ToF16(1.0f), 0x3c00);
  EXPECT_EQ(F32ToF16(1.0f + 1.0f / 2048), 0x3c00);          // halfway: to even
  EXPECT_EQ(F32ToF16(1.0f + 3.0f / 2048), 0x3c02);          // halfway: to even (up)
  EXPECT_EQ(F32ToF16(65520.0f), 0x7c00);                    // overflows to inf
  EXPECT_EQ(F32ToF16(65519.0f), 0x7bff);
  EXPECT_EQ(F32ToF16(std::ldexp(1.0f, -24)), 0x0001);       // smallest subnormal
  EXPECT_EQ(F32ToF16(std::ldexp(1.0f, -26)), 0x0000);       // underflow
  EXPECT_TRUE(std::isnan(F16ToF32(F32ToF16(NAN))));
}

TEST(Half, Bf16KeepsTheTopSixteenBitsWithRounding) {
  EXPECT_EQ(F32ToBF16(1.0f), 0x3f80);
  EXPECT_EQ(BF16ToF32(0x3f80), 1.0f);
  EXPECT_EQ(BF16ToF32(F32ToBF16(3.140625f)), 3.140625f);
}

}  // namespace
}  // namespace st
