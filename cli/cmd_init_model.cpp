#include "cli/commands.h"
#include "core/log.h"
#include "export/random_init.h"

#ifndef SLICETUNE_SAMPLE_CORPUS
#define SLICETUNE_SAMPLE_CORPUS ""
#endif

namespace st::cli {

void AddInitModel(CLI::App& app, Status* result) {
  auto* cmd = app.add_subcommand("init-model", "Write a random-initialized Hugging Face checkpoint (tests, CI, benchmarks)");
  struct Opts {
    std::string out;
    exporter::InitModelOptions o;
  };
  auto opts = std::make_shared<Opts>();
  cmd->add_option("OUT", opts->out, "Output directory (must not exist or be empty)")->required();
  cmd->add_option("--preset", opts->o.preset, "Model size preset: tiny (CI, tests) or 1b (benchmarks)")->capture_default_str();
  cmd->add_option("--corpus", opts->o.corpus, "Text file(s) to train the sentencepiece tokenizer on (default: the shipped sample corpus)");
  cmd->add_option("--vocab-size", opts->o.vocab_size, "Target tokenizer vocabulary size")->capture_default_str();
  cmd->add_option("--seed", opts->o.seed, "Random seed")->capture_default_str();
  cmd->add_option("--dtype", opts->o.dtype, "Weight storage dtype: f32, f16 or bf16")->capture_default_str();
  cmd->add_option("--layers", opts->o.layers, "Number of blocks, overriding the preset's (e.g. 17 makes the 1b preset 1.04B parameters)");
  cmd->callback([opts, result] {
    if (opts->o.corpus.empty() && *SLICETUNE_SAMPLE_CORPUS) opts->o.corpus.push_back(SLICETUNE_SAMPLE_CORPUS);
    *result = exporter::InitModel(opts->out, opts->o);
    if (result->ok()) LogInfo("wrote " + opts->out + " (preset " + opts->o.preset + ")");
  });
}

}  // namespace st::cli
