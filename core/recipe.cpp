#include "core/recipe.h"

#include <algorithm>
#include <cctype>

#include <glob.h>
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <functional>
#include <set>

#include "core/base_fingerprint.h"
#include "core/file_io.h"
#include "core/hash.h"

namespace st {
namespace {

// Walks a YAML mapping with a fixed set of keys; every error names file, key path and line.
class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  Status Error(const YAML::Node& n, const std::string& key, const std::string& msg) const {
    std::string line = n.Mark().line >= 0 ? ":" + std::to_string(n.Mark().line + 1) : "";
    return InvalidInput(file_ + line + ": " + key + ": " + msg);
  }

  Status CheckKeys(const YAML::Node& map, const std::string& prefix, const std::set<std::string>& allowed) const {
    if (!map.IsMap()) return Error(map, prefix.empty() ? "(top level)" : prefix, "expected a mapping of keys");
    for (auto it = map.begin(); it != map.end(); ++it) {
      if (!it->first.IsScalar())  // YAML's complex keys ("? [a, b]"): never a recipe key
        return Error(it->first, prefix.empty() ? "(top level)" : prefix, "expected plain key names, found a list or mapping as a key");
      std::string k = it->first.as<std::string>();
      if (!allowed.count(k)) {
        std::string list;
        for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
        return Error(it->first, Join(prefix, k), "unknown key (allowed here: " + list + ")");
      }
    }
    return Status::Ok();
  }

  static std::string Join(const std::string& p, const std::string& k) { return p.empty() ? k : p + "." + k; }

  template <typename T>
  Status Get(const YAML::Node& map, const std::string& prefix, const std::string& key, T* out, const char* expect,
             bool required = false) const {
    YAML::Node n = map[key];
    if (!n) {
      if (required) return Error(map, Join(prefix, key), std::string("missing required key (") + expect + ")");
      return Status::Ok();
    }
    if (!n.IsScalar()) return Error(n, Join(prefix, key), std::string("expected ") + expect);
    try {
      *out = n.as<T>();
    } catch (const YAML::Exception&) {
      return Error(n, Join(prefix, key), std::string("expected ") + expect + ", found '" + n.Scalar() + "'");
    }
    return Status::Ok();
  }

  Status GetList(const YAML::Node& map, const std::string& prefix, const std::string& key,
                 std::vector<std::string>* out) const {
    YAML::Node n = map[key];
    if (!n) return Status::Ok();
    if (!n.IsSequence()) return Error(n, Join(prefix, key), "expected a list of strings, e.g. [a, b]");
    out->clear();
    for (const auto& e : n) {
      if (!e.IsScalar()) return Error(e, Join(prefix, key), "expected a list of strings");
      out->push_back(e.Scalar());
    }
    return Status::Ok();
  }

  Status OneOf(const YAML::Node& map, const std::string& key_path, const std::string& v,
               const std::set<std::string>& allowed) const {
    if (allowed.count(v)) return Status::Ok();
    std::string list;
    for (const auto& a : allowed) list += (list.empty() ? "" : " | ") + a;
    return Error(map, key_path, "expected one of " + list + ", found '" + v + "'");
  }

  template <typename T>
  Status Range(const YAML::Node& map, const std::string& key_path, T v, T lo, T hi) const {
    if (v >= lo && v <= hi) return Status::Ok();
    return Error(map, key_path, "value " + std::to_string(v) + " out of range [" + std::to_string(lo) + ", " +
                                    std::to_string(hi) + "]");
  }

 private:
  std::string file_;
};

bool PathOrGlobExists(const std::string& path) {
  if (path.find_first_of("*?[") == std::string::npos) return PathExists(path);
  glob_t g{};
  const bool any = glob(path.c_str(), 0, nullptr, &g) == 0 && g.gl_pathc > 0;
  globfree(&g);
  return any;
}

// A stage given as `true` / `false` or as a mapping of its options.
StatusOr<bool> StageOn(const Reader& rd, const YAML::Node& n, const std::string& key) {
  if (n.IsMap()) return true;
  if (n.IsScalar()) {
    try {
      return n.as<bool>();
    } catch (const YAML::Exception&) {
    }
  }
  return rd.Error(n, key, "expected true, false or a mapping of options");
}

Status ParseClean(const Reader& rd, const YAML::Node& c, CleanSpec* s) {
  ST_RETURN_IF_ERROR(rd.CheckKeys(c, "data.clean", {"normalize", "filters", "deid", "dedup"}));
  if (YAML::Node n = c["normalize"]) {
    ST_ASSIGN_OR_RETURN(s->normalize, StageOn(rd, n, "data.clean.normalize"));
    if (n.IsMap()) {
      const std::string k = "data.clean.normalize";
      ST_RETURN_IF_ERROR(rd.CheckKeys(n, k, {"nfc", "fullwidth_ascii", "fullwidth_punct", "ideographic_space", "controls", "whitespace", "t2s"}));
      ST_RETURN_IF_ERROR(rd.Get(n, k, "nfc", &s->nfc, "true or false"));
      ST_RETURN_IF_ERROR(rd.Get(n, k, "fullwidth_ascii", &s->fullwidth_ascii, "true or false"));
      ST_RETURN_IF_ERROR(rd.Get(n, k, "fullwidth_punct", &s->fullwidth_punct, "true or false"));
      ST_RETURN_IF_ERROR(rd.Get(n, k, "ideographic_space", &s->ideographic_space, "true or false"));
      ST_RETURN_IF_ERROR(rd.Get(n, k, "controls", &s->controls, "true or false"));
      ST_RETURN_IF_ERROR(rd.Get(n, k, "whitespace", &s->whitespace, "true or false"));
      ST_RETURN_IF_ERROR(rd.Get(n, k, "t2s", &s->t2s, "true or false"));
    }
  }
  if (YAML::Node n = c["filters"]) {
    ST_ASSIGN_OR_RETURN(s->filter, StageOn(rd, n, "data.clean.filters"));
    if (n.IsMap()) {
      const std::string k = "data.clean.filters";
      ST_RETURN_IF_ERROR(rd.CheckKeys(n, k, {"min_chars", "max_chars", "max_dup_line_ratio", "max_dup_ngram_ratio", "min_text_ratio"}));
      ST_RETURN_IF_ERROR(rd.Get(n, k, "min_chars", &s->min_chars, "an integer"));
      ST_RETURN_IF_ERROR(rd.Get(n, k, "max_chars", &s->max_chars, "an integer (0: no limit)"));
      ST_RETURN_IF_ERROR(rd.Get(n, k, "max_dup_line_ratio", &s->max_dup_line_ratio, "a number in [0, 1]"));
      ST_RETURN_IF_ERROR(rd.Get(n, k, "max_dup_ngram_ratio", &s->max_dup_ngram_ratio, "a number in [0, 1]"));
      ST_RETURN_IF_ERROR(rd.Get(n, k, "min_text_ratio", &s->min_text_ratio, "a number in [0, 1]"));
      ST_RETURN_IF_ERROR(rd.Range<double>(n, k + ".max_dup_line_ratio", s->max_dup_line_ratio, 0, 1));
      ST_RETURN_IF_ERROR(rd.Range<double>(n, k + ".max_dup_ngram_ratio", s->max_dup_ngram_ratio, 0, 1));
      ST_RETURN_IF_ERROR(rd.Range<double>(n, k + ".min_text_ratio", s->min_text_ratio, 0, 1));
    }
  }
  if (YAML::Node n = c["deid"]) {
    ST_ASSIGN_OR_RETURN(s->deid, StageOn(rd, n, "data.clean.deid"));
    if (n.IsMap()) {
      const std::string k = "data.clean.deid";
      ST_RETURN_IF_ERROR(rd.CheckKeys(n, k, {"policy", "types", "allow", "key_file"}));
      ST_RETURN_IF_ERROR(rd.Get(n, k, "policy", &s->deid_policy, "keep | placeholder | pseudonym"));
      ST_RETURN_IF_ERROR(rd.OneOf(n, k + ".policy", s->deid_policy, {"keep", "placeholder", "pseudonym"}));
      ST_RETURN_IF_ERROR(rd.Get(n, k, "allow", &s->deid_allow, "a file of values never touched"));
      ST_RETURN_IF_ERROR(rd.Get(n, k, "key_file", &s->deid_key_file, "a file holding the pseudonym key"));
      if (YAML::Node t = n["types"]) {
        if (!t.IsMap()) return rd.Error(t, k + ".types", "expected a mapping TYPE: policy, e.g. {EMAIL: keep}");
        for (auto it = t.begin(); it != t.end(); ++it) {
          const std::string pol = it->second.IsScalar() ? it->second.Scalar() : "";
          ST_RETURN_IF_ERROR(rd.OneOf(it->second, k + ".types." + it->first.Scalar(), pol, {"keep", "placeholder", "pseudonym"}));
          s->deid_types.emplace_back(it->first.Scalar(), pol);
        }
      }
    }
  }
  if (YAML::Node n = c["dedup"]) {
    ST_ASSIGN_OR_RETURN(s->dedup, StageOn(rd, n, "data.clean.dedup"));
    if (n.IsMap()) {
      const std::string k = "data.clean.dedup";
      ST_RETURN_IF_ERROR(rd.CheckKeys(n, k, {"exact", "near", "near_threshold", "ngram", "num_perm", "bands"}));
      ST_RETURN_IF_ERROR(rd.Get(n, k, "exact", &s->dedup_exact, "true or false"));
      ST_RETURN_IF_ERROR(rd.Get(n, k, "near", &s->dedup_near, "true or false"));
      ST_RETURN_IF_ERROR(rd.Get(n, k, "near_threshold", &s->near_threshold, "a number in (0, 1]"));
      ST_RETURN_IF_ERROR(rd.Range<double>(n, k + ".near_threshold", s->near_threshold, 0.01, 1.0));
      ST_RETURN_IF_ERROR(rd.Get(n, k, "ngram", &s->ngram, "an integer"));
      ST_RETURN_IF_ERROR(rd.Range<int64_t>(n, k + ".ngram", s->ngram, 1, 64));
      ST_RETURN_IF_ERROR(rd.Get(n, k, "num_perm", &s->num_perm, "an integer"));
      ST_RETURN_IF_ERROR(rd.Range<int64_t>(n, k + ".num_perm", s->num_perm, 1, 4096));
      ST_RETURN_IF_ERROR(rd.Get(n, k, "bands", &s->bands, "an integer dividing num_perm"));
      if (s->bands < 1 || s->num_perm % s->bands != 0)
        return rd.Error(n, k + ".bands", "expected a divisor of num_perm (" + std::to_string(s->num_perm) + ")");
    }
  }
  return Status::Ok();
}

Status ApplyOverride(YAML::Node root, const std::string& ov, const std::string& where) {
  auto eq = ov.find('=');
  if (eq == std::string::npos || eq == 0)
    return InvalidInput("--set " + ov + ": expected key.path=value (e.g. --set train.steps=20)");
  std::string path = ov.substr(0, eq), value = ov.substr(eq + 1);
  std::vector<std::string> parts;
  size_t s = 0;
  while (true) {
    size_t d = path.find('.', s);
    parts.push_back(path.substr(s, d == std::string::npos ? std::string::npos : d - s));
    if (d == std::string::npos) break;
    s = d + 1;
  }
  YAML::Node parsed;
  try {
    parsed = YAML::Load(value);
  } catch (const YAML::Exception& e) {
    return InvalidInput("--set " + ov + ": value is not valid YAML (" + e.what() + ")");
  }
  // Walk with fresh handles (yaml-cpp nodes are references; reassigning would alias).
  std::vector<YAML::Node> chain{root};
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    YAML::Node next = chain.back()[parts[i]];
    if (next && !next.IsMap())
      return InvalidInput("--set " + ov + ": '" + parts[i] + "' in " + where + " is not a mapping");
    chain.push_back(next);
  }
  chain.back()[parts.back()] = parsed;
  return Status::Ok();
}

}  // namespace

// Validates one recipe tree (without `slices`).
StatusOr<Recipe> ParseTree(YAML::Node root, const std::string& where, bool check_files) {
  Reader rd(where);
  Recipe r;
  r.file = where;
  ST_RETURN_IF_ERROR(rd.CheckKeys(root, "", {"name", "base_model", "output_dir", "seed", "data", "lora", "train", "eval", "export"}));
  ST_RETURN_IF_ERROR(rd.Get(root, "", "name", &r.name, "a string", true));
  ST_RETURN_IF_ERROR(rd.Get(root, "", "base_model", &r.base_model, "a model directory", true));
  ST_RETURN_IF_ERROR(rd.Get(root, "", "output_dir", &r.output_dir, "a directory", true));
  ST_RETURN_IF_ERROR(rd.Get(root, "", "seed", &r.seed, "a non-negative integer"));

  YAML::Node data = root["data"];
  if (!data) return rd.Error(root, "data", "missing required section (sources, seq_len, ...)");
  ST_RETURN_IF_ERROR(rd.CheckKeys(data, "data", {"sources", "seq_len", "pack", "val_fraction", "template", "loss_on", "chat_date", "clean", "augment"}));
  YAML::Node sources = data["sources"];
  if (!sources || !sources.IsSequence() || sources.size() == 0)
    return rd.Error(sources ? sources : data, "data.sources", "expected a non-empty list of {path, format}");
  for (size_t i = 0; i < sources.size(); ++i) {
    const YAML::Node& s = sources[i];
    std::string p = "data.sources[" + std::to_string(i) + "]";
    ST_RETURN_IF_ERROR(rd.CheckKeys(s, p, {"path", "format", "fields", "encoding", "follow_symlinks"}));
    SourceSpec src;
    ST_RETURN_IF_ERROR(rd.Get(s, p, "follow_symlinks", &src.follow_symlinks, "true or false"));
    ST_RETURN_IF_ERROR(rd.Get(s, p, "encoding", &src.encoding, "auto | utf-8 | gb18030 | gbk | utf-16 | utf-16le | utf-16be"));
    ST_RETURN_IF_ERROR(rd.OneOf(s, p + ".encoding", src.encoding,
                                {"auto", "utf-8", "utf8", "gb18030", "gbk", "gb2312", "utf-16", "utf-16le", "utf-16be"}));
    ST_RETURN_IF_ERROR(rd.Get(s, p, "path", &src.path, "a file path", true));
    ST_RETURN_IF_ERROR(rd.Get(s, p, "format", &src.format, "text | instruction | chat"));
    ST_RETURN_IF_ERROR(rd.OneOf(s, p + ".format", src.format, {"text", "instruction", "chat"}));
    if (YAML::Node f = s["fields"]) {
      ST_RETURN_IF_ERROR(rd.CheckKeys(f, p + ".fields", {"text", "prompt", "response", "system", "messages"}));
      ST_RETURN_IF_ERROR(rd.Get(f, p + ".fields", "system", &src.system_field, "a JSON field name"));
      ST_RETURN_IF_ERROR(rd.Get(f, p + ".fields", "messages", &src.messages_field, "a JSON field name"));
      ST_RETURN_IF_ERROR(rd.Get(f, p + ".fields", "text", &src.text_field, "a JSON field name"));
      ST_RETURN_IF_ERROR(rd.Get(f, p + ".fields", "prompt", &src.prompt_field, "a JSON field name"));
      ST_RETURN_IF_ERROR(rd.Get(f, p + ".fields", "response", &src.response_field, "a JSON field name"));
    }
    if (check_files && !PathOrGlobExists(src.path))
      return rd.Error(s["path"], p + ".path", "'" + src.path + "' not found: expected a file, a directory or a glob that "
                      "matches files (paths are relative to the working directory)");
    r.data.sources.push_back(src);
  }
  ST_RETURN_IF_ERROR(rd.Get(data, "data", "seq_len", &r.data.seq_len, "an integer"));
  ST_RETURN_IF_ERROR(rd.Range<int64_t>(data, "data.seq_len", r.data.seq_len, 8, 1 << 20));
  ST_RETURN_IF_ERROR(rd.Get(data, "data", "pack", &r.data.pack, "true or false"));
  ST_RETURN_IF_ERROR(rd.Get(data, "data", "val_fraction", &r.data.val_fraction, "a number in [0, 0.5]"));
  ST_RETURN_IF_ERROR(rd.Range<double>(data, "data.val_fraction", r.data.val_fraction, 0.0, 0.5));
  ST_RETURN_IF_ERROR(rd.Get(data, "data", "template", &r.data.template_name, "none | auto | chatml | llama3 | llama2 | mistral"));
  ST_RETURN_IF_ERROR(rd.OneOf(data, "data.template", r.data.template_name, {"none", "auto", "chatml", "llama3", "llama2", "mistral"}));
  ST_RETURN_IF_ERROR(rd.Get(data, "data", "loss_on", &r.data.loss_on, "response | all"));
  ST_RETURN_IF_ERROR(rd.Get(data, "data", "chat_date", &r.data.chat_date, "a date as the template writes it (26 Jul 2024)"));
  if (YAML::Node c = data["clean"]) ST_RETURN_IF_ERROR(ParseClean(rd, c, &r.data.clean));
  if (YAML::Node a = data["augment"]) {
    ST_ASSIGN_OR_RETURN(r.data.augment.on, StageOn(rd, a, "data.augment"));
    if (a.IsMap()) {
      const std::string k = "data.augment";
      ST_RETURN_IF_ERROR(rd.CheckKeys(a, k, {"kinds", "ratio", "clean_ratio", "glossary"}));
      ST_RETURN_IF_ERROR(rd.GetList(a, k, "kinds", &r.data.augment.kinds));
      for (const auto& kind : r.data.augment.kinds)
        ST_RETURN_IF_ERROR(rd.OneOf(a["kinds"], k + ".kinds", kind, {"typo", "term", "duplicate", "abbreviation"}));
      ST_RETURN_IF_ERROR(rd.Get(a, k, "ratio", &r.data.augment.ratio, "pairs per sentence per kind, a number"));
      ST_RETURN_IF_ERROR(rd.Range<double>(a, k + ".ratio", r.data.augment.ratio, 0, 100));
      ST_RETURN_IF_ERROR(rd.Get(a, k, "clean_ratio", &r.data.augment.clean_ratio, "unchanged pairs per sentence, a number"));
      ST_RETURN_IF_ERROR(rd.Range<double>(a, k + ".clean_ratio", r.data.augment.clean_ratio, 0, 100));
      ST_RETURN_IF_ERROR(rd.Get(a, k, "glossary", &r.data.augment.glossary, "a TSV file: term<TAB>abbreviation"));
      if (check_files && !r.data.augment.glossary.empty() && !PathExists(r.data.augment.glossary))
        return rd.Error(a["glossary"], k + ".glossary", "file '" + r.data.augment.glossary + "' not found");
    }
  }
  ST_RETURN_IF_ERROR(rd.OneOf(data, "data.loss_on", r.data.loss_on, {"response", "all"}));
  for (size_t i = 0; i < r.data.sources.size(); ++i)
    if (r.data.sources[i].format == "chat" && r.data.template_name == "none")
      return rd.Error(data, "data.template", "data.sources[" + std::to_string(i) +
                      "] is a chat source: set data.template to auto (the model's chat template) or a family "
                      "(chatml, llama3, llama2, mistral)");

  if (YAML::Node l = root["lora"]) {
    ST_RETURN_IF_ERROR(rd.CheckKeys(l, "lora", {"variant", "rank", "alpha", "dropout", "targets"}));
    ST_RETURN_IF_ERROR(rd.Get(l, "lora", "variant", &r.lora.variant, "lora"));
    ST_RETURN_IF_ERROR(rd.OneOf(l, "lora.variant", r.lora.variant, {"lora", "rslora", "dora"}));
    ST_RETURN_IF_ERROR(rd.Get(l, "lora", "rank", &r.lora.rank, "an integer"));
    ST_RETURN_IF_ERROR(rd.Range<int64_t>(l, "lora.rank", r.lora.rank, 1, 4096));
    ST_RETURN_IF_ERROR(rd.Get(l, "lora", "alpha", &r.lora.alpha, "a number"));
    ST_RETURN_IF_ERROR(rd.Get(l, "lora", "dropout", &r.lora.dropout, "a number in [0, 1)"));
    ST_RETURN_IF_ERROR(rd.Range<double>(l, "lora.dropout", r.lora.dropout, 0.0, 0.99));
    ST_RETURN_IF_ERROR(rd.GetList(l, "lora", "targets", &r.lora.targets));
    static const std::set<std::string> kTargets = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
    if (r.lora.targets.empty()) return rd.Error(l, "lora.targets", "expected at least one target module");
    for (const auto& t : r.lora.targets) ST_RETURN_IF_ERROR(rd.OneOf(l["targets"], "lora.targets", t, kTargets));
  }

  if (YAML::Node t = root["train"]) {
    ST_RETURN_IF_ERROR(rd.CheckKeys(t, "train", {"mode", "steps", "batch_size", "grad_accum", "lr", "weight_decay", "schedule",
                                                 "warmup", "precision", "activation_checkpointing", "quantize_base", "device", "kernels_off", "max_grad_norm", "log_every", "save_every", "eval_every",
                                                 "keep_checkpoints", "on_nonfinite"}));
    ST_RETURN_IF_ERROR(rd.Get(t, "train", "mode", &r.train.mode, "lora | full"));
    ST_RETURN_IF_ERROR(rd.OneOf(t, "train.mode", r.train.mode, {"lora", "full"}));
    ST_RETURN_IF_ERROR(rd.Get(t, "train", "steps", &r.train.steps, "an integer"));
    ST_RETURN_IF_ERROR(rd.Range<int64_t>(t, "train.steps", r.train.steps, 1, 100000000));
    ST_RETURN_IF_ERROR(rd.Get(t, "train", "batch_size", &r.train.batch_size, "an integer"));
    ST_RETURN_IF_ERROR(rd.Range<int64_t>(t, "train.batch_size", r.train.batch_size, 1, 65536));
    ST_RETURN_IF_ERROR(rd.Get(t, "train", "grad_accum", &r.train.grad_accum, "an integer"));
    ST_RETURN_IF_ERROR(rd.Range<int64_t>(t, "train.grad_accum", r.train.grad_accum, 1, 65536));
    ST_RETURN_IF_ERROR(rd.Get(t, "train", "lr", &r.train.lr, "a number"));
    ST_RETURN_IF_ERROR(rd.Range<double>(t, "train.lr", r.train.lr, 0.0, 10.0));
    ST_RETURN_IF_ERROR(rd.Get(t, "train", "weight_decay", &r.train.weight_decay, "a number"));
    ST_RETURN_IF_ERROR(rd.Get(t, "train", "schedule", &r.train.schedule, "constant | linear | cosine"));
    ST_RETURN_IF_ERROR(rd.OneOf(t, "train.schedule", r.train.schedule, {"constant", "linear", "cosine"}));
    ST_RETURN_IF_ERROR(rd.Get(t, "train", "warmup", &r.train.warmup, "an integer"));
    ST_RETURN_IF_ERROR(rd.Range<int64_t>(t, "train.warmup", r.train.warmup, 0, r.train.steps));
    ST_RETURN_IF_ERROR(rd.Get(t, "train", "precision", &r.train.precision, "fp32 | bf16"));
    ST_RETURN_IF_ERROR(rd.OneOf(t, "train.precision", r.train.precision, {"fp32", "bf16"}));
    ST_RETURN_IF_ERROR(rd.Get(t, "train", "activation_checkpointing", &r.train.activation_checkpointing, "true or false"));
    ST_RETURN_IF_ERROR(rd.Get(t, "train", "quantize_base", &r.train.quantize_base, "none | nf4"));
    ST_RETURN_IF_ERROR(rd.OneOf(t, "train.quantize_base", r.train.quantize_base, {"none", "nf4"}));
    ST_RETURN_IF_ERROR(rd.Get(t, "train", "device", &r.train.device, "cpu | cuda"));
    ST_RETURN_IF_ERROR(rd.OneOf(t, "train.device", r.train.device, {"cpu", "cuda"}));
    ST_RETURN_IF_ERROR(rd.GetList(t, "train", "kernels_off", &r.train.kernels_off));
    for (const auto& k : r.train.kernels_off)
      ST_RETURN_IF_ERROR(rd.OneOf(t["kernels_off"], "train.kernels_off", k,
                                  {"rmsnorm", "rope", "swiglu", "linear_ce", "lora", "nf4", "attention", "packed_gemm"}));
    if (r.train.quantize_base == "nf4" && r.lora.variant == "dora")
      return rd.Error(t, "train.quantize_base", "nf4 does not combine with lora.variant dora (DoRA needs the dense "
                                                "weight's row norms); use lora.variant lora or rslora");
    if (r.train.mode == "full" && (r.train.precision != "fp32" || r.train.quantize_base != "none"))
      return rd.Error(t, "train.mode", "full training needs train.precision fp32 and train.quantize_base none (every "
                                       "weight is trained and kept in float32)");
    ST_RETURN_IF_ERROR(rd.Get(t, "train", "max_grad_norm", &r.train.max_grad_norm, "a number (0 disables clipping)"));
    ST_RETURN_IF_ERROR(rd.Get(t, "train", "log_every", &r.train.log_every, "an integer"));
    ST_RETURN_IF_ERROR(rd.Range<int64_t>(t, "train.log_every", r.train.log_every, 1, 1000000));
    ST_RETURN_IF_ERROR(rd.Get(t, "train", "save_every", &r.train.save_every, "an integer (0: only at the end)"));
    ST_RETURN_IF_ERROR(rd.Range<int64_t>(t, "train.save_every", r.train.save_every, 0, 100000000));
    ST_RETURN_IF_ERROR(rd.Get(t, "train", "eval_every", &r.train.eval_every, "an integer (0: baseline and end only)"));
    ST_RETURN_IF_ERROR(rd.Range<int64_t>(t, "train.eval_every", r.train.eval_every, 0, 100000000));
    ST_RETURN_IF_ERROR(rd.Get(t, "train", "keep_checkpoints", &r.train.keep_checkpoints, "an integer"));
    ST_RETURN_IF_ERROR(rd.Range<int64_t>(t, "train.keep_checkpoints", r.train.keep_checkpoints, 1, 1000));
    ST_RETURN_IF_ERROR(rd.Get(t, "train", "on_nonfinite", &r.train.on_nonfinite, "stop | skip"));
    ST_RETURN_IF_ERROR(rd.OneOf(t, "train.on_nonfinite", r.train.on_nonfinite, {"stop", "skip"}));
  }

  if (YAML::Node e = root["eval"]) {
    const std::string k = "eval";
    ST_RETURN_IF_ERROR(rd.CheckKeys(e, k, {"data", "input_field", "output_field", "source_field", "system", "limit", "max_new_tokens", "sqlite"}));
    ST_RETURN_IF_ERROR(rd.Get(e, k, "data", &r.eval.data, "a JSONL file of held-out pairs", true));
    ST_RETURN_IF_ERROR(rd.Get(e, k, "input_field", &r.eval.input_field, "a JSON field name"));
    ST_RETURN_IF_ERROR(rd.Get(e, k, "output_field", &r.eval.output_field, "a JSON field name"));
    ST_RETURN_IF_ERROR(rd.Get(e, k, "source_field", &r.eval.source_field, "a JSON field name"));
    ST_RETURN_IF_ERROR(rd.Get(e, k, "system", &r.eval.system, "a system message"));
    ST_RETURN_IF_ERROR(rd.Get(e, k, "limit", &r.eval.limit, "an integer (0: all pairs)"));
    ST_RETURN_IF_ERROR(rd.Range<int64_t>(e, k + ".limit", r.eval.limit, 0, 100000000));
    ST_RETURN_IF_ERROR(rd.Get(e, k, "max_new_tokens", &r.eval.max_new_tokens, "an integer"));
    ST_RETURN_IF_ERROR(rd.Range<int64_t>(e, k + ".max_new_tokens", r.eval.max_new_tokens, 1, 1000000));
    if (check_files && !PathExists(r.eval.data))
      return rd.Error(e["data"], k + ".data", "file '" + r.eval.data + "' not found");
    ST_RETURN_IF_ERROR(rd.GetList(e, k, "sqlite", &r.eval.sqlite));
    for (const auto& f : r.eval.sqlite)
      if (check_files && !PathExists(f)) return rd.Error(e["sqlite"], k + ".sqlite", "SQL script '" + f + "' not found");
  }

  if (YAML::Node e = root["export"]) {
    ST_RETURN_IF_ERROR(rd.CheckKeys(e, "export", {"types", "adapter_gguf"}));
    ST_RETURN_IF_ERROR(rd.GetList(e, "export", "types", &r.exp.types));
    // llama-quantize's file type names, in any case (export/quant/mixture.h).
    for (auto& t : r.exp.types) {
      std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return (char)std::tolower(c); });
      ST_RETURN_IF_ERROR(rd.OneOf(e["types"], "export.types", t,
                                  {"f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q2_k", "q2_k_s",
                                   "q3_k_s", "q3_k_m", "q3_k_l", "q3_k", "q4_k_s", "q4_k_m", "q4_k", "q5_k_s", "q5_k_m",
                                   "q5_k", "q6_k"}));
    }
    ST_RETURN_IF_ERROR(rd.Get(e, "export", "adapter_gguf", &r.exp.adapter_gguf, "true or false"));
  }

  YAML::Emitter em;
  em << root;
  r.resolved_yaml = std::string(em.c_str()) + "\n";
  // The hash says what is trained, not where it is written: a run copied to
  // another disk (output_dir changed) still resumes and still counts as current.
  YAML::Node what = YAML::Clone(root);
  what.remove("output_dir");
  YAML::Emitter he;
  he << what;
  r.hash = Sha256Hex(std::string(he.c_str()) + "\n");
  YAML::Emitter de;
  de << root["data"];
  r.data_hash = Sha256Hex(std::string(de.c_str()) + "\nseed: " + std::to_string(r.seed) + "\nbase_model: " + r.base_model);
  return r;
}

namespace {

// `over` merged into a copy of `base`: mappings key by key, anything else replaced.
YAML::Node MergeOver(const YAML::Node& base, const YAML::Node& over) {
  if (!base || !base.IsMap() || !over.IsMap()) return YAML::Clone(over);
  YAML::Node out = YAML::Clone(base);
  for (auto it = over.begin(); it != over.end(); ++it) {
    const std::string k = it->first.Scalar();
    out[k] = MergeOver(base[k], it->second);
  }
  return out;
}

bool ValidSliceName(const std::string& n) {
  if (n.empty() || n == "." || n == "..") return false;
  for (unsigned char c : n)
    if (!std::isalnum(c) && c != '-' && c != '_' && c != '.') return false;
  return true;
}

}  // namespace

namespace {
StatusOr<std::vector<Recipe>> ParseRecipesUnguarded(const std::string& text, const std::string& where,
                                                    const std::vector<std::string>& overrides, bool check_files,
                                                    const std::string& only);
}  // namespace

StatusOr<std::vector<Recipe>> ParseRecipes(const std::string& text, const std::string& where,
                                           const std::vector<std::string>& overrides, bool check_files,
                                           const std::string& only) {
  // Every value is read through checked conversions; a YAML exception escaping them
  // is still a bad recipe, never a crash (fuzz/fuzz_recipe.cpp).
  try {
    return ParseRecipesUnguarded(text, where, overrides, check_files, only);
  } catch (const YAML::Exception& e) {
    return InvalidInput(where + ":" + std::to_string(e.mark.line + 1) + ": unexpected YAML structure: " + e.msg);
  }
}

namespace {
StatusOr<std::vector<Recipe>> ParseRecipesUnguarded(const std::string& text, const std::string& where,
                                                    const std::vector<std::string>& overrides, bool check_files,
                                                    const std::string& only) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    return InvalidInput(where + ":" + std::to_string(e.mark.line + 1) + ": not valid YAML: " + e.msg);
  }
  if (!root || root.IsNull()) return InvalidInput(where + ": empty recipe");
  Reader rd(where);
  YAML::Node slices = root.IsMap() ? root["slices"] : YAML::Node();
  if (!slices) {
    if (!only.empty()) return InvalidInput(where + ": --slice " + only + ": this recipe has no `slices:` list");
    for (const auto& ov : overrides) ST_RETURN_IF_ERROR(ApplyOverride(root, ov, where));
    ST_ASSIGN_OR_RETURN(Recipe r, ParseTree(root, where, check_files));
    return std::vector<Recipe>{std::move(r)};
  }
  if (!slices.IsSequence() || slices.size() == 0)
    return rd.Error(slices, "slices", "expected a non-empty list of {name, data, lora, train, export} overrides");
  YAML::Node shared = YAML::Clone(root);
  shared.remove("slices");
  std::string group, out_dir;
  ST_RETURN_IF_ERROR(rd.Get(shared, "", "name", &group, "a string", true));
  ST_RETURN_IF_ERROR(rd.Get(shared, "", "output_dir", &out_dir, "a directory", true));
  std::vector<Recipe> all;
  std::set<std::string> names;
  for (size_t i = 0; i < slices.size(); ++i) {
    const YAML::Node s = slices[i];
    const std::string p = "slices[" + std::to_string(i) + "]";
    ST_RETURN_IF_ERROR(rd.CheckKeys(s, p, {"name", "seed", "data", "lora", "train", "eval", "export"}));
    std::string name;
    ST_RETURN_IF_ERROR(rd.Get(s, p, "name", &name, "a slice name", true));
    if (!ValidSliceName(name))
      return rd.Error(s["name"], p + ".name", "'" + name + "': expected letters, digits, '-', '_' or '.' (it names the "
                      "slice's folder under output_dir)");
    if (!names.insert(name).second) return rd.Error(s["name"], p + ".name", "slice '" + name + "' is named twice");
    if (!only.empty() && name != only) continue;
    YAML::Node tree = MergeOver(shared, s);
    // Overrides win over the slice's own values; name and output_dir (after
    // overrides) are the group's, and the slice's folder goes under it.
    tree["name"] = group;
    for (const auto& ov : overrides) ST_RETURN_IF_ERROR(ApplyOverride(tree, ov, where));
    std::string group_name = group, group_dir = out_dir;
    ST_RETURN_IF_ERROR(rd.Get(tree, "", "name", &group_name, "a string", true));
    ST_RETURN_IF_ERROR(rd.Get(tree, "", "output_dir", &group_dir, "a directory", true));
    tree["name"] = name;
    tree["output_dir"] = (std::filesystem::path(group_dir) / name).string();
    ST_ASSIGN_OR_RETURN(Recipe r, ParseTree(tree, where + " (" + p + " '" + name + "')", check_files));
    r.group = group_name;
    r.file = where;
    all.push_back(std::move(r));
  }
  if (all.empty()) {
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
    return InvalidInput(where + ": --slice " + only + ": no such slice (the recipe has " + list + ")");
  }
  return all;
}
}  // namespace

StatusOr<Recipe> ParseRecipe(const std::string& text, const std::string& where,
                             const std::vector<std::string>& overrides, bool check_files) {
  ST_ASSIGN_OR_RETURN(std::vector<Recipe> all, ParseRecipes(text, where, overrides, check_files, ""));
  if (all.size() != 1)
    return InvalidInput(where + ": the recipe has " + std::to_string(all.size()) + " slices; name one with --slice");
  return std::move(all[0]);
}

StatusOr<std::vector<Recipe>> LoadRecipes(const std::string& path, const std::vector<std::string>& overrides,
                                          const std::string& only) {
  ST_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  return ParseRecipes(text, path, overrides, true, only);
}

StatusOr<Recipe> LoadRecipe(const std::string& path, const std::vector<std::string>& overrides) {
  ST_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  return ParseRecipe(text, path, overrides, true);
}

bool AdapterCurrent(const Recipe& r) {
  auto text = ReadFile((std::filesystem::path(r.output_dir) / "train_log.json").string());
  const std::string weights = r.train.mode == "full" ? "model.safetensors" : "adapter_model.safetensors";
  if (!text.ok() || !PathExists((std::filesystem::path(TrainedDir(r)) / weights).string())) return false;
  auto j = nlohmann::json::parse(*text, nullptr, false);
  auto inputs = TrainInputsSha256(r);
  return !j.is_discarded() && j.is_object() && j.value("recipe_sha256", "") == r.hash && inputs.ok() &&
         j.value("inputs_sha256", "") == *inputs;
}

StatusOr<std::string> TrainInputsSha256(const Recipe& r) {
  ST_ASSIGN_OR_RETURN(std::string manifest, Sha256File((std::filesystem::path(ShardsDir(r)) / "manifest.json").string()));
  ST_ASSIGN_OR_RETURN(std::string base, ModelDirStamp(r.base_model));
  return Sha256Hex("recipe " + r.hash + "\nmanifest " + manifest + "\nbase " + base + "\n");
}

std::string ShardsDir(const Recipe& r) { return (std::filesystem::path(r.output_dir) / "shards").string(); }
std::string AdapterDir(const Recipe& r) { return (std::filesystem::path(r.output_dir) / "adapter").string(); }
std::string FullModelDir(const Recipe& r) { return (std::filesystem::path(r.output_dir) / "model").string(); }
std::string TrainedDir(const Recipe& r) { return r.train.mode == "full" ? FullModelDir(r) : AdapterDir(r); }
std::string ExportDir(const Recipe& r) { return (std::filesystem::path(r.output_dir) / "export").string(); }

}  // namespace st
