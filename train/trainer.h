// LoRA training on token shards: loads the base model, attaches LoRA per the
// recipe, trains with AdamW on <output_dir>/shards (built by `slicetune data
// build`), evaluates held-out loss, and writes the PEFT adapter to
// <output_dir>/adapter plus <output_dir>/train_log.json.
#pragma once

#include "core/recipe.h"
#include "core/status.h"

namespace st::train {

struct TrainResult {
  double first_loss = 0, final_loss = 0, val_loss = -1;
  int64_t steps = 0, target_tokens = 0;
  double seconds = 0;
};

StatusOr<TrainResult> RunTraining(const Recipe& recipe);

}  // namespace st::train
