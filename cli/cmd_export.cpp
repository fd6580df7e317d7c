#include <filesystem>

#include "cli/commands.h"
#include "core/file_io.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/recipe.h"
#include "export/gguf_export.h"
#include "export/merge.h"
#include "export/modelfile.h"
#include "export/slice_bundle.h"

namespace st::cli {
namespace fs = std::filesystem;

Status ModelfileBeside(const std::string& model_dir, const std::string& gguf, const std::string& comment);

static Status ExportOne(const Recipe& r, const std::string& recipe, bool gpu) {
  // train.mode full leaves a whole model and no adapter: that model is exported as it is.
  const bool full = r.train.mode == "full";
  const std::string adapter = full ? "" : AdapterDir(r);
  const std::string model = full ? FullModelDir(r) : r.base_model;
  const std::string trained = TrainedDir(r);
  if (!PathExists((fs::path(trained) / (full ? "config.json" : "adapter_config.json")).string()))
    return InvalidInput(trained + ": nothing trained yet; run `slicetune train " + recipe + "` first");
  exporter::Provenance prov;
  prov.name = r.name;
  prov.slice = r.name;
  if (!r.group.empty()) prov.name = r.group + "/" + r.name;
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
    opt.gpu = gpu;
    ST_RETURN_IF_ERROR(exporter::ExportModelGguf(model, adapter, opt, out, prov));
    LogInfo("export: wrote " + out);
    ST_RETURN_IF_ERROR(ModelfileBeside(model, out, r.name + " as " + t + " (written by slicetune)"));
  }
  if (r.exp.adapter_gguf && !full) {
    const std::string out = (fs::path(dir) / (r.name + "-adapter-f32.gguf")).string();
    ST_RETURN_IF_ERROR(exporter::ExportAdapterGguf(r.base_model, adapter, "f32", out, prov));
    LogInfo("export: wrote " + out);
  }
  return WriteFileAtomic((fs::path(dir) / "recipe.resolved.yaml").string(), r.resolved_yaml);
}

Status ExportRecipe(const std::string& recipe, const std::vector<std::string>& overrides, const std::string& slice,
                    bool gpu) {
  ST_ASSIGN_OR_RETURN(std::vector<Recipe> all, LoadRecipes(recipe, overrides, slice));
  for (const Recipe& r : all) ST_RETURN_IF_ERROR(ExportOne(r, recipe, gpu));
  return Status::Ok();
}

// A Modelfile beside a model GGUF: <stem>.Modelfile, FROM ./<file>.
Status ModelfileBeside(const std::string& model_dir, const std::string& gguf, const std::string& comment) {
  exporter::ModelfileSpec mf;
  mf.model_dir = model_dir;
  mf.from = "./" + fs::path(gguf).filename().string();
  mf.comment = comment;
  const std::string path = (fs::path(gguf).parent_path() / (fs::path(gguf).stem().string() + ".Modelfile")).string();
  ST_RETURN_IF_ERROR(exporter::WriteModelfile(mf, path));
  LogInfo("export: wrote " + path);
  return Status::Ok();
}

void AddExport(CLI::App& app, Status* result) {
  auto* cmd = app.add_subcommand(
      "export", "Merge and write GGUF / GGUF LoRA / merged HF / a base GGUF with N slice adapters, from a recipe's run "
                "or from --model [--adapter]...");
  struct Opts {
    std::string recipe, model, type, out, imatrix, adapter_type = "f16";
    std::vector<std::string> adapters;
    bool pure = false, separate = false, modelfile = false;
    std::string device = "cpu";
    uint64_t max_shard_mb = 5000;
    std::vector<std::string> sets;
    std::string slice;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("RECIPE", o->recipe, "Recipe YAML file: export every type its export section names");
  cmd->add_option("--set", o->sets, "Override a recipe field: key.path=value (repeatable)");
  AddSliceOption(cmd, &o->slice);
  cmd->add_option("--model", o->model, "Base model directory (instead of a recipe)");
  cmd->add_option("--adapter", o->adapters,
                  "PEFT adapter DIR or NAME=DIR (repeatable). One: merged into the GGUF (or converted, with --type "
                  "adapter-*). Several, or --separate: -o is a folder with the base GGUF and each slice's GGUF LoRA, "
                  "Modelfile and PEFT copy");
  cmd->add_option("--type", o->type,
                  "GGUF model, llama-quantize's names: F32 F16 BF16 Q8_0 Q5_1 Q5_0 Q4_1 Q4_0 Q6_K Q5_K_M Q5_K_S Q4_K_M "
                  "Q4_K_S Q3_K_L Q3_K_M Q3_K_S Q2_K Q2_K_S; GGUF LoRA: adapter-f32 | adapter-f16; hf: merged safetensors dir");
  cmd->add_option("--device", o->device, "cpu, or cuda: Q8_0 / Q4_K / Q6_K blocks on the GPU (the same bytes)")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  cmd->add_flag("--pure", o->pure, "Every matrix gets the --type's base type (no k-quant mixture), as llama-quantize --pure");
  cmd->add_option("--imatrix", o->imatrix, "llama.cpp importance matrix (GGUF or legacy .dat) to steer quantization");
  cmd->add_flag("--separate", o->separate, "Keep even a single adapter separate: base GGUF + slice files in the -o folder");
  cmd->add_option("--adapter-type", o->adapter_type, "Slice GGUF LoRA precision in a folder export")
      ->capture_default_str()->check(CLI::IsMember({"f16", "f32"}));
  cmd->add_flag("--modelfile", o->modelfile, "Also write an Ollama Modelfile beside the GGUF (<name>.Modelfile)");
  cmd->add_option("-o,--output", o->out, "Output file (a folder for --type hf, several adapters or --separate)");
  cmd->add_option("--max-shard-mb", o->max_shard_mb, "--type hf: largest safetensors shard, in MB (1 MB = 10^6 bytes)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  cmd->callback([o, result] {
    if (!o->recipe.empty()) {
      if (!o->model.empty()) {
        *result = InvalidInput("export: give either RECIPE or --model, not both");
        return;
      }
      *result = ExportRecipe(o->recipe, o->sets, o->slice, o->device == "cuda");
      return;
    }
    if (o->model.empty() || o->type.empty() || o->out.empty()) {
      *result = InvalidInput("export: give a RECIPE, or --model DIR --type T -o OUT (see `slicetune export --help`)");
      return;
    }
    exporter::Provenance prov;
    prov.name = fs::path(o->model).filename().string();
    const bool model_type = o->type.rfind("adapter-", 0) != 0 && o->type != "hf";
    if ((o->adapters.size() > 1 || o->separate) && !model_type) {
      *result = InvalidInput("export --type " + o->type + " takes one --adapter; several adapters (or --separate) make a "
                             "base GGUF + slice folder, which needs a GGUF model --type");
      return;
    }
    exporter::ModelExport opt;
    opt.type = o->type;
    opt.pure = o->pure;
    opt.gpu = o->device == "cuda";
    opt.imatrix = o->imatrix;
    if (o->adapters.size() > 1 || o->separate) {
      std::vector<exporter::SliceAdapter> slices;
      for (const auto& a : o->adapters) {
        auto s = exporter::ParseSliceAdapter(a);
        if (!s.ok()) {
          *result = s.status();
          return;
        }
        slices.push_back(*s);
      }
      if (slices.empty()) {
        *result = InvalidInput("export --separate needs at least one --adapter");
        return;
      }
      *result = exporter::ExportSliceBundle(o->model, slices, opt, o->adapter_type, o->out, prov);
      if (result->ok()) LogInfo("export: wrote " + o->out + "/");
      return;
    }
    const std::string adapter = o->adapters.empty() ? "" : o->adapters[0];
    if (model_type) {
      *result = exporter::ExportModelGguf(o->model, adapter, opt, o->out, prov);
      if (result->ok()) LogInfo("export: wrote " + o->out);
      if (result->ok() && o->modelfile)
        *result = ModelfileBeside(o->model, o->out,
                                  prov.name + (adapter.empty() ? "" : " + " + adapter) + " as " + o->type + " (written by slicetune)");
      return;
    } else if (o->type == "adapter-f32" || o->type == "adapter-f16") {
      *result = adapter.empty() ? InvalidInput("export --type " + o->type + " needs --adapter DIR")
                                : exporter::ExportAdapterGguf(o->model, adapter, o->type.substr(8), o->out, prov);
    } else {
      *result = adapter.empty() ? InvalidInput("export --type hf needs --adapter DIR to merge")
                                : exporter::WriteMergedHfModel(o->model, adapter, o->out, o->max_shard_mb * 1000000ull);
    }
    if (result->ok()) LogInfo("export: wrote " + o->out);
  });
}

}  // namespace st::cli
