// One super-block of ggml's Q4_K and Q6_K and one block of Q8_0, for the host
// (export/quant, with its AVX2 searches plugged in) and the device
// (kernels/gguf_quant.cu) alike, so both write the same bytes. Followed:
// ggml/src/ggml-quants.c (llama.cpp as vendored by llama-cpp-python 0.3.36),
// quantize_row_q4_K_ref / _impl, quantize_row_q6_K_ref / _impl,
// quantize_row_q8_0_ref. Layouts in kernels/gguf_blocks.h.
#pragma once

#include <cmath>
#include <cstdint>

#include "core/half.h"
#include "kernels/gguf_blocks.h"
#include "kernels/gguf_search.h"

namespace st::quant {

ST_HD inline float Half(uint16_t h) { return F16ToF32(h); }

// Q4_K/Q5_K: eight 6-bit scales and eight 6-bit mins in 12 bytes. Sub-blocks
// 0-3 take bytes 0-3 (scale) and 4-7 (min) whole; 4-7 keep their low nibbles in
// bytes 8-11 and their top two bits in the spare top bits of bytes 0-7.
ST_HD inline void PackScaleMin6(int j, uint8_t ls, uint8_t lm, uint8_t* s) {
  if (j < 4) {
    s[j] = ls;
    s[j + 4] = lm;
  } else {
    s[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
    s[j - 4] |= (uint8_t)((ls >> 4) << 6);
    s[j] |= (uint8_t)((lm >> 4) << 6);
  }
}

ST_HD inline void UnpackScaleMin6(int j, const uint8_t* s, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = s[j] & 63;
    *m = s[j + 4] & 63;
  } else {
    *sc = (uint8_t)((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4));
    *m = (uint8_t)((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
  }
}

ST_HD inline float SumSquares(const float* x, int n) {
  float s = 0;
  for (int i = 0; i < n; ++i) s += x[i] * x[i];
  return s;
}

// Importance-weighted errors: w = importance * sqrt(sigma2 + x^2).
ST_HD inline void ImportanceWeights(const float* qw, const float* x, int n, float sigma2, float* w) {
  for (int l = 0; l < n; ++l) w[l] = qw[l] * sqrtf(sigma2 + x[l] * x[l]);
}

ST_HD inline float Sum(const float* w, int n) {
  float s = 0;
  for (int l = 0; l < n; ++l) s += w[l];
  return s;
}

// Final affine levels once the sub-block scale and min are fixed (d = 0: keep
// the search's levels).
ST_HD inline void AffineRequantize(const float* x, int n, float d, float dm, int nmax, uint8_t* L) {
  if (!d) return;
  for (int i = 0; i < n; ++i) L[i] = (uint8_t)ClampInt(RoundNearest((x[i] + dm) / d), 0, nmax);
}

// Round half away from zero (C's roundf, as ggml's Q8_0 reference uses it).
ST_HD inline int RoundHalfAway(float v) {
  const int t = (int)v;
  const float frac = v - (float)t;
  return frac >= 0.5f ? t + 1 : frac <= -0.5f ? t - 1 : t;
}

ST_HD inline void Q8_0Block(const float* x, BlockQ8_0* b) {
  float amax = 0.0f;
  for (int j = 0; j < kBlock; ++j) amax = amax > fabsf(x[j]) ? amax : fabsf(x[j]);
  const float d = amax / ((1 << 7) - 1);
  const float id = d ? 1.0f / d : 0.0f;
  b->d = F32ToF16(d);
  for (int j = 0; j < kBlock; ++j) b->qs[j] = (int8_t)RoundHalfAway(x[j] * id);
}

// The eight sub-block searches one at a time (the host may run them side by side
// with the same results: export/quant/search_lanes.h).
template <int kMax>
struct AffineSearch8 {
  ST_HD void operator()(const float* x, const float* w, uint8_t* L, float* scales, float* mins, float rmin,
                        float rdelta, int nstep, bool strict) const {
    uint8_t scratch[32];
    for (int j = 0; j < 8; ++j)
      scales[j] = AffineLevels(32, kMax, x + 32 * j, w + 32 * j, L + 32 * j, &mins[j], scratch, rmin, rdelta, nstep,
                               false, strict);
  }
};

// Q4_K and Q5_K's scales, mins and levels L (256) of one super-block.
template <typename Block, int kMax, typename Search>
ST_HD void ScaleMinK(const float* x, const float* qw, Block* y, uint8_t* L, const Search& search) {
  float w[kSuper], mins[8], scales[8];
  if (!qw) {
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; ++j) {
      const float av_x = sqrtf(SumSquares(x + 32 * j, 32) / 32);
      for (int l = 0; l < 32; ++l) w[32 * j + l] = av_x + fabsf(x[32 * j + l]);
    }
    if (kMax == 15) search(x, w, L, scales, mins, -1.f, 0.1f, 20, false);
    else search(x, w, L, scales, mins, -0.5f, 0.1f, 15, false);
    for (int j = 0; j < 8; ++j) {
      if (scales[j] > max_scale) max_scale = scales[j];
      if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < 12; ++j) y->scales[j] = 0;
    for (int j = 0; j < 8; ++j) {
      const int rs = RoundNearest(inv_scale * scales[j]), rm = RoundNearest(inv_min * mins[j]);
      const uint8_t ls = (uint8_t)rs < 63 ? (uint8_t)rs : 63, lm = (uint8_t)rm < 63 ? (uint8_t)rm : 63;
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
    search(x, w, L, scales, mins, -0.9f, 0.05f, 36, true);
    const float d = PositiveLevels(8, 63, scales, Ls, sw);
    const float m = PositiveLevels(8, 63, mins, Lm, sw);
    for (int j = 0; j < 12; ++j) y->scales[j] = 0;
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

template <typename Search>
ST_HD void Q4KBlock(const float* x, const float* qw, BlockQ4_K* y, const Search& search) {
  uint8_t L[kSuper];
  ScaleMinK<BlockQ4_K, 15>(x, qw, y, L, search);
  // Each 64-value group: 32 bytes, value l in the low nibble, value l+32 in the high one.
  for (int g = 0; g < kSuper / 64; ++g)
    for (int l = 0; l < 32; ++l) y->qs[32 * g + l] = (uint8_t)(L[64 * g + l] | (L[64 * g + l + 32] << 4));
}

// The sixteen Q6_K sub-block searches one at a time.
struct SymmetricSearch16 {
  ST_HD void operator()(const float* x, const float* qw, int8_t* L, float* scales) const {
    for (int j = 0; j < 16; ++j) scales[j] = SymmetricLevels(16, 32, x + 16 * j, L + 16 * j, 1, qw ? qw + 16 * j : nullptr);
  }
};

template <typename Search>
ST_HD void Q6KBlock(const float* x, const float* qw, BlockQ6_K* y, const Search& search) {
  int8_t L[kSuper];
  float scales[16];
  float max_scale = 0, max_abs = 0;
  search(x, qw, L, scales);
  for (int j = 0; j < 16; ++j) {
    if (fabsf(scales[j]) > max_abs) {
      max_abs = fabsf(scales[j]);
      max_scale = scales[j];
    }
  }
  if (max_abs < 1e-15f) {
    memset(y, 0, sizeof *y);
    return;
  }
  const float inv = -128.f / max_scale;
  y->d = F32ToF16(1 / inv);
  for (int j = 0; j < 16; ++j) {
    const int r = RoundNearest(inv * scales[j]);
    y->scales[j] = (int8_t)(r < 127 ? r : 127);
  }
  for (int j = 0; j < 16; ++j) {
    const float d = Half(y->d) * y->scales[j];
    if (!d) continue;
    for (int i = 0; i < 16; ++i) L[16 * j + i] = (int8_t)(ClampInt(RoundNearest(x[16 * j + i] / d), -32, 31) + 32);
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

}  // namespace st::quant
