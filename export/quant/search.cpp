// Followed: ggml/src/ggml-quants.c (llama.cpp, as vendored by llama-cpp-python
// 0.3.36), make_q3_quants (the others are in kernels/gguf_search.h). The order of every float operation is
// kept, since a different order changes rounding and so the bytes.
#include "export/quant/search.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace st::quant {

float SymmetricLevelsDescent(int n, int nmax, const float* x, int8_t* L, bool refine) {
  float peak, mag;
  SignedPeak(n, x, &peak, &mag);
  if (mag < kAllZero) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.0f;
  }
  const float inv = -nmax / peak;
  if (!refine) {
    for (int i = 0; i < n; ++i) L[i] = (int8_t)(ClampInt(RoundNearest(inv * x[i]), -nmax, nmax - 1) + nmax);
    return 1 / inv;
  }
  float sum_xl = 0, sum_ll = 0;
  for (int i = 0; i < n; ++i) {
    const int l = ClampInt(RoundNearest(inv * x[i]), -nmax, nmax - 1);
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
      const int cand = ClampInt(RoundNearest(x[i] * ll / xl), -nmax, nmax - 1);
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

}  // namespace st::quant
