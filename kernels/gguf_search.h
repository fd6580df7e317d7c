// The scale searches behind ggml's k-quants and importance-weighted quants, for
// the host (export/quant) and the device (kernels/gguf_quant.cu) alike: one body,
// so the GPU's blocks are the CPU's bytes. Each picks a scale (and for affine
// types a minimum) for a small group of values and the integer levels that go
// with it. The float arithmetic follows ggml-quants.c (make_qx_quants,
// make_qkx2_quants, make_qkx3_quants, make_qp_quants) operation by operation,
// because the bytes must equal ggml's; the code is ours. Build with
// -ffp-contract=off (host) and -fmad=false (device).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/kernel_common.h"

namespace st::quant {

inline constexpr float kAllZero = 1e-15f;  // ggml's GROUP_MAX_EPS

// Round to nearest, ties to even, for |v| < 2^22 (ggml's nearest_int: adds
// 1.5 * 2^23 and reads the mantissa).
ST_HD inline int RoundNearest(float v) {
  float shifted = v + 12582912.0f;  // 1.5 * 2^23: the integer lands in the low mantissa bits
  int32_t bits;
  memcpy(&bits, &shifted, sizeof bits);
  return (bits & 0x007fffff) - 0x00400000;
}

ST_HD inline int ClampInt(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

// The value of largest magnitude with its sign (the first one on ties) and that magnitude.
ST_HD inline void SignedPeak(int n, const float* x, float* peak, float* mag) {
  *peak = 0.0f;
  *mag = 0.0f;
  for (int i = 0; i < n; ++i) {
    const float a = fabsf(x[i]);
    if (a > *mag) {
      *mag = a;
      *peak = x[i];
    }
  }
}

// Symmetric levels L[i] in [0, 2*nmax) for x ~= scale * (L[i] - nmax); returns
// the scale. `kind` 0: first guess only; 1: weighted least-squares refinement
// over 18 nearby scales (weights `w`, or x^2 when w is null); a negative kind
// returns early with the average of the two first estimates. n <= 256.
ST_HD inline float SymmetricLevels(int n, int nmax, const float* x, int8_t* L, int kind, const float* w) {
  float peak, mag;
  SignedPeak(n, x, &peak, &mag);
  if (mag < kAllZero) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.0f;
  }
  float inv = -nmax / peak;
  if (kind == 0) {
    for (int i = 0; i < n; ++i) L[i] = (int8_t)(nmax + ClampInt(RoundNearest(inv * x[i]), -nmax, nmax - 1));
    return 1 / inv;
  }
  const bool early = kind < 0;
  float own[256] = {};  // x^2 weights when none are given
  if (!w) {
    for (int i = 0; i < n; ++i) own[i] = x[i] * x[i];
    w = own;
  }
  float sum_xl = 0, sum_ll = 0;
  for (int i = 0; i < n; ++i) {
    const int l = ClampInt(RoundNearest(inv * x[i]), -nmax, nmax - 1);
    L[i] = (int8_t)(l + nmax);
    const float wi = w[i];
    sum_xl += wi * x[i] * l;
    sum_ll += wi * l * l;
  }
  float scale = sum_ll ? sum_xl / sum_ll : 0.0f;
  if (early) return sum_ll > 0 ? 0.5f * (scale + 1 / inv) : 1 / inv;
  float best = scale * sum_xl;
  for (int step = -9; step <= 9; ++step) {
    if (step == 0) continue;
    inv = -(nmax + 0.1f * step) / peak;
    sum_xl = sum_ll = 0;
    for (int i = 0; i < n; ++i) {
      const int l = ClampInt(RoundNearest(inv * x[i]), -nmax, nmax - 1);
      const float wi = w[i];
      sum_xl += wi * x[i] * l;
      sum_ll += wi * l * l;
    }
    if (sum_ll > 0 && sum_xl * sum_xl > best * sum_ll) {
      for (int i = 0; i < n; ++i) L[i] = (int8_t)(nmax + ClampInt(RoundNearest(inv * x[i]), -nmax, nmax - 1));
      scale = sum_xl / sum_ll;
      best = scale * sum_xl;
    }
  }
  return scale;
}

// Weighted error of x ~= s * levels + m (absolute or squared).
ST_HD inline float AffineError(int n, const float* x, const float* w, float s, float m, const uint8_t* levels,
                               bool abs_error) {
  float err = 0;
  for (int i = 0; i < n; ++i) {
    float d = s * levels[i] + m - x[i];
    d = abs_error ? fabsf(d) : d * d;
    err += w[i] * d;
  }
  return err;
}

// Affine levels L[i] in [0, nmax] for x ~= scale * L[i] - min_out, min_out >= 0.
// Tries nstep + 1 candidate scales (rmin + rdelta*k + nmax)/(max - min), keeping
// the one with the least weighted error (absolute when `abs_error`). `w` may be
// null: weights are then x^2. `strict` selects the empty-range test: ggml's
// make_qkx3_quants gives up when max <= min, make_qkx2_quants only when equal.
// n <= 256; `scratch` holds n levels.
ST_HD inline float AffineLevels(int n, int nmax, const float* x, const float* w, uint8_t* L, float* min_out,
                                uint8_t* scratch, float rmin, float rdelta, int nstep, bool abs_error, bool strict) {
  float own[256] = {};
  if (!w) {
    for (int i = 0; i < n; ++i) own[i] = x[i] * x[i];
    w = own;
  }
  float lo = x[0], hi = x[0];
  float sum_w = w[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < lo) lo = x[i];
    if (x[i] > hi) hi = x[i];
    const float wi = w[i];
    sum_w += wi;
    sum_x += wi * x[i];
  }
  if (lo > 0) lo = 0;
  if (strict ? hi <= lo : hi == lo) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    *min_out = -lo;
    return 0.0f;
  }
  float inv = nmax / (hi - lo);
  float scale = 1 / inv;
  for (int i = 0; i < n; ++i) L[i] = (uint8_t)ClampInt(RoundNearest(inv * (x[i] - lo)), 0, nmax);
  float best = AffineError(n, x, w, scale, lo, L, abs_error);
  if (nstep < 1) {
    *min_out = -lo;
    return scale;
  }
  for (int k = 0; k <= nstep; ++k) {
    inv = (rmin + rdelta * k + nmax) / (hi - lo);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      const int l = ClampInt(RoundNearest(inv * (x[i] - lo)), 0, nmax);
      scratch[i] = (uint8_t)l;
      const float wi = w[i];
      sum_l += wi * l;
      sum_l2 += wi * l * l;
      sum_xl += wi * l * x[i];
    }
    // Weighted least squares for x ~= s * l + m with these levels.
    const float det = sum_w * sum_l2 - sum_l * sum_l;
    if (!(det > 0)) continue;
    float s = (sum_w * sum_xl - sum_x * sum_l) / det;
    float m = (sum_l2 * sum_x - sum_l * sum_xl) / det;
    if (m > 0) {
      m = 0;
      s = sum_xl / sum_l2;
    }
    const float err = AffineError(n, x, w, s, m, scratch, abs_error);
    if (err < best) {
      for (int i = 0; i < n; ++i) L[i] = scratch[i];
      best = err;
      scale = s;
      lo = m;
    }
  }
  *min_out = -lo;
  return scale;
}

// Non-negative levels L[i] in [0, nmax] for x ~= scale * L[i] (x >= 0: the
// sub-block scales themselves), weighted by `w`; coordinate descent at the end.
ST_HD inline float PositiveLevels(int n, int nmax, const float* x, uint8_t* L, const float* w) {
  float hi = 0;
  for (int i = 0; i < n; ++i) hi = hi > x[i] ? hi : x[i];
  if (hi < kAllZero) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.0f;
  }
  float inv = nmax / hi;
  for (int i = 0; i < n; ++i) L[i] = (uint8_t)RoundNearest(inv * x[i]);
  float scale = 1 / inv;
  float best = 0;
  for (int i = 0; i < n; ++i) {
    const float d = x[i] - scale * L[i];
    best += w[i] * d * d;
  }
  for (int step = -4; step <= 4; ++step) {
    if (step == 0) continue;
    const float inv_k = (0.1f * step + nmax) / hi;
    const float scale_k = 1 / inv_k;
    float err = 0;
    for (int i = 0; i < n; ++i) {
      const int r = RoundNearest(inv_k * x[i]);
      const int l = nmax < r ? nmax : r;
      const float d = x[i] - scale_k * l;
      err += w[i] * d * d;
    }
    if (err < best) {
      best = err;
      inv = inv_k;
    }
  }
  float sum_xl = 0, sum_ll = 0;
  for (int i = 0; i < n; ++i) {
    const int r = RoundNearest(inv * x[i]);
    const int l = nmax < r ? nmax : r;
    L[i] = (uint8_t)l;
    sum_xl += w[i] * x[i] * l;
    sum_ll += w[i] * l * l;
  }
  for (int round = 0; round < 5; ++round) {
    int moved = 0;
    for (int i = 0; i < n; ++i) {
      float xl = sum_xl - w[i] * x[i] * L[i];
      float ll = sum_ll - w[i] * L[i] * L[i];
      if (!(xl > 0 && ll > 0)) continue;
      const int r = RoundNearest(x[i] * ll / xl);
      const int cand = nmax < r ? nmax : r;
      if (cand == L[i]) continue;
      xl += w[i] * x[i] * cand;
      ll += w[i] * cand * cand;
      if (xl * xl * sum_ll > sum_xl * sum_xl * ll) {
        L[i] = (uint8_t)cand;
        sum_xl = xl;
        sum_ll = ll;
        ++moved;
      }
    }
    if (!moved) break;
  }
  return sum_ll > 0.0f ? sum_xl / sum_ll : 0.0f;
}

}  // namespace st::quant
