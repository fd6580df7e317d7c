#include <filesystem>

#include "cli/commands.h"
#include "core/file_io.h"
#include "core/recipe.h"

namespace st::cli {
namespace fs = std::filesystem;

static Status CollectInChild(const std::string& model, const std::string& adapter, const std::string& shards,
                             const std::string& split, int64_t max_rows, const std::string& out) {
  std::vector<std::string> argv = {TrainBinary(), "imatrix", "--model", model, "--shards", shards,
                                   "--split", split, "--max-rows", std::to_string(max_rows), "-o", out};
  if (!adapter.empty()) {
    argv.push_back("--adapter");
    argv.push_back(adapter);
  }
  return RunChild(argv);
}

void AddImatrix(CLI::App& app, Status* result) {
  auto* cmd = app.add_subcommand(
      "imatrix", "Importance matrix (llama.cpp's imatrix format) from our forward pass over a slice's own shards, for "
                 "`export --imatrix`: quantization calibrated on the text the slice serves");
  struct Opts {
    std::string recipe, model, adapter, shards, out, split = "train";
    int64_t max_rows = 0;
    std::vector<std::string> sets;
    std::string slice;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("RECIPE", o->recipe, "Recipe: its base model, its trained adapter (when there is one) and its shards");
  cmd->add_option("--set", o->sets, "Override a recipe field: key.path=value (repeatable)");
  AddSliceOption(cmd, &o->slice);
  cmd->add_option("--model", o->model, "Base model directory (instead of a recipe)");
  cmd->add_option("--adapter", o->adapter, "PEFT adapter to merge before collecting");
  cmd->add_option("--shards", o->shards, "Shard directory from `slicetune data build` (instead of a recipe)");
  cmd->add_option("--split", o->split, "Shard split to calibrate on")->capture_default_str()->check(CLI::IsMember({"train", "val"}));
  cmd->add_option("--max-rows", o->max_rows, "Use at most this many shard rows (0: all)")->check(CLI::NonNegativeNumber);
  cmd->add_option("-o,--output", o->out, "Output: .gguf (llama.cpp's current format) or .dat (legacy); a recipe defaults "
                                         "to <output_dir>/export/<name>-imatrix.gguf");
  cmd->callback([o, result] {
    if (!o->recipe.empty()) {
      if (!o->model.empty() || !o->shards.empty()) {
        *result = InvalidInput("imatrix: give either RECIPE or --model/--shards, not both");
        return;
      }
      *result = [&]() -> Status {
        ST_RETURN_IF_ERROR(EnsureShards(o->recipe, o->sets, /*force=*/false, o->slice));
        ST_ASSIGN_OR_RETURN(std::vector<Recipe> all, LoadRecipes(o->recipe, o->sets, o->slice));
        if (all.size() > 1 && !o->out.empty())
          return InvalidInput("imatrix: -o names one file, but " + o->recipe + " has " + std::to_string(all.size()) +
                              " slices; drop -o (each goes to its slice's export folder) or name one with --slice");
        for (const Recipe& r : all) {  // one imatrix per slice: its own adapter over its own shards
          std::string adapter = o->adapter, out = o->out;
          if (adapter.empty() && PathExists((fs::path(AdapterDir(r)) / "adapter_config.json").string()))
            adapter = AdapterDir(r);
          if (out.empty()) {
            ST_RETURN_IF_ERROR(MakeDirs(ExportDir(r)));
            out = (fs::path(ExportDir(r)) / (r.name + "-imatrix.gguf")).string();
          }
          ST_RETURN_IF_ERROR(CollectInChild(r.base_model, adapter, ShardsDir(r), o->split, o->max_rows, out));
        }
        return Status::Ok();
      }();
      return;
    } else if (o->model.empty() || o->shards.empty() || o->out.empty()) {
      *result = InvalidInput("imatrix: give a RECIPE, or --model DIR --shards DIR -o OUT (see `slicetune imatrix --help`)");
      return;
    }
    *result = CollectInChild(o->model, o->adapter, o->shards, o->split, o->max_rows, o->out);
  });
}

}  // namespace st::cli
