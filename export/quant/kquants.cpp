// Followed: ggml/src/ggml-quants.c (llama.cpp as vendored by llama-cpp-python
// 0.3.36): quantize_row_q{2,3,4,5,6}_K_ref and the quantize_row_q*_K_impl
// variants ggml uses when an importance matrix is given. Layouts: blocks.h.
#include "export/quant/kquants.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/half.h"
#include "export/quant/blocks.h"
#include "export/quant/search.h"
#include "export/quant/search_lanes.h"

namespace st::quant {
namespace {

float Half(uint16_t h) { return F16ToF32(h); }

// 2-bit levels of 256 values into 64 bytes: byte l of each 32-byte group holds
// values l, l+32, l+64, l+96 of that 128-value half, low bits first.
void Pack2Bit(const uint8_t* L, uint8_t* qs) {
  for (int half = 0; half < kSuper; half += 128)
    for (int l = 0; l < 32; ++l)
      qs[half / 4 + l] = (uint8_t)(L[half + l] | (L[half + l + 32] << 2) | (L[half + l + 64] << 4) |
                                   (L[half + l + 96] << 6));
}

// Q4_K/Q5_K: eight 6-bit scales and eight 6-bit mins in 12 bytes. Sub-blocks
// 0-3 take bytes 0-3 (scale) and 4-7 (min) whole; 4-7 keep their low nibbles in
// bytes 8-11 and their top two bits in the spare top bits of bytes 0-7.
void PackScaleMin6(int j, uint8_t ls, uint8_t lm, uint8_t* s) {
  if (j < 4) {
    s[j] = ls;
    s[j + 4] = lm;
  } else {
    s[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
    s[j - 4] |= (uint8_t)((ls >> 4) << 6);
    s[j] |= (uint8_t)((lm >> 4) << 6);
  }
}

void UnpackScaleMin6(int j, const uint8_t* s, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = s[j] & 63;
    *m = s[j + 4] & 63;
  } else {
    *sc = (uint8_t)((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4));
    *m = (uint8_t)((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
  }
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

float SumSquares(const float* x, int n) {
  float s = 0;
  for (int i = 0; i < n; ++i) s += x[i] * x[i];
  return s;
}

// Importance-weighted errors: w = importance * sqrt(sigma2 + x^2).
void ImportanceWeights(const float* qw, const float* x, int n, float sigma2, float* w) {
  for (int l = 0; l < n; ++l) w[l] = qw[l] * std::sqrt(sigma2 + x[l] * x[l]);
}

float Sum(const float* w, int n) {
  float s = 0;
  for (int l = 0; l < n; ++l) s += w[l];
  return s;
}

// Final affine levels once the sub-block scale and min are fixed (d = 0: keep
// the search's levels).
void AffineRequantize(const float* x, int n, float d, float dm, int nmax, uint8_t* L) {
  if (!d) return;
  for (int i = 0; i < n; ++i) L[i] = (uint8_t)std::max(0, std::min(nmax, RoundNearest((x[i] + dm) / d)));
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

// Q4_K and Q5_K share everything but the level count and the bit packing.
template <typename Block, int kMax>
void ScaleMinK(const float* x, const float* qw, Block* y, uint8_t* L) {
  uint8_t scratch[32];
  float w[kSuper], mins[8], scales[8];
  // The 8 sub-block searches, side by side when the CPU allows (same results).
  auto search = [&](float rmin, float rdelta, int nstep, bool strict) {
    if (LanesAvailable()) return AffineLevels8(32, kMax, x, w, L, scales, mins, rmin, rdelta, nstep, false, strict);
    for (int j = 0; j < 8; ++j)
      scales[j] = AffineLevels(32, kMax, x + 32 * j, w + 32 * j, L + 32 * j, &mins[j], scratch, rmin, rdelta, nstep, false, strict);
  };
  if (!qw) {
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; ++j) {
      const float av_x = std::sqrt(SumSquares(x + 32 * j, 32) / 32);
      for (int l = 0; l < 32; ++l) w[32 * j + l] = av_x + std::fabs(x[32 * j + l]);
    }
    if (kMax == 15) search(-1.f, 0.1f, 20, false);
    else search(-0.5f, 0.1f, 15, false);
    for (int j = 0; j < 8; ++j) {
      if (scales[j] > max_scale) max_scale = scales[j];
      if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < 8; ++j) {
      const uint8_t ls = std::min<uint8_t>(63, (uint8_t)RoundNearest(inv_scale * scales[j]));
      const uint8_t lm = std::min<uint8_t>(63, (uint8_t)RoundNearest(inv_min * mins[j]));
      PackScaleMin6(j, ls, lm, y->scales);
    }
    y->d = F32ToF16(max_scale / 63.f);
    y->dmin = F32ToF16(max_min / 63.f);
  } else {
    float sw[8];
    uint8_t Ls[8], Lm[8];
    const float sigma2 = 2 * SumSquares(x, kSuper) / kSuper;
    for (int j = 0; j < 8; ++j) {
      ImportanceWeights(qw + 32 * j, x + 32 * j, 32, sigma2, w + 32 * j);
      sw[j] = Sum(w + 32 * j, 32);
    }
    search(-0.9f, 0.05f, 36, true);
    const float d = PositiveLevels(8, 63, scales, Ls, sw);
    const float m = PositiveLevels(8, 63, mins, Lm, sw);
    for (int j = 0; j < 8; ++j) PackScaleMin6(j, Ls[j], Lm[j], y->scales);
    y->d = F32ToF16(d);
    y->dmin = F32ToF16(m);
  }
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    UnpackScaleMin6(j, y->scales, &sc, &m);
    AffineRequantize(x + 32 * j, 32, Half(y->d) * sc, Half(y->dmin) * m, kMax, L + 32 * j);
  }
}

void Q4K(const float* x, const float* qw, BlockQ4_K* y) {
  uint8_t L[kSuper];
  ScaleMinK<BlockQ4_K, 15>(x, qw, y, L);
  // Each 64-value group: 32 bytes, value l in the low nibble, value l+32 in the high one.
  for (int g = 0; g < kSuper / 64; ++g)
    for (int l = 0; l < 32; ++l) y->qs[32 * g + l] = (uint8_t)(L[64 * g + l] | (L[64 * g + l + 32] << 4));
}

void Q5K(const float* x, const float* qw, BlockQ5_K* y) {
  uint8_t L[kSuper];
  ScaleMinK<BlockQ5_K, 31>(x, qw, y, L);
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

void Q6K(const float* x, const float* qw, BlockQ6_K* y) {
  int8_t L[kSuper];
  float scales[16];
  float max_scale = 0, max_abs = 0;
  if (LanesAvailable()) {
    for (int h = 0; h < 2; ++h) SymmetricLevels8(16, 32, x + 128 * h, qw ? qw + 128 * h : nullptr, L + 128 * h, scales + 8 * h);
  } else {
    for (int j = 0; j < 16; ++j) scales[j] = SymmetricLevels(16, 32, x + 16 * j, L + 16 * j, 1, qw ? qw + 16 * j : nullptr);
  }
  for (int j = 0; j < 16; ++j) {
    if (std::fabs(scales[j]) > max_abs) {
      max_abs = std::fabs(scales[j]);
      max_scale = scales[j];
    }
  }
  if (max_abs < 1e-15f) {
    std::memset(y, 0, sizeof *y);
    return;
  }
  const float inv = -128.f / max_scale;
  y->d = F32ToF16(1 / inv);
  for (int j = 0; j < 16; ++j) y->scales[j] = (int8_t)std::min(127, RoundNearest(inv * scales[j]));
  for (int j = 0; j < 16; ++j) {
    const float d = Half(y->d) * y->scales[j];
    if (!d) continue;
    for (int i = 0; i < 16; ++i)
      L[16 * j + i] = (int8_t)(std::max(-32, std::min(31, RoundNearest(x[16 * j + i] / d))) + 32);
  }
  // Per 128-value half: low nibbles of values l and l+64 share ql[l], of l+32
  // and l+96 share ql[l+32]; the top two bits of all four go to qh[l].
  for (int h = 0; h < 2; ++h) {
    const int8_t* q = L + 128 * h;
    uint8_t* ql = y->ql + 64 * h;
    uint8_t* qh = y->qh + 32 * h;
    for (int l = 0; l < 32; ++l) {
      ql[l] = (uint8_t)((q[l] & 0xF) | ((q[l + 64] & 0xF) << 4));
      ql[l + 32] = (uint8_t)((q[l + 32] & 0xF) | ((q[l + 96] & 0xF) << 4));
      qh[l] = (uint8_t)((q[l] >> 4) | ((q[l + 32] >> 4) << 2) | ((q[l + 64] >> 4) << 4) | ((q[l + 96] >> 4) << 6));
    }
  }
}

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
