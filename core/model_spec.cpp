#include "core/model_spec.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>

#include "core/file_io.h"
#include "core/json_io.h"

namespace st {
namespace {

using json = nlohmann::json;

// The architecture registry: one row per supported family. Hyperparameter names
// follow transformers' configuration classes; GGUF names follow llama.cpp's
// llama-arch.cpp tensor tables.
struct ArchRow {
  const char* hf_architecture;
  const char* model_type;
  const char* gguf_arch;
  bool permute_qk;
  bool qkv_bias;
  bool qk_norm;
};
constexpr ArchRow kArchRegistry[] = {
    // Llama 1/2/3/3.x. Mistral uses the same layout and llama.cpp's "llama" arch.
    {"LlamaForCausalLM", "llama", "llama", true, false, false},
    {"MistralForCausalLM", "mistral", "llama", true, false, false},
    // Qwen2 / Qwen2.5: biases on q, k, v; GGUF keeps HF's rotary row order.
    {"Qwen2ForCausalLM", "qwen2", "qwen2", false, true, false},
    // Qwen3: per-head RMSNorm on q and k, explicit head_dim.
    {"Qwen3ForCausalLM", "qwen3", "qwen3", false, false, true},
};

StatusOr<int64_t> GetInt(const json& j, const std::string& key, const std::string& where, bool required,
                         int64_t fallback) {
  if (!j.contains(key) || j[key].is_null()) {
    if (required) return InvalidInput(where + ": missing field '" + key + "' (an integer)");
    return fallback;
  }
  if (!j[key].is_number_integer() || j[key].get<int64_t>() < 0)
    return InvalidInput(where + ": field '" + key + "': expected a non-negative integer, found " + j[key].dump());
  return j[key].get<int64_t>();
}

StatusOr<double> GetNum(const json& j, const std::string& key, const std::string& where, double fallback) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  if (!j[key].is_number()) return InvalidInput(where + ": field '" + key + "': expected a number, found " + j[key].dump());
  return j[key].get<double>();
}

StatusOr<bool> GetBool(const json& j, const std::string& key, const std::string& where, bool fallback) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  if (!j[key].is_boolean()) return InvalidInput(where + ": field '" + key + "': expected true or false, found " + j[key].dump());
  return j[key].get<bool>();
}

}  // namespace

StatusOr<ModelSpec> ParseModelSpec(const std::string& text, const std::string& where) {
  ST_ASSIGN_OR_RETURN(json j, ParseJson(text, where));
  if (!j.is_object()) return InvalidInput(where + ": expected a JSON object");
  ModelSpec s;
  if (!j.contains("model_type") || !j["model_type"].is_string())
    return InvalidInput(where + ": missing string field 'model_type' (e.g. \"llama\")");
  s.model_type = j["model_type"].get<std::string>();
  const ArchRow* row = nullptr;
  for (const auto& r : kArchRegistry)
    if (s.model_type == r.model_type) row = &r;
  if (!row) {
    std::string known;
    for (const auto& r : kArchRegistry) known += std::string(known.empty() ? "" : ", ") + r.model_type;
    return InvalidInput(where + ": model_type '" + s.model_type + "' is not supported; supported: " + known);
  }
  s.hf_architecture = row->hf_architecture;
  if (j.contains("architectures") && j["architectures"].is_array() && !j["architectures"].empty()) {
    const std::string arch = j["architectures"][0].is_string() ? j["architectures"][0].get<std::string>() : "";
    bool known = false;
    std::string list;
    for (const auto& r : kArchRegistry) {
      known = known || arch == r.hf_architecture;
      list += std::string(list.empty() ? "" : ", ") + r.hf_architecture;
    }
    if (!known)
      return InvalidInput(where + ": architectures[0] '" + arch + "' is not supported; supported: " + list);
  }
  s.gguf_arch = row->gguf_arch;
  s.permute_qk_for_gguf = row->permute_qk;
  s.qkv_bias = row->qkv_bias;
  s.qk_norm = row->qk_norm;
  ST_ASSIGN_OR_RETURN(s.vocab_size, GetInt(j, "vocab_size", where, true, 0));
  ST_ASSIGN_OR_RETURN(s.hidden_size, GetInt(j, "hidden_size", where, true, 0));
  ST_ASSIGN_OR_RETURN(s.intermediate_size, GetInt(j, "intermediate_size", where, true, 0));
  ST_ASSIGN_OR_RETURN(s.num_layers, GetInt(j, "num_hidden_layers", where, true, 0));
  ST_ASSIGN_OR_RETURN(s.num_heads, GetInt(j, "num_attention_heads", where, true, 0));
  ST_ASSIGN_OR_RETURN(s.num_kv_heads, GetInt(j, "num_key_value_heads", where, false, s.num_heads));
  if (s.num_heads == 0 || s.hidden_size == 0 || s.vocab_size == 0 || s.num_layers == 0)
    return InvalidInput(where + ": vocab_size, hidden_size, num_hidden_layers and num_attention_heads must be positive");
  // Every layer is a list of weights here and a set of tensors in a checkpoint: a
  // count far past any real model (the largest open ones have ~130) is a damaged
  // file, refused before anything is sized by it (fuzz_config_json: 6,666,662).
  constexpr int64_t kMaxLayers = 4096;
  if (s.num_layers > kMaxLayers)
    return InvalidInput(where + ": num_hidden_layers is " + std::to_string(s.num_layers) + ", more than " +
                        std::to_string(kMaxLayers) + " (no model has that many); check the file");
  ST_ASSIGN_OR_RETURN(s.head_dim, GetInt(j, "head_dim", where, false, s.hidden_size / s.num_heads));
  if (s.num_kv_heads == 0 || s.num_heads % s.num_kv_heads != 0)
    return InvalidInput(where + ": num_attention_heads (" + std::to_string(s.num_heads) +
                        ") must be a multiple of num_key_value_heads (" + std::to_string(s.num_kv_heads) + ")");
  if (s.head_dim % 2 != 0) return InvalidInput(where + ": head_dim must be even for rotary embeddings");
  ST_ASSIGN_OR_RETURN(s.max_position_embeddings, GetInt(j, "max_position_embeddings", where, false, 2048));
  ST_ASSIGN_OR_RETURN(s.rms_norm_eps, GetNum(j, "rms_norm_eps", where, 1e-6));
  ST_ASSIGN_OR_RETURN(s.rope_theta, GetNum(j, "rope_theta", where, 10000.0));
  // Rotary scaling: transformers 5 writes "rope_parameters" (with rope_theta inside),
  // checkpoints on the hub carry "rope_scaling".
  const json* rope = nullptr;
  if (j.contains("rope_parameters") && j["rope_parameters"].is_object()) rope = &j["rope_parameters"];
  else if (j.contains("rope_scaling") && j["rope_scaling"].is_object()) rope = &j["rope_scaling"];
  else if (j.contains("rope_scaling") && !j["rope_scaling"].is_null())
    return InvalidInput(where + ": field 'rope_scaling': expected an object or null, found " + j["rope_scaling"].dump());
  if (rope) {
    const std::string rw = where + ": rope parameters";
    ST_ASSIGN_OR_RETURN(s.rope_theta, GetNum(*rope, "rope_theta", rw, s.rope_theta));
    s.rope_scaling.type = rope->value("rope_type", rope->value("type", std::string("default")));
    RopeScaling& rs = s.rope_scaling;
    ST_ASSIGN_OR_RETURN(rs.factor, GetNum(*rope, "factor", rw, 1.0));
    if (rs.type == "llama3") {
      ST_ASSIGN_OR_RETURN(rs.low_freq_factor, GetNum(*rope, "low_freq_factor", rw, 1.0));
      ST_ASSIGN_OR_RETURN(rs.high_freq_factor, GetNum(*rope, "high_freq_factor", rw, 4.0));
      ST_ASSIGN_OR_RETURN(rs.original_max_position_embeddings,
                          GetInt(*rope, "original_max_position_embeddings", rw, false, 8192));
      if (rs.high_freq_factor <= rs.low_freq_factor)
        return InvalidInput(rw + ": high_freq_factor must exceed low_freq_factor");
    } else if (rs.type != "default" && rs.type != "linear") {
      return InvalidInput(rw + ": rope_type '" + rs.type + "' is not supported; supported: default, linear, llama3");
    }
    if (rs.factor <= 0) return InvalidInput(rw + ": factor must be positive");
  }
  // Sliding-window attention: Mistral uses it whenever it is set; Qwen only with use_sliding_window.
  if (j.contains("sliding_window") && j["sliding_window"].is_number_integer() &&
      (s.model_type == "mistral" || j.value("use_sliding_window", false)))
    s.sliding_window = j["sliding_window"].get<int64_t>();
  ST_ASSIGN_OR_RETURN(s.tie_word_embeddings, GetBool(j, "tie_word_embeddings", where, false));
  ST_ASSIGN_OR_RETURN(s.attention_bias, GetBool(j, "attention_bias", where, false));
  ST_ASSIGN_OR_RETURN(s.mlp_bias, GetBool(j, "mlp_bias", where, false));
  if (s.attention_bias || s.mlp_bias)
    return InvalidInput(where + ": attention_bias / mlp_bias = true is not supported for " + s.model_type + " yet");
  ST_ASSIGN_OR_RETURN(s.bos_token_id, GetInt(j, "bos_token_id", where, false, -1));
  if (j.contains("eos_token_id") && j["eos_token_id"].is_array() && !j["eos_token_id"].empty()) {
    // A list (Llama 3 names several end tokens): the first is the model's EOS.
    for (const auto& e : j["eos_token_id"])
      if (!e.is_number_integer() || e.get<int64_t>() < 0)
        return InvalidInput(where + ": field 'eos_token_id': expected a non-negative integer or a list of them, found " +
                            j["eos_token_id"].dump());
    s.eos_token_id = j["eos_token_id"][0].get<int64_t>();
  } else {
    ST_ASSIGN_OR_RETURN(s.eos_token_id, GetInt(j, "eos_token_id", where, false, -1));
  }
  if (j.contains("torch_dtype") && j["torch_dtype"].is_string()) s.torch_dtype = j["torch_dtype"].get<std::string>();
  if (j.contains("dtype") && j["dtype"].is_string()) s.torch_dtype = j["dtype"].get<std::string>();
  return s;
}

std::string TokenizerFile(const std::string& dir) {
  for (const char* f : {"tokenizer.model", "tokenizer.json"}) {
    std::string p = (std::filesystem::path(dir) / f).string();
    if (PathExists(p)) return p;
  }
  return "";
}

Status CopyModelSideFiles(const std::string& model_dir, const std::string& out_dir) {
  for (const char* f : {"tokenizer.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                        "generation_config.json"}) {
    const std::string src = (std::filesystem::path(model_dir) / f).string();
    if (!PathExists(src)) continue;
    ST_ASSIGN_OR_RETURN(std::string bytes, ReadFile(src));
    ST_RETURN_IF_ERROR(WriteFileAtomic((std::filesystem::path(out_dir) / f).string(), bytes));
  }
  return Status::Ok();
}

StatusOr<ModelSpec> LoadModelSpec(const std::string& dir) {
  std::string path = (std::filesystem::path(dir) / "config.json").string();
  if (!PathExists(dir)) return InvalidInput(dir + ": model directory not found");
  ST_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  return ParseModelSpec(text, path);
}

namespace {
json RopeScalingJson(const RopeScaling& r) {
  if (r.type == "default") return nullptr;
  json j = {{"rope_type", r.type}, {"factor", r.factor}};
  if (r.type == "llama3") {
    j["low_freq_factor"] = r.low_freq_factor;
    j["high_freq_factor"] = r.high_freq_factor;
    j["original_max_position_embeddings"] = r.original_max_position_embeddings;
  }
  return j;
}
}  // namespace

std::string ModelSpecToConfigJson(const ModelSpec& s) {
  json j = {
      {"architectures", {s.hf_architecture}},
      {"model_type", s.model_type},
      {"vocab_size", s.vocab_size},
      {"hidden_size", s.hidden_size},
      {"intermediate_size", s.intermediate_size},
      {"num_hidden_layers", s.num_layers},
      {"num_attention_heads", s.num_heads},
      {"num_key_value_heads", s.num_kv_heads},
      {"head_dim", s.head_dim},
      {"max_position_embeddings", s.max_position_embeddings},
      {"rms_norm_eps", s.rms_norm_eps},
      {"rope_theta", s.rope_theta},
      {"rope_scaling", RopeScalingJson(s.rope_scaling)},
      {"tie_word_embeddings", s.tie_word_embeddings},
      {"attention_bias", s.attention_bias},
      {"attention_dropout", 0.0},
      {"mlp_bias", s.mlp_bias},
      {"hidden_act", "silu"},
      {"initializer_range", 0.02},
      {"bos_token_id", s.bos_token_id >= 0 ? json(s.bos_token_id) : json(nullptr)},
      {"eos_token_id", s.eos_token_id >= 0 ? json(s.eos_token_id) : json(nullptr)},
      {"torch_dtype", s.torch_dtype},
      {"use_cache", true},
  };
  if (s.sliding_window > 0) j["sliding_window"] = s.sliding_window;
  return j.dump(2) + "\n";
}

const std::vector<std::string>& LinearModules() {
  static const std::vector<std::string> k = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
  return k;
}

std::string ModuleParent(const std::string& m) {
  return (m == "gate_proj" || m == "up_proj" || m == "down_proj") ? "mlp" : "self_attn";
}

std::vector<int64_t> LinearShape(const ModelSpec& s, const std::string& m) {
  const int64_t q = s.num_heads * s.head_dim, kv = s.num_kv_heads * s.head_dim;
  if (m == "q_proj") return {q, s.hidden_size};
  if (m == "k_proj" || m == "v_proj") return {kv, s.hidden_size};
  if (m == "o_proj") return {s.hidden_size, q};
  if (m == "gate_proj" || m == "up_proj") return {s.intermediate_size, s.hidden_size};
  if (m == "down_proj") return {s.hidden_size, s.intermediate_size};
  return {};
}

std::vector<float> RopeFreqFactors(const ModelSpec& s) {
  // After transformers' _compute_llama3_parameters / _compute_linear_scaling_rope_parameters.
  const int64_t half = s.head_dim / 2;
  std::vector<float> f(half, 1.0f);
  const RopeScaling& r = s.rope_scaling;
  if (r.type == "linear") std::fill(f.begin(), f.end(), (float)r.factor);
  if (r.type != "llama3") return f;
  const double low_wavelen = r.original_max_position_embeddings / r.low_freq_factor;
  const double high_wavelen = r.original_max_position_embeddings / r.high_freq_factor;
  for (int64_t i = 0; i < half; ++i) {
    const float inv = 1.0f / std::pow((float)s.rope_theta, (float)(2 * i) / (float)s.head_dim);
    const double wavelen = 2 * M_PI / inv;
    if (wavelen < high_wavelen) {
      f[i] = 1.0f;
    } else if (wavelen > low_wavelen) {
      f[i] = (float)r.factor;
    } else {
      const double smooth = (r.original_max_position_embeddings / wavelen - r.low_freq_factor) /
                            (r.high_freq_factor - r.low_freq_factor);
      f[i] = (float)(1.0 / ((1.0 - smooth) / r.factor + smooth));
    }
  }
  return f;
}

std::vector<WeightName> ListWeights(const ModelSpec& s) {
  static const std::pair<const char*, const char*> kLinearGguf[] = {
      {"q_proj", "attn_q"},      {"k_proj", "attn_k"},   {"v_proj", "attn_v"},    {"o_proj", "attn_output"},
      {"gate_proj", "ffn_gate"}, {"up_proj", "ffn_up"}, {"down_proj", "ffn_down"},
  };
  std::vector<WeightName> w;
  w.push_back({"model.embed_tokens.weight", "token_embd.weight", {s.vocab_size, s.hidden_size}, -1, "", "embed"});
  for (int64_t l = 0; l < s.num_layers; ++l) {
    const int li = (int)l;
    const std::string hf = "model.layers." + std::to_string(l) + ".";
    const std::string gg = "blk." + std::to_string(l) + ".";
    w.push_back({hf + "input_layernorm.weight", gg + "attn_norm.weight", {s.hidden_size}, li, "", "attn_norm"});
    for (const auto& [m, g] : kLinearGguf) {
      const std::string mod = m, base = hf + ModuleParent(mod) + "." + mod;
      const auto shape = LinearShape(s, mod);
      w.push_back({base + ".weight", gg + g + ".weight", shape, li, mod, mod});
      if (s.qkv_bias && (mod == "q_proj" || mod == "k_proj" || mod == "v_proj"))
        w.push_back({base + ".bias", gg + g + ".bias", {shape[0]}, li, "", mod + ".bias"});
    }
    if (s.qk_norm) {
      w.push_back({hf + "self_attn.q_norm.weight", gg + "attn_q_norm.weight", {s.head_dim}, li, "", "q_norm"});
      w.push_back({hf + "self_attn.k_norm.weight", gg + "attn_k_norm.weight", {s.head_dim}, li, "", "k_norm"});
    }
    w.push_back({hf + "post_attention_layernorm.weight", gg + "ffn_norm.weight", {s.hidden_size}, li, "", "ffn_norm"});
  }
  w.push_back({"model.norm.weight", "output_norm.weight", {s.hidden_size}, -1, "", "final_norm"});
  if (!s.tie_word_embeddings)
    w.push_back({"lm_head.weight", "output.weight", {s.vocab_size, s.hidden_size}, -1, "", "lm_head"});
  return w;
}

}  // namespace st
