// The MinHash inner loop: for each of num_perm multiply-shift hash functions
// h_k(x) = (a_k * x + b_k) >> 32 (64-bit arithmetic, the high half of the low word),
// the minimum over a document's shingle hashes. It is most of near-duplicate
// signing, so it runs vectorized where the CPU allows (AVX-512DQ: eight 64-bit
// products per instruction; AVX2: four, from 32-bit products), chosen once at run
// time; every variant gives the scalar reference's values exactly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace st::data {

// out[k] = min over i of (uint32)((a[k] * x[i] + b[k]) >> 32), UINT32_MAX when n = 0.
void MinHash(const uint64_t* x, size_t n, const uint64_t* a, const uint64_t* b, int num_perm, uint32_t* out);

// The variants, for tests and benchmarks: "scalar" always, "avx2" and "avx512" where
// this CPU has them.
std::vector<std::string> MinHashVariants();
void MinHashWith(const std::string& variant, const uint64_t* x, size_t n, const uint64_t* a, const uint64_t* b,
                 int num_perm, uint32_t* out);

}  // namespace st::data
