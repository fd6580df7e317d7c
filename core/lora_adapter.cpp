#include "core/lora_adapter.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/file_io.h"
#include "core/json_io.h"
#include "core/safetensors.h"

namespace st {
namespace fs = std::filesystem;
using json = nlohmann::json;

const LoraPair* LoraAdapter::Find(int layer, const std::string& module) const {
  auto it = weights.find({layer, module});
  return it == weights.end() ? nullptr : &it->second;
}

std::string PeftTensorPrefix(int layer, const std::string& module) {
  return "base_model.model.model.layers." + std::to_string(layer) + "." + ModuleParent(module) + "." + module;
}

StatusOr<LoraAdapter> LoadLoraAdapter(const std::string& dir, const ModelSpec& spec) {
  const std::string cfg_path = (fs::path(dir) / "adapter_config.json").string();
  ST_ASSIGN_OR_RETURN(json j, ReadJsonFile(cfg_path));
  if (j.value("peft_type", "") != "LORA")
    return InvalidInput(cfg_path + ": expected peft_type \"LORA\", found " + (j.contains("peft_type") ? j["peft_type"].dump() : "nothing"));
  if (j.value("fan_in_fan_out", false)) return InvalidInput(cfg_path + ": fan_in_fan_out adapters are not supported");
  LoraAdapter ad;
  if (!j.contains("r") || !j["r"].is_number_integer() || j["r"].get<int64_t>() <= 0)
    return InvalidInput(cfg_path + ": field 'r': expected a positive integer");
  ad.config.rank = j["r"].get<int64_t>();
  if (!j.contains("lora_alpha") || !j["lora_alpha"].is_number()) return InvalidInput(cfg_path + ": field 'lora_alpha': expected a number");
  ad.config.alpha = j["lora_alpha"].get<double>();
  ad.config.dropout = j.value("lora_dropout", 0.0);
  ad.config.base_model = j.value("base_model_name_or_path", "");
  ad.config.rslora = j.value("use_rslora", false);
  ad.config.dora = j.value("use_dora", false);
  if (j.contains("target_modules") && j["target_modules"].is_array())
    for (const auto& t : j["target_modules"]) ad.config.targets.push_back(t.get<std::string>());
  for (const char* per_module : {"rank_pattern", "alpha_pattern"})
    if (j.contains(per_module) && j[per_module].is_object() && !j[per_module].empty())
      return InvalidInput(cfg_path + ": " + per_module + " (per-module ranks) is not supported yet");

  ST_ASSIGN_OR_RETURN(TensorStore store, TensorStore::OpenDir(dir, "adapter_model"));
  for (const auto& name : store.Names()) {
    bool known = false;
    for (int l = 0; l < spec.num_layers && !known; ++l)
      for (const auto& m : LinearModules())
        if (name == PeftTensorPrefix(l, m) + ".lora_A.weight" || name == PeftTensorPrefix(l, m) + ".lora_B.weight" ||
            (ad.config.dora && name == PeftTensorPrefix(l, m) + ".lora_magnitude_vector")) {
          known = true;
          break;
        }
    if (!known) return InvalidInput(dir + "/adapter_model.safetensors: unexpected tensor '" + name + "' for a " + spec.model_type + " LoRA adapter");
  }
  const int64_t r = ad.config.rank;
  for (int l = 0; l < spec.num_layers; ++l) {
    for (const auto& m : LinearModules()) {
      const std::string p = PeftTensorPrefix(l, m);
      if (!store.Find(p + ".lora_A.weight") && !store.Find(p + ".lora_B.weight")) continue;
      auto shape = LinearShape(spec, m);
      LoraPair pair;
      ST_RETURN_IF_ERROR(store.LoadF32(p + ".lora_A.weight", {r, shape[1]}, &pair.a).With(dir));
      ST_RETURN_IF_ERROR(store.LoadF32(p + ".lora_B.weight", {shape[0], r}, &pair.b).With(dir));
      if (ad.config.dora)
        ST_RETURN_IF_ERROR(store.LoadF32(p + ".lora_magnitude_vector", {shape[0]}, &pair.magnitude).With(dir));
      ad.weights[{l, m}] = std::move(pair);
    }
  }
  if (ad.weights.empty()) return InvalidInput(dir + ": adapter holds no LoRA tensors for this model");
  return ad;
}

Status SaveLoraAdapter(const std::string& dir, const LoraAdapter& ad, const ModelSpec& spec) {
  std::vector<TensorToWrite> ts;
  for (const auto& [key, pair] : ad.weights) {
    auto shape = LinearShape(spec, key.second);
    const std::string p = PeftTensorPrefix(key.first, key.second);
    ts.push_back(MakeF32Tensor(p + ".lora_A.weight", {ad.config.rank, shape[1]}, pair.a));
    ts.push_back(MakeF32Tensor(p + ".lora_B.weight", {shape[0], ad.config.rank}, pair.b));
    if (ad.config.dora) ts.push_back(MakeF32Tensor(p + ".lora_magnitude_vector", {shape[0]}, pair.magnitude));
  }
  json cfg = {{"peft_type", "LORA"}, {"task_type", "CAUSAL_LM"}, {"r", ad.config.rank},
              {"lora_alpha", ad.config.alpha}, {"lora_dropout", ad.config.dropout},
              {"target_modules", ad.config.targets}, {"bias", "none"}, {"fan_in_fan_out", false},
              {"inference_mode", true}, {"init_lora_weights", true}, {"use_rslora", ad.config.rslora}, {"use_dora", ad.config.dora},
              {"modules_to_save", nullptr}, {"base_model_name_or_path", ad.config.base_model},
              {"revision", nullptr}, {"layers_to_transform", nullptr}, {"layers_pattern", nullptr},
              {"rank_pattern", json::object()}, {"alpha_pattern", json::object()}};
  ST_RETURN_IF_ERROR(MakeDirs(dir));
  ST_RETURN_IF_ERROR(WriteSafetensors((fs::path(dir) / "adapter_model.safetensors").string(), ts, {{"format", "pt"}}));
  return WriteFileAtomic((fs::path(dir) / "adapter_config.json").string(), cfg.dump(2) + "\n");
}

}  // namespace st
