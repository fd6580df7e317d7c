// One task of a data build. A build splits into N independent tasks over the
// input files (file k of the recipe's sources, counted across sources, goes to
// task k mod N), each run where a cluster starts it (a Slurm array task, a
// RANK / WORLD_SIZE process), and one merge step:
//
//   task i of N:  read its files -> normalize -> filters -> de-identify ->
//                 augmentation pairs -> duplicate signatures -> chat template + tokenize
//                 -> <output_dir>/shards.tasks/task-0000i-of-0000N/
//   merge:        all tasks' documents in corpus order -> resolve duplicates
//                 (bucket merge, clusters; a removed document takes its augmentation
//                 pairs with it) -> split -> pack -> shards, manifest, report
//
// A single-machine build is task 0 of 1 followed by the merge, in memory, so N
// tasks give exactly the output of one.
//
// Task folder: summary.json (counts, files, problems, the recipe's data hash) and
// docs.jsonl, one kept document per line: {"f": global file index, "p": position
// in the file, "d": augmentation pair number (0: the document itself), "s": source, "h": content hash, "x": [exact hash hi, lo], "m": MinHash
// signature, "i": token ids, "k": loss mask as a string of 0 and 1}.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/recipe.h"
#include "core/status.h"
#include "data/clean/pipeline.h"
#include "data/shards/packer.h"

namespace st::data {

struct TaskDoc {
  int64_t file = 0, pos = 0;  // global file index, position among the file's documents
  int64_t derived = 0;        // > 0: an augmentation pair made from the document at (file, pos)
  std::string source;
  uint64_t content_hash = 0;
  DocSignature sig;
  TokenizedSample sample;
};

struct TaskResult {
  int task = 0, tasks = 1;
  std::string data_hash, tokenizer_sha256;
  std::vector<TaskDoc> docs;
  std::vector<std::pair<int64_t, FileRead>> files;      // global file index, how it read
  std::vector<std::pair<int64_t, SourceIssue>> issues;  // global file index, problem
  CleanReport clean;                                    // the per-document stages
};

StatusOr<TaskResult> RunDataTask(const Recipe& r, int task, int tasks);

// <output_dir>/shards.tasks and the folder of one task in it.
std::string TasksDir(const Recipe& r);
std::string TaskDir(const Recipe& r, int task, int tasks);

Status WriteTaskResult(const std::string& dir, const TaskResult& t);
StatusOr<TaskResult> ReadTaskResult(const std::string& dir);

}  // namespace st::data
