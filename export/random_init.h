// Random-initialized Hugging Face checkpoints for tests, CI and benchmarks
// (`slicetune init-model`): config.json, model.safetensors, a sentencepiece
// tokenizer.model trained on a given corpus, tokenizer_config.json.
#pragma once

#include <string>
#include <vector>

#include "core/model_spec.h"
#include "core/status.h"

namespace st::exporter {

struct InitModelOptions {
  std::string preset = "tiny";
  std::vector<std::string> corpus;  // text files for the tokenizer
  int vocab_size = 2000;            // target; the trained tokenizer decides the final count
  uint64_t seed = 17;
  double init_std = 0.05;
  std::string dtype = "f32";        // f32 | f16 | bf16: how weights are stored
  int64_t layers = 0;               // > 0: overrides the preset's block count
};

// Writes the directory; on failure nothing is left at `out_dir` (built in a
// temporary sibling and renamed).
Status InitModel(const std::string& out_dir, const InitModelOptions& opts);

}  // namespace st::exporter
