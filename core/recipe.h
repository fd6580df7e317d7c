// Recipe: one YAML file per slice (see recipes/smoke-tiny.yaml for a commented example).
//
// Loading validates the whole file up front: an unknown key, a value of the wrong
// type, an out-of-range number or a missing input file is an InvalidInput error that
// names the recipe file, the key path and its line. `--set a.b=value` overrides are
// applied to the YAML tree before validation, so they get the same checks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace st {

struct SourceSpec {
  std::string path;
  std::string format = "text";  // text: .txt (blank-line separated documents) or .jsonl with a text field
                                // instruction: .jsonl with prompt and response fields (and an optional system)
                                // chat: .jsonl with a messages list ({role, content}) or sharegpt conversations
  std::string text_field = "text";
  std::string prompt_field = "prompt";
  std::string response_field = "response";
  std::string system_field = "system";
  std::string messages_field = "messages";
  std::string encoding = "auto";  // auto | utf-8 | gb18030 (gbk) | utf-16 | utf-16le | utf-16be
  bool follow_symlinks = false;   // read links that point out of a source directory (refused otherwise)
};

// data.clean: the cleaning stages, in pipeline order (data/clean/*.h say what each does).
// Absent: text is only decoded. A stage runs when its key is present (and not false).
struct CleanSpec {
  bool normalize = false;
  bool nfc = true, fullwidth_ascii = true, fullwidth_punct = false, ideographic_space = false, controls = true,
       whitespace = true, t2s = false;
  bool filter = false;
  int64_t min_chars = 1, max_chars = 0;
  double max_dup_line_ratio = 0, max_dup_ngram_ratio = 0, min_text_ratio = 0;
  bool deid = false;
  std::string deid_policy = "placeholder";
  std::vector<std::pair<std::string, std::string>> deid_types;  // TYPE -> policy
  std::string deid_allow, deid_key_file;
  bool dedup = false;
  bool dedup_exact = true, dedup_near = true;
  double near_threshold = 0.8;
  int64_t ngram = 5, num_perm = 128, bands = 16;
};

// data.augment: (erroneous, correct) pairs from the text sources' sentences for the
// correction slices (data/clean/augment.h); added after each source document.
struct AugmentSpec {
  bool on = false;
  std::vector<std::string> kinds = {"typo", "term", "duplicate", "abbreviation"};
  double ratio = 1.0, clean_ratio = 0.0;
  std::string glossary;
};

struct DataSpec {
  std::vector<SourceSpec> sources;
  int64_t seq_len = 256;
  bool pack = true;
  double val_fraction = 0.0;
  // none: prompt and response concatenated; auto: the model's chat template;
  // or a family (chatml, llama3, llama2, mistral) when the model has none.
  std::string template_name = "none";
  std::string chat_date;  // the date dated Llama 3.x templates write ("" = today, as transformers)
  std::string loss_on = "response";
  CleanSpec clean;
  AugmentSpec augment;  // response: prompt tokens masked from the loss; all
};

struct LoraSpec {
  std::string variant = "lora";
  int64_t rank = 8;
  double alpha = 16.0;
  double dropout = 0.0;
  std::vector<std::string> targets = {"q_proj", "k_proj", "v_proj", "o_proj"};
};

struct TrainSpec {
  // lora: the adapter of lora.* over the frozen base. full: every weight of the base is
  // trained and written as a Hugging Face checkpoint in <output_dir>/model (meant for
  // tiny models: it gives a random-initialized base its language before slices train).
  std::string mode = "lora";
  int64_t steps = 100;
  int64_t batch_size = 4;
  int64_t grad_accum = 1;
  double lr = 2e-4;
  double weight_decay = 0.0;
  std::string schedule = "cosine";  // constant | linear | cosine
  int64_t warmup = 0;
  std::string precision = "fp32";  // fp32 | bf16 (frozen base in bf16; LoRA and optimizer in fp32)
  bool activation_checkpointing = false;  // recompute each block in the backward pass
  std::string quantize_base = "none";  // none | nf4 (QLoRA: block linear weights in 4-bit NormalFloat)
  std::string device = "cpu";          // cpu | cuda
  std::vector<std::string> kernels_off;  // fused CUDA kernels to leave out: rmsnorm rope swiglu linear_ce lora nf4
  double max_grad_norm = 1.0;
  int64_t log_every = 10;
  int64_t save_every = 0;         // checkpoint every N steps (0: only at the end)
  int64_t eval_every = 0;         // validation loss every N steps (0: before the first step and at the end)
  int64_t keep_checkpoints = 2;   // the newest K are kept
  std::string on_nonfinite = "stop";  // stop | skip: a NaN / inf loss or gradient
};

// eval: task metrics by greedy generation on held-out pairs, at every evaluation
// of training (the baseline, every train.eval_every steps, the end).
struct EvalSpec {
  std::string data;  // JSONL of pairs; "" = no task metrics
  std::string input_field = "input", output_field = "output";
  std::string source_field;  // the text a correction slice corrects ("" = the input)
  std::string system;        // a system message before each prompt (chat templates)
  int64_t limit = 32;        // the first N pairs (0: all)
  int64_t max_new_tokens = 128;
  // text-to-SQL: SQL scripts (schema, then data) building the SQLite database the
  // predicted and the reference queries run against (execution accuracy).
  std::vector<std::string> sqlite;
};

struct ExportSpec {
  std::vector<std::string> types = {"f16"};  // f32 | f16 | bf16 | q8_0 | q5_1 | q5_0 | q4_1 | q4_0
  bool adapter_gguf = true;
};

struct Recipe {
  std::string file;        // where it was loaded from
  std::string name;
  std::string base_model;
  std::string output_dir;
  uint64_t seed = 17;
  DataSpec data;
  LoraSpec lora;
  TrainSpec train;
  EvalSpec eval;
  ExportSpec exp;
  std::string group;          // a slice: the name of the recipe whose `slices:` list holds it
  std::string resolved_yaml;  // the recipe after overrides, as saved into the run directory
  std::string hash;           // sha256 of resolved_yaml
  std::string data_hash;      // sha256 of what decides the shards: the data section and the seed
};

// Loads and validates a recipe. `overrides` are "key.path=value" strings.
// A recipe with `slices:` (a list of {name, seed, data, lora, train, export}) is
// N recipes on one base model: each entry is merged over the rest of the file
// (mappings key by key, lists and values replaced), named by its `name`, writes
// under <output_dir>/<name>, and overrides apply to every slice. LoadRecipes
// returns them all (or the one named `only`); a plain recipe is a list of one.
StatusOr<std::vector<Recipe>> LoadRecipes(const std::string& path, const std::vector<std::string>& overrides = {},
                                          const std::string& only = "");
StatusOr<std::vector<Recipe>> ParseRecipes(const std::string& text, const std::string& where,
                                           const std::vector<std::string>& overrides, bool check_files,
                                           const std::string& only);
// One recipe; a recipe with several slices is an error naming --slice.
StatusOr<Recipe> LoadRecipe(const std::string& path, const std::vector<std::string>& overrides = {});
// Same, from text (tests); `where` names the source in errors.
StatusOr<Recipe> ParseRecipe(const std::string& text, const std::string& where,
                             const std::vector<std::string>& overrides = {}, bool check_files = true);

// True when the recipe's adapter exists and its train_log.json was written for
// this exact resolved recipe (the train stage has nothing to do).
bool AdapterCurrent(const Recipe& r);
// What the train stage depends on, as one SHA-256: the resolved recipe, the
// shards' manifest and the base model's files (ModelDirStamp). train_log.json
// records it; AdapterCurrent compares it.
StatusOr<std::string> TrainInputsSha256(const Recipe& r);

// Run directory layout (DESIGN.md "Run directory").
std::string ShardsDir(const Recipe& r);
std::string AdapterDir(const Recipe& r);
// train.mode full: the trained checkpoint (<output_dir>/model).
std::string FullModelDir(const Recipe& r);
// What training leaves: AdapterDir, or FullModelDir in train.mode full.
std::string TrainedDir(const Recipe& r);
std::string ExportDir(const Recipe& r);

}  // namespace st
