#include "export/merge.h"

#include <filesystem>

#include "core/file_io.h"
#include "kernels/axpy.h"

namespace st::exporter {
namespace fs = std::filesystem;

void AddLoraDelta(const LoraPair& lora, int64_t out_dim, int64_t in_dim, int64_t rank, float scale, float* w) {
  std::vector<float> row(static_cast<size_t>(in_dim));
  for (int64_t o = 0; o < out_dim; ++o) {
    std::fill(row.begin(), row.end(), 0.0f);
    for (int64_t k = 0; k < rank; ++k) {
      const float b = lora.b[o * rank + k];
      const float* a = &lora.a[k * in_dim];
      for (int64_t i = 0; i < in_dim; ++i) row[i] += b * a[i];
    }
    kernels::AxpyRef(in_dim, scale, row.data(), w + o * in_dim);
  }
}

Status LoadMergedWeight(const TensorStore& base, const LoraAdapter* adapter, const WeightName& w,
                        std::vector<float>* out) {
  ST_RETURN_IF_ERROR(base.LoadF32(w.hf, w.shape, out));
  if (!adapter || w.module.empty()) return Status::Ok();
  const LoraPair* p = adapter->Find(w.layer, w.module);
  if (!p) return Status::Ok();
  AddLoraDelta(*p, w.shape[0], w.shape[1], adapter->config.rank, static_cast<float>(adapter->config.scale()), out->data());
  return Status::Ok();
}

Status WriteMergedHfModel(const std::string& model_dir, const std::string& adapter_dir, const std::string& out_dir) {
  ST_ASSIGN_OR_RETURN(ModelSpec spec, LoadModelSpec(model_dir));
  ST_ASSIGN_OR_RETURN(TensorStore base, TensorStore::OpenDir(model_dir));
  ST_ASSIGN_OR_RETURN(LoraAdapter adapter, LoadLoraAdapter(adapter_dir, spec));
  std::vector<TensorToWrite> ts;
  for (const auto& w : ListWeights(spec)) {
    std::vector<float> v;
    ST_RETURN_IF_ERROR(LoadMergedWeight(base, &adapter, w, &v));
    ts.push_back(MakeF32Tensor(w.hf, w.shape, v));
  }
  ST_RETURN_IF_ERROR(MakeDirs(out_dir));
  ST_RETURN_IF_ERROR(WriteSafetensors((fs::path(out_dir) / "model.safetensors").string(), ts, {{"format", "pt"}}));
  spec.torch_dtype = "float32";
  ST_RETURN_IF_ERROR(WriteFileAtomic((fs::path(out_dir) / "config.json").string(), ModelSpecToConfigJson(spec)));
  for (const char* f : {"tokenizer.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                        "generation_config.json"}) {
    fs::path src = fs::path(model_dir) / f;
    if (!PathExists(src.string())) continue;
    ST_ASSIGN_OR_RETURN(std::string bytes, ReadFile(src.string()));
    ST_RETURN_IF_ERROR(WriteFileAtomic((fs::path(out_dir) / f).string(), bytes));
  }
  return Status::Ok();
}

}  // namespace st::exporter
