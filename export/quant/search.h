// Scale searches behind ggml's k-quants and importance-weighted quants. Each
// picks a scale (and for affine types a minimum) for a small group of values
// and the integer levels that go with it. The float arithmetic follows
// ggml-quants.c (make_qx_quants, make_q3_quants, make_qkx2_quants,
// make_qkx3_quants, make_qp_quants) operation by operation, because the bytes
// must equal ggml's; the code is ours. Build with -ffp-contract=off.
#pragma once

#include <cstdint>
#include <cstring>

namespace st::quant {

// Round to nearest, ties to even, for |v| < 2^22 (ggml's nearest_int: adds
// 1.5 * 2^23 and reads the mantissa).
inline int RoundNearest(float v) {
  float shifted = v + 12582912.0f;  // 1.5 * 2^23: the integer lands in the low mantissa bits
  int32_t bits;
  std::memcpy(&bits, &shifted, sizeof bits);
  return (bits & 0x007fffff) - 0x00400000;
}

// Symmetric levels L[i] in [0, 2*nmax) for x ~= scale * (L[i] - nmax); returns
// the scale. `kind` 0: first guess only; 1: weighted least-squares refinement
// over 18 nearby scales (weights `w`, or x^2 when w is null); a negative kind
// returns early with the average of the two first estimates.
float SymmetricLevels(int n, int nmax, const float* x, int8_t* L, int kind, const float* w);

// Symmetric 3-bit-style search used by Q3_K without importance: levels in
// [0, 2*nmax), optional coordinate-descent refinement weighted by x^2.
float SymmetricLevelsDescent(int n, int nmax, const float* x, int8_t* L, bool refine);

// Affine levels L[i] in [0, nmax] for x ~= scale * L[i] - min_out, min_out >= 0.
// Tries nstep + 1 candidate scales (rmin + rdelta*k + nmax)/(max - min), keeping
// the one with the least weighted error (absolute when `abs_error`). `w` may be
// null: weights are then x^2. `strict` selects the empty-range test: ggml's
// make_qkx3_quants gives up when max <= min, make_qkx2_quants only when equal.
float AffineLevels(int n, int nmax, const float* x, const float* w, uint8_t* L, float* min_out, uint8_t* scratch,
                   float rmin, float rdelta, int nstep, bool abs_error, bool strict);

// Non-negative levels L[i] in [0, nmax] for x ~= scale * L[i] (x >= 0: the
// sub-block scales themselves), weighted by `w`; coordinate descent at the end.
float PositiveLevels(int n, int nmax, const float* x, uint8_t* L, const float* w);

}  // namespace st::quant
