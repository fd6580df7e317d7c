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

class Communicator;

struct TrainOptions {
  bool resume = false;        // continue from the newest checkpoint under <output_dir>/checkpoints
  bool skip_current = false;  // TrainSlices: skip a slice whose adapter is current (AdapterCurrent)
  // Several processes (train/distributed.h): each rank takes every world-th micro-batch of
  // the common data order and the adapter's gradients are summed, so N ranks with
  // grad_accum A take the steps of one process with grad_accum N*A. Rank 0 writes.
  Communicator* comm = nullptr;
};

struct MicroBatch {
  at::Tensor ids, mask, pos;  // (B, T)
};

// Forward and backward over the micro-batches of one optimizer step. The loss
// is the mean over every target token of all of them (each micro-batch's summed
// loss divided by the step's total target count), so accumulating equals one
// batch of all rows, whatever each micro-batch holds. Returns {mean loss, targets}.
std::pair<double, int64_t> AccumulateGradients(const LlamaModel& model, const std::vector<MicroBatch>& micro, bool training);
// The same with the step's target count given (summed over every rank's micro-batches);
// returns the summed (not averaged) loss of these micro-batches.
double AccumulateGradients(const LlamaModel& model, const std::vector<MicroBatch>& micro, bool training, int64_t total);
// Target tokens (mask[:, 1:]) in the micro-batches.
int64_t TargetCount(const std::vector<MicroBatch>& micro);

// Asks a running RunTraining to save a checkpoint and stop after the current
// step (the Ctrl-C handler of slicetune-train calls it; async-signal-safe).
void RequestStop();

struct TrainResult {
  double first_loss = 0, final_loss = 0, val_loss = -1;
  int64_t steps = 0, target_tokens = 0;
  double seconds = 0;
};

// Trains the recipe's adapter on `model` (any adapter attached before is dropped).
StatusOr<TrainResult> RunTraining(LlamaModel& model, const Recipe& recipe, const TrainOptions& options = {});
// Loads the recipe's base model and trains.
StatusOr<TrainResult> RunTraining(const Recipe& recipe, const TrainOptions& options = {});
// Several recipes on one base (the slices of one recipe, which share base_model):
// the base is loaded once and each slice trains in turn with its own shards,
// checkpoints, evaluation and outputs. With options.resume, slices already
// finished are skipped and the interrupted one continues from its checkpoint.
StatusOr<std::vector<TrainResult>> TrainSlices(const std::vector<Recipe>& recipes, const TrainOptions& options = {});

}  // namespace st::train
