#include "train/full_model.h"

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/file_io.h"
#include "core/model_spec.h"
#include "core/safetensors.h"

namespace st::train {
namespace fs = std::filesystem;

std::vector<at::Tensor> MakeBaseTrainable(LlamaModel& model) {
  std::vector<at::Tensor> out;
  for (auto& [name, t] : model.NamedWeights()) out.push_back(t.requires_grad_(true));
  return out;
}

Status SaveFullModel(LlamaModel& model, const std::string& base_dir, const std::string& out_dir) {
  ST_ASSIGN_OR_RETURN(std::string config_text, ReadFile((fs::path(base_dir) / "config.json").string()));
  nlohmann::json config = nlohmann::json::parse(config_text, nullptr, false);
  if (config.is_discarded() || !config.is_object())
    return InvalidInput(base_dir + "/config.json: not a JSON object");
  config["torch_dtype"] = "float32";  // what we write, whatever the base was stored in

  std::vector<TensorToWrite> tensors;
  for (const auto& [name, t] : model.NamedWeights()) {
    at::Tensor c = t.detach().to(at::kCPU, at::kFloat).contiguous();
    TensorToWrite w;
    w.name = name;
    w.dtype = DType::kF32;
    w.shape.assign(c.sizes().begin(), c.sizes().end());
    w.bytes.resize((size_t)c.numel() * sizeof(float));
    std::memcpy(w.bytes.data(), c.data_ptr<float>(), w.bytes.size());
    tensors.push_back(std::move(w));
  }
  AtomicDir dir;
  ST_RETURN_IF_ERROR(dir.Open(out_dir));
  ST_RETURN_IF_ERROR(WriteSafetensors(dir / "model.safetensors", tensors, {{"format", "pt"}}));
  ST_RETURN_IF_ERROR(WriteFileAtomic(dir / "config.json", config.dump(2) + "\n"));
  ST_RETURN_IF_ERROR(CopyModelSideFiles(base_dir, dir.temp_path()));
  return dir.Commit();
}

}  // namespace st::train
