#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "cli/commands.h"
#include "core/file_io.h"
#include "data/eval/task_set.h"
#include "data/tokenize/tokenizer.h"

namespace st::cli {
namespace {

struct EvalArgs {
  std::string model, adapter, data, input_field = "input", output_field = "output", source_field, system, format = "auto";
  std::string out;
  std::vector<std::string> sqlite;
  bool raw = false;
  int64_t limit = 0;
  SamplingArgs sampling;
};

}  // namespace

StatusOr<data::TaskSet> ReadEvalPairs(const data::Tokenizer& tok, const EvalPairsSpec& a) {
  ST_ASSIGN_OR_RETURN(std::string text, ReadFile(a.data));
  const std::string source_field = a.source_field.empty() ? a.input_field : a.source_field;
  data::TaskSet set;
  std::istringstream in(text);
  int64_t line_no = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = a.data + ":" + std::to_string(line_no);
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return InvalidInput(where + ": expected a JSON object per line");
    for (const std::string& f : {a.input_field, a.output_field, source_field})
      if (!j.contains(f) || !j[f].is_string())
        return InvalidInput(where + ": field '" + f + "' missing or not a string; HINT: name the fields (" + a.field_hint + ")");
    set.inputs.push_back(j[a.input_field].get<std::string>());
    set.references.push_back(j[a.output_field].get<std::string>());
    set.sources.push_back(j[source_field].get<std::string>());
    ST_ASSIGN_OR_RETURN(std::vector<int> p, PromptIds(tok, a.model, a.raw, a.format, a.system, set.inputs.back(), &set.stop));
    set.prompts.push_back(std::move(p));
    if (a.limit > 0 && (int64_t)set.prompts.size() >= a.limit) break;
  }
  if (set.prompts.empty()) return InvalidInput(a.data + ": no examples");
  return set;
}

StatusOr<nlohmann::json> ScorePairs(const data::Tokenizer& tok, const EvalPairsSpec& spec, const std::string& adapter,
                                    const std::vector<std::string>& sql_scripts, const SamplingArgs& s) {
  ST_ASSIGN_OR_RETURN(data::TaskSet set, ReadEvalPairs(tok, spec));
  std::optional<data::SqlDatabase> db;
  if (!sql_scripts.empty()) {
    ST_ASSIGN_OR_RETURN(data::SqlDatabase d, data::SqlDatabase::Build(sql_scripts));
    db = std::move(d);
  }
  std::vector<std::vector<int>> replies;
  ST_RETURN_IF_ERROR(GenerateInChild(spec.model, adapter, set.prompts, set.stop, s, &replies));
  std::vector<std::string> preds;
  for (const auto& r : replies) preds.push_back(tok.Decode(r));
  ST_ASSIGN_OR_RETURN(const data::TaskScores sc,
                      data::ScoreTask(set.inputs, set.references, set.sources, preds, db ? &*db : nullptr));
  nlohmann::json report = {{"model", spec.model}, {"adapter", adapter}, {"data", spec.data}};
  report.update(sc.Summary());
  report["predictions"] = sc.predictions;
  return report;
}

namespace {

Status RunEval(const EvalArgs& a) {
  ST_ASSIGN_OR_RETURN(auto tok, data::LoadTokenizer(a.model));
  EvalPairsSpec spec{a.model, a.data, a.input_field, a.output_field, a.source_field, a.system, a.format, a.raw, a.limit,
                     "--input-field / --output-field"};
  ST_ASSIGN_OR_RETURN(nlohmann::json report, ScorePairs(*tok, spec, a.adapter, a.sqlite, a.sampling));
  const auto& c = report["correction"];
  const auto& o = report["char_overlap"];
  char buf[320];
  std::snprintf(buf, sizeof buf,
                "examples %lld | exact match %.1f%% | correction edits P %.3f R %.3f F1 %.3f | characters P %.3f R %.3f F1 %.3f",
                (long long)report["examples"].get<int64_t>(), 100.0 * report["exact_match"].get<double>(),
                c["precision"].get<double>(), c["recall"].get<double>(), c["f1"].get<double>(),
                o["precision"].get<double>(), o["recall"].get<double>(), o["f1"].get<double>());
  std::cout << buf;
  if (report.contains("execution_accuracy"))
    std::cout << " | execution accuracy " << std::to_string(100.0 * report["execution_accuracy"].get<double>()).substr(0, 5) << "%";
  std::cout << "\n";
  if (!a.out.empty()) ST_RETURN_IF_ERROR(WriteFileAtomic(a.out, report.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n"));
  return Status::Ok();
}

}  // namespace

void AddEval(CLI::App& app, Status* result) {
  auto* cmd = app.add_subcommand(
      "eval", "A model or slice on held-out pairs (JSONL): replies generated (greedy), scored by exact match, character-level "
              "correction edits (precision / recall / F1 against the source) and character overlap");
  auto a = std::make_shared<EvalArgs>();
  cmd->add_option("MODEL_DIR", a->model, "Hugging Face model directory")->required();
  cmd->add_option("--adapter", a->adapter, "PEFT adapter (the slice) to evaluate");
  cmd->add_option("--data", a->data, "JSONL of held-out pairs")->required();
  cmd->add_option("--input-field", a->input_field, "The prompt's field")->capture_default_str();
  cmd->add_option("--output-field", a->output_field, "The reference reply's field")->capture_default_str();
  cmd->add_option("--source-field", a->source_field, "The text a correction slice corrects (default: the input field)");
  cmd->add_option("--system", a->system, "A system message before each prompt");
  cmd->add_flag("--raw", a->raw, "No chat template: the input as plain text");
  cmd->add_option("--format", a->format, "Chat format: auto, chatml, llama3, llama2, mistral");
  cmd->add_option("--limit", a->limit, "Only the first N pairs")->check(CLI::NonNegativeNumber);
  cmd->add_option("--sqlite", a->sqlite, "SQL script(s), schema then data: replies and references run in that SQLite "
                                       "database and their result sets compared (execution accuracy, text-to-SQL)");
  cmd->add_option("-o,--output", a->out, "Write the metrics and every prediction as JSON");
  AddSamplingOptions(cmd, &a->sampling);
  cmd->callback([a, result] { *result = RunEval(*a); });
}

}  // namespace st::cli
