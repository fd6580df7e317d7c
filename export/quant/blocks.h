// ggml block layouts (ggml-common.h) for the quant types we write, pinned with
// static_asserts so a layout change fails to compile. Every block covers 32
// consecutive values of a row; a row's length must be a multiple of 32.
//   Q8_0: d (f16), qs[32] int8                      x = d * q
//   Q4_0: d (f16), qs[16] two 4-bit values a byte   x = d * (q - 8)
//   Q4_1: d, m (f16), qs[16]                        x = d * q + m
//   Q5_0: d (f16), qh (32 high bits), qs[16]        x = d * (q - 16)
//   Q5_1: d, m (f16), qh, qs[16]                    x = d * q + m
// Nibble order: byte j holds value j in its low nibble and value j + 16 in its high one.
#pragma once

#include <cstddef>
#include <cstdint>

namespace st::quant {

inline constexpr int kBlock = 32;  // QK8_0 = QK4_0 = QK4_1 = QK5_0 = QK5_1

struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[kBlock];
};
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[kBlock / 2];
};
struct BlockQ4_1 {
  uint16_t d, m;
  uint8_t qs[kBlock / 2];
};
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[kBlock / 2];
};
struct BlockQ5_1 {
  uint16_t d, m;
  uint8_t qh[4];
  uint8_t qs[kBlock / 2];
};

static_assert(sizeof(BlockQ8_0) == 2 + kBlock, "wrong q8_0 block size/padding");
static_assert(sizeof(BlockQ4_0) == 2 + kBlock / 2, "wrong q4_0 block size/padding");
static_assert(sizeof(BlockQ4_1) == 4 + kBlock / 2, "wrong q4_1 block size/padding");
static_assert(sizeof(BlockQ5_0) == 2 + 4 + kBlock / 2, "wrong q5_0 block size/padding");
static_assert(sizeof(BlockQ5_1) == 4 + 4 + kBlock / 2, "wrong q5_1 block size/padding");

}  // namespace st::quant
