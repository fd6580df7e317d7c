#include "cli/commands.h"
#include "core/log.h"
#include "core/recipe.h"
#include "data/shards/build.h"
#include "data/shards/inspect.h"

#include <cstdio>

namespace st::cli {

Status EnsureShards(const std::string& recipe, const std::vector<std::string>& overrides, bool force) {
  ST_ASSIGN_OR_RETURN(Recipe r, LoadRecipe(recipe, overrides));
  if (!force) {
    ST_ASSIGN_OR_RETURN(bool fresh, data::ShardsUpToDate(r));
    if (fresh) {
      LogInfo("data: shards in " + ShardsDir(r) + " are up to date, skipping");
      return Status::Ok();
    }
  }
  ST_ASSIGN_OR_RETURN(data::BuildSummary s, data::BuildShards(r));
  LogInfo("data: " + std::to_string(s.documents) + " documents -> " + std::to_string(s.train_sequences) + " train + " +
          std::to_string(s.val_sequences) + " val sequences, " + std::to_string(s.target_tokens) +
          " target tokens; manifest " + s.manifest_path);
  return Status::Ok();
}

void AddData(CLI::App& app, Status* result) {
  auto* data = app.add_subcommand("data", "Corpus stages: build shards from a recipe's sources, inspect them, or run one stage as a filter");
  data->require_subcommand(1);
  auto* build = data->add_subcommand("build", "Read the recipe's sources, tokenize, pack and write HDF5 shards + manifest");
  struct Opts {
    std::string recipe;
    std::vector<std::string> sets;
  };
  auto o = std::make_shared<Opts>();
  build->add_option("RECIPE", o->recipe, "Recipe YAML file")->required();
  build->add_option("--set", o->sets, "Override a recipe field: key.path=value (repeatable)");
  build->callback([o, result] { *result = EnsureShards(o->recipe, o->sets, /*force=*/true); });

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
