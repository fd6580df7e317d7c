// Lane-parallel copies of AffineLevels and SymmetricLevels (search.cpp): read
// those first; every statement here is the same statement applied to 8 groups.
// GCC vector extensions, compiled for AVX2 and called only when the CPU has it.
#include "export/quant/search_lanes.h"

#include <algorithm>
#include <cstdlib>

namespace st::quant {

bool LanesAvailable() {
  // SLICETUNE_NO_SIMD=1 forces the scalar searches (the tests compare both).
  static const bool ok = __builtin_cpu_supports("avx2") && !std::getenv("SLICETUNE_NO_SIMD");
  return ok;
}

#pragma GCC push_options
#pragma GCC target("avx2")

namespace {

typedef float F8 __attribute__((vector_size(32)));
typedef int32_t I8 __attribute__((vector_size(32)));

F8 Splat(float a) { return F8{a, a, a, a, a, a, a, a}; }
I8 SplatI(int32_t a) { return I8{a, a, a, a, a, a, a, a}; }
F8 ToF(I8 v) { return __builtin_convertvector(v, F8); }
F8 Abs(F8 v) { return (F8)((I8)v & SplatI(0x7fffffff)); }
// ggml's nearest_int per lane (search.h RoundNearest).
I8 Nearest(F8 v) {
  const I8 bits = (I8)(v + Splat(12582912.0f));
  return (bits & SplatI(0x007fffff)) - SplatI(0x00400000);
}
I8 Clamp(I8 v, int lo, int hi) {
  const I8 l = SplatI(lo), h = SplatI(hi);
  v = v > h ? h : v;
  return v < l ? l : v;
}
F8 Pick(I8 m, F8 a, F8 b) { return m ? a : b; }

// Group g's value i into lane g of out[i].
void Transpose(const float* x, int n, F8* out) {
  for (int i = 0; i < n; ++i)
    for (int g = 0; g < 8; ++g) out[i][g] = x[g * n + i];
}

}  // namespace

void AffineLevels8(int n, int nmax, const float* xs, const float* ws, uint8_t* Lout, float* scale_out, float* min_out,
                   float rmin, float rdelta, int nstep, bool abs_error, bool strict) {
  F8 x[32] = {}, w[32] = {};
  I8 L[32] = {}, aux[32] = {};
  Transpose(xs, n, x);
  Transpose(ws, n, w);
  F8 lo = x[0], hi = x[0];
  F8 sum_w = w[0];
  F8 sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    lo = Pick(x[i] < lo, x[i], lo);
    hi = Pick(x[i] > hi, x[i], hi);
    sum_w += w[i];
    sum_x += w[i] * x[i];
  }
  lo = Pick(lo > Splat(0.0f), Splat(0.0f), lo);
  const I8 empty = strict ? (hi <= lo) : (hi == lo);
  const F8 lo_empty = lo;
  F8 inv = Splat((float)nmax) / (hi - lo);
  F8 scale = Splat(1.0f) / inv;
  auto error_of = [&](F8 s, F8 m, const I8* levels) {
    F8 err = Splat(0.0f);
    for (int i = 0; i < n; ++i) {
      F8 d = s * ToF(levels[i]) + m - x[i];
      d = abs_error ? Abs(d) : d * d;
      err += w[i] * d;
    }
    return err;
  };
  for (int i = 0; i < n; ++i) L[i] = Clamp(Nearest(inv * (x[i] - lo)), 0, nmax);
  F8 best = error_of(scale, lo, L);
  if (nstep >= 1) {
    for (int k = 0; k <= nstep; ++k) {
      inv = Splat(rmin + rdelta * k + nmax) / (hi - lo);
      F8 sum_l = Splat(0.0f), sum_l2 = Splat(0.0f), sum_xl = Splat(0.0f);
      for (int i = 0; i < n; ++i) {
        aux[i] = Clamp(Nearest(inv * (x[i] - lo)), 0, nmax);
        const F8 l = ToF(aux[i]);
        sum_l += w[i] * l;
        sum_l2 += w[i] * l * l;
        sum_xl += w[i] * l * x[i];
      }
      const F8 det = sum_w * sum_l2 - sum_l * sum_l;
      const I8 valid = det > Splat(0.0f);
      F8 s = (sum_w * sum_xl - sum_x * sum_l) / det;
      F8 m = (sum_l2 * sum_x - sum_l * sum_xl) / det;
      const I8 pos = m > Splat(0.0f);
      m = Pick(pos, Splat(0.0f), m);
      s = Pick(pos, sum_xl / sum_l2, s);
      const F8 err = error_of(s, m, aux);
      const I8 take = valid & (err < best);
      for (int i = 0; i < n; ++i) L[i] = take ? aux[i] : L[i];
      best = Pick(take, err, best);
      scale = Pick(take, s, scale);
      lo = Pick(take, m, lo);
    }
  }
  for (int g = 0; g < 8; ++g) {
    if (empty[g]) {
      std::fill(Lout + g * n, Lout + (g + 1) * n, 0);
      scale_out[g] = 0.0f;
      min_out[g] = -lo_empty[g];
      continue;
    }
    for (int i = 0; i < n; ++i) Lout[g * n + i] = (uint8_t)L[i][g];
    scale_out[g] = scale[g];
    min_out[g] = -lo[g];
  }
}

void SymmetricLevels8(int n, int nmax, const float* xs, const float* ws, int8_t* Lout, float* scale_out) {
  F8 x[32] = {}, w[32] = {};
  I8 L[32] = {}, cand[32] = {};
  Transpose(xs, n, x);
  if (ws) {
    Transpose(ws, n, w);
  } else {
    for (int i = 0; i < n; ++i) w[i] = x[i] * x[i];
  }
  F8 peak = Splat(0.0f), mag = Splat(0.0f);
  for (int i = 0; i < n; ++i) {
    const F8 a = Abs(x[i]);
    const I8 bigger = a > mag;
    mag = Pick(bigger, a, mag);
    peak = Pick(bigger, x[i], peak);
  }
  const I8 zero = mag < Splat(1e-15f);
  F8 inv = Splat((float)-nmax) / peak;
  F8 sum_xl = Splat(0.0f), sum_ll = Splat(0.0f);
  for (int i = 0; i < n; ++i) {
    const I8 l = Clamp(Nearest(inv * x[i]), -nmax, nmax - 1);
    L[i] = l + SplatI(nmax);
    const F8 lf = ToF(l);
    sum_xl += w[i] * x[i] * lf;
    sum_ll += w[i] * lf * lf;
  }
  F8 scale = Pick(sum_ll != Splat(0.0f), sum_xl / sum_ll, Splat(0.0f));
  F8 best = scale * sum_xl;
  for (int step = -9; step <= 9; ++step) {
    if (step == 0) continue;
    inv = Splat(-(nmax + 0.1f * step)) / peak;
    F8 xl = Splat(0.0f), ll = Splat(0.0f);
    for (int i = 0; i < n; ++i) {
      const I8 l = Clamp(Nearest(inv * x[i]), -nmax, nmax - 1);
      cand[i] = l + SplatI(nmax);
      const F8 lf = ToF(l);
      xl += w[i] * x[i] * lf;
      ll += w[i] * lf * lf;
    }
    const I8 take = (ll > Splat(0.0f)) & (xl * xl > best * ll);
    for (int i = 0; i < n; ++i) L[i] = take ? cand[i] : L[i];
    const F8 s = xl / ll;
    scale = Pick(take, s, scale);
    best = Pick(take, s * xl, best);
  }
  for (int g = 0; g < 8; ++g) {
    if (zero[g]) {
      std::fill(Lout + g * n, Lout + (g + 1) * n, 0);
      scale_out[g] = 0.0f;
      continue;
    }
    for (int i = 0; i < n; ++i) Lout[g * n + i] = (int8_t)L[i][g];
    scale_out[g] = scale[g];
  }
}

#pragma GCC pop_options

}  // namespace st::quant
