// Subcommand registration: each cli/cmd_*.cpp adds one subcommand to the app and
// stores the library's Status in *result; main turns it into the exit code.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "core/status.h"
#include "data/eval/task_set.h"
#include "data/tokenize/tokenizer.h"

namespace st::cli {

void AddInitModel(CLI::App& app, Status* result);
void AddData(CLI::App& app, Status* result);
// data decode | normalize | deid | dedup | augment (cmd_data_filters.cpp)
void AddDataFilters(CLI::App* data, Status* result);
void AddTrain(CLI::App& app, Status* result);
void AddExport(CLI::App& app, Status* result);
void AddTokenize(CLI::App& app, Status* result);
void AddRun(CLI::App& app, Status* result);
void AddInspect(CLI::App& app, Status* result);
// `slicetune imatrix` (runs slicetune-train's imatrix mode)
void AddImatrix(CLI::App& app, Status* result);
// `slicetune generate` (tokenizes here, generates in slicetune-train)
void AddGenerate(CLI::App& app, Status* result);
// `slicetune eval`: a slice's task metrics on held-out pairs (cmd_eval.cpp)
void AddEval(CLI::App& app, Status* result);

struct SamplingArgs {
  int64_t max_new_tokens = 128, top_k = 0;
  double temperature = 0.0, top_p = 1.0;
  uint64_t seed = 0;
};
void AddSamplingOptions(CLI::App* cmd, SamplingArgs* s);
std::string Join(const std::vector<int>& v);
// The prompt's ids: `user` (after `system`, if any) through the model's chat
// template with the generation prompt, or as plain text with `raw`. Adds the
// ids that end a reply (EOS, the family's end-of-turn token) to *stop.
StatusOr<std::vector<int>> PromptIds(const data::Tokenizer& tok, const std::string& model, bool raw,
                                     const std::string& format, const std::string& system, const std::string& user,
                                     std::vector<int>* stop);
// Replies to every prompt, generated in one slicetune-train process.
Status GenerateInChild(const std::string& model, const std::string& adapter, const std::vector<std::vector<int>>& prompts,
                       const std::vector<int>& stop, const SamplingArgs& s, std::vector<std::vector<int>>* out);

// Held-out pairs (JSONL) for task metrics, prompts rendered and tokenized.
struct EvalPairsSpec {
  std::string model, data, input_field, output_field, source_field, system, format;
  bool raw = false;
  int64_t limit = 0;
  std::string field_hint;  // where the user names the fields, for errors
};
StatusOr<data::TaskSet> ReadEvalPairs(const data::Tokenizer& tok, const EvalPairsSpec& spec);
// Replies to the pairs' prompts from `spec.model` (+ `adapter`) scored (task_set.h
// ScoreTask; execution accuracy with `sql_scripts`): the summary and every prediction.
StatusOr<nlohmann::json> ScorePairs(const data::Tokenizer& tok, const EvalPairsSpec& spec, const std::string& adapter,
                                    const std::vector<std::string>& sql_scripts, const SamplingArgs& s);

// Path of the `slicetune-train` binary installed beside this executable.
std::string TrainBinary();
// Runs argv as a child process and waits; a non-zero exit becomes an error with that exit code.
Status RunChild(const std::vector<std::string>& argv);
// The recipe's train stage as a child process (LibTorch lives only there).
// `slice` names one of a `slices:` recipe's slices ("": all of them, one base load);
// `skip_current` skips slices whose adapter was trained from this exact recipe.
Status TrainInChild(const std::string& recipe, const std::vector<std::string>& overrides, bool resume = false,
                    const std::string& slice = "", bool skip_current = false);
// Ensures shards are built and current for the recipe's slices (skips unchanged ones).
Status EnsureShards(const std::string& recipe, const std::vector<std::string>& overrides, bool force,
                    const std::string& slice = "");
// EnsureShards for a training start; as one of several processes (WORLD_SIZE or
// SLURM_NTASKS > 1) it only checks that the shards are current.
Status ShardsForTraining(const std::string& recipe, const std::vector<std::string>& overrides, const std::string& slice);
// The recipe's export stage, for each of its slices.
Status ExportRecipe(const std::string& recipe, const std::vector<std::string>& overrides, const std::string& slice = "",
                    bool gpu = false);
// --slice NAME on a subcommand that takes a recipe.
void AddSliceOption(CLI::App* cmd, std::string* slice);

}  // namespace st::cli
