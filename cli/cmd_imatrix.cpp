#include <filesystem>

#include "cli/commands.h"
#include "core/file_io.h"
#include "core/recipe.h"

namespace st::cli {
namespace fs = std::filesystem;

void AddImatrix(CLI::App& app, Status* result) {
  auto* cmd = app.add_subcommand(
      "imatrix", "Importance matrix (llama.cpp's imatrix format) from our forward pass over a slice's own shards, for "
                 "`export --imatrix`: quantization calibrated on the text the slice serves");
  struct Opts {
    std::string recipe, model, adapter, shards, out, split = "train";
    int64_t max_rows = 0;
    std::vector<std::string> sets;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("RECIPE", o->recipe, "Recipe: its base model, its trained adapter (when there is one) and its shards");
  cmd->add_option("--set", o->sets, "Override a recipe field: key.path=value (repeatable)");
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
      *result = EnsureShards(o->recipe, o->sets, /*force=*/false);
      if (!result->ok()) return;
      auto r = LoadRecipe(o->recipe, o->sets);
      if (!r.ok()) {
        *result = r.status();
        return;
      }
      o->model = r->base_model;
      o->shards = ShardsDir(*r);
      if (o->adapter.empty() && PathExists((fs::path(AdapterDir(*r)) / "adapter_config.json").string()))
        o->adapter = AdapterDir(*r);
      if (o->out.empty()) {
        *result = MakeDirs(ExportDir(*r));
        if (!result->ok()) return;
        o->out = (fs::path(ExportDir(*r)) / (r->name + "-imatrix.gguf")).string();
      }
    } else if (o->model.empty() || o->shards.empty() || o->out.empty()) {
      *result = InvalidInput("imatrix: give a RECIPE, or --model DIR --shards DIR -o OUT (see `slicetune imatrix --help`)");
      return;
    }
    std::vector<std::string> argv = {TrainBinary(), "imatrix", "--model", o->model, "--shards", o->shards,
                                     "--split", o->split, "--max-rows", std::to_string(o->max_rows), "-o", o->out};
    if (!o->adapter.empty()) {
      argv.push_back("--adapter");
      argv.push_back(o->adapter);
    }
    *result = RunChild(argv);
  });
}

}  // namespace st::cli
