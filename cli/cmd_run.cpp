#include <filesystem>

#include "cli/commands.h"
#include "core/file_io.h"
#include "core/log.h"
#include "core/recipe.h"

namespace st::cli {
namespace fs = std::filesystem;

void AddRun(CLI::App& app, Status* result) {
  auto* cmd = app.add_subcommand("run", "Run a recipe end to end: data -> train -> export, skipping unchanged stages");
  struct Opts {
    std::string recipe, slice;
    std::vector<std::string> sets;
    bool force = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("RECIPE", o->recipe, "Recipe YAML file")->required();
  cmd->add_option("--set", o->sets, "Override a recipe field: key.path=value (repeatable)");
  AddSliceOption(cmd, &o->slice);
  cmd->add_flag("--force", o->force, "Rerun every stage even when its inputs did not change");
  cmd->callback([o, result] {
    *result = [&]() -> Status {
      ST_ASSIGN_OR_RETURN(std::vector<Recipe> all, LoadRecipes(o->recipe, o->sets, o->slice));
      bool current = !o->force;
      for (const Recipe& r : all) {
        ST_RETURN_IF_ERROR(MakeDirs(r.output_dir));
        ST_RETURN_IF_ERROR(WriteFileAtomic((fs::path(r.output_dir) / "recipe.resolved.yaml").string(), r.resolved_yaml));
        current = current && AdapterCurrent(r);
      }
      if (o->force) ST_RETURN_IF_ERROR(EnsureShards(o->recipe, o->sets, true, o->slice));
      else ST_RETURN_IF_ERROR(ShardsForTraining(o->recipe, o->sets, o->slice));
      if (current) {
        for (const Recipe& r : all) LogInfo("train: adapter in " + AdapterDir(r) + " is up to date, skipping");
      } else {
        // The stale slices train in one process, on one load of the base.
        ST_RETURN_IF_ERROR(TrainInChild(o->recipe, o->sets, false, o->slice, /*skip_current=*/!o->force));
      }
      return ExportRecipe(o->recipe, o->sets, o->slice);
    }();
  });
}

}  // namespace st::cli
