#include "cli/commands.h"
#include "core/recipe.h"

namespace st::cli {

void AddTrain(CLI::App& app, Status* result) {
  auto* cmd = app.add_subcommand("train",
                                 "Train the recipe's LoRA adapter, or each of its slices on one base load (builds shards "
                                 "first when they are missing or stale)");
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
    *result = ShardsForTraining(o->recipe, o->sets, o->slice);
    if (result->ok()) *result = TrainInChild(o->recipe, o->sets, o->resume, o->slice);
  });
}

}  // namespace st::cli
