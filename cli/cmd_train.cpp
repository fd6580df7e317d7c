#include "cli/commands.h"
#include "core/recipe.h"
#include "data/shards/build.h"

#include <cstdlib>

namespace st::cli {
namespace {

bool MultiProcessLaunch() {
  auto num = [](const char* name) { const char* v = std::getenv(name); return v ? std::atol(v) : 0L; };
  return num("WORLD_SIZE") > 1 || (!std::getenv("WORLD_SIZE") && num("SLURM_NTASKS") > 1);
}

Status CheckShardsCurrent(const std::string& recipe, const std::vector<std::string>& sets, const std::string& slice) {
  ST_ASSIGN_OR_RETURN(std::vector<Recipe> all, LoadRecipes(recipe, sets, slice));
  for (const Recipe& r : all) {
    ST_ASSIGN_OR_RETURN(bool fresh, data::ShardsUpToDate(r));
    if (!fresh)
      return InvalidInput(ShardsDir(r) + ": missing or built from another version of the data section; a multi-process "
                          "run reads shards but does not build them: run `slicetune data build " + recipe +
                          "` once first (with the same --set options)");
  }
  return Status::Ok();
}

}  // namespace

void AddTrain(CLI::App& app, Status* result) {
  auto* cmd = app.add_subcommand("train", "Train the recipe's LoRA adapter, or each of its slices on one base load (builds shards first when they are "
                 "missing or stale)");
  struct Opts {
    std::string recipe;
    std::vector<std::string> sets;
    bool resume = false;
    std::string slice;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("RECIPE", o->recipe, "Recipe YAML file")->required();
  cmd->add_option("--set", o->sets, "Override a recipe field: key.path=value (repeatable)");
  cmd->add_flag("--resume", o->resume,
                "Continue from the newest checkpoint in <output_dir>/checkpoints (optimizer, data order, RNG: the result "
                "is the uninterrupted run's)");
  AddSliceOption(cmd, &o->slice);
  cmd->callback([o, result] {
    // Started as one of several processes (torchrun, srun): the ranks would race
    // to build the same shards, so they only check them.
    *result = MultiProcessLaunch() ? CheckShardsCurrent(o->recipe, o->sets, o->slice)
                                   : EnsureShards(o->recipe, o->sets, /*force=*/false, o->slice);
    if (result->ok()) *result = TrainInChild(o->recipe, o->sets, o->resume, o->slice);
  });
}

}  // namespace st::cli
