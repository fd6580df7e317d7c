// slicetune-train: the LibTorch half of slicetune. `slicetune train`, `slicetune
// run` and `slicetune imatrix` start it; it never loads sentencepiece (see
// data/tokenize/sp_tokenizer.h for why).
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>

#include "core/log.h"
#include "core/recipe.h"
#include "train/imatrix_collect.h"
#include "train/trainer.h"

namespace {

void OnInterrupt(int) { st::train::RequestStop(); }

st::Status Train(const std::string& recipe, const std::vector<std::string>& sets, bool resume) {
  auto r = st::LoadRecipe(recipe, sets);
  if (!r.ok()) return r.status();
  // Ctrl-C: finish the step, save a checkpoint, stop (a second Ctrl-C kills).
  struct sigaction sa {};
  sa.sa_handler = OnInterrupt;
  sa.sa_flags = SA_RESETHAND;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  st::train::TrainOptions opts;
  opts.resume = resume;
  auto res = st::train::RunTraining(*r, opts);
  if (res.ok()) {
    char buf[256];
    std::snprintf(buf, sizeof buf, "train: %lld steps, loss %.4f -> %.4f, val loss %.4f, %.1f s", (long long)res->steps,
                  res->first_loss, res->final_loss, res->val_loss, res->seconds);
    st::LogInfo(buf);
  }
  return res.status();
}

st::Status Imatrix(const st::train::ImatrixJob& job) {
  auto res = st::train::CollectImatrix(job);
  if (res.ok())
    st::LogInfo("imatrix: " + std::to_string(res->matrices) + " matrices from " + std::to_string(res->tokens) +
                " tokens in " + std::to_string(res->rows) + " rows -> " + job.out);
  return res.status();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"slicetune-train: LoRA training and activation statistics (normally started by `slicetune`)"};
  std::string recipe;
  std::vector<std::string> sets;
  app.add_option("RECIPE", recipe, "Recipe YAML file: train its adapter");
  app.add_option("--set", sets, "Override a recipe field: key.path=value (repeatable)");
  bool resume = false;
  app.add_flag("--resume", resume, "Continue from the newest checkpoint in <output_dir>/checkpoints");
  auto* im = app.add_subcommand("imatrix", "Importance matrix of a model over calibration shards");
  st::train::ImatrixJob job;
  im->add_option("--model", job.model_dir, "Hugging Face model directory")->required();
  im->add_option("--adapter", job.adapter_dir, "PEFT adapter merged in first");
  im->add_option("--shards", job.shards_dir, "Shard directory (with manifest.json)")->required();
  im->add_option("--split", job.split, "Shard split to read")->check(CLI::IsMember({"train", "val"}));
  im->add_option("--max-rows", job.max_rows, "Use at most this many rows (0: all)")->check(CLI::NonNegativeNumber);
  im->add_option("-o,--output", job.out, "Output file: .gguf, or .dat for the legacy format")->required();
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }
  st::Status s;
  if (*im) s = Imatrix(job);
  else if (!recipe.empty()) s = Train(recipe, sets, resume);
  else s = st::InvalidInput("give a RECIPE to train, or the imatrix subcommand (see --help)");
  if (!s.ok()) {
    std::fprintf(stderr, "slicetune-train: error: %s\n", s.message().c_str());
    return s.exit_code();
  }
  return 0;
}
