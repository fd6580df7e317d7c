// A split of a shard set as tensors, for training, evaluation and imatrix
// collection: every row of every shard the manifest lists (checksums verified).
#pragma once

#include <ATen/ATen.h>

#include <string>

#include "core/status.h"

namespace st::train {

struct Rows {
  at::Tensor ids;   // (N, L) int64
  at::Tensor mask;  // (N, L) uint8
  at::Tensor pos;   // (N, L) int64: position in the packed document
  std::string tokenizer_sha256;
  int64_t pad_id = 0;
};

// Undefined tensors when the split has no rows.
StatusOr<Rows> LoadSplit(const std::string& manifest, const std::string& split);

}  // namespace st::train
