// LoRA merge on the CPU in float32: W' = W + s * B @ A (s = alpha / r, or
// alpha / sqrt(r) for rsLoRA), then DoRA's per-row magnitude when the adapter has one.
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

// DoRA: rescales each row of W (already W + s B A) to the trained magnitude:
// row *= m / ||row|| (PEFT's merge: dora_factor = m / weight_norm).
void ApplyDoraMagnitude(const std::vector<float>& magnitude, int64_t out_dim, int64_t in_dim, float* w);

// Adds scale * B @ A to W in place.
void AddLoraDelta(const LoraPair& lora, int64_t out_dim, int64_t in_dim, int64_t rank, float scale, float* w);

// Writes a merged Hugging Face directory to `out_dir`: config.json, the weights
// in the base checkpoint's dtype (the merge itself runs in f32) as safetensors,
// sharded with model.safetensors.index.json when they exceed `max_shard_bytes`,
// and the tokenizer files. Tensors stream one at a time; the directory appears
// only when complete.
Status WriteMergedHfModel(const std::string& model_dir, const std::string& adapter_dir, const std::string& out_dir,
                          uint64_t max_shard_bytes = 5000000000ull);

}  // namespace st::exporter
