#include <filesystem>

#include "cli/commands.h"
#include "core/file_io.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/recipe.h"
#include "export/gguf_export.h"
#include "export/merge.h"

namespace st::cli {
namespace fs = std::filesystem;

Status ExportRecipe(const std::string& recipe, const std::vector<std::string>& overrides) {
  ST_ASSIGN_OR_RETURN(Recipe r, LoadRecipe(recipe, overrides));
  const std::string adapter = AdapterDir(r);
  if (!PathExists((fs::path(adapter) / "adapter_config.json").string()))
    return InvalidInput(adapter + ": no trained adapter; run `slicetune train " + recipe + "` first");
  exporter::Provenance prov;
  prov.name = r.name;
  prov.slice = r.name;
  prov.recipe_sha256 = r.hash;
  const std::string manifest = (fs::path(ShardsDir(r)) / "manifest.json").string();
  if (PathExists(manifest)) {
    ST_ASSIGN_OR_RETURN(prov.data_manifest_sha256, Sha256File(manifest));
  }
  const std::string dir = ExportDir(r);
  for (const auto& t : r.exp.types) {
    const std::string out = (fs::path(dir) / (r.name + "-" + t + ".gguf")).string();
    exporter::ModelExport opt;
    opt.type = t;
    ST_RETURN_IF_ERROR(exporter::ExportModelGguf(r.base_model, adapter, opt, out, prov));
    LogInfo("export: wrote " + out);
  }
  if (r.exp.adapter_gguf) {
    const std::string out = (fs::path(dir) / (r.name + "-adapter-f32.gguf")).string();
    ST_RETURN_IF_ERROR(exporter::ExportAdapterGguf(r.base_model, adapter, "f32", out, prov));
    LogInfo("export: wrote " + out);
  }
  return WriteFileAtomic((fs::path(dir) / "recipe.resolved.yaml").string(), r.resolved_yaml);
}

void AddExport(CLI::App& app, Status* result) {
  auto* cmd = app.add_subcommand("export",
                                 "Merge and write GGUF / adapter GGUF / merged HF, from a recipe's run or from --model [--adapter]");
  struct Opts {
    std::string recipe, model, adapter, type, out, imatrix;
    bool pure = false;
    uint64_t max_shard_mb = 5000;
    std::vector<std::string> sets;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("RECIPE", o->recipe, "Recipe YAML file: export every type its export section names");
  cmd->add_option("--set", o->sets, "Override a recipe field: key.path=value (repeatable)");
  cmd->add_option("--model", o->model, "Base model directory (instead of a recipe)");
  cmd->add_option("--adapter", o->adapter, "PEFT adapter directory to merge (or to convert with --type adapter-*)");
  cmd->add_option("--type", o->type,
                  "GGUF model, llama-quantize's names: F32 F16 BF16 Q8_0 Q5_1 Q5_0 Q4_1 Q4_0 Q6_K Q5_K_M Q5_K_S Q4_K_M "
                  "Q4_K_S Q3_K_L Q3_K_M Q3_K_S Q2_K Q2_K_S; GGUF LoRA: adapter-f32 | adapter-f16; hf: merged safetensors dir");
  cmd->add_flag("--pure", o->pure, "Every matrix gets the --type's base type (no k-quant mixture), as llama-quantize --pure");
  cmd->add_option("--imatrix", o->imatrix, "llama.cpp importance matrix (GGUF or legacy .dat) to steer quantization");
  cmd->add_option("-o,--output", o->out, "Output file (directory for --type hf)");
  cmd->add_option("--max-shard-mb", o->max_shard_mb, "--type hf: largest safetensors shard, in MB (1 MB = 10^6 bytes)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  cmd->callback([o, result] {
    if (!o->recipe.empty()) {
      if (!o->model.empty()) {
        *result = InvalidInput("export: give either RECIPE or --model, not both");
        return;
      }
      *result = ExportRecipe(o->recipe, o->sets);
      return;
    }
    if (o->model.empty() || o->type.empty() || o->out.empty()) {
      *result = InvalidInput("export: give a RECIPE, or --model DIR --type T -o OUT (see `slicetune export --help`)");
      return;
    }
    exporter::Provenance prov;
    prov.name = fs::path(o->model).filename().string();
    if (o->type.rfind("adapter-", 0) != 0 && o->type != "hf") {
      exporter::ModelExport opt;
      opt.type = o->type;
      opt.pure = o->pure;
      opt.imatrix = o->imatrix;
      *result = exporter::ExportModelGguf(o->model, o->adapter, opt, o->out, prov);
    } else if (o->type == "adapter-f32" || o->type == "adapter-f16") {
      *result = o->adapter.empty() ? InvalidInput("export --type " + o->type + " needs --adapter DIR")
                                   : exporter::ExportAdapterGguf(o->model, o->adapter, o->type.substr(8), o->out, prov);
    } else if (o->type == "hf") {
      *result = o->adapter.empty() ? InvalidInput("export --type hf needs --adapter DIR to merge")
                                   : exporter::WriteMergedHfModel(o->model, o->adapter, o->out, o->max_shard_mb * 1000000ull);
    } else {
      *result = InvalidInput("export --type '" + o->type + "': expected a GGUF type, adapter-f32, adapter-f16 or hf");
    }
    if (result->ok()) LogInfo("export: wrote " + o->out);
  });
}

}  // namespace st::cli
