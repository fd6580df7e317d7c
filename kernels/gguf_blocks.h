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

// K-quant super-blocks (ggml-common.h, QK_K = 256): 256 consecutive values of a
// row, split into sub-blocks with their own scales, the scales quantized again
// against one or two f16 super-block factors.
//   Q2_K: 16 sub-blocks of 16, x = d*sc*q - dmin*m, sc/m 4 bits, q 2 bits
//   Q3_K: 16 sub-blocks of 16, x = d*(sc-32)*(q-4), sc 6 bits, q 3 bits (high bit in hmask)
//   Q4_K: 8 sub-blocks of 32,  x = d*sc*q - dmin*m, sc/m 6 bits, q 4 bits
//   Q5_K: 8 sub-blocks of 32,  as Q4_K with a fifth bit in qh
//   Q6_K: 16 sub-blocks of 16, x = d*sc*(q-32), sc int8, q 6 bits (4 in ql, 2 in qh)
namespace st::quant {

inline constexpr int kSuper = 256;  // QK_K

struct BlockQ2_K {
  uint8_t scales[kSuper / 16];  // low nibble scale, high nibble min
  uint8_t qs[kSuper / 4];
  uint16_t d, dmin;
};
struct BlockQ3_K {
  uint8_t hmask[kSuper / 8];
  uint8_t qs[kSuper / 4];
  uint8_t scales[12];
  uint16_t d;
};
struct BlockQ4_K {
  uint16_t d, dmin;
  uint8_t scales[12];
  uint8_t qs[kSuper / 2];
};
struct BlockQ5_K {
  uint16_t d, dmin;
  uint8_t scales[12];
  uint8_t qh[kSuper / 8];
  uint8_t qs[kSuper / 2];
};
struct BlockQ6_K {
  uint8_t ql[kSuper / 2];
  uint8_t qh[kSuper / 4];
  int8_t scales[kSuper / 16];
  uint16_t d;
};

static_assert(sizeof(BlockQ2_K) == 84, "wrong q2_K block size/padding");
static_assert(sizeof(BlockQ3_K) == 110, "wrong q3_K block size/padding");
static_assert(sizeof(BlockQ4_K) == 144, "wrong q4_K block size/padding");
static_assert(sizeof(BlockQ5_K) == 176, "wrong q5_K block size/padding");
static_assert(sizeof(BlockQ6_K) == 210, "wrong q6_K block size/padding");

}  // namespace st::quant
