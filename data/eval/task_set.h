// A slice's task evaluation as the training loop runs it. The front process
// (which owns the tokenizer: LibTorch processes never load sentencepiece, see
// data/tokenize/sp_tokenizer.h) renders and tokenizes the held-out prompts and
// writes them with the references, the sources and each token's bytes;
// slicetune-train generates greedy replies at every evaluation, turns their ids
// back into text with that table and scores them (metrics.h).
//
// File: <output_dir>/task_eval.json
//   {"format": "slicetune-task-eval", "prompts": [[ids]], "stop": [ids],
//    "inputs": [...], "references": [...], "sources": [...],
//    "token_bytes": ["hex", ...], "strip_leading_space": bool, "max_new_tokens": N}
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "data/eval/metrics.h"
#include "data/eval/sql_exec.h"

namespace st::data {

struct TaskSet {
  std::vector<std::vector<int>> prompts;
  std::vector<int> stop;  // ids that end a reply
  std::vector<std::string> inputs, references, sources;
  std::vector<std::string> token_bytes;  // id -> the bytes it decodes to
  bool strip_leading_space = false;      // sentencepiece drops its dummy prefix at the start
  int64_t max_new_tokens = 128;
  // text-to-SQL: the SQL scripts (schema, data) of the database replies run
  // against for execution accuracy (sql_exec.h); empty: no execution.
  std::vector<std::string> sql_scripts;

  // The text of generated ids (what the tokenizer's Decode gives), valid UTF-8.
  std::string Decode(const std::vector<int>& ids) const;
};

Status WriteTaskSet(const TaskSet& t, const std::string& path);
StatusOr<TaskSet> ReadTaskSet(const std::string& path);

// Scores of predictions against a set's references (and sources, for corrections).
struct TaskScores {
  int64_t examples = 0, exact = 0;
  bool executed = false;    // execution accuracy computed (a database was given)
  int64_t same_result = 0;  // predictions whose result set equals the reference's
  double execution_accuracy() const { return examples ? (double)same_result / (double)examples : 0.0; }
  CharCounts correction, overlap;
  nlohmann::json predictions = nlohmann::json::array();  // per example: input, reference, prediction, counts
  double exact_match() const { return examples ? (double)exact / (double)examples : 0.0; }
  // exact_match, correction {precision, recall, f1, tp, fp, fn}, char_overlap {...}
  // and execution_accuracy when executed
  nlohmann::json Summary() const;
};

// With `db`, every prediction and reference also run there (execution accuracy);
// a reference that fails to run is an error naming it.
StatusOr<TaskScores> ScoreTask(const std::vector<std::string>& inputs, const std::vector<std::string>& references,
                               const std::vector<std::string>& sources, const std::vector<std::string>& predictions,
                               const SqlDatabase* db = nullptr);

}  // namespace st::data
