// Attention in which each query sees one contiguous range of keys, on the CPU,
// as one autograd node.
//
// Packed rows (many short documents in one 512-token row, each query seeing the
// earlier keys of its own document, perhaps within a sliding window) are the
// common case of LoRA training: there every query's keys are one run
// [lo_i, hi_i). Dense kernels multiply each query block by whole key blocks and
// throw most of the work away through the mask; here each (row, head) walks its
// queries and only their own keys:
//   forward   s_j = scale q.k_j,  p_j = exp(s_j - m) / l,  o = sum_j p_j v_j,
//             lse = m + log l
//   backward  D = do.o;  p_j = exp(scale q.k_j - lse);  ds_j = p_j (do.v_j - D);
//             dq = scale sum_j ds_j k_j;  dk_j += scale ds_j q;  dv_j += p_j do
// (FlashAttention-2's recurrences without the tiling: a row's keys and values,
// up to a few thousand, are copied once into a float32 buffer that stays in
// cache). The work is the number of (query, key) pairs the mask allows, not the
// query blocks times their key spans.
//
// Deterministic: each (row, head) is one task whose loops run in a fixed order,
// and the file is built with -ffp-contract=off, so the bits do not depend on the
// thread count or on which per-CPU copy runs.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

namespace st::train {

// Per query of a (B, T) batch, flattened b * T + i: the keys [lo, hi) it sees.
struct KeyRanges {
  int64_t batch = 0, length = 0;
  std::vector<int32_t> lo, hi;
  int64_t pairs = 0;  // sum of hi - lo
};

// The ranges of a (B, 1, T, T) bool mask (true: attend), or false when some
// query sees no key or keys that are not one run.
bool KeyRangesFromMask(const at::Tensor& mask, KeyRanges* out);

// q, k, v (B, heads, T, head_dim), CPU, float32 or bf16 (all one type), k and v
// already repeated to q's heads, head_dim a multiple of 16 up to 256; `ranges`
// for (B, T). Returns (B, heads, T, head_dim) in q's type (a transposed view of a
// (B, T, heads, head_dim) tensor: the caller's transpose back is free), or
// undefined when those do not hold.
at::Tensor RangeAttentionCpu(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, KeyRanges ranges,
                             double scale);

}  // namespace st::train
