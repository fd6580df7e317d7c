// slicetune run RECIPE: data -> train -> eval -> export, each stage skipped when
// what it depends on is unchanged (README "What a run directory holds"):
//   data    the shards' manifest records the recipe's data section and the inputs'
//           hashes (data::ShardsUpToDate)
//   train   train_log.json records TrainInputsSha256 (recipe, manifest, base files)
//   eval    eval/eval.json records the trained weights', the eval data's and the
//           SQL scripts' hashes with the recipe's
//   export  export/stamp.json records the trained weights' and the base's
// `--from STAGE` runs that stage and the ones after it, `--only STAGE` that one;
// a stage named so runs even when current. The run report (run_report.md and
// .html) links what every stage wrote.
#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/run_report.h"
#include "core/base_fingerprint.h"
#include "core/file_io.h"
#include "core/hash.h"
#include "core/json_io.h"
#include "core/log.h"
#include "core/recipe.h"

namespace st::cli {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

const std::vector<std::string>& Stages() {
  static const std::vector<std::string> s = {"data", "train", "eval", "export"};
  return s;
}

// The trained weights' file: the adapter's, or the whole model's in train.mode full.
std::string TrainedWeights(const Recipe& r) {
  return (fs::path(TrainedDir(r)) / (r.train.mode == "full" ? "model.safetensors" : "adapter_model.safetensors")).string();
}

// SHA-256 over what the eval or export stage reads besides the recipe.
StatusOr<std::string> StageInputs(const Recipe& r, const std::string& stage) {
  ST_ASSIGN_OR_RETURN(std::string weights, Sha256File(TrainedWeights(r)));
  ST_ASSIGN_OR_RETURN(std::string base, ModelDirStamp(r.base_model));
  std::string all = stage + "\nrecipe " + r.hash + "\nweights " + weights + "\nbase " + base + "\n";
  if (stage == "eval") {
    ST_ASSIGN_OR_RETURN(std::string data, Sha256File(r.eval.data));
    all += "data " + data + "\n";
    for (const auto& f : r.eval.sqlite) {
      ST_ASSIGN_OR_RETURN(std::string s, Sha256File(f));
      all += "sql " + s + "\n";
    }
  }
  return Sha256Hex(all);
}

bool StampCurrent(const std::string& path, const std::string& inputs) {
  auto j = ReadJsonFile(path);
  return j.ok() && j->is_object() && j->value("inputs_sha256", "") == inputs;
}

std::string EvalDir(const Recipe& r) { return (fs::path(r.output_dir) / "eval").string(); }

// One line of metrics for the Markdown table.
std::string MetricCells(const json& s) {
  char buf[200];
  std::snprintf(buf, sizeof buf, "%.1f%% | %.3f | %.3f", 100.0 * s.value("exact_match", 0.0),
                s["correction"].value("f1", 0.0), s["char_overlap"].value("f1", 0.0));
  std::string out = buf;
  if (s.contains("execution_accuracy")) {
    std::snprintf(buf, sizeof buf, " | %.1f%%", 100.0 * s["execution_accuracy"].get<double>());
    out += buf;
  }
  return out;
}

// The eval stage: the held-out pairs scored on the base alone (before) and with
// the slice (after), greedy, into <output_dir>/eval/.
Status EvalOne(const Recipe& r, bool force) {
  const std::string who = r.group.empty() ? "eval: " : "eval [" + r.name + "]: ";
  if (r.eval.data.empty()) {
    LogInfo(who + "the recipe has no eval section, nothing to score");
    return Status::Ok();
  }
  if (!PathExists(TrainedWeights(r)))
    return InvalidInput(TrainedWeights(r) + " not found: train the slice first (`slicetune run " + r.file + "`)");
  ST_ASSIGN_OR_RETURN(std::string inputs, StageInputs(r, "eval"));
  const std::string out_json = (fs::path(EvalDir(r)) / "eval.json").string();
  if (!force && StampCurrent(out_json, inputs)) {
    LogInfo(who + out_json + " is up to date, skipping");
    return Status::Ok();
  }
  const bool full = r.train.mode == "full";
  SamplingArgs s;
  s.max_new_tokens = r.eval.max_new_tokens;
  json result = {{"recipe", r.name}, {"inputs_sha256", inputs}, {"data", r.eval.data}, {"base_model", r.base_model}};
  for (const char* when : {"before", "after"}) {
    const bool after = std::string(when) == "after";
    const std::string model = after && full ? FullModelDir(r) : r.base_model;
    const std::string adapter = after && !full ? AdapterDir(r) : "";
    ST_ASSIGN_OR_RETURN(auto tok, data::LoadTokenizer(model));
    EvalPairsSpec spec{model, r.eval.data, r.eval.input_field, r.eval.output_field, r.eval.source_field, r.eval.system,
                       r.data.template_name, r.data.template_name == "none", r.eval.limit,
                       "eval.input_field / eval.output_field in " + r.file};
    LogInfo(who + "scoring " + (after ? "the slice" : "the base alone") + " on " + r.eval.data);
    ST_ASSIGN_OR_RETURN(json rep, ScorePairs(*tok, spec, adapter, r.eval.sqlite, s));
    ST_RETURN_IF_ERROR(MakeDirs(EvalDir(r)));
    ST_RETURN_IF_ERROR(WriteFileAtomic((fs::path(EvalDir(r)) / (std::string("predictions-") + when + ".json")).string(),
                                       rep["predictions"].dump(1, ' ', false, json::error_handler_t::replace) + "\n"));
    rep.erase("predictions");
    result[when] = rep;
  }
  const bool sql = result["after"].contains("execution_accuracy");
  std::string md = "# " + r.name + ": held-out evaluation\n\n" + std::to_string(result["after"].value("examples", 0)) +
                   " pairs from `" + r.eval.data + "`, greedy replies.\n\n| model | exact match | correction F1 | character F1" +
                   (sql ? " | execution accuracy" : "") + " |\n|---|---|---|---" + (sql ? "|---" : "") + "|\n";
  md += "| base alone | " + MetricCells(result["before"]) + " |\n";
  md += std::string("| with the slice") + (full ? " (full training)" : "") + " | " + MetricCells(result["after"]) + " |\n";
  ST_RETURN_IF_ERROR(WriteFileAtomic((fs::path(EvalDir(r)) / "eval.md").string(), md));
  ST_RETURN_IF_ERROR(WriteFileAtomic(out_json, result.dump(2) + "\n"));
  char buf[160];
  std::snprintf(buf, sizeof buf, "exact match %.1f%% -> %.1f%%", 100.0 * result["before"].value("exact_match", 0.0),
                100.0 * result["after"].value("exact_match", 0.0));
  LogInfo(who + buf + " (" + (fs::path(EvalDir(r)) / "eval.md").string() + ")");
  return Status::Ok();
}

Status ExportStage(const std::string& recipe, const std::vector<std::string>& sets, const std::vector<Recipe>& all,
                   bool force) {
  for (const Recipe& r : all) {
    const std::string who = r.group.empty() ? "export: " : "export [" + r.name + "]: ";
    if (!PathExists(TrainedWeights(r)))
      return InvalidInput(TrainedWeights(r) + " not found: train the slice first (`slicetune run " + r.file + "`)");
    ST_ASSIGN_OR_RETURN(std::string inputs, StageInputs(r, "export"));
    const std::string stamp = (fs::path(ExportDir(r)) / "stamp.json").string();
    if (!force && StampCurrent(stamp, inputs)) {
      LogInfo(who + ExportDir(r) + " is up to date, skipping");
      continue;
    }
    ST_RETURN_IF_ERROR(ExportRecipe(recipe, sets, r.group.empty() ? "" : r.name));
    ST_RETURN_IF_ERROR(WriteFileAtomic(stamp, json({{"inputs_sha256", inputs}}).dump(2) + "\n"));
  }
  return Status::Ok();
}

}  // namespace

void AddRun(CLI::App& app, Status* result) {
  auto* cmd = app.add_subcommand(
      "run", "Run a recipe end to end: data -> train -> eval -> export, skipping stages whose inputs did not change");
  struct Opts {
    std::string recipe, slice, from, only;
    std::vector<std::string> sets;
    bool force = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("RECIPE", o->recipe, "Recipe YAML file")->required();
  cmd->add_option("--set", o->sets, "Override a recipe field: key.path=value (repeatable)");
  AddSliceOption(cmd, &o->slice);
  cmd->add_option("--from", o->from, "Run this stage and the ones after it (even when current)")
      ->check(CLI::IsMember(Stages()));
  cmd->add_option("--only", o->only, "Run only this stage (even when current)")->check(CLI::IsMember(Stages()))->excludes("--from");
  cmd->add_flag("--force", o->force, "Rerun every chosen stage even when its inputs did not change");
  cmd->callback([o, result] {
    *result = [&]() -> Status {
      ST_ASSIGN_OR_RETURN(std::vector<Recipe> all, LoadRecipes(o->recipe, o->sets, o->slice));
      const auto& stages = Stages();
      auto index = [&](const std::string& s) { return (int)(std::find(stages.begin(), stages.end(), s) - stages.begin()); };
      auto chosen = [&](const std::string& s) {
        return !o->only.empty() ? o->only == s : o->from.empty() || index(s) >= index(o->from);
      };
      auto forced = [&](const std::string& s) { return o->force || o->only == s || (!o->from.empty() && chosen(s)); };
      for (const Recipe& r : all) {
        ST_RETURN_IF_ERROR(MakeDirs(r.output_dir));
        ST_RETURN_IF_ERROR(WriteFileAtomic((fs::path(r.output_dir) / "recipe.resolved.yaml").string(), r.resolved_yaml));
      }
      if (chosen("data")) {
        if (forced("data")) ST_RETURN_IF_ERROR(EnsureShards(o->recipe, o->sets, true, o->slice));
        else ST_RETURN_IF_ERROR(ShardsForTraining(o->recipe, o->sets, o->slice));
      }
      if (chosen("train")) {
        bool current = !forced("train");
        for (const Recipe& r : all) current = current && AdapterCurrent(r);
        if (current) {
          for (const Recipe& r : all) LogInfo("train: " + TrainedDir(r) + " is up to date, skipping");
        } else {
          // The stale slices train in one process, on one load of the base.
          ST_RETURN_IF_ERROR(TrainInChild(o->recipe, o->sets, false, o->slice, /*skip_current=*/!forced("train")));
        }
      }
      if (chosen("eval"))
        for (const Recipe& r : all) ST_RETURN_IF_ERROR(EvalOne(r, forced("eval")));
      if (chosen("export")) ST_RETURN_IF_ERROR(ExportStage(o->recipe, o->sets, all, forced("export")));
      for (const Recipe& r : all) ST_RETURN_IF_ERROR(WriteRunReports(r));
      return Status::Ok();
    }();
  });
}

}  // namespace st::cli
