#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/commands.h"
#include "core/file_io.h"
#include "data/eval/metrics.h"
#include "data/tokenize/tokenizer.h"

namespace st::cli {
namespace {

struct EvalArgs {
  std::string model, adapter, data, input_field = "input", output_field = "output", source_field, system, format = "auto";
  std::string out;
  bool raw = false;
  int64_t limit = 0;
  SamplingArgs sampling;
};

Status RunEval(const EvalArgs& a) {
  ST_ASSIGN_OR_RETURN(std::string text, ReadFile(a.data));
  ST_ASSIGN_OR_RETURN(auto tok, data::LoadTokenizer(a.model));
  const std::string source_field = a.source_field.empty() ? a.input_field : a.source_field;
  std::vector<std::string> inputs, refs, sources;
  std::vector<std::vector<int>> prompts;
  std::vector<int> stop;
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
        return InvalidInput(where + ": field '" + f + "' missing or not a string; HINT: --input-field / --output-field");
    inputs.push_back(j[a.input_field].get<std::string>());
    refs.push_back(j[a.output_field].get<std::string>());
    sources.push_back(j[source_field].get<std::string>());
    ST_ASSIGN_OR_RETURN(std::vector<int> p, PromptIds(*tok, a.model, a.raw, a.format, a.system, inputs.back(), &stop));
    prompts.push_back(std::move(p));
    if (a.limit > 0 && (int64_t)prompts.size() >= a.limit) break;
  }
  if (prompts.empty()) return InvalidInput(a.data + ": no examples");
  std::vector<std::vector<int>> replies;
  ST_RETURN_IF_ERROR(GenerateInChild(a.model, a.adapter, prompts, stop, a.sampling, &replies));
  int64_t exact = 0;
  data::CharCounts correction, overlap;
  nlohmann::json examples = nlohmann::json::array();
  for (size_t i = 0; i < replies.size(); ++i) {
    const std::string pred = tok->Decode(replies[i]);
    const bool em = data::ExactMatch(pred, refs[i]);
    exact += em;
    const data::CharCounts c = data::CorrectionCounts(sources[i], refs[i], pred);
    const data::CharCounts o = data::OverlapCounts(refs[i], pred);
    correction.Add(c);
    overlap.Add(o);
    examples.push_back({{"input", inputs[i]}, {"reference", refs[i]}, {"prediction", pred}, {"exact", em},
                        {"edits", {{"tp", c.tp}, {"fp", c.fp}, {"fn", c.fn}}},
                        {"chars", {{"tp", o.tp}, {"fp", o.fp}, {"fn", o.fn}}}});
  }
  const double n = (double)replies.size();
  auto prf = [](const data::CharCounts& c) {
    return nlohmann::json{{"precision", c.precision()}, {"recall", c.recall()}, {"f1", c.f1()},
                          {"tp", c.tp}, {"fp", c.fp}, {"fn", c.fn}};
  };
  nlohmann::json report = {{"model", a.model}, {"adapter", a.adapter}, {"data", a.data}, {"examples", replies.size()},
                           {"exact_match", exact / n}, {"correction", prf(correction)}, {"char_overlap", prf(overlap)},
                           {"predictions", examples}};
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "examples %zu | exact match %.1f%% | correction edits P %.3f R %.3f F1 %.3f | characters P %.3f R %.3f F1 %.3f\n",
                replies.size(), 100.0 * exact / n, correction.precision(), correction.recall(), correction.f1(),
                overlap.precision(), overlap.recall(), overlap.f1());
  std::cout << buf;
  if (!a.out.empty()) ST_RETURN_IF_ERROR(WriteFileAtomic(a.out, report.dump(2) + "\n"));
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
  cmd->add_option("-o,--output", a->out, "Write the metrics and every prediction as JSON");
  AddSamplingOptions(cmd, &a->sampling);
  cmd->callback([a, result] { *result = RunEval(*a); });
}

}  // namespace st::cli
