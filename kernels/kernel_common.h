// Shared by the fused ops: element types, the host/device marker, and the
// counter-based dropout mask that forward and backward regenerate instead of
// storing (kernels/lora_linear.h).
#pragma once

#include <cstdint>

#ifdef __CUDACC__
#define ST_HD __host__ __device__
#else
#define ST_HD
#endif

namespace st::kernels {

// Element type of activations and frozen weights. Accumulation is always float32.
enum class DType : int32_t { kF32 = 0, kBF16 = 1 };

// 32 well-mixed bits from (seed, index): splitmix64's finalizer over seed + index
// times the golden-ratio increment, so neighbouring indices are independent.
ST_HD inline uint32_t MixBits(uint64_t seed, uint64_t index) {
  uint64_t z = seed + (index + 1) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return (uint32_t)(z >> 32);
}

// Dropout with probability p keeps element `index` when its bits clear the threshold;
// a kept element is scaled by 1 / (1 - p). Returns that factor or 0.
ST_HD inline float DropoutFactor(uint64_t seed, uint64_t index, float p) {
  if (p <= 0.0f) return 1.0f;
  const uint32_t threshold = (uint32_t)(p * 4294967296.0);  // p * 2^32
  return MixBits(seed, index) >= threshold ? 1.0f / (1.0f - p) : 0.0f;
}

}  // namespace st::kernels
