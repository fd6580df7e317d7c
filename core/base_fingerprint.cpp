#include "core/base_fingerprint.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/file_io.h"
#include "core/half.h"
#include "core/hash.h"
#include "core/json_io.h"
#include "core/safetensors.h"

namespace st {
namespace fs = std::filesystem;

namespace {

constexpr int kTensors = 8, kValues = 32;
constexpr double kRelTol = 1.0 / 128;

float ValueAt(const TensorView& t, int64_t i) {
  float f = 0.0f;
  if (t.dtype == DType::kF32) {
    std::memcpy(&f, t.data + 4 * i, 4);
  } else if (t.dtype == DType::kF16 || t.dtype == DType::kBF16) {
    uint16_t h;
    std::memcpy(&h, t.data + 2 * i, 2);
    f = t.dtype == DType::kF16 ? F16ToF32(h) : BF16ToF32(h);
  }
  return f;
}

StatusOr<nlohmann::json> Describe(const std::string& model_dir) {
  ST_ASSIGN_OR_RETURN(nlohmann::json cfg, ReadJsonFile((fs::path(model_dir) / "config.json").string()));
  std::string text;
  for (const char* k : {"architectures", "model_type", "hidden_size", "intermediate_size", "num_hidden_layers",
                        "num_attention_heads", "num_key_value_heads", "vocab_size"})
    text += std::string(k) + "=" + (cfg.contains(k) ? cfg[k].dump() : "null") + "\n";
  ST_ASSIGN_OR_RETURN(TensorStore store, TensorStore::OpenDir(model_dir));
  const std::vector<std::string> names = store.Names();
  for (const auto& name : names) {
    text += name + ":";
    for (int64_t d : store.Find(name)->shape) text += std::to_string(d) + ",";
    text += "\n";
  }
  nlohmann::json samples = nlohmann::json::object();
  const size_t step = std::max<size_t>(1, names.size() / kTensors);
  for (size_t i = 0; i < names.size() && samples.size() < (size_t)kTensors; i += step) {
    const TensorView* t = store.Find(names[i]);
    const int64_t n = t->numel();
    nlohmann::json v = nlohmann::json::array();
    for (int64_t j = 0; j < std::min<int64_t>(kValues, n); ++j)
      v.push_back(ValueAt(*t, n <= kValues ? j : j * (n - 1) / (kValues - 1)));
    samples[names[i]] = v;
  }
  return nlohmann::json{{"base_model", fs::absolute(model_dir).lexically_normal().string()},
                        {"shapes_sha256", Sha256Hex(text)},
                        {"samples", samples}};
}

}  // namespace

Status RecordAdapterBase(const std::string& adapter_dir, const std::string& model_dir) {
  ST_ASSIGN_OR_RETURN(nlohmann::json j, Describe(model_dir));
  return WriteFileAtomic((fs::path(adapter_dir) / kBaseRecordFile).string(), j.dump(2) + "\n");
}

Status CheckAdapterBase(const std::string& adapter_dir, const std::string& model_dir) {
  const std::string rec = (fs::path(adapter_dir) / kBaseRecordFile).string();
  if (!PathExists(rec)) return Status::Ok();
  ST_ASSIGN_OR_RETURN(nlohmann::json want, ReadJsonFile(rec));
  ST_ASSIGN_OR_RETURN(nlohmann::json have, Describe(model_dir));
  const std::string trained_on = want.value("base_model", std::string("?"));
  auto refuse = [&](const std::string& what) {
    return InvalidInput("adapter " + adapter_dir + " was trained on " + trained_on + ", but " + model_dir + " differs: " +
                        what + "; the adapter would be applied to weights it was not trained for. HINT: use the base it "
                        "was trained on; if this is the same model re-saved, delete " + rec + " to skip the check");
  };
  if (want.value("shapes_sha256", std::string()) != have["shapes_sha256"].get<std::string>())
    return refuse("other architecture, tensor names or shapes");
  if (!want.contains("samples") || !want["samples"].is_object())
    return InvalidInput(rec + ": 'samples' missing or not an object; HINT: delete the file or retrain");
  for (const auto& [name, vals] : want["samples"].items()) {
    if (!have["samples"].contains(name)) return refuse("no sampled tensor " + name);
    const auto& got = have["samples"][name];
    if (!vals.is_array() || vals.size() != got.size()) return refuse("tensor " + name + " sampled differently");
    for (size_t i = 0; i < vals.size(); ++i) {
      const double a = vals[i].get<double>(), b = got[i].get<double>();
      if (std::fabs(a - b) > kRelTol * std::max(std::fabs(a), std::fabs(b)) + 1e-6)
        return refuse("other weights (" + name + " value " + std::to_string(i) + ": " + std::to_string(a) + " vs " +
                      std::to_string(b) + ")");
    }
  }
  return Status::Ok();
}

}  // namespace st

namespace st {

StatusOr<std::string> ModelDirStamp(const std::string& model_dir) {
  ST_ASSIGN_OR_RETURN(std::string config, ReadFile((fs::path(model_dir) / "config.json").string()));
  std::vector<std::string> lines;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(model_dir, ec)) {
    const std::string name = e.path().filename().string();
    const bool weights = (name.size() > 12 && name.compare(name.size() - 12, 12, ".safetensors") == 0) ||
                         name == "model.safetensors.index.json";
    if (!weights) continue;
    const auto size = e.file_size(ec);
    const auto mtime = e.last_write_time(ec).time_since_epoch().count();
    lines.push_back(name + " " + std::to_string(size) + " " + std::to_string(mtime));
  }
  if (ec) return RuntimeError(model_dir + ": cannot list the model's files (" + ec.message() + ")");
  std::sort(lines.begin(), lines.end());
  std::string all = Sha256Hex(config) + "\n";
  for (const auto& l : lines) all += l + "\n";
  return Sha256Hex(all);
}

}  // namespace st
