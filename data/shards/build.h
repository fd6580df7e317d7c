// `slicetune data build`: recipe sources -> tokenized, packed HDF5 shards, a JSON
// manifest and a data report under <output_dir>/shards/.
//
// (manifest.json: see data/shards/manifest.h)
// data_report.json / .md / .html (data/shards/report.h): inputs and their problems,
// cleaning (removals by reason, PII by type, duplicate clusters), document and token
// counts, length histogram, padding ratio.
#pragma once

#include <string>

#include "core/recipe.h"
#include "core/status.h"

namespace st::data {

struct BuildSummary {
  int64_t documents = 0, train_sequences = 0, val_sequences = 0, real_tokens = 0, target_tokens = 0;
  std::string manifest_path;
};

StatusOr<BuildSummary> BuildShards(const Recipe& recipe);

// A multi-task build (data/shards/task.h): task `task` of `tasks` writes its part
// under <output_dir>/shards.tasks/ and returns that folder; the merge, once every
// task has finished, writes the shards exactly as BuildShards would.
StatusOr<std::string> BuildTask(const Recipe& recipe, int task, int tasks);
StatusOr<BuildSummary> MergeTaskOutputs(const Recipe& recipe);

// True when <output_dir>/shards/manifest.json exists and was built from the same
// data section, seed, tokenizer and input file contents (so `run` and `train`
// can skip the data stage).
StatusOr<bool> ShardsUpToDate(const Recipe& recipe);

// SHA-256 of a source path's content: the file's own, or for a directory or glob
// the hash of its files' paths and hashes.
StatusOr<std::string> SourceSha256(const SourceSpec& src);

}  // namespace st::data
