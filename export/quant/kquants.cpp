// Followed: ggml/src/ggml-quants.c (llama.cpp as vendored by llama-cpp-python
// 0.3.36): quantize_row_q{2,3,4,5,6}_K_ref and the quantize_row_q*_K_impl
// variants ggml uses when an importance matrix is given. Layouts: blocks.h.
#include "export/quant/kquants.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/half.h"
#include "kernels/gguf_blocks.h"
#include "kernels/gguf_kblocks.h"
#include "export/quant/search.h"
#include "export/quant/search_lanes.h"

namespace st::quant {
namespace {

// 2-bit levels of 256 values into 64 bytes: byte l of each 32-byte group holds
// values l, l+32, l+64, l+96 of that 128-value half, low bits first.
void Pack2Bit(const uint8_t* L, uint8_t* qs) {
  for (int half = 0; half < kSuper; half += 128)
    for (int l = 0; l < 32; ++l)
      qs[half / 4 + l] = (uint8_t)(L[half + l] | (L[half + l + 32] << 2) | (L[half + l + 64] << 4) |
                                   (L[half + l + 96] << 6));
}

// Q3_K: sixteen 6-bit scales in 12 bytes: low nibbles in bytes 0-7 (sub-blocks
// 8-15 in the high halves), the top two bits in bytes 8-11.
void PackScale3K(int j, int l, uint8_t* s) {
  if (j < 8)
    s[j] = (uint8_t)(l & 0xF);
  else
    s[j - 8] |= (uint8_t)((l & 0xF) << 4);
  l >>= 4;
  s[j % 4 + 8] |= (uint8_t)(l << (2 * (j / 4)));
}

int8_t UnpackScale3K(int j, const uint8_t* s) {
  int8_t sc = (int8_t)(j < 8 ? s[j] & 0xF : s[j - 8] >> 4);
  return (int8_t)((sc | (((s[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32);
}

void Q2K(const float* x, const float* qw, BlockQ2_K* y) {
  uint8_t L[kSuper], scratch[16];
  float mins[16], scales[16];
  if (!qw) {
    float max_scale = 0, max_min = 0;
    float wall[kSuper];
    for (int l = 0; l < kSuper; ++l) wall[l] = std::fabs(x[l]);
    if (LanesAvailable()) {
      for (int h = 0; h < 2; ++h)
        AffineLevels8(16, 3, x + 128 * h, wall + 128 * h, L + 128 * h, scales + 8 * h, mins + 8 * h, -0.5f, 0.1f, 15, true, false);
    } else {
      for (int j = 0; j < 16; ++j)
        scales[j] = AffineLevels(16, 3, x + 16 * j, wall + 16 * j, L + 16 * j, &mins[j], scratch, -0.5f, 0.1f, 15, true, false);
    }
    for (int j = 0; j < 16; ++j) {
      if (scales[j] > max_scale) max_scale = scales[j];
      if (mins[j] > max_min) max_min = mins[j];
    }
    if (max_scale > 0) {
      const float inv = 15.f / max_scale;
      for (int j = 0; j < 16; ++j) y->scales[j] = (uint8_t)RoundNearest(inv * scales[j]);
      y->d = F32ToF16(max_scale / 15.f);
    } else {
      std::memset(y->scales, 0, sizeof y->scales);
      y->d = F32ToF16(0.f);
    }
    if (max_min > 0) {
      const float inv = 15.f / max_min;
      for (int j = 0; j < 16; ++j) y->scales[j] |= (uint8_t)(RoundNearest(inv * mins[j]) << 4);
      y->dmin = F32ToF16(max_min / 15.f);
    } else {
      y->dmin = F32ToF16(0.f);
    }
  } else {
    float sw[16];
    uint8_t Ls[16], Lm[16];
    const float sigma2 = SumSquares(x, kSuper) / kSuper;
    float wall[kSuper];
    for (int j = 0; j < 16; ++j) {
      ImportanceWeights(qw + 16 * j, x + 16 * j, 16, sigma2, wall + 16 * j);
      sw[j] = Sum(wall + 16 * j, 16);
    }
    if (LanesAvailable()) {
      for (int h = 0; h < 2; ++h)
        AffineLevels8(16, 3, x + 128 * h, wall + 128 * h, L + 128 * h, scales + 8 * h, mins + 8 * h, -0.9f, 0.05f, 36, false, true);
    } else {
      for (int j = 0; j < 16; ++j)
        scales[j] = AffineLevels(16, 3, x + 16 * j, wall + 16 * j, L + 16 * j, &mins[j], scratch, -0.9f, 0.05f, 36, false, true);
    }
    const float dm = PositiveLevels(16, 15, scales, Ls, sw);
    const float mm = PositiveLevels(16, 15, mins, Lm, sw);
    y->d = F32ToF16(dm);
    y->dmin = F32ToF16(mm);
    for (int j = 0; j < 16; ++j) y->scales[j] = (uint8_t)(Ls[j] | (Lm[j] << 4));
  }
  for (int j = 0; j < 16; ++j)
    AffineRequantize(x + 16 * j, 16, Half(y->d) * (y->scales[j] & 0xF), Half(y->dmin) * (y->scales[j] >> 4), 3,
                     L + 16 * j);
  Pack2Bit(L, y->qs);
}

void Q3K(const float* x, const float* qw, BlockQ3_K* y) {
  int8_t L[kSuper];
  float scales[16];
  std::memset(y->scales, 0, sizeof y->scales);
  if (!qw) {
    float max_scale = 0, amax = 0;
    for (int j = 0; j < 16; ++j) {
      scales[j] = SymmetricLevelsDescent(16, 4, x + 16 * j, L + 16 * j, true);
      if (std::fabs(scales[j]) > amax) {
        amax = std::fabs(scales[j]);
        max_scale = scales[j];
      }
    }
    if (max_scale) {
      const float inv = -32.f / max_scale;
      for (int j = 0; j < 16; ++j) {
        int8_t l = (int8_t)RoundNearest(inv * scales[j]);
        l = (int8_t)(std::max(-32, std::min(31, (int)l)) + 32);
        PackScale3K(j, l, y->scales);
      }
      y->d = F32ToF16(1 / inv);
    } else {
      y->d = F32ToF16(0.f);
    }
  } else {
    float sw[16];
    int8_t Ls[16];
    const float sigma2 = 2 * SumSquares(x, kSuper) / kSuper;
    float wall[kSuper];
    for (int j = 0; j < 16; ++j) {
      ImportanceWeights(qw + 16 * j, x + 16 * j, 16, sigma2, wall + 16 * j);
      sw[j] = Sum(wall + 16 * j, 16);
    }
    if (LanesAvailable()) {
      for (int h = 0; h < 2; ++h) SymmetricLevels8(16, 4, x + 128 * h, wall + 128 * h, L + 128 * h, scales + 8 * h);
    } else {
      for (int j = 0; j < 16; ++j) scales[j] = SymmetricLevels(16, 4, x + 16 * j, L + 16 * j, 1, wall + 16 * j);
    }
    const float d = SymmetricLevels(16, 32, scales, Ls, 1, sw);
    for (int j = 0; j < 16; ++j) PackScale3K(j, Ls[j], y->scales);
    y->d = F32ToF16(d);
  }
  for (int j = 0; j < 16; ++j) {
    const float d = Half(y->d) * UnpackScale3K(j, y->scales);
    if (!d) continue;
    for (int i = 0; i < 16; ++i) L[16 * j + i] = (int8_t)(std::max(-4, std::min(3, RoundNearest(x[16 * j + i] / d))) + 4);
  }
  // Third bit of value j goes to hmask[j % 32], bit j / 32.
  std::memset(y->hmask, 0, sizeof y->hmask);
  uint8_t U[kSuper];
  for (int j = 0; j < kSuper; ++j) {
    int l = L[j];
    if (l > 3) {
      y->hmask[j % 32] |= (uint8_t)(1 << (j / 32));
      l -= 4;
    }
    U[j] = (uint8_t)l;
  }
  Pack2Bit(U, y->qs);
}

// Q4_K and Q5_K share everything but the level count and the bit packing
// (kernels/gguf_kblocks.h); the 8 sub-block searches run side by side when the
// CPU allows (same results).
template <int kMax>
struct HostAffineSearch8 {
  void operator()(const float* x, const float* w, uint8_t* L, float* scales, float* mins, float rmin, float rdelta,
                  int nstep, bool strict) const {
    if (LanesAvailable()) return AffineLevels8(32, kMax, x, w, L, scales, mins, rmin, rdelta, nstep, false, strict);
    AffineSearch8<kMax>()(x, w, L, scales, mins, rmin, rdelta, nstep, strict);
  }
};

void Q4K(const float* x, const float* qw, BlockQ4_K* y) { Q4KBlock(x, qw, y, HostAffineSearch8<15>()); }

void Q5K(const float* x, const float* qw, BlockQ5_K* y) {
  uint8_t L[kSuper];
  ScaleMinK<BlockQ5_K, 31>(x, qw, y, L, HostAffineSearch8<31>());
  // As Q4_K for the low four bits; the fifth bit of group g's values l and l+32
  // goes to qh[l], bits 2g and 2g+1.
  std::memset(y->qh, 0, sizeof y->qh);
  for (int g = 0; g < kSuper / 64; ++g)
    for (int l = 0; l < 32; ++l) {
      int lo = L[64 * g + l], hi = L[64 * g + l + 32];
      if (lo > 15) {
        lo -= 16;
        y->qh[l] |= (uint8_t)(1 << (2 * g));
      }
      if (hi > 15) {
        hi -= 16;
        y->qh[l] |= (uint8_t)(2 << (2 * g));
      }
      y->qs[32 * g + l] = (uint8_t)(lo | (hi << 4));
    }
}

// Q6_K's 16 sub-block searches, 8 side by side when the CPU allows.
struct HostSymmetricSearch16 {
  void operator()(const float* x, const float* qw, int8_t* L, float* scales) const {
    if (!LanesAvailable()) return SymmetricSearch16()(x, qw, L, scales);
    for (int h = 0; h < 2; ++h) SymmetricLevels8(16, 32, x + 128 * h, qw ? qw + 128 * h : nullptr, L + 128 * h, scales + 8 * h);
  }
};

void Q6K(const float* x, const float* qw, BlockQ6_K* y) { Q6KBlock(x, qw, y, HostSymmetricSearch16()); }

template <typename Block, void (*F)(const float*, const float*, Block*)>
void Row(const float* x, int64_t n, const float* importance, uint8_t* out) {
  Block* b = reinterpret_cast<Block*>(out);
  for (int64_t i = 0; i < n / kSuper; ++i) F(x + i * kSuper, importance ? importance + i * kSuper : nullptr, b + i);
}

}  // namespace

void QuantizeRowQ2_K(const float* x, int64_t n, const float* im, uint8_t* out) { Row<BlockQ2_K, Q2K>(x, n, im, out); }
void QuantizeRowQ3_K(const float* x, int64_t n, const float* im, uint8_t* out) { Row<BlockQ3_K, Q3K>(x, n, im, out); }
void QuantizeRowQ4_K(const float* x, int64_t n, const float* im, uint8_t* out) { Row<BlockQ4_K, Q4K>(x, n, im, out); }
void QuantizeRowQ5_K(const float* x, int64_t n, const float* im, uint8_t* out) { Row<BlockQ5_K, Q5K>(x, n, im, out); }
void QuantizeRowQ6_K(const float* x, int64_t n, const float* im, uint8_t* out) { Row<BlockQ6_K, Q6K>(x, n, im, out); }

}  // namespace st::quant
