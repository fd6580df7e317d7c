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
#include "data/shards/task.h"
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

namespace {

// The merge step: every task's documents in corpus order, duplicates resolved
// over the whole corpus, then split, packing, shards, manifest and report.
StatusOr<BuildSummary> MergeTasks(const Recipe& r, std::vector<TaskResult> tasks) {
  ST_ASSIGN_OR_RETURN(auto tok, LoadTokenizer(r.base_model));
  const int32_t eos = tok->eos_id();
  const int32_t pad = tok->pad_id() >= 0 ? tok->pad_id() : eos;
  std::vector<TaskDoc> docs;
  std::vector<std::pair<int64_t, FileRead>> file_reads;
  std::vector<std::pair<int64_t, SourceIssue>> all_issues;
  CleanReport clean;
  for (auto& t : tasks) {
    if (t.tokenizer_sha256 != tok->sha256())
      return InvalidInput("data task " + std::to_string(t.task) + " of " + std::to_string(t.tasks) +
                          " used a different tokenizer; rerun it");
    for (auto& d : t.docs) docs.push_back(std::move(d));
    file_reads.insert(file_reads.end(), t.files.begin(), t.files.end());
    all_issues.insert(all_issues.end(), t.issues.begin(), t.issues.end());
    MergeCleanReport(&clean, t.clean);
  }
  // Corpus order: (file, position in the file), whichever task read it.
  std::stable_sort(docs.begin(), docs.end(), [](const TaskDoc& a, const TaskDoc& b) {
    return a.file != b.file ? a.file < b.file : a.pos != b.pos ? a.pos < b.pos : a.derived < b.derived;
  });
  std::stable_sort(file_reads.begin(), file_reads.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::stable_sort(all_issues.begin(), all_issues.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::stable_sort(clean.pii_documents.begin(), clean.pii_documents.end(), [](const PiiDocument& a, const PiiDocument& b) {
    return a.file != b.file ? a.file < b.file : a.pos < b.pos;
  });
  if (r.data.clean.dedup) {
    // Source documents only; an augmentation pair follows its document out.
    std::vector<DocSignature> sigs;
    std::vector<std::string> sources;
    for (size_t i = 0; i < docs.size(); ++i)
      if (!docs[i].derived) {
        sigs.push_back(std::move(docs[i].sig));
        sources.push_back(docs[i].source);
      }
    std::vector<uint8_t> keep = RemoveDuplicates(sigs, sources, ToDedupOptions(r.data.clean, 1), &clean);
    std::vector<TaskDoc> kept;
    bool parent_kept = true;
    for (size_t i = 0, k = 0; i < docs.size(); ++i) {
      if (!docs[i].derived) parent_kept = keep[k++];
      if (parent_kept) kept.push_back(std::move(docs[i]));
    }
    docs.swap(kept);
  }

  json inputs = json::array(), files = json::array(), issues = json::array();
  for (const auto& src : r.data.sources) {
    ST_ASSIGN_OR_RETURN(std::string sha, SourceSha256(src.path));
    ST_ASSIGN_OR_RETURN(std::vector<std::string> paths, ExpandSourcePath(src.path));
    inputs.push_back({{"path", src.path}, {"sha256", sha}, {"files", (int64_t)paths.size()}, {"format", src.format}});
  }
  for (const auto& [g, f] : file_reads)
    files.push_back({{"path", f.path}, {"encoding", f.decode.encoding}, {"bytes", f.decode.bytes_in},
                     {"invalid_bytes", f.decode.invalid_bytes}, {"documents", f.documents}});
  for (const auto& [g, is] : all_issues)
    if (issues.size() < kMaxIssuesListed) issues.push_back({{"where", is.where}, {"what", is.what}});
  const int64_t issue_count = (int64_t)all_issues.size();
  if (issue_count) LogInfo("data: " + std::to_string(issue_count) + " input problems skipped (listed in the data report)");

  BuildSummary sum;
  sum.documents = (int64_t)docs.size();
  std::vector<TokenizedSample> train, val;
  std::map<int64_t, int64_t> hist;  // sample length bucket (power of two) -> count
  for (auto& d : docs) {
    int64_t b = 1;
    while (b < (int64_t)d.sample.ids.size()) b *= 2;
    ++hist[b];
    // The split follows the content, so a document stays on its side when others come and go.
    (IsVal(r.seed, d.content_hash, r.data.val_fraction) ? val : train).push_back(std::move(d.sample));
  }
  if (train.empty()) return InvalidInput(r.file + ": data.sources hold no documents for training (after cleaning)");

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
      sd.position_ids.assign(rows.pos.begin() + first * sd.seq_len, rows.pos.begin() + (first + n) * sd.seq_len);
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
                   {"recipe_sha256", r.hash}, {"data_sha256", r.data_hash}, {"tokenizer_sha256", tok->sha256()},
                   {"tokenizer", tok->path()}, {"seq_len", r.data.seq_len}, {"pack", r.data.pack}, {"inputs", inputs},
                   {"shards", shards}};
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

}  // namespace

StatusOr<BuildSummary> BuildShards(const Recipe& r) {
  ST_ASSIGN_OR_RETURN(TaskResult t, RunDataTask(r, 0, 1));
  std::vector<TaskResult> tasks;
  tasks.push_back(std::move(t));
  return MergeTasks(r, std::move(tasks));
}

StatusOr<std::string> BuildTask(const Recipe& r, int task, int tasks) {
  ST_ASSIGN_OR_RETURN(TaskResult t, RunDataTask(r, task, tasks));
  const std::string dir = TaskDir(r, task, tasks);
  ST_RETURN_IF_ERROR(WriteTaskResult(dir, t));
  return dir;
}

StatusOr<BuildSummary> MergeTaskOutputs(const Recipe& r) {
  const std::string root = TasksDir(r);
  if (!fs::is_directory(root)) return InvalidInput(root + ": no task outputs to merge (run `data build RECIPE --task I/N` first)");
  int tasks = -1;
  std::vector<std::string> dirs;
  for (const auto& e : fs::directory_iterator(root)) {
    int i = 0, n = 0;
    const std::string name = e.path().filename().string();
    if (std::sscanf(name.c_str(), "task-%d-of-%d", &i, &n) != 2 || name.find(".tmp") != std::string::npos) continue;
    if (tasks >= 0 && n != tasks)
      return InvalidInput(root + ": holds outputs of builds with " + std::to_string(tasks) + " and " + std::to_string(n) +
                          " tasks; remove the folder and rerun the tasks");
    tasks = n;
    dirs.push_back(e.path().string());
  }
  if (tasks < 1) return InvalidInput(root + ": no task outputs to merge");
  std::vector<TaskResult> results;
  std::string missing;
  for (int i = 0; i < tasks; ++i) {
    const std::string d = TaskDir(r, i, tasks);
    if (!fs::is_directory(d)) {
      missing += (missing.empty() ? "" : ", ") + std::to_string(i);
      continue;
    }
    ST_ASSIGN_OR_RETURN(TaskResult t, ReadTaskResult(d));
    if (t.data_hash != r.data_hash)
      return InvalidInput(d + ": was built from a different data section or seed; rerun task " + std::to_string(i));
    results.push_back(std::move(t));
  }
  if (!missing.empty())
    return InvalidInput(root + ": tasks " + missing + " of " + std::to_string(tasks) + " have not finished; run them, then merge");
  ST_ASSIGN_OR_RETURN(BuildSummary s, MergeTasks(r, std::move(results)));
  std::error_code ec;
  fs::remove_all(root, ec);  // the shards hold everything now
  return s;
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
