#include <cstdio>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/safetensors.h"
#include "data/shards/shard_io.h"
#include "export/gguf_reader.h"

namespace st::cli {
namespace {
using json = nlohmann::json;

std::string Shape(const std::vector<uint64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

// A file's description: metadata pairs and tensor rows.
struct Report {
  std::string kind;
  std::vector<std::pair<std::string, std::string>> meta;
  struct Row {
    std::string name, type;
    std::vector<uint64_t> shape;
    uint64_t bytes;
  };
  std::vector<Row> tensors;
};

StatusOr<Report> InspectGguf(const std::string& path) {
  ST_ASSIGN_OR_RETURN(gguf::FileInfo info, gguf::ReadGgufInfo(path));
  Report r;
  r.kind = "GGUF v" + std::to_string(info.version);
  for (const auto& kv : info.kv) r.meta.emplace_back(kv.key, kv.display);
  for (const auto& t : info.tensors)  // GGUF shapes are ne (innermost first), shown as stored
    r.tensors.push_back({t.name, gguf::GgmlTypeName(t.ggml_type), t.ne, gguf::GgmlTensorBytes(t.ggml_type, t.ne)});
  return r;
}

StatusOr<Report> InspectSafetensors(const std::string& path) {
  ST_ASSIGN_OR_RETURN(auto f, SafetensorsFile::Open(path));
  Report r;
  r.kind = "safetensors";
  for (const auto& [k, v] : f->metadata()) r.meta.emplace_back(k, v);
  for (const auto& [name, t] : f->tensors())
    r.tensors.push_back({name, DTypeName(t.dtype), std::vector<uint64_t>(t.shape.begin(), t.shape.end()), t.nbytes});
  return r;
}

StatusOr<Report> InspectShard(const std::string& path) {
  ST_ASSIGN_OR_RETURN(data::ShardData s, data::ReadShard(path));
  Report r;
  r.kind = "slicetune shard (HDF5) v" + std::to_string(data::kShardFormatVersion);
  r.meta = {{"split", s.split}, {"seq_len", std::to_string(s.seq_len)}, {"num_sequences", std::to_string(s.num_sequences())},
            {"num_real_tokens", std::to_string(s.num_real_tokens)},
            {"num_target_tokens", std::to_string(s.num_target_tokens())}, {"pad_id", std::to_string(s.pad_id)},
            {"tokenizer_sha256", s.tokenizer_sha256}};
  const uint64_t n = (uint64_t)s.num_sequences(), l = (uint64_t)s.seq_len;
  r.tensors.push_back({"input_ids", "I32", {n, l}, n * l * 4});
  r.tensors.push_back({"loss_mask", "U8", {n, l}, n * l});
  return r;
}

void Print(const std::string& path, const Report& r, bool as_json) {
  if (as_json) {
    json j = {{"file", path}, {"format", r.kind}, {"metadata", json::object()}, {"tensors", json::array()}};
    for (const auto& [k, v] : r.meta) j["metadata"][k] = v;
    for (const auto& t : r.tensors) j["tensors"].push_back({{"name", t.name}, {"type", t.type}, {"shape", t.shape}, {"bytes", t.bytes}});
    std::cout << j.dump(2) << "\n";
    return;
  }
  uint64_t total = 0;
  for (const auto& t : r.tensors) total += t.bytes;
  std::printf("%s: %s, %zu metadata keys, %zu tensors, %.2f MiB of tensor data\n\n", path.c_str(), r.kind.c_str(),
              r.meta.size(), r.tensors.size(), total / 1048576.0);
  size_t kw = 3;
  for (const auto& [k, v] : r.meta) kw = std::max(kw, k.size());
  for (const auto& [k, v] : r.meta) std::printf("  %-*s  %s\n", (int)kw, k.c_str(), v.c_str());
  size_t nw = 4;
  for (const auto& t : r.tensors) nw = std::max(nw, t.name.size());
  std::printf("\n  %-*s  %-6s  %-22s  %s\n", (int)nw, "name", "type", "shape", "bytes");
  for (const auto& t : r.tensors)
    std::printf("  %-*s  %-6s  %-22s  %llu\n", (int)nw, t.name.c_str(), t.type.c_str(), Shape(t.shape).c_str(),
                (unsigned long long)t.bytes);
}

}  // namespace

void AddInspect(CLI::App& app, Status* result) {
  auto* cmd = app.add_subcommand("inspect", "Show the metadata and tensors of a .gguf, .safetensors or .h5 shard file");
  struct Opts {
    std::string file;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("FILE", o->file, "File to describe")->required();
  cmd->add_flag("--json", o->json, "Print JSON instead of tables");
  cmd->callback([o, result] {
    const std::string ext = std::filesystem::path(o->file).extension().string();
    StatusOr<Report> r = ext == ".gguf"          ? InspectGguf(o->file)
                         : ext == ".safetensors" ? InspectSafetensors(o->file)
                         : (ext == ".h5" || ext == ".hdf5")
                             ? InspectShard(o->file)
                             : StatusOr<Report>(InvalidInput(o->file + ": unknown file kind '" + ext +
                                                             "'; inspect reads .gguf, .safetensors and .h5"));
    if (!r.ok()) {
      *result = r.status();
      return;
    }
    Print(o->file, *r, o->json);
  });
}

}  // namespace st::cli
