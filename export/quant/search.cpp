// Followed: ggml/src/ggml-quants.c (llama.cpp, as vendored by llama-cpp-python
// 0.3.36), the helpers named in search.h. The order of every float operation is
// kept, since a different order changes rounding and so the bytes.
#include "export/quant/search.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace st::quant {
namespace {

constexpr float kAllZero = 1e-15f;  // ggml's GROUP_MAX_EPS

// The value of largest magnitude with its sign (the first one on ties) and
// that magnitude.
void SignedPeak(int n, const float* x, float* peak, float* mag) {
  *peak = 0.0f;
  *mag = 0.0f;
  for (int i = 0; i < n; ++i) {
    const float a = std::fabs(x[i]);
    if (a > *mag) {
      *mag = a;
      *peak = x[i];
    }
  }
}

int Clamp(int v, int lo, int hi) { return std::max(lo, std::min(hi, v)); }

}  // namespace

float SymmetricLevels(int n, int nmax, const float* x, int8_t* L, int kind, const float* w) {
  float peak, mag;
  SignedPeak(n, x, &peak, &mag);
  if (mag < kAllZero) {
    std::fill(L, L + n, 0);
    return 0.0f;
  }
  float inv = -nmax / peak;
  if (kind == 0) {
    for (int i = 0; i < n; ++i) L[i] = (int8_t)(nmax + Clamp(RoundNearest(inv * x[i]), -nmax, nmax - 1));
    return 1 / inv;
  }
  const bool early = kind < 0;
  float own[256] = {};  // x^2 weights when none are given (n <= 256)
  if (!w) {
    for (int i = 0; i < n; ++i) own[i] = x[i] * x[i];
    w = own;
  }
  auto weight = [&](int i) { return w[i]; };
  float sum_xl = 0, sum_ll = 0;
  for (int i = 0; i < n; ++i) {
    const int l = Clamp(RoundNearest(inv * x[i]), -nmax, nmax - 1);
    L[i] = (int8_t)(l + nmax);
    const float wi = weight(i);
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
      const int l = Clamp(RoundNearest(inv * x[i]), -nmax, nmax - 1);
      const float wi = weight(i);
      sum_xl += wi * x[i] * l;
      sum_ll += wi * l * l;
    }
    if (sum_ll > 0 && sum_xl * sum_xl > best * sum_ll) {
      for (int i = 0; i < n; ++i) L[i] = (int8_t)(nmax + Clamp(RoundNearest(inv * x[i]), -nmax, nmax - 1));
      scale = sum_xl / sum_ll;
      best = scale * sum_xl;
    }
  }
  return scale;
}

float SymmetricLevelsDescent(int n, int nmax, const float* x, int8_t* L, bool refine) {
  float peak, mag;
  SignedPeak(n, x, &peak, &mag);
  if (mag < kAllZero) {
    std::fill(L, L + n, 0);
    return 0.0f;
  }
  const float inv = -nmax / peak;
  if (!refine) {
    for (int i = 0; i < n; ++i) L[i] = (int8_t)(Clamp(RoundNearest(inv * x[i]), -nmax, nmax - 1) + nmax);
    return 1 / inv;
  }
  float sum_xl = 0, sum_ll = 0;
  for (int i = 0; i < n; ++i) {
    const int l = Clamp(RoundNearest(inv * x[i]), -nmax, nmax - 1);
    L[i] = (int8_t)l;
    const float wi = x[i] * x[i];
    sum_xl += wi * x[i] * l;
    sum_ll += wi * l * l;
  }
  // Move one level at a time while that raises sum_xl^2 / sum_ll (the fit's gain).
  for (int round = 0; round < 5; ++round) {
    int moved = 0;
    for (int i = 0; i < n; ++i) {
      const float wi = x[i] * x[i];
      float xl = sum_xl - wi * x[i] * L[i];
      if (!(xl > 0)) continue;
      float ll = sum_ll - wi * L[i] * L[i];
      const int cand = Clamp(RoundNearest(x[i] * ll / xl), -nmax, nmax - 1);
      if (cand == L[i]) continue;
      xl += wi * x[i] * cand;
      ll += wi * cand * cand;
      if (ll > 0 && xl * xl * sum_ll > sum_xl * sum_xl * ll) {
        L[i] = (int8_t)cand;
        sum_xl = xl;
        sum_ll = ll;
        ++moved;
      }
    }
    if (!moved) break;
  }
  for (int i = 0; i < n; ++i) L[i] = (int8_t)(L[i] + nmax);
  return sum_ll > 0.0f ? sum_xl / sum_ll : 0.0f;
}

float AffineLevels(int n, int nmax, const float* x, const float* w, uint8_t* L, float* min_out, uint8_t* scratch,
                   float rmin, float rdelta, int nstep, bool abs_error, bool strict) {
  float own[256] = {};  // x^2 weights when none are given (n <= 256)
  if (!w) {
    for (int i = 0; i < n; ++i) own[i] = x[i] * x[i];
    w = own;
  }
  auto weight = [&](int i) { return w[i]; };
  float lo = x[0], hi = x[0];
  float sum_w = weight(0);
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < lo) lo = x[i];
    if (x[i] > hi) hi = x[i];
    const float wi = weight(i);
    sum_w += wi;
    sum_x += wi * x[i];
  }
  if (lo > 0) lo = 0;
  if (strict ? hi <= lo : hi == lo) {
    std::fill(L, L + n, 0);
    *min_out = -lo;
    return 0.0f;
  }
  float inv = nmax / (hi - lo);
  float scale = 1 / inv;
  auto error_of = [&](float s, float m, const uint8_t* levels) {
    float err = 0;
    for (int i = 0; i < n; ++i) {
      float d = s * levels[i] + m - x[i];
      d = abs_error ? std::fabs(d) : d * d;
      err += weight(i) * d;
    }
    return err;
  };
  for (int i = 0; i < n; ++i) L[i] = (uint8_t)Clamp(RoundNearest(inv * (x[i] - lo)), 0, nmax);
  float best = error_of(scale, lo, L);
  if (nstep < 1) {
    *min_out = -lo;
    return scale;
  }
  for (int k = 0; k <= nstep; ++k) {
    inv = (rmin + rdelta * k + nmax) / (hi - lo);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      const int l = Clamp(RoundNearest(inv * (x[i] - lo)), 0, nmax);
      scratch[i] = (uint8_t)l;
      const float wi = weight(i);
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
    const float err = error_of(s, m, scratch);
    if (err < best) {
      std::copy(scratch, scratch + n, L);
      best = err;
      scale = s;
      lo = m;
    }
  }
  *min_out = -lo;
  return scale;
}

float PositiveLevels(int n, int nmax, const float* x, uint8_t* L, const float* w) {
  float hi = 0;
  for (int i = 0; i < n; ++i) hi = hi > x[i] ? hi : x[i];
  if (hi < kAllZero) {
    std::fill(L, L + n, 0);
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
      const int l = std::min(nmax, RoundNearest(inv_k * x[i]));
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
    const int l = std::min(nmax, RoundNearest(inv * x[i]));
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
      const int cand = std::min(nmax, RoundNearest(x[i] * ll / xl));
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
