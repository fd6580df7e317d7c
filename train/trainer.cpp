#include "train/trainer.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <numeric>
#include <optional>
#include <random>
#include <thread>

#include "core/base_fingerprint.h"
#include "train/fused_ops.h"
#include "train/full_model.h"
#include "core/file_io.h"
#include "core/hash.h"
#include "core/log.h"
#include "data/shards/manifest.h"
#include "data/shards/shard_io.h"
#include "train/checkpoint.h"
#include "data/eval/task_set.h"
#include "train/distributed.h"
#include "train/generate.h"
#include "train/run_report.h"
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
    const at::Device dev = model.device();
    auto [loss, k] = model.Loss(ids.to(dev), mask.to(dev), false, pos.to(dev));
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

namespace {
volatile std::sig_atomic_t g_stop = 0;
}  // namespace

void RequestStop() { g_stop = 1; }

int64_t TargetCount(const std::vector<MicroBatch>& micro) {
  int64_t total = 0;
  for (const auto& m : micro) total += m.mask.narrow(1, 1, m.mask.size(1) - 1).sum().item<int64_t>();
  return total;
}

double AccumulateGradients(const LlamaModel& model, const std::vector<MicroBatch>& micro, bool training, int64_t total) {
  double loss_sum = 0;
  for (const auto& m : micro) {
    const at::Device dev = model.device();
    auto [loss, k] = model.Loss(m.ids.to(dev), m.mask.to(dev), training, m.pos.defined() ? m.pos.to(dev) : m.pos);
    if (k == 0) continue;
    // This micro-batch's summed loss over the step's target count.
    (loss * ((double)k / (double)std::max<int64_t>(1, total))).backward();
    loss_sum += loss.item<double>() * (double)k;
  }
  return loss_sum;
}

std::pair<double, int64_t> AccumulateGradients(const LlamaModel& model, const std::vector<MicroBatch>& micro, bool training) {
  const int64_t total = TargetCount(micro);
  const double loss_sum = AccumulateGradients(model, micro, training, total);
  return {total ? loss_sum / (double)total : 0.0, total};
}

namespace {

// splitmix64: the dropout generator's seed for (recipe seed, rank, step), so a
// resumed run and every rank draw their own masks without carrying RNG state.
uint64_t StepSeed(uint64_t seed, int rank, int64_t step) {
  uint64_t z = seed ^ ((uint64_t)rank * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)step * 0xBF58476D1CE4E5B9ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Sums the gradients of `params` (one flat buffer) and the `extra` scalars over the ranks.
Status SumAcrossRanks(Communicator* comm, const std::vector<at::Tensor>& params, std::vector<double>* extra) {
  at::NoGradGuard ng;
  std::vector<at::Tensor> parts;
  for (const auto& p : params)
    parts.push_back(p.grad().defined() ? p.grad().reshape({-1}) : at::zeros({p.numel()}, p.options()));
  at::Tensor flat = at::cat(parts);
  at::Tensor scalars = at::tensor(*extra, at::kDouble);  // the loss sum in float64, beside the float32 gradients
  ST_RETURN_IF_ERROR(comm->AllReduceSum(flat));
  ST_RETURN_IF_ERROR(comm->AllReduceSum(scalars));
  int64_t off = 0;
  for (const auto& p : params) {
    at::Tensor g = flat.narrow(0, off, p.numel()).view(p.sizes()).clone();
    off += p.numel();
    at::Tensor param = p;
    param.mutable_grad() = g;
  }
  for (size_t i = 0; i < extra->size(); ++i) (*extra)[i] = scalars[(int64_t)i].item<double>();
  return Status::Ok();
}

}  // namespace

StatusOr<TrainResult> RunTraining(const Recipe& r, const TrainOptions& opts) {
  ST_ASSIGN_OR_RETURN(LlamaModel model, LlamaModel::Load(r.base_model));
  return RunTraining(model, r, opts);
}

StatusOr<std::vector<TrainResult>> TrainSlices(const std::vector<Recipe>& recipes, const TrainOptions& opts) {
  std::vector<TrainResult> out;
  if (recipes.empty()) return out;
  std::optional<LlamaModel> model;
  const bool lead = !opts.comm || opts.comm->world().rank == 0;
  for (const Recipe& r : recipes) {
    if (r.base_model != recipes[0].base_model)
      return InvalidInput(r.file + ": slice '" + r.name + "' has another base model than '" + recipes[0].name + "'");
    const std::string who = r.group.empty() ? "train" : "train [" + r.name + "]";
    if ((opts.skip_current || opts.resume) && AdapterCurrent(r)) {
      if (lead) LogInfo(who + ": " + TrainedDir(r) + " is current, skipping");
      out.push_back({});
      continue;
    }
    if (lead) ST_RETURN_IF_ERROR(CheckWritableDir(r.output_dir));  // before the base is loaded
    // A float32 slice after a bf16 one, or a dense one after QLoRA, needs the base loaded again.
    if (model && r.train.precision == "fp32" && model->base_type() != at::kFloat) model.reset();
    if (model && r.train.quantize_base == "none" && model->base_nf4()) model.reset();
    if (!model) {
      if (lead) LogInfo("train: loading the base model " + r.base_model);
      ST_ASSIGN_OR_RETURN(LlamaModel m, LlamaModel::Load(r.base_model));
      model.emplace(std::move(m));
    }
    TrainOptions o = opts;
    // A slice list resumes where it stopped: finished slices were skipped above,
    // the interrupted one continues, the ones not reached start afresh.
    o.resume = opts.resume && (recipes.size() == 1 || HasCheckpoint(r.output_dir));
    if (lead && recipes.size() > 1) LogInfo(who + ": training slice '" + r.name + "' -> " + TrainedDir(r));
    ST_ASSIGN_OR_RETURN(TrainResult res, RunTraining(*model, r, o));
    if (r.train.mode == "full") model.reset();  // its weights were trained: the next slice needs the base again
    out.push_back(res);
  }
  return out;
}

StatusOr<TrainResult> RunTraining(LlamaModel& model, const Recipe& r, const TrainOptions& opts) {
  g_stop = 0;
  Communicator* comm = opts.comm;
  const int rank = comm ? comm->world().rank : 0, world = comm ? comm->world().world_size : 1;
  const bool lead = rank == 0;
  const int local_world = comm ? comm->world().local_world_size : 1;
  at::set_num_threads((int)std::max(1u, std::thread::hardware_concurrency() / (unsigned)local_world));
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
  if (at::max(train.ids).item<int64_t>() >= model.spec().vocab_size)
    return InvalidInput(manifest + ": shards hold token ids beyond the model's vocab_size " + std::to_string(model.spec().vocab_size));
  at::manual_seed(r.seed);
  const at::ScalarType want = r.train.precision == "bf16" ? at::kBFloat16 : at::kFloat;
  if (model.base_type() != want) {
    if (model.base_type() != at::kFloat)
      return InvalidInput(r.file + ": train.precision " + r.train.precision + " needs the base loaded again (it is held in " +
                          std::string(c10::toString(model.base_type())) + ")");
    model.SetBaseType(want);
  }
  model.SetActivationCheckpointing(r.train.activation_checkpointing);
  if (r.train.device == "cuda") {
    if (!at::hasCUDA())
      return InvalidInput(r.file + ": train.device is cuda but LibTorch sees no CUDA device here; HINT: "
                          "--set train.device=cpu, or run on a GPU machine");
    model.To(at::Device(at::kCUDA, (c10::DeviceIndex)(comm ? comm->world().local_rank : 0)));
  } else if (!model.device().is_cpu()) {
    model.To(at::Device(at::kCPU));
  }
  if (r.train.quantize_base == "nf4" && !model.base_nf4()) {
    if (lead) LogInfo("train: quantizing the base's block linear weights to NF4 (QLoRA)");
    model.QuantizeBaseNf4();
  }
  const bool full = r.train.mode == "full";
  // Full training takes the LibTorch formulas everywhere: the fused kernels give
  // gradients for activations and LoRA factors, not for the base weights.
  ST_RETURN_IF_ERROR(SetKernelsOff(full ? std::vector<std::string>{"rmsnorm", "rope", "swiglu", "linear_ce", "lora", "nf4"}
                                        : r.train.kernels_off));
  const LoraConfig lora = AdapterConfig(r);
  model.DetachLora();
  std::vector<at::Tensor> params;
  if (full) {
    if (lead) LogInfo("train: train.mode full: every weight of the base is trained (for tiny models)");
    params = MakeBaseTrainable(model);
  } else {
    model.AttachLora(lora, r.seed);
    params = model.TrainableParameters();
  }
  AdamW opt(params, r.train.weight_decay);

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
    return idx;
  };

  TrainResult res;
  json log = json::array();
  int64_t start = 0;
  at::Generator torch_gen = at::detail::getDefaultCPUGenerator();
  if (opts.resume) {
    ST_ASSIGN_OR_RETURN(TrainState st, LoadLatestCheckpoint(r.output_dir));
    if (st.recipe_sha256 != r.hash)
      return InvalidInput(CheckpointsDir(r.output_dir) + ": the checkpoint belongs to another version of the recipe "
                          "(its sha256 differs); HINT: train from scratch without --resume, or restore the recipe");
    if (st.params.size() != params.size() || (int64_t)st.order.size() != n)
      return InvalidInput(CheckpointsDir(r.output_dir) + ": the checkpoint does not fit this model / these shards");
    {
      at::NoGradGuard ng;
      for (size_t i = 0; i < params.size(); ++i) {
        if (!st.params[i].sizes().equals(params[i].sizes()))
          return InvalidInput(CheckpointsDir(r.output_dir) + ": tensor " + std::to_string(i) + " has another shape");
        params[i].copy_(st.params[i]);
      }
    }
    opt.Restore(st.adam_m, st.adam_v, st.adam_t);
    order = st.order;
    cursor = (size_t)st.cursor;
    std::istringstream in(st.shuffle_rng);
    in >> rng;
    {
      std::lock_guard<std::mutex> lock(torch_gen.mutex());
      torch_gen.set_state(st.torch_rng);
    }
    log = st.log;
    start = st.step;
    LogInfo("train: resuming at step " + std::to_string(start) + " of " + std::to_string(r.train.steps));
  }
  auto checkpoint = [&](int64_t done) -> Status {
    TrainState st;
    st.step = done;
    st.adam_t = opt.steps();
    st.recipe_sha256 = r.hash;
    st.params = params;
    st.adam_m = opt.first_moments();
    st.adam_v = opt.second_moments();
    {
      std::lock_guard<std::mutex> lock(torch_gen.mutex());
      st.torch_rng = torch_gen.get_state();
    }
    st.order = order;
    st.cursor = (int64_t)cursor;
    std::ostringstream out;
    out << rng;
    st.shuffle_rng = out.str();
    st.log = log;
    return SaveCheckpoint(r.output_dir, st, r.train.keep_checkpoints);
  };

  // metrics.jsonl: one line per log entry as it happens (rewritten from the
  // checkpoint's log on resume, so it never holds steps that were undone).
  // Only rank 0 writes anything; the other ranks compute.
  const std::string metrics_path = (fs::path(r.output_dir) / "metrics.jsonl").string();
  std::ofstream metrics;
  if (lead) {
    metrics.open(metrics_path, std::ios::trunc);
    if (!metrics) return RuntimeError(metrics_path + ": cannot write (" + std::strerror(errno) + ")");
    for (const auto& e : log) metrics << e.dump() << "\n";
    metrics.flush();
  }
  auto record = [&](json e) {
    if (lead) {
      metrics << e.dump() << "\n";
      metrics.flush();
    }
    log.push_back(std::move(e));
  };
  // Task metrics (the recipe's eval section): greedy replies to the held-out
  // prompts the front tokenized (data/eval/task_set.h).
  std::optional<data::TaskSet> task;
  if (!r.eval.data.empty() && lead) {
    const std::string path = (fs::path(r.output_dir) / "task_eval.json").string();
    if (!PathExists(path))
      return InvalidInput(path + " not found: the recipe has an eval section; start training with `slicetune train " +
                          r.file + "`, which prepares it");
    ST_ASSIGN_OR_RETURN(data::TaskSet t, data::ReadTaskSet(path));
    for (const auto& p : t.prompts)
      for (int id : p)
        if (id < 0 || id >= model.spec().vocab_size) return InvalidInput(path + ": token id beyond the model's vocabulary");
    task = std::move(t);
  }
  std::optional<data::SqlDatabase> sql_db;
  if (task && !task->sql_scripts.empty()) {
    ST_ASSIGN_OR_RETURN(data::SqlDatabase db, data::SqlDatabase::Build(task->sql_scripts));
    sql_db = std::move(db);
  }
  auto evaluate = [&](int64_t done) -> StatusOr<double> {
    if (!lead || (!val.ids.defined() && !task)) return -1.0;
    json e = {{"step", done}};
    double v = -1;
    std::string line = "eval at step " + std::to_string(done) + ":";
    if (val.ids.defined()) {
      v = EvalLoss(model, val, bs);
      e["val_loss"] = v;
      e["val_ppl"] = std::exp(v);
      line += " val loss " + std::to_string(v) + ", perplexity " + std::to_string(std::exp(v));
    }
    if (task) {
      at::NoGradGuard ng;
      GenerateOptions g;
      g.max_new_tokens = task->max_new_tokens;
      g.stop_ids.assign(task->stop.begin(), task->stop.end());
      std::vector<std::string> preds;
      for (const auto& p : task->prompts) {
        const std::vector<int64_t> out = Generate(model, std::vector<int64_t>(p.begin(), p.end()), g);
        preds.push_back(task->Decode(std::vector<int>(out.begin(), out.end())));
      }
      ST_ASSIGN_OR_RETURN(const data::TaskScores sc, data::ScoreTask(task->inputs, task->references, task->sources, preds,
                                                                     sql_db ? &*sql_db : nullptr));
      e["exact_match"] = sc.exact_match();
      if (sc.executed) e["execution_accuracy"] = sc.execution_accuracy();
      e["correction_f1"] = sc.correction.f1();
      e["char_f1"] = sc.overlap.f1();
      json saved = sc.Summary();
      saved["step"] = done;
      saved["predictions"] = sc.predictions;
      ST_RETURN_IF_ERROR(WriteFileAtomic((fs::path(r.output_dir) / "task_eval_predictions.json").string(),
                                         saved.dump(2) + "\n"));
      char buf[160];
      std::snprintf(buf, sizeof buf, "%s exact match %.1f%%, correction F1 %.3f, character F1 %.3f (%lld pairs)",
                    val.ids.defined() ? ";" : "", 100.0 * sc.exact_match(), sc.correction.f1(), sc.overlap.f1(), (long long)sc.examples);
      line += buf;
      if (sc.executed) {
        std::snprintf(buf, sizeof buf, "; execution accuracy %.1f%%", 100.0 * sc.execution_accuracy());
        line += buf;
      }
    }
    record(e);
    LogInfo(line);
    return v;
  };
  if (start == 0) ST_RETURN_IF_ERROR(evaluate(0).status());  // the baseline, before any training

  std::optional<Progress> prog;
  if (lead) prog.emplace(r.group.empty() ? "train" : "train " + r.name, r.train.steps, "steps", start);
  auto t0 = std::chrono::steady_clock::now();
  int64_t skipped = 0;
  for (int64_t step = start; step < r.train.steps; ++step) {
    const double lr = ScheduledLr(r.train.schedule, r.train.lr, step, r.train.warmup, r.train.steps);
    const auto step_t0 = std::chrono::steady_clock::now();
    torch_gen.set_current_seed(StepSeed(r.seed, rank, step));  // dropout masks of this step on this rank
    if (model.device().is_cuda()) {  // LibTorch's own dropout on CUDA (kernels off) draws from the CUDA generator
      at::Generator cg = at::globalContext().defaultGenerator(model.device());
      std::lock_guard<std::mutex> lock(cg.mutex());
      cg.set_current_seed(StepSeed(r.seed, rank, step));
    }
    std::vector<MicroBatch> micro;
    std::vector<int64_t> rows;
    // Every rank walks the same order; rank k takes micro-batches k, k + world, ...
    for (int64_t k = 0; k < r.train.grad_accum * world; ++k) {
      std::vector<int64_t> idx = next_batch();
      if (k % world != rank) continue;
      rows.insert(rows.end(), idx.begin(), idx.end());
      at::Tensor t = at::tensor(idx, at::kLong);
      micro.push_back({train.ids.index_select(0, t), train.mask.index_select(0, t), train.pos.index_select(0, t)});
    }
    int64_t step_tokens = TargetCount(micro);
    if (comm) {
      at::Tensor c = at::tensor({(double)step_tokens}, at::kDouble);
      ST_RETURN_IF_ERROR(comm->AllReduceSum(c));
      step_tokens = (int64_t)c.item<double>();
    }
    double loss_sum = AccumulateGradients(model, micro, true, step_tokens);
    bool stop = g_stop != 0;
    if (comm) {  // the gradients, the loss and any rank's stop request, summed
      std::vector<double> extra = {loss_sum, stop ? 1.0 : 0.0};
      ST_RETURN_IF_ERROR(SumAcrossRanks(comm, params, &extra));
      loss_sum = extra[0];
      stop = extra[1] > 0;
    }
    const double step_loss = step_tokens ? loss_sum / (double)step_tokens : 0.0;
    const double gnorm = opt.ClipGradNorm(r.train.max_grad_norm);
    if (!std::isfinite(step_loss) || !std::isfinite(gnorm)) {
      std::string where = "step " + std::to_string(step + 1) + " (loss " + std::to_string(step_loss) + ", gradient norm " +
                          std::to_string(gnorm) + ", shard rows";
      for (size_t i = 0; i < rows.size() && i < 16; ++i) where += " " + std::to_string(rows[i]);
      if (comm) where += " on rank " + std::to_string(rank);
      where += ")";
      if (r.train.on_nonfinite == "stop")
        return RuntimeError("training diverged at " + where + "; lower train.lr, check those rows, or set "
                            "train.on_nonfinite: skip");
      if (lead) LogWarn("train: non-finite loss or gradient at " + where + "; step skipped (train.on_nonfinite: skip)");
      opt.ZeroGrad();
      ++skipped;
      record({{"step", step + 1}, {"skipped", true}});
      continue;
    }
    opt.Step(lr);
    opt.ZeroGrad();
    if (step == start) res.first_loss = step_loss;
    res.final_loss = step_loss;
    res.target_tokens += step_tokens;
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - step_t0).count();
    const double tps = secs > 0 ? (double)step_tokens / secs : 0.0;
    record({{"step", step + 1}, {"loss", step_loss}, {"lr", lr}, {"grad_norm", gnorm}, {"tokens", step_tokens},
            {"tokens_per_second", tps}});
    char extra[96];
    std::snprintf(extra, sizeof extra, "loss %.4f lr %.2e %.0f tok/s", step_loss, lr, tps);
    if (lead && ((step + 1) % r.train.log_every == 0 || step + 1 == r.train.steps))
      LogInfo((r.group.empty() ? "" : "[" + r.name + "] ") + "step " + std::to_string(step + 1) + " " + extra);
    if (prog) prog->Update(step + 1, extra);
    if (r.train.eval_every > 0 && (step + 1) % r.train.eval_every == 0 && step + 1 < r.train.steps)
      ST_RETURN_IF_ERROR(evaluate(step + 1).status());
    if (step + 1 == r.train.steps) {
      ST_ASSIGN_OR_RETURN(res.val_loss, evaluate(step + 1));
    }
    if (lead && ((r.train.save_every > 0 && (step + 1) % r.train.save_every == 0) || step + 1 == r.train.steps || stop))
      ST_RETURN_IF_ERROR(checkpoint(step + 1));
    if (stop && step + 1 < r.train.steps)
      return Status(Code::kRuntime, "interrupted after step " + std::to_string(step + 1) + "; a checkpoint was saved in " +
                                        CheckpointsDir(r.output_dir) + ": continue with `slicetune train " + r.file +
                                        " --resume`");
  }
  if (prog) prog->Finish();
  res.steps = r.train.steps;
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!lead) return res;

  if (full) {
    ST_RETURN_IF_ERROR(SaveFullModel(model, r.base_model, FullModelDir(r)));
  } else {
    LoraAdapter ad = model.ExportAdapter(lora);
    ST_RETURN_IF_ERROR(SaveLoraAdapter(AdapterDir(r), ad, model.spec()));
    ST_RETURN_IF_ERROR(RecordAdapterBase(AdapterDir(r), r.base_model));  // export checks it
  }
  ST_ASSIGN_OR_RETURN(std::string inputs_sha256, TrainInputsSha256(r));  // AdapterCurrent compares it
  json summary = {{"recipe", r.name}, {"recipe_sha256", r.hash}, {"inputs_sha256", inputs_sha256}, {"mode", r.train.mode}, {"output", TrainedDir(r)}, {"steps", res.steps}, {"first_loss", res.first_loss},
                  {"final_loss", res.final_loss}, {"val_loss", res.val_loss}, {"target_tokens", res.target_tokens},
                  {"skipped_steps", skipped}, {"resumed_at", start},
                  {"seconds", res.seconds}, {"tokens_per_second", res.seconds > 0 ? res.target_tokens / res.seconds : 0.0},
                  {"log", log}};
  ST_RETURN_IF_ERROR(WriteFileAtomic((fs::path(r.output_dir) / "recipe.resolved.yaml").string(), r.resolved_yaml));
  ST_RETURN_IF_ERROR(WriteFileAtomic((fs::path(r.output_dir) / "train_log.json").string(), summary.dump(2) + "\n"));
  ST_RETURN_IF_ERROR(WriteRunReport((fs::path(r.output_dir) / "train_report.html").string(), summary));
  return res;
}

}  // namespace st::train
