// Text generation with a KV cache: the prompt in one forward pass, then one token
// per step attending to the cached keys and values. Greedy (temperature 0) or
// sampled (temperature, top-k, top-p, seeded). Stops at any of `stop_ids` (not
// included in the output) or after max_new_tokens.
#pragma once

#include <cstdint>
#include <vector>

#include "train/llama_model.h"

namespace st::train {

struct GenerateOptions {
  int64_t max_new_tokens = 64;
  double temperature = 0.0;  // 0: greedy
  int64_t top_k = 0;         // 0: all
  double top_p = 1.0;
  uint64_t seed = 0;
  std::vector<int64_t> stop_ids;
};

std::vector<int64_t> Generate(const LlamaModel& model, const std::vector<int64_t>& prompt, const GenerateOptions& o);

}  // namespace st::train
