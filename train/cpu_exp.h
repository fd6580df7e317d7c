// The exponential of our CPU autograd nodes (SwiGLU, attention over key ranges).
//
// Compile its callers with -ffp-contract=off (and -fno-trapping-math, so that the
// clamps vectorize): then every per-CPU copy of a caller gives the same bits.
#pragma once

#include <cstdint>
#include <cstring>

namespace st::train {

// e^x: x = n ln2 + r with |r| <= ln2 / 2 (ln2 split in two for exactness), e^r
// from Cephes' expf polynomial, 2^n built in the exponent bits. Clamped to the
// float range; a NaN stays NaN.
// Branch-free and without library calls, so that it vectorizes on plain x86-64
// (SSE2 has no floor): n is rounded to nearest by adding and removing 1.5 * 2^23.
__attribute__((always_inline)) inline float CpuExp(float x) {
  x = x < -87.33654f ? -87.33654f : x;
  x = x > 88.72283f ? 88.72283f : x;
  constexpr float kRound = 12582912.0f;
  float n = (x * 1.44269504088896341f + kRound) - kRound;
  n = n == n ? n : 0.0f;
  const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float e = p * r * r + r + 1.0f;
  // 2^n in two halves, so that n = 128 (x near the top of the range) stays finite.
  const int32_t ni = (int32_t)n, h = ni >> 1;
  const int32_t b1 = (h + 127) << 23, b2 = (ni - h + 127) << 23;
  float s1, s2;
  std::memcpy(&s1, &b1, 4);
  std::memcpy(&s2, &b2, 4);
  return e * s1 * s2;
}

}  // namespace st::train
