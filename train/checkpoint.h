// Training checkpoints: everything a run needs to continue exactly where it
// stopped. On the CPU a run killed at any step and resumed from its last
// checkpoint ends with the same adapter, bit for bit, as a run never stopped.
//
// Layout, <output_dir>/checkpoints/step-<NNNNNNNN>/ (written under a temporary
// name, renamed when complete; the newest train.keep_checkpoints are kept):
//   state.safetensors  param.<i>, adam_m.<i>, adam_v.<i> (F32, the trainable
//                      tensors in TrainableParameters() order) and torch_rng
//                      (U8: the CPU generator's state, for dropout)
//   state.json         step, adam_t, the recipe's sha256, the data order and
//                      cursor, the shuffle RNG's state (mt19937_64 as text) and
//                      the log so far
//   SHA256SUMS         sha256 of both files (`sha256sum -c` reads it), checked
//                      on resume
#pragma once

#include <ATen/ATen.h>

#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "core/status.h"

namespace st::train {

struct TrainState {
  int64_t step = 0;  // optimizer steps done
  int64_t adam_t = 0;
  std::string recipe_sha256;
  std::vector<at::Tensor> params, adam_m, adam_v;
  at::Tensor torch_rng;  // uint8
  std::vector<int64_t> order;
  int64_t cursor = 0;
  std::string shuffle_rng;  // mt19937_64 << state
  nlohmann::json log = nlohmann::json::array();
};

std::string CheckpointsDir(const std::string& output_dir);

// Writes step-<step> atomically and removes all but the newest `keep`.
Status SaveCheckpoint(const std::string& output_dir, const TrainState& s, int64_t keep);

// Whether <output_dir>/checkpoints holds a complete checkpoint.
bool HasCheckpoint(const std::string& output_dir);

// Checks a checkpoint folder's files against its SHA256SUMS; the error names the
// damaged file and both hashes.
Status VerifyCheckpoint(const std::string& path);

// The newest complete checkpoint whose checksums hold (a damaged newer one is named
// in a warning and passed over), or an error naming the folder and every damaged
// checkpoint when there is none.
StatusOr<TrainState> LoadLatestCheckpoint(const std::string& output_dir);

}  // namespace st::train
