// Attention over packed rows on the CPU, skipping the keys a query cannot see.
//
// When every query sees one run of keys (packed documents, causal, perhaps a
// sliding window) and those pairs are fewer than half the cells of the block
// path below, the key-range kernel runs (train/cpu_range_attention.h, float32
// and bf16): the usual case of short documents packed into long rows. Otherwise:
//
// A packed row holds many documents; a query sees only earlier keys of its own
// document (and of its sliding window). ATen's CPU flash attention takes the
// (B, 1, T, T) mask but still multiplies every query block by all T keys (its key
// block is 512 wide), so with ~20 documents in a 512-token row most of the work
// is thrown away by the mask. Here the queries go in blocks of 128; block [i0, i1)
// of row b is run against keys [s, e), s the first key any of its queries sees and
// e one past the last, through ATen's own flash-attention kernel and its backward
// (the same kernel sdpa calls), with that block of the mask. The key and value
// gradients of overlapping ranges are summed in float32.
// That block path is float32 only: in bf16 the flash kernel's per-call setup
// outweighs the skipped work at these sizes (the bench's 60M model trained 6%
// slower with it, float32 8% faster), so bf16 rows the key ranges do not take go
// to sdpa.
#pragma once

#include <ATen/ATen.h>

namespace st::train {

// q, k, v (B, heads, T, head_dim) CPU float32 or bf16 (k, v already repeated to
// q's heads), mask (B, 1, T, T) bool (true: attend) in which every query sees at
// least one key. Returns undefined when those do not hold or no path here fits
// (the caller runs sdpa).
at::Tensor DocAttentionCpu(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask,
                           double scale);

}  // namespace st::train
