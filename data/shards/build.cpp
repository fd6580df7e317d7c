#include "data/shards/build.h"

#include <filesystem>
#include <map>
#include <optional>
#include <thread>

#include <xxhash.h>
#include <nlohmann/json.hpp>

#include "core/file_io.h"
#include "core/hash.h"
#include "core/log.h"
#include "data/clean/pipeline.h"
#include "data/clean/readers.h"
#include "data/shards/manifest.h"
#include "data/shards/packer.h"
#include "data/shards/report.h"
#include "data/shards/shard_io.h"
#include "core/model_spec.h"
#include "data/tokenize/chat_template.h"
#include "data/tokenize/tokenizer.h"

namespace st::data {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr int64_t kRowsPerShard = 4096;

constexpr size_t kMaxIssuesListed = 1000;

// Deterministic split: a document is held out when a seeded mix of its content
// hash falls under val_fraction (splitmix64).
bool IsVal(uint64_t seed, uint64_t content_hash, double fraction) {
  if (fraction <= 0) return false;
  uint64_t z = seed * 0x9e3779b97f4a7c15ull + content_hash + 1;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return (double)(z >> 11) / (double)(1ull << 53) < fraction;
}

uint64_t ContentHash(const Document& d) {
  std::string s = d.system + "\x1e" + d.prompt + "\x1e" + d.response;
  for (const auto& m : d.messages) s += "\x1e" + m.role + "\x1f" + m.content;
  return XXH3_64bits(s.data(), s.size());
}

}  // namespace

StatusOr<std::string> SourceSha256(const std::string& path) {
  ST_ASSIGN_OR_RETURN(std::vector<std::string> files, ExpandSourcePath(path));
  if (files.size() == 1 && files[0] == path) return Sha256File(path);
  std::string list;
  for (const auto& f : files) {
    ST_ASSIGN_OR_RETURN(std::string sha, Sha256File(f));
    list += f + "\t" + sha + "\n";
  }
  return Sha256Hex(list);
}

StatusOr<BuildSummary> BuildShards(const Recipe& r) {
  if (!PathExists(r.base_model))
    return InvalidInput(r.file + ": base_model '" + r.base_model + "' not found (create one with `slicetune init-model --preset tiny " + r.base_model + "`)");
  ST_ASSIGN_OR_RETURN(auto tok, LoadTokenizer(r.base_model));
  const std::string model_path = tok->path();
  // BOS only where the model puts one (Llama does, Qwen does not); EOS ends every sample.
  const int32_t bos = tok->add_bos() ? tok->bos_id() : -1, eos = tok->eos_id();
  const int32_t pad = tok->pad_id() >= 0 ? tok->pad_id() : eos;
  if (eos < 0) return InvalidInput(model_path + ": tokenizer defines no EOS token (tokenizer_config.json eos_token)");

  std::optional<ChatTemplate> chat;
  if (r.data.template_name != "none") {
    ST_ASSIGN_OR_RETURN(ChatTemplate t, LoadChatTemplate(r.base_model, *tok, r.data.template_name));
    if (!r.data.chat_date.empty()) t.set_date(r.data.chat_date);
    else if (t.dated()) LogInfo("the chat template writes today's date into every system header; set data.chat_date for shards that do not change from day to day");
    chat = std::move(t);
  }

  // Read every source (decoding, counting bad lines), then clean the corpus as a
  // whole (duplicates are found across sources), then render and tokenize.
  json inputs = json::array(), issues = json::array(), files = json::array();
  std::vector<Document> docs;
  BuildSummary sum;
  int64_t issue_count = 0;
  for (size_t si = 0; si < r.data.sources.size(); ++si) {
    const auto& src = r.data.sources[si];
    ST_ASSIGN_OR_RETURN(SourceRead read, ReadSource(src));
    ST_ASSIGN_OR_RETURN(std::string sha, SourceSha256(src.path));
    int64_t bytes = 0;
    for (const auto& f : read.files) {
      bytes += f.decode.bytes_in;
      files.push_back({{"path", f.path}, {"encoding", f.decode.encoding}, {"bytes", f.decode.bytes_in},
                       {"invalid_bytes", f.decode.invalid_bytes}, {"documents", f.documents}});
    }
    inputs.push_back({{"path", src.path}, {"sha256", sha}, {"bytes", bytes}, {"files", (int64_t)read.files.size()},
                      {"format", src.format}, {"documents", (int64_t)read.docs.size()}});
    issue_count += (int64_t)read.issues.size();
    for (const auto& is : read.issues)
      if (issues.size() < kMaxIssuesListed) issues.push_back({{"where", is.where}, {"what", is.what}});
    for (auto& d : read.docs) {
      d.source_index = (int)si;
      docs.push_back(std::move(d));
    }
  }
  if (issue_count) LogInfo("data: " + std::to_string(issue_count) + " input problems skipped (listed in the data report)");
  CleanReport clean;
  const int threads = std::max(1u, std::thread::hardware_concurrency());
  ST_RETURN_IF_ERROR(CleanDocuments(&docs, r.data.clean, threads, &clean));
  sum.documents = (int64_t)docs.size();

  std::vector<TokenizedSample> train, val;
  std::map<int64_t, int64_t> hist;  // sample length bucket (power of two) -> count
  {
    Progress prog("tokenize", (int64_t)docs.size(), "docs");
    for (size_t i = 0; i < docs.size(); ++i) {
      const auto& d = docs[i];
      const SourceSpec& src = r.data.sources[d.source_index];
      TokenizedSample s;
      if (chat && src.format != "text") {
        // Rendered with the chat template; the mask covers the assistant replies.
        std::vector<ChatMessage> msgs = d.messages;
        if (msgs.empty()) {
          if (!d.system.empty()) msgs.push_back({"system", d.system});
          msgs.push_back({"user", d.prompt});
          msgs.push_back({"assistant", d.response});
        }
        auto rendered = chat->Render(msgs, /*add_generation_prompt=*/false);
        if (!rendered.ok()) return InvalidInput(d.source + ": " + rendered.status().message());
        ChatTokens ct = TokenizeChat(*tok, *rendered);
        s.ids.assign(ct.ids.begin(), ct.ids.end());
        s.mask = std::move(ct.mask);
      } else {
        const std::string prompt = d.system.empty() ? d.prompt : d.system + "\n\n" + d.prompt;
        std::vector<int> p = prompt.empty() ? std::vector<int>{} : tok->Encode(prompt);
        std::vector<int> resp = tok->Encode(d.response);
        s = MakeSample(bos, p, resp, eos);
      }
      if (r.data.loss_on == "all")  // every token a target but the sample's first (nothing predicts it)
        for (size_t k = 1; k < s.mask.size(); ++k) s.mask[k] = 1;
      int64_t b = 1;
      while (b < (int64_t)s.ids.size()) b *= 2;
      ++hist[b];
      // The split follows the content, so a document stays on its side when others come and go.
      (IsVal(r.seed, ContentHash(d), r.data.val_fraction) ? val : train).push_back(std::move(s));
      prog.Update((int64_t)i + 1);
    }
    prog.Finish();
  }
  if (train.empty()) return InvalidInput(r.file + ": data.sources hold no documents for training");

  // The whole shard set is written into a temporary sibling folder and swapped in
  // at the end, so a failed build never leaves a mix of old and new shards.
  const std::string final_dir = ShardsDir(r);
  AtomicDir atomic_dir;
  ST_RETURN_IF_ERROR(atomic_dir.Open(final_dir));
  const std::string dir = atomic_dir.temp_path();
  json shards = json::array();
  int64_t truncated = 0, padded = 0;
  for (const auto& [split, samples] : {std::pair<std::string, std::vector<TokenizedSample>*>{"train", &train},
                                       {"val", &val}}) {
    if (samples->empty()) continue;
    PackedRows rows = PackSamples(*samples, r.data.seq_len, r.data.pack, pad);
    truncated += rows.truncated_samples;
    padded += rows.rows * r.data.seq_len - rows.real_tokens;
    for (int64_t first = 0, part = 0; first < rows.rows; first += kRowsPerShard, ++part) {
      int64_t n = std::min(kRowsPerShard, rows.rows - first);
      ShardData sd;
      sd.seq_len = r.data.seq_len;
      sd.split = split;
      sd.pad_id = pad;
      sd.tokenizer_sha256 = tok->sha256();
      sd.input_ids.assign(rows.ids.begin() + first * sd.seq_len, rows.ids.begin() + (first + n) * sd.seq_len);
      sd.loss_mask.assign(rows.mask.begin() + first * sd.seq_len, rows.mask.begin() + (first + n) * sd.seq_len);
      sd.num_real_tokens = (int64_t)sd.input_ids.size();
      if (first + n == rows.rows) sd.num_real_tokens -= rows.rows * sd.seq_len - rows.real_tokens;
      char name[64];
      std::snprintf(name, sizeof name, "%s-%05lld.h5", split.c_str(), (long long)part);
      const std::string path = (fs::path(dir) / name).string();
      ST_RETURN_IF_ERROR(WriteShard(path, sd));
      ST_ASSIGN_OR_RETURN(std::string sha, Sha256File(path));
      shards.push_back({{"file", name}, {"split", split}, {"sequences", n}, {"target_tokens", sd.num_target_tokens()},
                        {"real_tokens", sd.num_real_tokens}, {"sha256", sha}});
      (split == "train" ? sum.train_sequences : sum.val_sequences) += n;
      sum.real_tokens += sd.num_real_tokens;
      sum.target_tokens += sd.num_target_tokens();
    }
  }

  json manifest = {{"format", "slicetune-manifest"}, {"format_version", kManifestVersion}, {"recipe", r.name},
                   {"recipe_sha256", r.hash}, {"data_sha256", r.data_hash}, {"tokenizer_sha256", tok->sha256()}, {"tokenizer", model_path},
                   {"seq_len", r.data.seq_len}, {"pack", r.data.pack}, {"inputs", inputs}, {"shards", shards}};
  json h = json::object();
  for (const auto& [b, c] : hist) h["<=" + std::to_string(b)] = c;
  const int64_t total_slots = (sum.train_sequences + sum.val_sequences) * r.data.seq_len;
  json report = {{"documents", sum.documents}, {"train_documents", (int64_t)train.size()},
                 {"val_documents", (int64_t)val.size()}, {"train_sequences", sum.train_sequences},
                 {"val_sequences", sum.val_sequences}, {"real_tokens", sum.real_tokens},
                 {"target_tokens", sum.target_tokens}, {"padding_ratio", total_slots ? (double)padded / total_slots : 0.0},
                 {"truncated_samples", truncated}, {"sample_length_histogram", h},
                 {"recipe", r.name}, {"inputs", inputs}, {"files", files},
                 {"issues", {{"count", issue_count}, {"listed", issues}}}, {"clean", CleanReportJson(clean)}};
  ST_RETURN_IF_ERROR(WriteDataReport(dir, report));
  ST_RETURN_IF_ERROR(WriteFileAtomic((fs::path(dir) / "manifest.json").string(), manifest.dump(2) + "\n"));
  ST_RETURN_IF_ERROR(atomic_dir.Commit());
  sum.manifest_path = (fs::path(final_dir) / "manifest.json").string();
  return sum;
}

StatusOr<bool> ShardsUpToDate(const Recipe& r) {
  const std::string manifest = (fs::path(ShardsDir(r)) / "manifest.json").string();
  if (!PathExists(manifest)) return false;
  ST_ASSIGN_OR_RETURN(std::string text, ReadFile(manifest));
  json m = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (m.is_discarded() || m.value("data_sha256", "") != r.data_hash) return false;
  const std::string tok_file = TokenizerFile(r.base_model);
  if (tok_file.empty()) return false;
  ST_ASSIGN_OR_RETURN(std::string tok, Sha256File(tok_file));
  if (m.value("tokenizer_sha256", "") != tok) return false;
  const json inputs = m.value("inputs", json::array());
  if (inputs.size() != r.data.sources.size()) return false;
  for (size_t i = 0; i < inputs.size(); ++i) {
    auto sha = SourceSha256(r.data.sources[i].path);
    if (!sha.ok() || inputs[i].value("sha256", "") != *sha) return false;
  }
  auto shards = ShardsFromManifest(manifest, "train", /*verify_checksums=*/true);
  return shards.ok() && !shards->empty();
}

}  // namespace st::data
