// LoRA training on token shards: loads the base model, attaches LoRA per the
// recipe, trains with AdamW on <output_dir>/shards (built by `slicetune data
// build`), evaluates held-out loss, and writes the PEFT adapter to
// <output_dir>/adapter plus <output_dir>/train_log.json.
#pragma once

#include <ATen/ATen.h>

#include <vector>

#include "core/recipe.h"
#include "core/status.h"
#include "train/llama_model.h"

namespace st::train {

struct TrainOptions {
  bool resume = false;  // continue from the newest checkpoint under <output_dir>/checkpoints
};

struct MicroBatch {
  at::Tensor ids, mask, pos;  // (B, T)
};

// Forward and backward over the micro-batches of one optimizer step. The loss
// is the mean over every target token of all of them (each micro-batch's summed
// loss divided by the step's total target count), so accumulating equals one
// batch of all rows, whatever each micro-batch holds. Returns {mean loss, targets}.
std::pair<double, int64_t> AccumulateGradients(const LlamaModel& model, const std::vector<MicroBatch>& micro, bool training);

// Asks a running RunTraining to save a checkpoint and stop after the current
// step (the Ctrl-C handler of slicetune-train calls it; async-signal-safe).
void RequestStop();

struct TrainResult {
  double first_loss = 0, final_loss = 0, val_loss = -1;
  int64_t steps = 0, target_tokens = 0;
  double seconds = 0;
};

StatusOr<TrainResult> RunTraining(const Recipe& recipe, const TrainOptions& options = {});

}  // namespace st::train
