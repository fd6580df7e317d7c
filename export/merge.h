// LoRA merge on the CPU in float32: W' = W + (alpha / r) * B @ A.
//   W (out, in), A (r, in), B (out, r).
#pragma once

#include <string>
#include <vector>

#include "core/lora_adapter.h"
#include "core/model_spec.h"
#include "core/safetensors.h"
#include "core/status.h"

namespace st::exporter {

// Loads `w` from the base checkpoint as f32 and folds in the adapter's delta when
// the adapter targets it (`adapter` may be null).
Status LoadMergedWeight(const TensorStore& base, const LoraAdapter* adapter, const WeightName& w,
                        std::vector<float>* out);

// Adds scale * B @ A to W in place.
void AddLoraDelta(const LoraPair& lora, int64_t out_dim, int64_t in_dim, int64_t rank, float scale, float* w);

// Writes a merged Hugging Face directory (config.json, model.safetensors in f32,
// tokenizer files copied) to `out_dir`.
Status WriteMergedHfModel(const std::string& model_dir, const std::string& adapter_dir, const std::string& out_dir);

}  // namespace st::exporter
