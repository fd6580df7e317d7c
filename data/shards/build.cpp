#include "data/shards/build.h"

#include <filesystem>
#include <map>

#include <nlohmann/json.hpp>

#include "core/file_io.h"
#include "core/hash.h"
#include "core/log.h"
#include "data/clean/pipeline.h"
#include "data/clean/signature_store.h"
#include "data/shards/manifest.h"
#include "data/shards/packer.h"
#include "data/shards/report.h"
#include "data/shards/report_lists.h"
#include "data/shards/shard_io.h"
#include "data/shards/task.h"
#include "core/model_spec.h"
#include "data/tokenize/tokenizer.h"

namespace st::data {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr int64_t kRowsPerShard = 4096;


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

namespace {

// A source's hash from its files' (path, hash), in order: the file's own for a
// source that names one file, else the hash of the "path<TAB>sha256" lines.
class SourceHasher {
 public:
  explicit SourceHasher(std::string path) : path_(std::move(path)) {}
  void Add(const std::string& file, const std::string& sha) {
    if (++n_ == 1 && file == path_) own_ = sha;
    list_.Update(file + "\t" + sha + "\n");
  }
  std::string Finish() { return n_ == 1 && !own_.empty() ? own_ : list_.FinishHex(); }

 private:
  std::string path_, own_;
  int64_t n_ = 0;
  Sha256Stream list_;
};

// Items from several ordered readers, smallest first (on a tie, the earlier
// reader's): the k-way merge both orders below are. Pull(reader, item) reads a
// reader's next item and says whether there was one.
template <typename Reader, typename Item, typename Pull, typename Less>
class KWayMerge {
 public:
  Status Add(Reader r) {
    readers_.push_back(std::move(r));
    heads_.emplace_back();
    ST_ASSIGN_OR_RETURN(bool more, Pull()(readers_.back(), &heads_.back()));
    live_.push_back(more);
    return Status::Ok();
  }
  StatusOr<bool> Next(Item* out) {
    int best = -1;
    for (size_t i = 0; i < heads_.size(); ++i)
      if (live_[i] && (best < 0 || Less()(heads_[i], heads_[best]))) best = (int)i;
    if (best < 0) return false;
    *out = std::move(heads_[best]);
    ST_ASSIGN_OR_RETURN(bool more, Pull()(readers_[best], &heads_[best]));
    live_[best] = more;
    return true;
  }

 private:
  std::vector<Reader> readers_;
  std::vector<Item> heads_;
  std::vector<bool> live_;
};

// All tasks' files.tsv rows in global file order (each task's rows are in order;
// task k holds the files with index k mod N).
using FileRow = std::pair<int64_t, FileRead>;
struct PullFileRow {
  StatusOr<bool> operator()(FileTableReader& r, FileRow* row) const { return r.Next(&row->first, &row->second); }
};
struct FileRowLess {
  bool operator()(const FileRow& a, const FileRow& b) const { return a.first < b.first; }
};
class FileOrder : public KWayMerge<FileTableReader, FileRow, PullFileRow, FileRowLess> {
 public:
  static StatusOr<FileOrder> Open(const std::vector<std::string>& dirs) {
    FileOrder o;
    for (size_t i = 0; i < dirs.size(); ++i) {
      ST_ASSIGN_OR_RETURN(FileTableReader t, FileTableReader::Open(dirs[i], (int)i));
      ST_RETURN_IF_ERROR(o.Add(std::move(t)));
    }
    return o;
  }
  StatusOr<bool> Next(int64_t* g, FileRead* f) {
    FileRow row;
    ST_ASSIGN_OR_RETURN(bool more, KWayMerge::Next(&row));
    if (more) *g = row.first, *f = std::move(row.second);
    return more;
  }
};

}  // namespace

StatusOr<std::string> SourceSha256(const SourceSpec& src) {
  const std::string& path = src.path;
  ST_ASSIGN_OR_RETURN(std::vector<std::string> files, ExpandSourcePath(path, src.follow_symlinks));
  SourceHasher hasher(path);
  for (const auto& f : files) {
    ST_ASSIGN_OR_RETURN(std::string sha, Sha256File(f));
    hasher.Add(f, sha);
  }
  return hasher.Finish();
}

namespace {

// The task outputs' documents in corpus order, (file, position, pair number)
// across all tasks: a k-way merge of their docs.bin files.
struct PullDoc {
  StatusOr<bool> operator()(TaskDocReader& r, TaskDoc* d) const { return r.Next(d); }
};
struct DocLess {
  bool operator()(const TaskDoc& a, const TaskDoc& b) const {
    return a.file != b.file ? a.file < b.file : a.pos != b.pos ? a.pos < b.pos : a.derived < b.derived;
  }
};
class CorpusOrder : public KWayMerge<TaskDocReader, TaskDoc, PullDoc, DocLess> {
 public:
  static StatusOr<CorpusOrder> Open(const std::vector<std::string>& dirs) {
    CorpusOrder c;
    for (const auto& d : dirs) {
      ST_ASSIGN_OR_RETURN(TaskDocReader r, TaskDocReader::Open(d));
      ST_RETURN_IF_ERROR(c.Add(std::move(r)));
    }
    return c;
  }
};

// The merge step, streaming: duplicates resolved over the whole corpus from the
// signatures (spilled to a file: 17 bytes per document stay in memory),
// then documents flow in corpus order into the split, the packers and the shards.
StatusOr<BuildSummary> MergeTasks(const Recipe& r, const std::vector<std::string>& dirs) {
  ST_ASSIGN_OR_RETURN(auto tok, LoadTokenizer(r.base_model));
  const int32_t eos = tok->eos_id();
  const int32_t pad = tok->pad_id() >= 0 ? tok->pad_id() : eos;
  std::vector<std::pair<int64_t, SourceIssue>> all_issues;
  int64_t issue_count = 0;
  CleanReport clean;
  for (const auto& d : dirs) {
    ST_ASSIGN_OR_RETURN(TaskSummary t, ReadTaskSummary(d));
    if (t.data_hash != r.data_hash)
      return InvalidInput(d + ": was built from a different data section or seed; rerun task " + std::to_string(t.task));
    if (t.tokenizer_sha256 != tok->sha256())
      return InvalidInput(d + ": used a different tokenizer; rerun task " + std::to_string(t.task));
    all_issues.insert(all_issues.end(), t.issues.begin(), t.issues.end());
    issue_count += t.issue_count;
    MergeCleanReport(&clean, t.clean);
  }
  std::stable_sort(all_issues.begin(), all_issues.end(), [](const auto& a, const auto& b) { return a.first < b.first; });

  // Input hashes first (a merge over inputs that changed since the tasks ran stops
  // before any work), from the tasks, which hashed each file while reading it (no
  // second read), streamed from their files.tsv in file order: memory holds one source's
  // sorted path list, not a record per file.
  json inputs = json::array(), files = json::array(), issues = json::array();
  // The report lists at most kMaxFilesListed files, those with a problem (bad
  // bytes, no documents) first: a corpus of a million small files must not make a
  // report of a million rows. files_total counts them all.
  json problem_files = json::array(), other_files = json::array();
  int64_t total_files = 0, total_bytes = 0, total_docs = 0;
  {
    ST_ASSIGN_OR_RETURN(FileOrder reads, FileOrder::Open(dirs));
    int64_t offset = 0;
    for (const auto& src : r.data.sources) {
      ST_ASSIGN_OR_RETURN(std::vector<std::string> paths, ExpandSourcePath(src.path, src.follow_symlinks));
      SourceHasher hasher(src.path);
      for (size_t k = 0; k < paths.size(); ++k) {
        int64_t g = -1;
        FileRead f;
        ST_ASSIGN_OR_RETURN(bool more, reads.Next(&g, &f));
        if (!more || g != offset + (int64_t)k || f.path != paths[k] || f.sha256.empty())
          return InvalidInput(paths[k] + ": no task read this file (the inputs changed since the tasks ran?); rerun the tasks");
        hasher.Add(f.path, f.sha256);
        ++total_files;
        total_bytes += f.decode.bytes_in;
        total_docs += f.documents;
        json& list = f.decode.invalid_bytes > 0 || f.documents == 0 ? problem_files : other_files;
        if (list.size() < kMaxFilesListed)
          list.push_back({{"path", f.path}, {"encoding", f.decode.encoding}, {"bytes", f.decode.bytes_in},
                          {"invalid_bytes", f.decode.invalid_bytes}, {"documents", f.documents}});
      }
      offset += (int64_t)paths.size();
      inputs.push_back({{"path", src.path}, {"sha256", hasher.Finish()}, {"files", (int64_t)paths.size()},
                        {"format", src.format}});
    }
    int64_t g = -1;
    FileRead f;
    ST_ASSIGN_OR_RETURN(bool extra, reads.Next(&g, &f));
    if (extra) return InvalidInput(f.path + ": read by a task but not in the sources now (the inputs changed since the tasks ran?); rerun the tasks");
  }
  for (auto* list : {&problem_files, &other_files})
    for (auto& f : *list)
      if (files.size() < kMaxFilesListed) files.push_back(std::move(f));
  const json files_total = {{"count", total_files}, {"bytes", total_bytes}, {"documents", total_docs},
                            {"listed", (int64_t)files.size()}};

  // The shards' folder, built under a temporary name; the report's lists stream into it.
  const std::string final_dir = ShardsDir(r);
  AtomicDir atomic_dir;
  ST_RETURN_IF_ERROR(atomic_dir.Open(final_dir));
  const std::string dir = atomic_dir.temp_path();
  ReportLists lists;
  ST_RETURN_IF_ERROR(lists.Open(dir));

  // Pass 1: duplicates, over the source documents (an augmentation pair follows its document).
  std::vector<uint8_t> keep;
  if (r.data.clean.dedup) {
    // The signatures go to a file beside the task outputs (num_perm x 4 bytes per
    // document), so that memory holds 17 bytes per document, not the signature.
    const DedupOptions dedup = ToDedupOptions(r.data.clean, 1);
    ST_ASSIGN_OR_RETURN(SignatureStore sigs,
                        SignatureStore::Create(dedup.num_perm, (fs::path(TasksDir(r)) / "dedup-signatures.tmp").string()));
    {
      ST_ASSIGN_OR_RETURN(CorpusOrder order, CorpusOrder::Open(dirs));
      TaskDoc d;
      while (true) {
        ST_ASSIGN_OR_RETURN(bool more, order.Next(&d));
        if (!more) break;
        if (!d.derived) ST_RETURN_IF_ERROR(sigs.Add(d.sig));
      }
    }
    ST_RETURN_IF_ERROR(sigs.Finish());
    // The clusters' documents, named from one more pass over the task outputs.
    auto names = [&](const std::vector<int64_t>& wanted) -> StatusOr<std::vector<std::string>> {
      std::vector<std::string> out;
      ST_ASSIGN_OR_RETURN(CorpusOrder order, CorpusOrder::Open(dirs));
      TaskDoc d;
      for (int64_t k = 0; out.size() < wanted.size();) {
        ST_ASSIGN_OR_RETURN(bool more, order.Next(&d));
        if (!more) break;
        if (d.derived) continue;
        if (k++ == wanted[out.size()]) out.push_back(std::move(d.source));
      }
      return out;
    };
    auto sink = [&](const DupClusterReport& c) { return lists.AddCluster(c); };
    ST_ASSIGN_OR_RETURN(keep, RemoveDuplicates(sigs, dedup, names, sink, &clean));
  }

  // Pass 2: split, pack, write shards as rows fill up.
  BuildSummary sum;
  json shards = json::array();
  int64_t truncated = 0, padded = 0, train_docs = 0, val_docs = 0;
  std::map<int64_t, int64_t> hist;  // sample length bucket (power of two) -> count
  struct Split {
    std::string name;
    RowPacker packer;
    int64_t part = 0;
  };
  Split splits[2] = {{"train", RowPacker(r.data.seq_len, r.data.pack, pad)}, {"val", RowPacker(r.data.seq_len, r.data.pack, pad)}};
  auto write_rows = [&](Split& sp, int64_t max_rows) -> Status {
    PackedRows rows = sp.packer.Take(max_rows);
    if (rows.rows == 0) return Status::Ok();
    ShardData sd;
    sd.seq_len = r.data.seq_len;
    sd.split = sp.name;
    sd.pad_id = pad;
    sd.tokenizer_sha256 = tok->sha256();
    sd.input_ids = std::move(rows.ids);
    sd.loss_mask = std::move(rows.mask);
    sd.position_ids = std::move(rows.pos);
    sd.num_real_tokens = rows.real_tokens;
    char name[64];
    std::snprintf(name, sizeof name, "%s-%05lld.h5", sp.name.c_str(), (long long)sp.part++);
    const std::string path = (fs::path(dir) / name).string();
    ST_RETURN_IF_ERROR(WriteShard(path, sd));
    ST_ASSIGN_OR_RETURN(std::string sha, Sha256File(path));
    shards.push_back({{"file", name}, {"split", sp.name}, {"sequences", rows.rows}, {"target_tokens", sd.num_target_tokens()},
                      {"real_tokens", sd.num_real_tokens}, {"sha256", sha}});
    (sp.name == "train" ? sum.train_sequences : sum.val_sequences) += rows.rows;
    sum.real_tokens += sd.num_real_tokens;
    sum.target_tokens += sd.num_target_tokens();
    padded += rows.rows * r.data.seq_len - rows.real_tokens;
    return Status::Ok();
  };
  {
    ST_ASSIGN_OR_RETURN(CorpusOrder order, CorpusOrder::Open(dirs));
    TaskDoc d;
    size_t k = 0;
    bool parent_kept = true;
    while (true) {
      ST_ASSIGN_OR_RETURN(bool more, order.Next(&d));
      if (!more) break;
      // Every document with PII, kept or removed as a duplicate, in corpus order.
      if (!d.derived) ST_RETURN_IF_ERROR(lists.AddPiiDocument(d.source, d.pii));
      if (!d.derived) parent_kept = keep.empty() || keep[k++];
      if (!parent_kept) continue;
      ++sum.documents;
      int64_t b = 1;
      while (b < (int64_t)d.sample.ids.size()) b *= 2;
      ++hist[b];
      // The split follows the content, so a document stays on its side when others come and go.
      const bool val = IsVal(r.seed, d.content_hash, r.data.val_fraction);
      Split& sp = splits[val ? 1 : 0];
      ++(val ? val_docs : train_docs);
      sp.packer.Add(d.sample);
      if (sp.packer.complete_rows() >= kRowsPerShard) ST_RETURN_IF_ERROR(write_rows(sp, kRowsPerShard));
    }
  }
  for (auto& sp : splits) {
    sp.packer.Finish();
    while (sp.packer.complete_rows() > 0) ST_RETURN_IF_ERROR(write_rows(sp, kRowsPerShard));
    truncated += sp.packer.Take(0).truncated_samples;
  }
  if (train_docs == 0) return InvalidInput(r.file + ": data.sources hold no documents for training (after cleaning)");

  for (const auto& [g, is] : all_issues)
    if (issues.size() < kMaxIssuesListed) issues.push_back({{"where", is.where}, {"what", is.what}});
  if (issue_count) LogInfo("data: " + std::to_string(issue_count) + " input problems skipped (listed in the data report)");
  json manifest = {{"format", "slicetune-manifest"}, {"format_version", kManifestVersion}, {"recipe", r.name},
                   {"recipe_sha256", r.hash}, {"data_sha256", r.data_hash}, {"tokenizer_sha256", tok->sha256()},
                   {"tokenizer", tok->path()}, {"seq_len", r.data.seq_len}, {"pack", r.data.pack}, {"inputs", inputs},
                   {"shards", shards}};
  json h = json::object();
  for (const auto& [b, c] : hist) h["<=" + std::to_string(b)] = c;
  const int64_t total_slots = (sum.train_sequences + sum.val_sequences) * r.data.seq_len;
  json report = {{"documents", sum.documents}, {"train_documents", train_docs},
                 {"val_documents", val_docs}, {"train_sequences", sum.train_sequences},
                 {"val_sequences", sum.val_sequences}, {"real_tokens", sum.real_tokens},
                 {"target_tokens", sum.target_tokens}, {"padding_ratio", total_slots ? (double)padded / total_slots : 0.0},
                 {"truncated_samples", truncated}, {"sample_length_histogram", h},
                 {"recipe", r.name}, {"inputs", inputs}, {"files", files}, {"files_total", files_total},
                 {"issues", {{"count", issue_count}, {"listed", issues}}}, {"clean", CleanReportJson(clean)}};
  ST_RETURN_IF_ERROR(lists.Finish(&report["clean"]));
  ST_RETURN_IF_ERROR(WriteDataReport(dir, report));
  ST_RETURN_IF_ERROR(WriteFileAtomic((fs::path(dir) / "manifest.json").string(), manifest.dump(2) + "\n"));
  ST_RETURN_IF_ERROR(atomic_dir.Commit());
  sum.manifest_path = (fs::path(final_dir) / "manifest.json").string();
  return sum;
}

}  // namespace

StatusOr<BuildSummary> BuildShards(const Recipe& r) {
  ST_RETURN_IF_ERROR(CheckWritableDir(r.output_dir));
  // One task over everything, then the merge: the same path as a cluster build.
  const std::string dir = TaskDir(r, 0, 1);
  auto tidy = [&] {
    std::error_code ec;
    fs::remove_all(dir, ec);
    fs::remove(TasksDir(r), ec);  // only if no other build's tasks are there
  };
  if (Status st = RunDataTask(r, 0, 1, dir).status(); !st.ok()) {
    tidy();
    return st;
  }
  auto s = MergeTasks(r, {dir});
  tidy();
  return s;
}

StatusOr<std::string> BuildTask(const Recipe& r, int task, int tasks) {
  ST_RETURN_IF_ERROR(CheckWritableDir(r.output_dir));
  const std::string dir = TaskDir(r, task, tasks);
  ST_RETURN_IF_ERROR(RunDataTask(r, task, tasks, dir).status());
  return dir;
}

StatusOr<BuildSummary> MergeTaskOutputs(const Recipe& r) {
  ST_RETURN_IF_ERROR(CheckWritableDir(r.output_dir));
  const std::string root = TasksDir(r);
  if (!fs::is_directory(root)) return InvalidInput(root + ": no task outputs to merge (run `data build RECIPE --task I/N` first)");
  int tasks = -1;
  for (const auto& e : fs::directory_iterator(root)) {
    int i = 0, n = 0;
    const std::string name = e.path().filename().string();
    if (std::sscanf(name.c_str(), "task-%d-of-%d", &i, &n) != 2 || name.find(".tmp") != std::string::npos) continue;
    if (tasks >= 0 && n != tasks)
      return InvalidInput(root + ": holds outputs of builds with " + std::to_string(tasks) + " and " + std::to_string(n) +
                          " tasks; remove the folder and rerun the tasks");
    tasks = n;
  }
  if (tasks < 1) return InvalidInput(root + ": no task outputs to merge");
  std::vector<std::string> dirs;
  std::string missing;
  for (int i = 0; i < tasks; ++i) {
    const std::string d = TaskDir(r, i, tasks);
    if (!fs::is_directory(d)) missing += (missing.empty() ? "" : ", ") + std::to_string(i);
    else dirs.push_back(d);
  }
  if (!missing.empty())
    return InvalidInput(root + ": tasks " + missing + " of " + std::to_string(tasks) + " have not finished; run them, then merge");
  ST_ASSIGN_OR_RETURN(BuildSummary s, MergeTasks(r, dirs));
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
    auto sha = SourceSha256(r.data.sources[i]);
    if (!sha.ok() || inputs[i].value("sha256", "") != *sha) return false;
  }
  auto shards = ShardsFromManifest(manifest, "train", /*verify_checksums=*/true);
  return shards.ok() && !shards->empty();
}

}  // namespace st::data
