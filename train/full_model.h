// train.mode full: every weight of a (tiny) base trained, and the result written
// back as a Hugging Face checkpoint that every loader of ours and transformers
// reads: config.json (torch_dtype float32), model.safetensors with the names of
// ListWeights, and the base's tokenizer and generation files copied unchanged.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "train/llama_model.h"

namespace st::train {

// The base's weights made trainable (requires_grad), in ListWeights order; the
// LoRA branches must be detached first.
std::vector<at::Tensor> MakeBaseTrainable(LlamaModel& model);

// Writes the model's weights as float32 into `out_dir` (atomically: a temporary
// folder renamed at the end), with config.json and the tokenizer from `base_dir`.
Status SaveFullModel(LlamaModel& model, const std::string& base_dir, const std::string& out_dir);

}  // namespace st::train
