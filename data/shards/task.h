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
// Task folder: summary.json (counts, problems, the recipe's data hash), files.tsv (each
// input file: index, sha256, bytes, bad bytes, documents, encoding, path) and
// docs.bin, one record per kept document, in corpus order, little-endian:
//   int64 file, pos, derived (augmentation pair number; 0: the document itself)
//   uint64 content hash, exact hash hi, lo
//   uint32 n, then n uint32: the MinHash signature (n = 0 without dedup)
//   uint32 t, then t int32 token ids and t uint8 loss-mask bytes
//   uint32 s, then s bytes: the source ("file:line")
//   uint8 k, then k times (uint8 PII type, uint32 count): what de-identification found
#pragma once

#include <array>
#include <cstdint>
#include <cstdio>
#include <fstream>
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
  std::array<int64_t, kNumPiiTypes> pii{};  // found by de-identification, by type
};

struct TaskSummary {
  int task = 0, tasks = 1;
  std::string data_hash, tokenizer_sha256;
  int64_t documents = 0;                                // records in docs.bin
  int64_t files = 0;                                    // rows in files.tsv
  std::vector<std::pair<int64_t, SourceIssue>> issues;  // global file index, problem (the first kMaxIssuesListed)
  int64_t issue_count = 0;
  CleanReport clean;                                    // the per-document stages
};

inline constexpr int kTaskFormatVersion = 2;  // 2: docs.bin records carry PII counts
inline constexpr size_t kMaxIssuesListed = 1000;
inline constexpr size_t kMaxFilesListed = 1000;  // input files named in the data report

// Runs task `task` of `tasks`, streaming: the input is read in batches and each
// batch's documents are appended to <dir>/docs.bin, so memory holds one batch.
// `dir` appears complete or not at all.
StatusOr<TaskSummary> RunDataTask(const Recipe& r, int task, int tasks, const std::string& dir);
StatusOr<TaskSummary> ReadTaskSummary(const std::string& dir);

// Reads a task's files.tsv row by row, in file order (global index, how the file read).
class FileTableReader {
 public:
  static StatusOr<FileTableReader> Open(const std::string& dir, int task);
  StatusOr<bool> Next(int64_t* g, FileRead* f);  // false at the end

 private:
  std::ifstream in_;
  std::string path_, line_;
  int64_t lineno_ = 0, last_ = -1;
};

// Reads a task's docs.bin record by record, in corpus order.
class TaskDocReader {
 public:
  ~TaskDocReader();
  TaskDocReader(TaskDocReader&& o) noexcept : f_(o.f_), path_(std::move(o.path_)) { o.f_ = nullptr; }
  TaskDocReader(const TaskDocReader&) = delete;
  TaskDocReader& operator=(const TaskDocReader&) = delete;
  static StatusOr<TaskDocReader> Open(const std::string& dir);
  StatusOr<bool> Next(TaskDoc* d);  // false at the end

 private:
  TaskDocReader() = default;
  std::FILE* f_ = nullptr;
  std::string path_;
};

// <output_dir>/shards.tasks and the folder of one task in it.
std::string TasksDir(const Recipe& r);
std::string TaskDir(const Recipe& r, int task, int tasks);

}  // namespace st::data
