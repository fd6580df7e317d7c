#include "export/slice_bundle.h"

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "core/file_io.h"
#include "core/hash.h"
#include "core/log.h"
#include "export/modelfile.h"

namespace st::exporter {
namespace fs = std::filesystem;

StatusOr<SliceAdapter> ParseSliceAdapter(const std::string& arg) {
  SliceAdapter s;
  const size_t eq = arg.find('=');
  if (eq != std::string::npos) {
    s.name = arg.substr(0, eq);
    s.dir = arg.substr(eq + 1);
  } else {
    s.dir = arg;
    fs::path p = fs::path(arg).lexically_normal();
    if (p.filename().empty()) p = p.parent_path();
    s.name = p.filename() == "adapter" ? p.parent_path().filename().string() : p.filename().string();
  }
  if (s.name.empty() || s.dir.empty())
    return InvalidInput("--adapter '" + arg + "': expected DIR or NAME=DIR");
  for (char c : s.name)
    if (!std::isalnum((unsigned char)c) && c != '-' && c != '_' && c != '.')
      return InvalidInput("--adapter '" + arg + "': slice name '" + s.name +
                          "' may hold only letters, digits, '-', '_' and '.'; HINT: name it with NAME=DIR");
  return s;
}

Status ExportSliceBundle(const std::string& model_dir, const std::vector<SliceAdapter>& slices, const ModelExport& opt,
                         const std::string& adapter_type, const std::string& out_dir, const Provenance& prov) {
  std::set<std::string> names;
  for (const auto& s : slices)
    if (!names.insert(s.name).second)
      return InvalidInput("two adapters are both named '" + s.name + "'; HINT: name them with --adapter NAME=DIR");
  AtomicDir dir;
  ST_RETURN_IF_ERROR(dir.Open(out_dir));
  nlohmann::json manifest = {{"base_model", model_dir}, {"type", opt.type}, {"slices", nlohmann::json::array()}};
  auto record = [&](const std::string& rel) -> StatusOr<std::string> { return Sha256File(dir / rel); };

  const std::string base = "base-" + opt.type + ".gguf";
  ST_RETURN_IF_ERROR(ExportModelGguf(model_dir, "", opt, dir / base, prov));
  ST_ASSIGN_OR_RETURN(std::string base_sha, record(base));
  manifest["base_gguf"] = {{"file", base}, {"sha256", base_sha}};
  LogInfo("export: base model -> " + base);
  for (const auto& s : slices) {
    Provenance p = prov;
    p.slice = s.name;
    const std::string lora = s.name + ".lora.gguf", modelfile = s.name + ".Modelfile", peft = s.name + "-peft";
    ST_RETURN_IF_ERROR(ExportAdapterGguf(model_dir, s.dir, adapter_type, dir / lora, p));
    ST_RETURN_IF_ERROR(MakeDirs(dir / peft));
    nlohmann::json files = nlohmann::json::object();
    for (const char* f : {"adapter_model.safetensors", "adapter_config.json"}) {
      const std::string src = (fs::path(s.dir) / f).string();
      ST_ASSIGN_OR_RETURN(std::string bytes, ReadFile(src));
      ST_RETURN_IF_ERROR(WriteFileAtomic((fs::path(dir / peft) / f).string(), bytes));
      files[std::string(peft) + "/" + f] = Sha256Hex(bytes);
    }
    ModelfileSpec mf;
    mf.model_dir = model_dir;
    mf.from = "./" + base;
    mf.adapters = {"./" + lora};
    mf.comment = "slice " + s.name + " on " + fs::path(model_dir).filename().string() + " (written by slicetune)";
    ST_RETURN_IF_ERROR(WriteModelfile(mf, dir / modelfile));
    ST_ASSIGN_OR_RETURN(files[lora], record(lora));
    ST_ASSIGN_OR_RETURN(files[modelfile], record(modelfile));
    manifest["slices"].push_back({{"name", s.name}, {"adapter_dir", s.dir}, {"files", files}});
    LogInfo("export: slice " + s.name + " -> " + lora + ", " + modelfile + ", " + peft + "/");
  }
  ST_RETURN_IF_ERROR(WriteFileAtomic(dir / "bundle.json", manifest.dump(2) + "\n"));
  return dir.Commit();
}

}  // namespace st::exporter
