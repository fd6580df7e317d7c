#include "export/merge.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/base_fingerprint.h"
#include "core/file_io.h"
#include "core/half.h"
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

void ApplyDoraMagnitude(const std::vector<float>& magnitude, int64_t out_dim, int64_t in_dim, float* w) {
  for (int64_t o = 0; o < out_dim; ++o) {
    float* row = w + o * in_dim;
    double sq = 0;
    for (int64_t i = 0; i < in_dim; ++i) sq += (double)row[i] * row[i];
    const float factor = (float)(magnitude[o] / std::sqrt(sq));
    for (int64_t i = 0; i < in_dim; ++i) row[i] *= factor;
  }
}

Status LoadMergedWeight(const TensorStore& base, const LoraAdapter* adapter, const WeightName& w,
                        std::vector<float>* out) {
  ST_RETURN_IF_ERROR(base.LoadF32(w.hf, w.shape, out));
  if (!adapter || w.module.empty()) return Status::Ok();
  const LoraPair* p = adapter->Find(w.layer, w.module);
  if (!p) return Status::Ok();
  AddLoraDelta(*p, w.shape[0], w.shape[1], adapter->config.rank, static_cast<float>(adapter->config.scale()), out->data());
  if (adapter->config.dora) ApplyDoraMagnitude(p->magnitude, w.shape[0], w.shape[1], out->data());
  return Status::Ok();
}

namespace {

// f32 values -> bytes of `dtype` (F32, F16 or BF16).
void EncodeAs(DType dtype, const std::vector<float>& v, std::vector<uint8_t>* out) {
  out->resize(v.size() * DTypeSize(dtype));
  for (size_t i = 0; i < v.size(); ++i) {
    if (dtype == DType::kF32) {
      std::memcpy(out->data() + 4 * i, &v[i], 4);
    } else {
      const uint16_t h = dtype == DType::kF16 ? F32ToF16(v[i]) : F32ToBF16(v[i]);
      std::memcpy(out->data() + 2 * i, &h, 2);
    }
  }
}

}  // namespace

Status WriteMergedHfModel(const std::string& model_dir, const std::string& adapter_dir, const std::string& out_dir,
                          uint64_t max_shard_bytes) {
  ST_ASSIGN_OR_RETURN(ModelSpec spec, LoadModelSpec(model_dir));
  auto base = std::make_shared<TensorStore>();
  ST_ASSIGN_OR_RETURN(*base, TensorStore::OpenDir(model_dir));
  ST_RETURN_IF_ERROR(CheckAdapterBase(adapter_dir, model_dir));
  auto adapter = std::make_shared<LoraAdapter>();
  ST_ASSIGN_OR_RETURN(*adapter, LoadLoraAdapter(adapter_dir, spec));
  if (PathExists(out_dir) && !fs::is_empty(out_dir))
    return InvalidInput(out_dir + ": already exists and is not empty; choose another folder or remove it");

  // Shards in weight order, each up to max_shard_bytes (a larger tensor gets one of its own).
  std::vector<std::vector<TensorSource>> shards(1);
  uint64_t in_shard = 0, total = 0;
  for (const auto& w : ListWeights(spec)) {
    const TensorView* t = base->Find(w.hf);
    if (!t) return InvalidInput(model_dir + ": checkpoint is missing tensor '" + w.hf + "'");
    const DType dtype = (t->dtype == DType::kF16 || t->dtype == DType::kBF16) ? t->dtype : DType::kF32;
    TensorSource src{w.hf, dtype, w.shape, [base, adapter, w, dtype](std::vector<uint8_t>* out) -> Status {
                       std::vector<float> v;
                       ST_RETURN_IF_ERROR(LoadMergedWeight(*base, adapter.get(), w, &v));
                       EncodeAs(dtype, v, out);
                       return Status::Ok();
                     }};
    if (in_shard > 0 && in_shard + src.nbytes() > max_shard_bytes) {
      shards.emplace_back();
      in_shard = 0;
    }
    in_shard += src.nbytes();
    total += src.nbytes();
    shards.back().push_back(std::move(src));
  }

  AtomicDir dir;
  ST_RETURN_IF_ERROR(dir.Open(out_dir));
  nlohmann::json weight_map = nlohmann::json::object();
  for (size_t k = 0; k < shards.size(); ++k) {
    char name[64];
    if (shards.size() == 1) std::snprintf(name, sizeof name, "model.safetensors");
    else std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", k + 1, shards.size());
    ST_RETURN_IF_ERROR(WriteSafetensorsStreaming(dir / name, shards[k], {{"format", "pt"}}));
    for (const auto& t : shards[k]) weight_map[t.name] = name;
  }
  if (shards.size() > 1) {
    nlohmann::json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
    ST_RETURN_IF_ERROR(WriteFileAtomic(dir / "model.safetensors.index.json", index.dump(2) + "\n"));
  }
  ST_RETURN_IF_ERROR(WriteFileAtomic(dir / "config.json", ModelSpecToConfigJson(spec)));
  ST_RETURN_IF_ERROR(CopyModelSideFiles(model_dir, dir.temp_path()));
  return dir.Commit();
}

}  // namespace st::exporter
