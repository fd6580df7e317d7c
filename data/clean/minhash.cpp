#include "data/clean/minhash.h"

#include <algorithm>

#if defined(__x86_64__)
#include <immintrin.h>
#define ST_MINHASH_X86 1
#endif

namespace st::data {
namespace {

void Scalar(const uint64_t* x, size_t n, const uint64_t* a, const uint64_t* b, int num_perm, uint32_t* out) {
  for (int k = 0; k < num_perm; ++k) {
    uint32_t best = UINT32_MAX;
    for (size_t i = 0; i < n; ++i) best = std::min(best, (uint32_t)((a[k] * x[i] + b[k]) >> 32));
    out[k] = best;
  }
}

#if ST_MINHASH_X86
// Four permutations at a time over all shingles. AVX2 has no 64-bit multiply: the
// low 64 bits of a * x are lo(a) * lo(x) + ((lo(a) * hi(x) + hi(a) * lo(x)) << 32),
// three 32 x 32 -> 64-bit products (vpmuludq).
__attribute__((target("avx2"))) void Avx2(const uint64_t* x, size_t n, const uint64_t* a, const uint64_t* b, int num_perm,
                                          uint32_t* out) {
  int k = 0;
  for (; k + 4 <= num_perm; k += 4) {
    const __m256i va = _mm256_loadu_si256((const __m256i*)(a + k));
    const __m256i vb = _mm256_loadu_si256((const __m256i*)(b + k));
    const __m256i va_hi = _mm256_srli_epi64(va, 32);
    __m256i best = _mm256_set1_epi64x(-1);  // as 64-bit lanes holding 32-bit values
    for (size_t i = 0; i < n; ++i) {
      const __m256i vx = _mm256_set1_epi64x((long long)x[i]);
      const __m256i vx_hi = _mm256_srli_epi64(vx, 32);
      const __m256i lo = _mm256_mul_epu32(va, vx);
      const __m256i cross = _mm256_add_epi64(_mm256_mul_epu32(va, vx_hi), _mm256_mul_epu32(va_hi, vx));
      const __m256i prod = _mm256_add_epi64(lo, _mm256_slli_epi64(cross, 32));
      const __m256i h = _mm256_srli_epi64(_mm256_add_epi64(prod, vb), 32);
      best = _mm256_min_epu32(best, h);  // the high halves are 0 in h and stay all-ones or 0 in best
    }
    alignas(32) uint64_t lanes[4];
    _mm256_store_si256((__m256i*)lanes, best);
    for (int j = 0; j < 4; ++j) out[k + j] = n ? (uint32_t)lanes[j] : UINT32_MAX;
  }
  if (k < num_perm) Scalar(x, n, a + k, b + k, num_perm - k, out + k);
}

// Eight permutations at a time (vpmullq). GCC 12 warns inside its own AVX-512
// headers (their "undefined" source operands), not about this code.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
__attribute__((target("avx512f,avx512dq"))) void Avx512(const uint64_t* x, size_t n, const uint64_t* a, const uint64_t* b,
                                                        int num_perm, uint32_t* out) {
  int k = 0;
  for (; k + 8 <= num_perm; k += 8) {
    const __m512i va = _mm512_loadu_si512(a + k);
    const __m512i vb = _mm512_loadu_si512(b + k);
    __m512i best = _mm512_set1_epi64(UINT32_MAX);
    for (size_t i = 0; i < n; ++i) {
      const __m512i h = _mm512_srli_epi64(_mm512_add_epi64(_mm512_mullo_epi64(va, _mm512_set1_epi64((long long)x[i])), vb), 32);
      best = _mm512_min_epu64(best, h);
    }
    _mm256_storeu_si256((__m256i*)(out + k), _mm512_cvtepi64_epi32(best));
  }
  if (k < num_perm) Scalar(x, n, a + k, b + k, num_perm - k, out + k);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#endif

using Fn = void (*)(const uint64_t*, size_t, const uint64_t*, const uint64_t*, int, uint32_t*);

Fn Pick(const std::string& v) {
#if ST_MINHASH_X86
  if (v == "avx512") return Avx512;
  if (v == "avx2") return Avx2;
#endif
  return Scalar;
}

}  // namespace

std::vector<std::string> MinHashVariants() {
  std::vector<std::string> v = {"scalar"};
#if ST_MINHASH_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2")) v.push_back("avx2");
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")) v.push_back("avx512");
#endif
  return v;
}

void MinHashWith(const std::string& variant, const uint64_t* x, size_t n, const uint64_t* a, const uint64_t* b,
                 int num_perm, uint32_t* out) {
  Pick(variant)(x, n, a, b, num_perm, out);
}

void MinHash(const uint64_t* x, size_t n, const uint64_t* a, const uint64_t* b, int num_perm, uint32_t* out) {
  static const Fn best = Pick(MinHashVariants().back());
  best(x, n, a, b, num_perm, out);
}

}  // namespace st::data
