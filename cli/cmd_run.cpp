#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/file_io.h"
#include "core/log.h"
#include "core/recipe.h"

namespace st::cli {
namespace fs = std::filesystem;

namespace {

// The train stage is current when the adapter exists and train_log.json was
// written for this exact resolved recipe.
bool TrainUpToDate(const Recipe& r) {
  auto text = ReadFile((fs::path(r.output_dir) / "train_log.json").string());
  if (!text.ok() || !PathExists((fs::path(AdapterDir(r)) / "adapter_model.safetensors").string())) return false;
  auto j = nlohmann::json::parse(*text, nullptr, false);
  return !j.is_discarded() && j.value("recipe_sha256", "") == r.hash;
}

}  // namespace

void AddRun(CLI::App& app, Status* result) {
  auto* cmd = app.add_subcommand("run", "Run a recipe end to end: data -> train -> export, skipping unchanged stages");
  struct Opts {
    std::string recipe;
    std::vector<std::string> sets;
    bool force = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("RECIPE", o->recipe, "Recipe YAML file")->required();
  cmd->add_option("--set", o->sets, "Override a recipe field: key.path=value (repeatable)");
  cmd->add_flag("--force", o->force, "Rerun every stage even when its inputs did not change");
  cmd->callback([o, result] {
    auto r = LoadRecipe(o->recipe, o->sets);
    if (!r.ok()) {
      *result = r.status();
      return;
    }
    *result = MakeDirs(r->output_dir);
    if (result->ok()) *result = WriteFileAtomic((fs::path(r->output_dir) / "recipe.resolved.yaml").string(), r->resolved_yaml);
    if (result->ok()) *result = EnsureShards(o->recipe, o->sets, o->force);
    if (!result->ok()) return;
    if (!o->force && TrainUpToDate(*r)) {
      LogInfo("train: adapter in " + AdapterDir(*r) + " is up to date, skipping");
    } else {
      *result = TrainInChild(o->recipe, o->sets);
      if (!result->ok()) return;
    }
    *result = ExportRecipe(o->recipe, o->sets);
  });
}

}  // namespace st::cli
