// ModelSpec: the hyperparameters of a decoder-only transformer, read from a
// Hugging Face config.json, plus the tensor-name tables that train/ and export/
// share. Each architecture is one row in the registry (core/model_spec.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace st {

// Rotary scaling (config.json "rope_scaling", or "rope_parameters" in transformers 5).
struct RopeScaling {
  std::string type = "default";  // default | linear | llama3
  double factor = 1.0;
  double low_freq_factor = 1.0, high_freq_factor = 4.0;  // llama3
  int64_t original_max_position_embeddings = 8192;       // llama3
};

struct ModelSpec {
  std::string hf_architecture;  // "LlamaForCausalLM"
  std::string model_type;       // "llama"
  std::string gguf_arch;        // "llama"
  bool permute_qk_for_gguf = true;  // ggml's llama layout wants adjacent-pair rotary rows
  bool qkv_bias = false;        // Qwen2: biases on q_proj, k_proj, v_proj
  bool qk_norm = false;         // Qwen3: RMSNorm over each head of q and k before rotary
  int64_t sliding_window = 0;   // Mistral: attend to at most this many previous positions (0: unlimited)
  RopeScaling rope_scaling;
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  bool tie_word_embeddings = false;
  bool attention_bias = false;
  bool mlp_bias = false;
  int64_t bos_token_id = -1;
  int64_t eos_token_id = -1;
  std::string torch_dtype = "float32";
};

// The tokenizer file of a model directory: tokenizer.model (sentencepiece) when
// present, else tokenizer.json; "" when neither exists.
std::string TokenizerFile(const std::string& dir);
// Copies the files that travel with a model's weights (tokenizer.model,
// tokenizer.json, tokenizer_config.json, special_tokens_map.json,
// generation_config.json), those that exist, from `model_dir` into `out_dir`.
Status CopyModelSideFiles(const std::string& model_dir, const std::string& out_dir);

// Reads <dir>/config.json. Errors name the file and the field.
StatusOr<ModelSpec> LoadModelSpec(const std::string& dir);
// Parses config.json text (`where` names the source in errors).
StatusOr<ModelSpec> ParseModelSpec(const std::string& json_text, const std::string& where);
// Serializes to a transformers-compatible config.json.
std::string ModelSpecToConfigJson(const ModelSpec& spec);

// One weight of the model: its Hugging Face name, GGUF name and PyTorch shape (out, in).
struct WeightName {
  std::string hf;
  std::string gguf;
  std::vector<int64_t> shape;
  int layer = -1;             // -1 for global weights
  std::string module;         // "q_proj", ... for linear weights (LoRA targets); "" otherwise
  std::string role;           // what it is inside its block: "attn_norm", "q_proj", "q_proj.bias", "q_norm", ...
};

// Rotary frequency divisors per pair of dimensions (head_dim / 2 values): the
// rotary angle of pair i at position p is p * inv_freq[i] / factor[i]. All ones
// without scaling. llama.cpp reads the same values from a `rope_freqs.weight` tensor.
std::vector<float> RopeFreqFactors(const ModelSpec& spec);

// All weights of the model in GGUF order (token_embd, blocks..., output_norm, output).
std::vector<WeightName> ListWeights(const ModelSpec& spec);

// The linear modules LoRA may target, in block order.
const std::vector<std::string>& LinearModules();
// "q_proj" -> "self_attn", "gate_proj" -> "mlp".
std::string ModuleParent(const std::string& module);
// (out, in) of a linear module.
std::vector<int64_t> LinearShape(const ModelSpec& spec, const std::string& module);

}  // namespace st
