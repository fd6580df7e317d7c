// slicetune-train: the LibTorch half of slicetune. `slicetune train`, `slicetune
// run` and `slicetune imatrix` start it; it never loads sentencepiece (see
// data/tokenize/sp_tokenizer.h for why).
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>

#include "core/log.h"
#include "core/recipe.h"
#include <ATen/Parallel.h>

#include <algorithm>
#include <sstream>
#include <thread>

#include "core/file_io.h"
#include "train/distributed.h"
#include "train/generate.h"
#include "train/imatrix_collect.h"
#include "train/trainer.h"

namespace {

void OnInterrupt(int) { st::train::RequestStop(); }

st::Status Train(const std::string& recipe, const std::vector<std::string>& sets, bool resume, const std::string& slice,
                 bool skip_current) {
  auto recipes = st::LoadRecipes(recipe, sets, slice);
  if (!recipes.ok()) return recipes.status();
  auto world = st::train::WorldFromEnvironment();
  if (!world.ok()) return world.status();
  std::unique_ptr<st::train::Communicator> comm;
  if (world->world_size > 1) {
    // NCCL when the slices train on the GPU, Gloo otherwise.
    const bool cuda = std::any_of(recipes->begin(), recipes->end(), [](const st::Recipe& r) { return r.train.device == "cuda"; });
    auto c = st::train::Communicator::Connect(*world, 600, cuda);
    if (!c.ok()) return c.status();
    comm = std::move(*c);
    if (world->rank == 0)
      st::LogInfo("train: rank 0 of " + std::to_string(world->world_size) + " (" + world->launcher + "), process group at " +
                  world->master_addr + ":" + std::to_string(world->master_port));
  }
  // Ctrl-C: finish the step, save a checkpoint, stop (a second Ctrl-C kills).
  struct sigaction sa {};
  sa.sa_handler = OnInterrupt;
  sa.sa_flags = SA_RESETHAND;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  st::train::TrainOptions opts;
  opts.resume = resume;
  opts.skip_current = skip_current;
  opts.comm = comm.get();
  auto res = st::train::TrainSlices(*recipes, opts);
  if (res.ok() && world->rank == 0) {
    for (size_t i = 0; i < res->size(); ++i) {
      const auto& x = (*res)[i];
      if (x.steps == 0) continue;  // skipped: current
      char buf[320];
      std::snprintf(buf, sizeof buf, "train%s: %lld steps, loss %.4f -> %.4f, val loss %.4f, %.1f s",
                    (*recipes)[i].group.empty() ? "" : (" [" + (*recipes)[i].name + "]").c_str(), (long long)x.steps,
                    x.first_loss, x.final_loss, x.val_loss, x.seconds);
      st::LogInfo(buf);
    }
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

std::vector<int64_t> ParseIds(const std::string& text) {
  std::vector<int64_t> v;
  std::istringstream in(text);
  int64_t x;
  while (in >> x) v.push_back(x);
  return v;
}

st::Status GenerateIds(const std::string& model_dir, const std::string& adapter_dir, const std::string& ids,
                       const std::string& ids_file, const std::string& stop, st::train::GenerateOptions o,
                       const std::string& out) {
  at::set_num_threads((int)std::max(1u, std::thread::hardware_concurrency()));
  auto model = st::train::LlamaModel::Load(model_dir);
  if (!model.ok()) return model.status();
  if (!adapter_dir.empty()) ST_RETURN_IF_ERROR(model->LoadAdapterDir(adapter_dir, model_dir));
  std::vector<std::string> prompts = {ids};
  if (!ids_file.empty()) {
    auto text = st::ReadFile(ids_file);
    if (!text.ok()) return text.status();
    prompts.clear();
    std::istringstream in(*text);
    for (std::string line; std::getline(in, line);) prompts.push_back(line);
  }
  o.stop_ids = ParseIds(stop);
  std::string text;
  for (size_t p = 0; p < prompts.size(); ++p) {
    const std::vector<int64_t> prompt = ParseIds(prompts[p]);
    const std::string where = ids_file.empty() ? std::string("--ids") : ids_file + ":" + std::to_string(p + 1);
    if (prompt.empty()) return st::InvalidInput(where + ": no token ids");
    for (int64_t t : prompt)
      if (t < 0 || t >= model->spec().vocab_size)
        return st::InvalidInput(where + ": token " + std::to_string(t) + " outside the vocabulary of " + model_dir);
    const std::vector<int64_t> got = st::train::Generate(*model, prompt, o);
    for (size_t i = 0; i < got.size(); ++i) text += (i ? " " : "") + std::to_string(got[i]);
    text += "\n";
  }
  return st::WriteFileAtomic(out, text);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"slicetune-train: LoRA training and activation statistics (normally started by `slicetune`)"};
  std::string recipe;
  std::vector<std::string> sets;
  app.add_option("RECIPE", recipe, "Recipe YAML file: train its adapter");
  app.add_option("--set", sets, "Override a recipe field: key.path=value (repeatable)");
  bool resume = false, skip_current = false;
  std::string slice;
  app.add_flag("--resume", resume, "Continue from the newest checkpoint in <output_dir>/checkpoints");
  app.add_option("--slice", slice, "Only this slice of a recipe with `slices:`");
  app.add_flag("--skip-current", skip_current, "Skip slices whose adapter was trained from this exact recipe");
  auto* im = app.add_subcommand("imatrix", "Importance matrix of a model over calibration shards");
  st::train::ImatrixJob job;
  im->add_option("--model", job.model_dir, "Hugging Face model directory")->required();
  im->add_option("--adapter", job.adapter_dir, "PEFT adapter merged in first");
  im->add_option("--shards", job.shards_dir, "Shard directory (with manifest.json)")->required();
  im->add_option("--split", job.split, "Shard split to read")->check(CLI::IsMember({"train", "val"}));
  im->add_option("--max-rows", job.max_rows, "Use at most this many rows (0: all)")->check(CLI::NonNegativeNumber);
  im->add_option("-o,--output", job.out, "Output file: .gguf, or .dat for the legacy format")->required();
  auto* gen = app.add_subcommand("generate", "Continue token ids with the model (KV cache); `slicetune generate` is the way in");
  std::string gen_model, gen_adapter, gen_ids, gen_out, gen_stop;
  st::train::GenerateOptions gopt;
  gen->add_option("--model", gen_model, "Hugging Face model directory")->required();
  gen->add_option("--adapter", gen_adapter, "PEFT adapter to apply");
  std::string gen_ids_file;
  auto* ids_opt = gen->add_option("--ids", gen_ids, "Prompt token ids, space separated");
  gen->add_option("--ids-file", gen_ids_file, "One prompt per line (token ids); the output has one line per prompt")
      ->excludes(ids_opt);
  gen->add_option("--stop", gen_stop, "Token ids that end the reply, space separated");
  gen->add_option("--max-new-tokens", gopt.max_new_tokens)->check(CLI::Range(1, 1000000));
  gen->add_option("--temperature", gopt.temperature)->check(CLI::Range(0.0, 100.0));
  gen->add_option("--top-k", gopt.top_k)->check(CLI::NonNegativeNumber);
  gen->add_option("--top-p", gopt.top_p)->check(CLI::Range(0.0, 1.0));
  gen->add_option("--seed", gopt.seed);
  gen->add_option("-o,--output", gen_out, "Write the new ids here (space separated)")->required();
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }
  st::Status s;
  if (*gen) s = GenerateIds(gen_model, gen_adapter, gen_ids, gen_ids_file, gen_stop, gopt, gen_out);
  else if (*im) s = Imatrix(job);
  else if (!recipe.empty()) s = Train(recipe, sets, resume, slice, skip_current);
  else s = st::InvalidInput("give a RECIPE to train, or the imatrix subcommand (see --help)");
  if (!s.ok()) {
    std::fprintf(stderr, "slicetune-train: error: %s\n", s.message().c_str());
    return s.exit_code();
  }
  return 0;
}
