// Importance matrix from a slice's own data: our forward pass over the slice's
// calibration shards, collecting what llama-imatrix collects (per block weight
// matrix, the sum over tokens of each input column's squared activation, and
// the token count), written in llama.cpp's imatrix format (export/imatrix.h).
// Padding tokens are left out; every real token of every row counts.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"

namespace st::train {

struct ImatrixJob {
  std::string model_dir;
  std::string adapter_dir;  // merged in before collecting (the model being quantized); may be empty
  std::string shards_dir;   // a `data build` output (manifest.json)
  std::string split = "train";
  std::string out;          // .gguf (llama.cpp's current format) or .dat (legacy)
  int64_t max_rows = 0;     // 0: all rows
  int64_t batch = 8;
};

struct ImatrixSummary {
  int64_t rows = 0, tokens = 0, matrices = 0;
};

StatusOr<ImatrixSummary> CollectImatrix(const ImatrixJob& job);

}  // namespace st::train
