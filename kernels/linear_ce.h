// Fused LM head + cross-entropy (the Liger / Unsloth idea): the loss and the
// hidden states' gradient without ever holding the (tokens, vocab) float32 logits.
//   logits_t = W h_t (W (vocab, dim) frozen), lse_t = log sum_j exp(logits_tj)
//   nll_t = lse_t - logits_t[target_t]       (0 where target_t == ignore_index)
//   dh_t = scale * sum_j (softmax_tj - [j == target_t]) W_j   (0 where ignored)
// Tokens go in chunks of `chunk_tokens`, the vocabulary in chunks of `chunk_vocab`:
// a first pass keeps a running max and sum of exponentials per token (online
// softmax), a second recomputes each chunk's logits and adds its share of dh (with
// a single vocabulary chunk the logits of the first pass are reused). `scale` is
// the token-count normalization: 1 / (targets counted over the whole step).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/kernel_common.h"

namespace st::kernels {

struct LinearCeShape {
  int64_t tokens, dim, vocab;
  int64_t chunk_tokens, chunk_vocab;  // <= 0: all
};

// CPU reference, float32. dhidden may be null (loss only).
void LinearCrossEntropyRef(const LinearCeShape& s, const float* hidden, const float* weight, const int64_t* targets,
                           int64_t ignore_index, float scale, float* nll, float* dhidden);

// CUDA: hidden, weight, dhidden of type `t`, targets int64, nll float32, on the
// device; `cublas` a cublasHandle_t (its stream is set to `stream`).
size_t LinearCrossEntropyWorkspaceCuda(const LinearCeShape& s, DType t);
int LinearCrossEntropyCuda(const LinearCeShape& s, DType t, const void* hidden, const void* weight,
                           const int64_t* targets, int64_t ignore_index, float scale, float* nll, void* dhidden,
                           void* workspace, size_t workspace_bytes, void* cublas, void* stream);

}  // namespace st::kernels
