// LoRA adapter in PEFT's on-disk format (what `PeftModel.from_pretrained` and
// vLLM load):
//   adapter_config.json        {"peft_type": "LORA", "r", "lora_alpha", "target_modules",
//                               "lora_dropout", "bias": "none", "task_type": "CAUSAL_LM", ...}
//   adapter_model.safetensors  base_model.model.model.layers.{L}.{self_attn|mlp}.{module}.lora_A.weight (r, in)
//                              base_model.model.model.layers.{L}.{self_attn|mlp}.{module}.lora_B.weight (out, r)
//                              ...{module}.lora_magnitude_vector (out,)   DoRA only
// The effective weight is W + s * B @ A with s = alpha / r, or alpha / sqrt(r)
// with use_rslora. DoRA (use_dora) rescales each output row of that sum to the
// trained magnitude: W' = m * (W + s B A) / ||W + s B A||_row (PEFT's
// tuners/lora/dora.py; the norm is treated as a constant in training).
#pragma once

#include <cmath>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/model_spec.h"
#include "core/status.h"

namespace st {

struct LoraConfig {
  int64_t rank = 8;
  double alpha = 16.0;
  double dropout = 0.0;
  std::vector<std::string> targets;
  std::string base_model;  // base_model_name_or_path
  bool rslora = false;     // use_rslora: scale alpha / sqrt(r)
  bool dora = false;       // use_dora: per-row magnitudes
  double scale() const { return rslora ? alpha / std::sqrt(static_cast<double>(rank)) : alpha / static_cast<double>(rank); }
};

struct LoraPair {
  std::vector<float> a;  // (r, in)
  std::vector<float> b;  // (out, r)
  std::vector<float> magnitude;  // (out,) DoRA only
};

struct LoraAdapter {
  LoraConfig config;
  // (layer, module) -> factors
  std::map<std::pair<int, std::string>, LoraPair> weights;
  const LoraPair* Find(int layer, const std::string& module) const;
};

std::string PeftTensorPrefix(int layer, const std::string& module);  // ...layers.L.self_attn.q_proj

// Loads <dir>/adapter_config.json and adapter_model.safetensors, checking every
// shape against `spec`.
StatusOr<LoraAdapter> LoadLoraAdapter(const std::string& dir, const ModelSpec& spec);
// Writes both files atomically into `dir`.
Status SaveLoraAdapter(const std::string& dir, const LoraAdapter& adapter, const ModelSpec& spec);

}  // namespace st
