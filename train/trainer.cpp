#include "train/trainer.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <thread>

#include "core/base_fingerprint.h"
#include "core/file_io.h"
#include "core/hash.h"
#include "core/log.h"
#include "data/shards/manifest.h"
#include "data/shards/shard_io.h"
#include "train/shard_rows.h"
#include "train/adamw.h"
#include "train/llama_model.h"

namespace st::train {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

double EvalLoss(const LlamaModel& model, const Rows& rows, int64_t batch) {
  at::NoGradGuard ng;
  double sum = 0;
  int64_t count = 0;
  for (int64_t i = 0; i < rows.ids.size(0); i += batch) {
    const int64_t n = std::min(batch, rows.ids.size(0) - i);
    at::Tensor ids = rows.ids.narrow(0, i, n), mask = rows.mask.narrow(0, i, n), pos = rows.pos.narrow(0, i, n);
    auto [loss, k] = MaskedNextTokenLoss(model.Forward(ids, false, pos), ids, mask);
    sum += loss.item<double>() * k;
    count += k;
  }
  return count ? sum / count : -1;
}

}  // namespace

// The recipe's lora section as PEFT's config.
static LoraConfig AdapterConfig(const Recipe& r) {
  LoraConfig c;
  c.targets = r.lora.targets;
  c.rank = r.lora.rank;
  c.alpha = r.lora.alpha;
  c.dropout = r.lora.dropout;
  c.rslora = r.lora.variant == "rslora";
  c.dora = r.lora.variant == "dora";
  c.base_model = r.base_model;
  return c;
}

StatusOr<TrainResult> RunTraining(const Recipe& r) {
  at::set_num_threads((int)std::max(1u, std::thread::hardware_concurrency()));
  const std::string manifest = (fs::path(ShardsDir(r)) / "manifest.json").string();
  if (!PathExists(manifest))
    return InvalidInput(manifest + " not found; build the shards first with `slicetune data build " + r.file + "`");
  ST_ASSIGN_OR_RETURN(Rows train, LoadSplit(manifest, "train"));
  ST_ASSIGN_OR_RETURN(Rows val, LoadSplit(manifest, "val"));
  if (!train.ids.defined()) return InvalidInput(manifest + ": no training sequences");
  const std::string tok_path = TokenizerFile(r.base_model);
  if (!tok_path.empty()) {
    ST_ASSIGN_OR_RETURN(std::string tok_sha, Sha256File(tok_path));
    if (tok_sha != train.tokenizer_sha256)
      return InvalidInput(manifest + ": shards were built with another tokenizer than " + tok_path +
                          "; rebuild them with `slicetune data build " + r.file + "`");
  }
  ST_ASSIGN_OR_RETURN(LlamaModel model, LlamaModel::Load(r.base_model));
  if (at::max(train.ids).item<int64_t>() >= model.spec().vocab_size)
    return InvalidInput(manifest + ": shards hold token ids beyond the model's vocab_size " + std::to_string(model.spec().vocab_size));
  at::manual_seed(r.seed);
  const LoraConfig lora = AdapterConfig(r);
  model.AttachLora(lora, r.seed);
  AdamW opt(model.TrainableParameters(), r.train.weight_decay);

  const int64_t n = train.ids.size(0), bs = std::min<int64_t>(r.train.batch_size, n);
  std::mt19937_64 rng(r.seed);
  std::vector<int64_t> order(n);
  size_t cursor = n;  // forces a shuffle on first use
  auto next_batch = [&]() {
    std::vector<int64_t> idx;
    for (int64_t i = 0; i < bs; ++i) {
      if (cursor >= order.size()) {
        std::iota(order.begin(), order.end(), 0);
        std::shuffle(order.begin(), order.end(), rng);
        cursor = 0;
      }
      idx.push_back(order[cursor++]);
    }
    return at::tensor(idx, at::kLong);
  };

  TrainResult res;
  json log = json::array();
  Progress prog("train", r.train.steps, "steps");
  auto t0 = std::chrono::steady_clock::now();
  for (int64_t step = 0; step < r.train.steps; ++step) {
    const double lr = ScheduledLr(r.train.schedule, r.train.lr, step, r.train.warmup, r.train.steps);
    double step_loss = 0;
    int64_t step_tokens = 0;
    for (int64_t micro = 0; micro < r.train.grad_accum; ++micro) {
      at::Tensor idx = next_batch();
      at::Tensor ids = train.ids.index_select(0, idx), mask = train.mask.index_select(0, idx);
      at::Tensor pos = train.pos.index_select(0, idx);
      auto [loss, k] = MaskedNextTokenLoss(model.Forward(ids, true, pos), ids, mask);
      (loss / (double)r.train.grad_accum).backward();
      step_loss += loss.item<double>() / r.train.grad_accum;
      step_tokens += k;
    }
    if (!std::isfinite(step_loss))
      return RuntimeError("training diverged at step " + std::to_string(step + 1) + " (loss " + std::to_string(step_loss) +
                          "); lower train.lr or check the data");
    const double gnorm = opt.ClipGradNorm(r.train.max_grad_norm);
    opt.Step(lr);
    opt.ZeroGrad();
    if (step == 0) res.first_loss = step_loss;
    res.final_loss = step_loss;
    res.target_tokens += step_tokens;
    log.push_back({{"step", step + 1}, {"loss", step_loss}, {"lr", lr}, {"grad_norm", gnorm}, {"tokens", step_tokens}});
    char extra[96];
    std::snprintf(extra, sizeof extra, "loss %.4f lr %.2e", step_loss, lr);
    if ((step + 1) % r.train.log_every == 0 || step + 1 == r.train.steps) LogInfo("step " + std::to_string(step + 1) + " " + extra);
    prog.Update(step + 1, extra);
  }
  prog.Finish();
  res.steps = r.train.steps;
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (val.ids.defined()) res.val_loss = EvalLoss(model, val, bs);

  LoraAdapter ad = model.ExportAdapter(lora);
  ST_RETURN_IF_ERROR(SaveLoraAdapter(AdapterDir(r), ad, model.spec()));
  ST_RETURN_IF_ERROR(RecordAdapterBase(AdapterDir(r), r.base_model));  // export checks it
  json summary = {{"recipe", r.name}, {"recipe_sha256", r.hash}, {"steps", res.steps}, {"first_loss", res.first_loss},
                  {"final_loss", res.final_loss}, {"val_loss", res.val_loss}, {"target_tokens", res.target_tokens},
                  {"seconds", res.seconds}, {"tokens_per_second", res.seconds > 0 ? res.target_tokens / res.seconds : 0.0},
                  {"log", log}};
  ST_RETURN_IF_ERROR(WriteFileAtomic((fs::path(r.output_dir) / "recipe.resolved.yaml").string(), r.resolved_yaml));
  ST_RETURN_IF_ERROR(WriteFileAtomic((fs::path(r.output_dir) / "train_log.json").string(), summary.dump(2) + "\n"));
  return res;
}

}  // namespace st::train
