#include "cli/commands.h"
#include "core/log.h"
#include "core/recipe.h"
#include "data/shards/build.h"
#include "data/shards/inspect.h"

#include <cstdio>
#include <cstdlib>

namespace st::cli {

Status EnsureShards(const std::string& recipe, const std::vector<std::string>& overrides, bool force,
                    const std::string& slice) {
  ST_ASSIGN_OR_RETURN(std::vector<Recipe> all, LoadRecipes(recipe, overrides, slice));
  for (const Recipe& r : all) {
    const std::string who = r.group.empty() ? "data: " : "data [" + r.name + "]: ";
    if (!force) {
      ST_ASSIGN_OR_RETURN(bool fresh, data::ShardsUpToDate(r));
      if (fresh) {
        LogInfo(who + "shards in " + ShardsDir(r) + " are up to date, skipping");
        continue;
      }
    }
    ST_ASSIGN_OR_RETURN(data::BuildSummary s, data::BuildShards(r));
    LogInfo(who + std::to_string(s.documents) + " documents -> " + std::to_string(s.train_sequences) + " train + " +
            std::to_string(s.val_sequences) + " val sequences, " + std::to_string(s.target_tokens) +
            " target tokens; manifest " + s.manifest_path);
  }
  return Status::Ok();
}

namespace {

bool MultiProcessLaunch() {
  auto num = [](const char* name) { const char* v = std::getenv(name); return v ? std::atol(v) : 0L; };
  return num("WORLD_SIZE") > 1 || (!std::getenv("WORLD_SIZE") && num("SLURM_NTASKS") > 1);
}

}  // namespace

Status ShardsForTraining(const std::string& recipe, const std::vector<std::string>& sets, const std::string& slice) {
  if (!MultiProcessLaunch()) return EnsureShards(recipe, sets, /*force=*/false, slice);
  // One of several processes (torchrun, srun): the ranks would race to build the
  // same shards, so they only check them.
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

namespace {

// "I/N", or "env": Slurm array variables, else torchrun's RANK / WORLD_SIZE.
StatusOr<std::pair<int, int>> ParseTask(const std::string& spec) {
  auto num = [](const char* name) -> long { const char* v = std::getenv(name); return v ? std::strtol(v, nullptr, 10) : -1; };
  int i = -1, n = -1;
  if (spec == "env") {
    if (num("SLURM_ARRAY_TASK_ID") >= 0 && num("SLURM_ARRAY_TASK_COUNT") > 0) {
      const long min = std::max(0L, num("SLURM_ARRAY_TASK_MIN"));
      i = (int)(num("SLURM_ARRAY_TASK_ID") - min);
      n = (int)num("SLURM_ARRAY_TASK_COUNT");
    } else if (num("RANK") >= 0 && num("WORLD_SIZE") > 0) {
      i = (int)num("RANK");
      n = (int)num("WORLD_SIZE");
    } else {
      return InvalidInput("--task env: neither SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT nor RANK/WORLD_SIZE is set");
    }
  } else if (std::sscanf(spec.c_str(), "%d/%d", &i, &n) != 2) {
    return InvalidInput("--task '" + spec + "': expected I/N (e.g. 0/4) or env");
  }
  if (n < 1 || i < 0 || i >= n) return InvalidInput("--task " + spec + ": task " + std::to_string(i) + " of " + std::to_string(n) + " is out of range");
  return std::make_pair(i, n);
}

}  // namespace

void AddData(CLI::App& app, Status* result) {
  auto* data = app.add_subcommand("data", "Corpus stages: build shards from a recipe's sources, inspect them, or run one stage as a filter");
  data->require_subcommand(1);
  auto* build = data->add_subcommand("build", "Read the recipe's sources, tokenize, pack and write HDF5 shards + manifest");
  struct Opts {
    std::string recipe, task;
    std::vector<std::string> sets;
    bool merge = false;
    std::string slice;
  };
  auto o = std::make_shared<Opts>();
  build->add_option("RECIPE", o->recipe, "Recipe YAML file")->required();
  build->add_option("--set", o->sets, "Override a recipe field: key.path=value (repeatable)");
  build->add_option("--task", o->task,
                    "Run one task of a multi-task build: I/N (0-based), or 'env' to read SLURM_ARRAY_TASK_ID / "
                    "SLURM_ARRAY_TASK_COUNT (less SLURM_ARRAY_TASK_MIN) or RANK / WORLD_SIZE; then --merge");
  AddSliceOption(build, &o->slice);
  build->add_flag("--merge", o->merge, "Merge the finished tasks' outputs into shards, manifest and report");
  build->callback([o, result] {
    *result = [&]() -> Status {
      if (o->task.empty() && !o->merge) return EnsureShards(o->recipe, o->sets, /*force=*/true, o->slice);
      ST_ASSIGN_OR_RETURN(std::vector<Recipe> all, LoadRecipes(o->recipe, o->sets, o->slice));
      if (all.size() != 1)
        return InvalidInput("data build --task / --merge: " + o->recipe + " has " + std::to_string(all.size()) +
                            " slices; name one with --slice");
      const Recipe& r = all[0];
      if (o->merge) {
        ST_ASSIGN_OR_RETURN(data::BuildSummary s, data::MergeTaskOutputs(r));
        LogInfo("data: merged " + std::to_string(s.documents) + " documents -> " + std::to_string(s.train_sequences) +
                " train + " + std::to_string(s.val_sequences) + " val sequences; manifest " + s.manifest_path);
        return Status::Ok();
      }
      ST_ASSIGN_OR_RETURN(auto it, ParseTask(o->task));
      ST_ASSIGN_OR_RETURN(std::string dir, data::BuildTask(r, it.first, it.second));
      LogInfo("data: task " + std::to_string(it.first) + " of " + std::to_string(it.second) + " done: " + dir);
      return Status::Ok();
    }();
  });

  auto* inspect = data->add_subcommand(
      "inspect", "Describe a shard set: inputs, shards, length histogram, decoded samples with trained tokens marked");
  struct InspectOpts {
    std::string path;
    data::InspectOptions o;
  };
  auto io = std::make_shared<InspectOpts>();
  inspect->add_option("SHARDS", io->path, "Shards folder (or its manifest.json)")->required();
  inspect->add_option("--model", io->o.model_dir, "Model directory whose tokenizer decodes (default: the manifest's)");
  inspect->add_option("--samples", io->o.samples, "How many rows to decode")->capture_default_str();
  inspect->add_option("--split", io->o.split, "train or val")->capture_default_str()->check(CLI::IsMember({"train", "val"}));
  inspect->callback([io, result] {
    auto text = data::DescribeShards(io->path, io->o);
    if (text.ok()) std::fputs(text->c_str(), stdout);
    *result = text.status();
  });
  AddDataFilters(data, result);
}

}  // namespace st::cli
