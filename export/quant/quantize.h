// Row quantizers into ggml block formats, byte-identical to ggml's quantizers
// (ggml_quantize_chunk in ggml-quants.c): without an importance vector the
// reference quantizers (quantize_row_*_ref), with one the importance-weighted
// searches llama-quantize --imatrix runs. Same float32 arithmetic, same
// rounding, f16 scales rounded to nearest even. Build with -ffp-contract=off.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace st::quant {

// ggml_type values (ggml.h).
enum class Type : uint32_t {
  kF32 = 0, kF16 = 1, kQ4_0 = 2, kQ4_1 = 3, kQ5_0 = 6, kQ5_1 = 7, kQ8_0 = 8,
  kQ2_K = 10, kQ3_K = 11, kQ4_K = 12, kQ5_K = 13, kQ6_K = 14, kBF16 = 30,
};

struct TypeInfo {
  Type type;
  const char* name;      // "q8_0"
  int block_values;      // values per block (1 for float types)
  int block_bytes;       // bytes per block
};

const TypeInfo& Info(Type t);
// Parses a user-facing name ("f16", "q4_0", ...); errors list the known names.
StatusOr<Type> ParseType(const std::string& name);
std::string KnownTypeNames();
// Bytes for `n` values of type t (n must be a multiple of the block size).
uint64_t RowBytes(Type t, int64_t n);

// True for the block types (everything but f32, f16, bf16).
bool IsQuantized(Type t);

// Quantizes `rows` rows of `cols` float32 values (row-major) into `out`,
// splitting rows over `threads` threads. Rows are independent, so the bytes do
// not depend on the thread count. `importance` (cols values, or null) is the
// per-column importance of an imatrix; Q8_0 and the float types ignore it.
void QuantizeRows(Type t, const float* x, int64_t rows, int64_t cols, std::vector<uint8_t>* out, int threads = 0,
                  const float* importance = nullptr);

}  // namespace st::quant
