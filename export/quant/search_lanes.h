// The scale searches of search.h for 8 groups at once, one group per AVX2 lane.
// Each lane performs exactly the scalar search's float operations in the same
// order (IEEE single precision, no reassociation, no contraction), so every
// level, scale and minimum is bit-identical to the scalar result; only the
// groups run side by side. A k-quant super-block's 8 (Q4_K, Q5_K) or 16 (Q6_K)
// sub-blocks are such groups. Used when the CPU has AVX2 (LanesAvailable()) and
// SLICETUNE_NO_SIMD is not set.
#pragma once

#include <cstdint>

namespace st::quant {

bool LanesAvailable();

// AffineLevels for groups g = 0..7 of n (<= 32) values at x + g*n, weights at
// w + g*n (not null); levels to L + g*n, scale[g], min_out[g].
void AffineLevels8(int n, int nmax, const float* x, const float* w, uint8_t* L, float* scale, float* min_out,
                   float rmin, float rdelta, int nstep, bool abs_error, bool strict);

// SymmetricLevels with kind 1 for groups g = 0..7 of n (<= 32) values at
// x + g*n; weights at w + g*n, or x^2 when w is null.
void SymmetricLevels8(int n, int nmax, const float* x, const float* w, int8_t* L, float* scale);

}  // namespace st::quant
