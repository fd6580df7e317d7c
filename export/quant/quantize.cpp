// Reference algorithms: ggml/src/ggml-quants.c (quantize_row_q8_0_ref,
// quantize_row_q4_0_ref, quantize_row_q4_1_ref, quantize_row_q5_0_ref,
// quantize_row_q5_1_ref, and the importance-weighted quantize_row_q*_impl),
// rewritten here block by block. K-quants: kquants.cpp.
#include "export/quant/quantize.h"

#include <algorithm>
#include <cmath>
#include <immintrin.h>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "core/cpu_features.h"
#include "core/half.h"
#include "kernels/gguf_blocks.h"
#include "kernels/gguf_kblocks.h"
#include "export/quant/kquants.h"
#include "export/quant/search.h"

namespace st::quant {
namespace {

constexpr TypeInfo kTypes[] = {
    {Type::kF32, "f32", 1, 4},
    {Type::kF16, "f16", 1, 2},
    {Type::kBF16, "bf16", 1, 2},
    {Type::kQ8_0, "q8_0", kBlock, sizeof(BlockQ8_0)},
    {Type::kQ4_0, "q4_0", kBlock, sizeof(BlockQ4_0)},
    {Type::kQ4_1, "q4_1", kBlock, sizeof(BlockQ4_1)},
    {Type::kQ5_0, "q5_0", kBlock, sizeof(BlockQ5_0)},
    {Type::kQ5_1, "q5_1", kBlock, sizeof(BlockQ5_1)},
    {Type::kQ2_K, "q2_k", kSuper, sizeof(BlockQ2_K)},
    {Type::kQ3_K, "q3_k", kSuper, sizeof(BlockQ3_K)},
    {Type::kQ4_K, "q4_k", kSuper, sizeof(BlockQ4_K)},
    {Type::kQ5_K, "q5_k", kSuper, sizeof(BlockQ5_K)},
    {Type::kQ6_K, "q6_k", kSuper, sizeof(BlockQ6_K)},
};

// The value of largest magnitude, keeping its sign (first one on ties).
float SignedAbsMax(const float* x) {
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < kBlock; ++j)
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  return max;
}

void MinMax(const float* x, float* mn, float* mx) {
  *mn = x[0];
  *mx = x[0];
  for (int j = 1; j < kBlock; ++j) {
    *mn = std::min(*mn, x[j]);
    *mx = std::max(*mx, x[j]);
  }
}

// C's roundf (halves away from zero), inline: truncation is exact and so is
// v - trunc(v) for |v| < 2^31, which covers every scaled value here.

// Q8_0 with AVX2: the block maximum is order-free and every other step is
// per element, so the bytes are the scalar ones.
__attribute__((target("avx2"))) void Q8_0Avx2(const float* x, BlockQ8_0* b) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 v[4], m = _mm256_setzero_ps();
  for (int k = 0; k < 4; ++k) {
    v[k] = _mm256_loadu_ps(x + 8 * k);
    m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v[k]));
  }
  float lanes[8];
  _mm256_storeu_ps(lanes, m);
  float amax = 0.0f;
  for (float f : lanes) amax = std::max(amax, f);
  const float d = amax / ((1 << 7) - 1);
  const float id = d ? 1.0f / d : 0.0f;
  b->d = F32ToF16(d);
  const __m256 vid = _mm256_set1_ps(id), half = _mm256_set1_ps(0.5f);
  for (int k = 0; k < 4; ++k) {
    const __m256 y = _mm256_mul_ps(v[k], vid);
    const __m256i t = _mm256_cvttps_epi32(y);                   // truncation, exact here
    const __m256 frac = _mm256_sub_ps(y, _mm256_cvtepi32_ps(t));  // exact
    const __m256i up = _mm256_castps_si256(_mm256_cmp_ps(frac, half, _CMP_GE_OQ));
    const __m256i down = _mm256_castps_si256(_mm256_cmp_ps(frac, _mm256_sub_ps(_mm256_setzero_ps(), half), _CMP_LE_OQ));
    // up / down masks are -1 where true: t - up + down rounds halves away from zero.
    const __m256i q = _mm256_add_epi32(_mm256_sub_epi32(t, up), down);
    int32_t out[8];
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), q);
    for (int j = 0; j < 8; ++j) b->qs[8 * k + j] = (int8_t)out[j];
  }
}

void Q8_0(const float* x, BlockQ8_0* b) { Q8_0Block(x, b); }

void Q4_0(const float* x, BlockQ4_0* b) {
  const float d = SignedAbsMax(x) / -8;
  const float id = d ? 1.0f / d : 0.0f;
  b->d = F32ToF16(d);
  for (int j = 0; j < kBlock / 2; ++j) {
    const uint8_t lo = std::min<uint8_t>(15, (uint8_t)(int8_t)(x[j] * id + 8.5f));
    const uint8_t hi = std::min<uint8_t>(15, (uint8_t)(int8_t)(x[j + kBlock / 2] * id + 8.5f));
    b->qs[j] = lo | (uint8_t)(hi << 4);
  }
}

void Q4_1(const float* x, BlockQ4_1* b) {
  float mn, mx;
  MinMax(x, &mn, &mx);
  const float d = (mx - mn) / ((1 << 4) - 1);
  const float id = d ? 1.0f / d : 0.0f;
  b->d = F32ToF16(d);
  b->m = F32ToF16(mn);
  for (int j = 0; j < kBlock / 2; ++j) {
    const uint8_t lo = std::min<uint8_t>(15, (uint8_t)(int8_t)((x[j] - mn) * id + 0.5f));
    const uint8_t hi = std::min<uint8_t>(15, (uint8_t)(int8_t)((x[j + kBlock / 2] - mn) * id + 0.5f));
    b->qs[j] = lo | (uint8_t)(hi << 4);
  }
}

void Q5_0(const float* x, BlockQ5_0* b) {
  const float d = SignedAbsMax(x) / -16;
  const float id = d ? 1.0f / d : 0.0f;
  b->d = F32ToF16(d);
  uint32_t qh = 0;
  for (int j = 0; j < kBlock / 2; ++j) {
    const uint8_t lo = std::min<uint8_t>(31, (uint8_t)(int8_t)(x[j] * id + 16.5f));
    const uint8_t hi = std::min<uint8_t>(31, (uint8_t)(int8_t)(x[j + kBlock / 2] * id + 16.5f));
    b->qs[j] = (lo & 0x0f) | (uint8_t)((hi & 0x0f) << 4);
    qh |= ((uint32_t)(lo & 0x10) >> 4) << j;
    qh |= ((uint32_t)(hi & 0x10) >> 4) << (j + kBlock / 2);
  }
  std::memcpy(b->qh, &qh, 4);
}

void Q5_1(const float* x, BlockQ5_1* b) {
  float mn, mx;
  MinMax(x, &mn, &mx);
  const float d = (mx - mn) / ((1 << 5) - 1);
  const float id = d ? 1.0f / d : 0.0f;
  b->d = F32ToF16(d);
  b->m = F32ToF16(mn);
  uint32_t qh = 0;
  for (int j = 0; j < kBlock / 2; ++j) {
    const uint8_t lo = (uint8_t)((x[j] - mn) * id + 0.5f);
    const uint8_t hi = (uint8_t)((x[j + kBlock / 2] - mn) * id + 0.5f);
    b->qs[j] = (lo & 0x0f) | (uint8_t)((hi & 0x0f) << 4);
    qh |= ((uint32_t)(lo & 0x10) >> 4) << j;
    qh |= ((uint32_t)(hi & 0x10) >> 4) << (j + kBlock / 2);
  }
  std::memcpy(b->qh, &qh, 4);
}

bool Avx2() {
  static const bool ok = __builtin_cpu_supports("avx2") && !std::getenv("SLICETUNE_NO_SIMD");
  return ok;
}

// f32 -> f16, rounding to nearest even. The F16C instruction rounds exactly as
// our software conversion (and ggml's) does, NaN payloads included; it is used
// when the CPU has it.
__attribute__((target("avx,f16c"))) void ToF16Hardware(const float* x, int64_t n, uint8_t* out) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 2 * i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
  for (; i < n; ++i) {
    const uint16_t h = F32ToF16(x[i]);
    std::memcpy(out + 2 * i, &h, 2);
  }
}

void ToF16(const float* x, int64_t n, uint8_t* out) {
  static const bool hw = CpuHasF16c() && !std::getenv("SLICETUNE_NO_SIMD");
  if (hw) return ToF16Hardware(x, n, out);
  for (int64_t i = 0; i < n; ++i) {
    const uint16_t h = F32ToF16(x[i]);
    std::memcpy(out + 2 * i, &h, 2);
  }
}

template <typename Block, void (*F)(const float*, Block*)>
void Blocks(const float* x, int64_t n, uint8_t* out) {
  Block* b = reinterpret_cast<Block*>(out);
  for (int64_t i = 0; i < n / kBlock; ++i) F(x + i * kBlock, b + i);
}

// Importance-weighted 32-value types (ggml's quantize_row_q{4,5}_{0,1}_impl):
// errors weighted by importance * sqrt(sigma2 + x^2), sigma2 the row's mean square.
void PackNibbles(const uint8_t* L, uint8_t* qs, uint8_t* qh) {
  uint32_t high = 0;
  for (int j = 0; j < kBlock / 2; ++j) {
    qs[j] = (uint8_t)((L[j] & 0x0F) | ((L[j + kBlock / 2] & 0x0F) << 4));
    high |= ((uint32_t)(L[j] & 0x10) >> 4) << j;
    high |= ((uint32_t)(L[j + kBlock / 2] & 0x10) >> 4) << (j + kBlock / 2);
  }
  if (qh) std::memcpy(qh, &high, 4);
}

void WeightedRow(Type t, const float* x, int64_t n, const float* qw, uint8_t* out) {
  float sum_x2 = 0;
  for (int64_t j = 0; j < n; ++j) sum_x2 += x[j] * x[j];
  const float sigma2 = sum_x2 / n;
  float w[kBlock];
  for (int64_t ib = 0; ib < n / kBlock; ++ib) {
    const float* xb = x + kBlock * ib;
    for (int j = 0; j < kBlock; ++j) w[j] = qw[kBlock * ib + j] * std::sqrt(sigma2 + xb[j] * xb[j]);
    if (t == Type::kQ4_0 || t == Type::kQ5_0) {
      int8_t L[kBlock];
      const float d = SymmetricLevels(kBlock, t == Type::kQ4_0 ? 8 : 16, xb, L, 1, w);
      if (t == Type::kQ4_0) {
        auto* b = reinterpret_cast<BlockQ4_0*>(out) + ib;
        b->d = F32ToF16(d);
        PackNibbles(reinterpret_cast<const uint8_t*>(L), b->qs, nullptr);
      } else {
        auto* b = reinterpret_cast<BlockQ5_0*>(out) + ib;
        b->d = F32ToF16(d);
        PackNibbles(reinterpret_cast<const uint8_t*>(L), b->qs, b->qh);
      }
    } else {
      uint8_t L[kBlock], scratch[kBlock];
      float mn;
      const float d =
          AffineLevels(kBlock, t == Type::kQ4_1 ? 15 : 31, xb, w, L, &mn, scratch, -0.9f, 0.05f, 36, false, true);
      if (t == Type::kQ4_1) {
        auto* b = reinterpret_cast<BlockQ4_1*>(out) + ib;
        b->d = F32ToF16(d);
        b->m = F32ToF16(-mn);
        PackNibbles(L, b->qs, nullptr);
      } else {
        auto* b = reinterpret_cast<BlockQ5_1*>(out) + ib;
        b->d = F32ToF16(d);
        b->m = F32ToF16(-mn);
        PackNibbles(L, b->qs, b->qh);
      }
    }
  }
}

void QuantizeRange(Type t, const float* x, int64_t n, const float* qw, uint8_t* out) {
  if (qw && (t == Type::kQ4_0 || t == Type::kQ4_1 || t == Type::kQ5_0 || t == Type::kQ5_1))
    return WeightedRow(t, x, n, qw, out);
  switch (t) {
    case Type::kF32:
      std::memcpy(out, x, n * 4);
      break;
    case Type::kF16:
      ToF16(x, n, out);
      break;
    case Type::kBF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h = F32ToBF16(x[i]);
        std::memcpy(out + 2 * i, &h, 2);
      }
      break;
    case Type::kQ8_0:
      if (Avx2()) Blocks<BlockQ8_0, Q8_0Avx2>(x, n, out);
      else Blocks<BlockQ8_0, Q8_0>(x, n, out);
      break;
    case Type::kQ4_0: Blocks<BlockQ4_0, Q4_0>(x, n, out); break;
    case Type::kQ4_1: Blocks<BlockQ4_1, Q4_1>(x, n, out); break;
    case Type::kQ5_0: Blocks<BlockQ5_0, Q5_0>(x, n, out); break;
    case Type::kQ5_1: Blocks<BlockQ5_1, Q5_1>(x, n, out); break;
    case Type::kQ2_K: QuantizeRowQ2_K(x, n, qw, out); break;
    case Type::kQ3_K: QuantizeRowQ3_K(x, n, qw, out); break;
    case Type::kQ4_K: QuantizeRowQ4_K(x, n, qw, out); break;
    case Type::kQ5_K: QuantizeRowQ5_K(x, n, qw, out); break;
    case Type::kQ6_K: QuantizeRowQ6_K(x, n, qw, out); break;
  }
}

}  // namespace

const TypeInfo& Info(Type t) {
  for (const auto& i : kTypes)
    if (i.type == t) return i;
  return kTypes[0];
}

std::string KnownTypeNames() {
  std::string s;
  for (const auto& i : kTypes) s += std::string(s.empty() ? "" : ", ") + i.name;
  return s;
}

StatusOr<Type> ParseType(const std::string& name) {
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const auto& i : kTypes)
    if (lower == i.name) return i.type;
  return InvalidInput("type '" + name + "' is not supported; supported: " + KnownTypeNames());
}

uint64_t RowBytes(Type t, int64_t n) {
  const TypeInfo& i = Info(t);
  return (uint64_t)(n / i.block_values) * i.block_bytes;
}


bool IsQuantized(Type t) { return t != Type::kF32 && t != Type::kF16 && t != Type::kBF16; }

void QuantizeRows(Type t, const float* x, int64_t rows, int64_t cols, std::vector<uint8_t>* out, int threads,
                  const float* importance) {
  const uint64_t row_bytes = RowBytes(t, cols);
  out->resize(row_bytes * rows);
  if (threads <= 0) threads = (int)std::max(1u, std::thread::hardware_concurrency());
  threads = (int)std::min<int64_t>(threads, std::max<int64_t>(1, rows * cols / (1 << 16)));
  auto work = [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) QuantizeRange(t, x + r * cols, cols, importance, out->data() + r * row_bytes);
  };
  if (threads <= 1) {
    work(0, rows);
    return;
  }
  std::vector<std::thread> pool;
  const int64_t per = (rows + threads - 1) / threads;
  for (int k = 0; k < threads; ++k) {
    const int64_t r0 = k * per, r1 = std::min(rows, r0 + per);
    if (r0 < r1) pool.emplace_back(work, r0, r1);
  }
  for (auto& th : pool) th.join();
}

}  // namespace st::quant
