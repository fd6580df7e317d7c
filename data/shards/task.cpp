#include "data/shards/task.h"

#include <xxhash.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "core/file_io.h"
#include "core/parallel.h"
#include "core/json_io.h"
#include "core/log.h"
#include "data/clean/augment.h"
#include "data/shards/report.h"
#include "data/tokenize/chat_template.h"
#include "data/tokenize/tokenizer.h"

namespace st::data {
namespace {

// files.tsv's path column: backslash, tab and newline escaped (paths may hold any byte).
std::string EscapeField(const std::string& s) {
  std::string o;
  for (char ch : s) {
    if (ch == '\\') o += "\\\\";
    else if (ch == '\t') o += "\\t";
    else if (ch == '\n') o += "\\n";
    else o += ch;
  }
  return o;
}

std::string UnescapeField(const std::string& s) {
  std::string o;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      const char n = s[++i];
      o += n == 't' ? '\t' : n == 'n' ? '\n' : n;
    } else {
      o += s[i];
    }
  }
  return o;
}

// One files.tsv line: global index, index in its source, sha256, bytes, invalid
// bytes, first invalid byte, documents, encoding, path (escaped).
void AppendFileRow(int64_t g, const FileRead& f, std::string* out) {
  *out += std::to_string(g) + '\t' + std::to_string(f.index) + '\t' + f.sha256 + '\t' +
          std::to_string(f.decode.bytes_in) + '\t' + std::to_string(f.decode.invalid_bytes) + '\t' +
          std::to_string(f.decode.first_invalid) + '\t' + std::to_string(f.documents) + '\t' + f.decode.encoding +
          '\t' + EscapeField(f.path) + '\n';
}

}  // namespace

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

uint64_t ContentHash(const Document& d) {
  std::string s = d.system + "\x1e" + d.prompt + "\x1e" + d.response;
  for (const auto& m : d.messages) s += "\x1e" + m.role + "\x1f" + m.content;
  return XXH3_64bits(s.data(), s.size());
}


}  // namespace

std::string TasksDir(const Recipe& r) { return (fs::path(r.output_dir) / "shards.tasks").string(); }

std::string TaskDir(const Recipe& r, int task, int tasks) {
  char name[64];
  std::snprintf(name, sizeof name, "task-%05d-of-%05d", task, tasks);
  return (fs::path(TasksDir(r)) / name).string();
}

namespace {

template <typename T>
void Put(std::string* b, T v) {
  b->append(reinterpret_cast<const char*>(&v), sizeof v);
}

void Encode(const TaskDoc& d, std::string* b) {
  Put<int64_t>(b, d.file);
  Put<int64_t>(b, d.pos);
  Put<int64_t>(b, d.derived);
  Put<uint64_t>(b, d.content_hash);
  Put<uint64_t>(b, d.sig.exact_hi);
  Put<uint64_t>(b, d.sig.exact_lo);
  Put<uint32_t>(b, (uint32_t)d.sig.minhash.size());
  b->append(reinterpret_cast<const char*>(d.sig.minhash.data()), d.sig.minhash.size() * sizeof(uint32_t));
  Put<uint32_t>(b, (uint32_t)d.sample.ids.size());
  b->append(reinterpret_cast<const char*>(d.sample.ids.data()), d.sample.ids.size() * sizeof(int32_t));
  b->append(reinterpret_cast<const char*>(d.sample.mask.data()), d.sample.mask.size());
  Put<uint32_t>(b, (uint32_t)d.source.size());
  b->append(d.source);
  const auto found = std::count_if(d.pii.begin(), d.pii.end(), [](int64_t c) { return c > 0; });
  Put<uint8_t>(b, (uint8_t)found);
  for (int t = 0; t < kNumPiiTypes; ++t)
    if (d.pii[t] > 0) {
      Put<uint8_t>(b, (uint8_t)t);
      Put<uint32_t>(b, (uint32_t)std::min<int64_t>(d.pii[t], UINT32_MAX));
    }
}

}  // namespace

StatusOr<TaskSummary> RunDataTask(const Recipe& r, int task, int tasks, const std::string& dir) {
  if (tasks < 1 || task < 0 || task >= tasks)
    return InvalidInput("task " + std::to_string(task) + " of " + std::to_string(tasks) + ": expected 0 <= task < tasks");
  if (!PathExists(r.base_model))
    return InvalidInput(r.file + ": base_model '" + r.base_model + "' not found (create one with `slicetune init-model --preset tiny " + r.base_model + "`)");
  const int threads = (int)std::max(1u, std::thread::hardware_concurrency());
  // One tokenizer per worker: the BPE word cache is per instance.
  std::vector<std::unique_ptr<Tokenizer>> toks;
  for (int t = 0; t < threads; ++t) {
    ST_ASSIGN_OR_RETURN(auto tok, LoadTokenizer(r.base_model));
    toks.push_back(std::move(tok));
  }
  const Tokenizer& tok = *toks[0];
  // BOS only where the model puts one (Llama does, Qwen does not); EOS ends every sample.
  const int32_t bos = tok.add_bos() ? tok.bos_id() : -1, eos = tok.eos_id();
  if (eos < 0) return InvalidInput(tok.path() + ": tokenizer defines no EOS token (tokenizer_config.json eos_token)");
  std::optional<ChatTemplate> chat;
  if (r.data.template_name != "none") {
    ST_ASSIGN_OR_RETURN(ChatTemplate t, LoadChatTemplate(r.base_model, tok, r.data.template_name));
    if (!r.data.chat_date.empty()) t.set_date(r.data.chat_date);
    else if (t.dated() && task == 0)
      LogInfo("the chat template writes today's date into every system header; set data.chat_date for shards that do not change from day to day");
    chat = std::move(t);
  }
  std::optional<Augmenter> aug;
  if (r.data.augment.on) {
    AugmentOptions ao;
    ao.kinds = r.data.augment.kinds;
    ao.ratio = r.data.augment.ratio;
    ao.clean_ratio = r.data.augment.clean_ratio;
    ao.seed = r.seed;
    if (!r.data.augment.glossary.empty()) {
      ST_ASSIGN_OR_RETURN(ao.glossary, ReadGlossary(r.data.augment.glossary));
    }
    ST_ASSIGN_OR_RETURN(Augmenter a, Augmenter::Create(ao));
    aug = std::move(a);
  }
  const DedupOptions dedup = ToDedupOptions(r.data.clean, 1);
  if (r.data.clean.dedup) ST_RETURN_IF_ERROR(ValidateDedupOptions(dedup));

  TaskSummary sum;
  sum.task = task;
  sum.tasks = tasks;
  sum.data_hash = r.data_hash;
  sum.tokenizer_sha256 = tok.sha256();
  AtomicDir ad;
  ST_RETURN_IF_ERROR(ad.Open(dir));
  const std::string docs_path = ad / "docs.bin";
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> out(std::fopen(docs_path.c_str(), "wb"), &std::fclose);
  if (!out) return RuntimeError(docs_path + ": cannot create");
  // files.tsv, one line per input file, written as files finish (a JSON list of a
  // million files took gigabytes to build and parse).
  AtomicFile files_tsv;
  ST_RETURN_IF_ERROR(files_tsv.Open(ad / "files.tsv"));
  int64_t cur_file = -1, cur_pos = 0;  // documents come file by file, in order
  Progress prog("data task " + std::to_string(task) + "/" + std::to_string(tasks), -1, "docs");
  int64_t seen = 0;

  // One batch of a source's documents: clean, augment, sign, render, tokenize, append.
  auto process = [&](SourceRead& batch, int si, int64_t offset) -> Status {
    std::string rows;
    for (const auto& f : batch.files) AppendFileRow(offset + f.index, f, &rows);
    ST_RETURN_IF_ERROR(files_tsv.Write(rows.data(), rows.size()));
    sum.files += (int64_t)batch.files.size();
    for (auto& is : batch.issues) {
      if (sum.issues.size() < kMaxIssuesListed) sum.issues.emplace_back(offset + is.file_index, is);
      ++sum.issue_count;
    }
    std::vector<Document>& docs = batch.docs;
    std::vector<int64_t> gfile(docs.size()), pos(docs.size());
    for (size_t i = 0; i < docs.size(); ++i) {
      docs[i].source_index = si;
      docs[i].order = (int64_t)i;
      gfile[i] = offset + docs[i].file_index;
      if (gfile[i] != cur_file) {
        if (gfile[i] < cur_file) return RuntimeError("data task: documents out of file order");
        cur_file = gfile[i];
        cur_pos = 0;
      }
      pos[i] = cur_pos++;
    }
    seen += (int64_t)docs.size();
    CleanReport clean;
    ST_RETURN_IF_ERROR(CleanDocuments(&docs, r.data.clean, threads, &clean));
    // What de-identification found goes with each document's record (by its order in the batch).
    std::vector<const PiiDocument*> pii_of;
    if (!clean.pii_documents.empty()) {
      pii_of.assign(pos.size(), nullptr);
      for (const auto& p : clean.pii_documents) pii_of[p.order] = &p;
    }
    MergeCleanReport(&sum.clean, clean);
    if (aug) {  // pairs from each text document's sentences, placed right after it
      std::vector<Document> with_pairs;
      for (auto& d : docs) {
        std::vector<AugmentPair> pairs;
        if (r.data.sources[d.source_index].format == "text")
          for (const auto& sentence : Augmenter::Sentences(d.response))
            for (auto& p : aug->Generate(sentence)) pairs.push_back(std::move(p));
        const std::string parent_source = d.source;
        const int64_t parent_order = d.order;
        with_pairs.push_back(std::move(d));
        for (size_t k = 0; k < pairs.size(); ++k) {
          Document e;
          e.prompt = AugmentInstruction(pairs[k].kind) + pairs[k].erroneous;
          e.response = pairs[k].correct;
          e.source = parent_source + " (" + pairs[k].kind + ")";
          e.source_index = si;
          e.order = parent_order;
          e.derived = (int)k + 1;
          ++sum.clean.augmented[pairs[k].kind];
          with_pairs.push_back(std::move(e));
        }
      }
      docs.swap(with_pairs);
    }
    std::vector<TaskDoc> tds(docs.size());
    std::vector<Status> errors(threads);
    ParallelFor(docs.size(), threads, [&](int t, size_t i) {
      const Document& d = docs[i];
      TaskDoc& td = tds[i];
      td.file = gfile[d.order];
      td.pos = pos[d.order];
      td.derived = d.derived;
      td.source = d.source;
      td.content_hash = ContentHash(d);
      if (!d.derived && !pii_of.empty() && pii_of[d.order]) td.pii = pii_of[d.order]->counts;
      if (r.data.clean.dedup && !d.derived) td.sig = Sign(DocumentText(d), dedup);
      const SourceSpec& src = r.data.sources[d.source_index];
      TokenizedSample& s = td.sample;
      if (chat && (src.format != "text" || d.derived)) {
        // Rendered with the chat template; the mask covers the assistant replies.
        std::vector<ChatMessage> msgs = d.messages;
        if (msgs.empty()) {
          if (!d.system.empty()) msgs.push_back({"system", d.system});
          msgs.push_back({"user", d.prompt});
          msgs.push_back({"assistant", d.response});
        }
        auto rendered = chat->Render(msgs, /*add_generation_prompt=*/false);
        if (!rendered.ok()) {
          if (errors[t].ok()) errors[t] = InvalidInput(d.source + ": " + rendered.status().message());
          return;
        }
        ChatTokens ct = TokenizeChat(*toks[t], *rendered);
        s.ids.assign(ct.ids.begin(), ct.ids.end());
        s.mask = std::move(ct.mask);
      } else {
        const std::string prompt = d.system.empty() ? d.prompt : d.system + "\n\n" + d.prompt;
        std::vector<int> p = prompt.empty() ? std::vector<int>{} : toks[t]->Encode(prompt);
        std::vector<int> resp = toks[t]->Encode(d.response);
        s = MakeSample(bos, p, resp, eos);
      }
      if (r.data.loss_on == "all")  // every token a target but the sample's first (nothing predicts it)
        for (size_t k = 1; k < s.mask.size(); ++k) s.mask[k] = 1;
    });
    for (const auto& e : errors) ST_RETURN_IF_ERROR(e);
    std::string buf;
    for (const auto& td : tds) Encode(td, &buf);
    if (!buf.empty() && std::fwrite(buf.data(), 1, buf.size(), out.get()) != buf.size())
      return RuntimeError(docs_path + ": write failed; is the disk full?");
    sum.documents += (int64_t)tds.size();
    prog.Update(seen);
    return Status::Ok();
  };

  constexpr size_t kBatch = 16384;
  int64_t offset = 0;
  for (size_t si = 0; si < r.data.sources.size(); ++si) {
    const auto& src = r.data.sources[si];
    ST_ASSIGN_OR_RETURN(std::vector<std::string> files, ExpandSourcePath(src.path, src.follow_symlinks));
    if (task == 0 && files.size() > 100000)
      LogWarn(src.path + ": " + std::to_string(files.size()) + " files; each costs an open and a close, so this "
              "source reads slower than the same text in fewer, larger files");
    ST_RETURN_IF_ERROR(StreamFiles(
        src, files, [&](size_t k) { return (offset + (int64_t)k) % tasks == task; }, kBatch,
        [&](SourceRead& b) { return process(b, (int)si, offset); }));
    offset += (int64_t)files.size();
  }
  prog.Finish();
  if (std::fflush(out.get()) != 0) return RuntimeError(docs_path + ": write failed; is the disk full?");
  out.reset();
  ST_RETURN_IF_ERROR(files_tsv.Commit());
  json issues = json::array();
  for (const auto& [g, is] : sum.issues) issues.push_back({{"file", g}, {"where", is.where}, {"what", is.what}});
  json summary = {{"format", "slicetune-data-task"}, {"format_version", kTaskFormatVersion}, {"task", task}, {"tasks", tasks}, {"data_sha256", sum.data_hash},
                  {"tokenizer_sha256", sum.tokenizer_sha256}, {"files", sum.files}, {"issues", issues},
                  {"issue_count", sum.issue_count}, {"clean", CleanReportJson(sum.clean)},
                  {"documents", sum.documents}};
  ST_RETURN_IF_ERROR(WriteFileAtomic(ad / "summary.json", summary.dump(1) + "\n"));
  ST_RETURN_IF_ERROR(ad.Commit());
  return sum;
}

StatusOr<TaskSummary> ReadTaskSummary(const std::string& dir) {
  const std::string sp = (fs::path(dir) / "summary.json").string();
  ST_ASSIGN_OR_RETURN(json s, ReadJsonFile(sp));
  if (s.value("format", "") != "slicetune-data-task") return InvalidInput(sp + ": not a data task summary");
  if (!s.contains("format_version") || !s["format_version"].is_number_integer() || s["format_version"] != kTaskFormatVersion)
    return InvalidInput(sp + ": written by another slicetune version (task format " + s.value("format_version", json(1)).dump() +
                        ", this one reads " + std::to_string(kTaskFormatVersion) + "); rerun the task");
  TaskSummary t;
  t.task = s.value("task", 0);
  t.tasks = s.value("tasks", 1);
  t.data_hash = s.value("data_sha256", "");
  t.tokenizer_sha256 = s.value("tokenizer_sha256", "");
  t.documents = s.value("documents", (int64_t)0);
  t.issue_count = s.value("issue_count", (int64_t)0);
  t.files = s.value("files", (int64_t)0);
  for (const auto& is : s["issues"]) t.issues.emplace_back(is.value("file", (int64_t)0), SourceIssue(is.value("where", ""), is.value("what", "")));
  t.clean = CleanReportFromJson(s["clean"]);
  return t;
}

StatusOr<FileTableReader> FileTableReader::Open(const std::string& dir, int task) {
  FileTableReader r;
  r.path_ = (fs::path(dir) / "files.tsv").string();
  r.in_.open(r.path_, std::ios::binary);
  if (!r.in_) return InvalidInput(r.path_ + ": missing; rerun task " + std::to_string(task));
  return r;
}

StatusOr<bool> FileTableReader::Next(int64_t* g, FileRead* fr) {
  if (!std::getline(in_, line_)) return false;
  ++lineno_;
  const std::string where = path_ + ":" + std::to_string(lineno_);
  size_t cut[8];  // the tabs before the path, found once
  size_t a = 0;
  for (int k = 0; k < 8; ++k) {
    const size_t b = line_.find('\t', a);
    if (b == std::string::npos) return InvalidInput(where + ": expected 9 tab-separated fields");
    cut[k] = b;
    a = b + 1;
  }
  auto field = [&](int k) { return line_.substr(k ? cut[k - 1] + 1 : 0, cut[k] - (k ? cut[k - 1] + 1 : 0)); };
  try {
    *g = std::stoll(field(0));
    fr->index = std::stoi(field(1));
    fr->decode.bytes_in = std::stoll(field(3));
    fr->decode.invalid_bytes = std::stoll(field(4));
    fr->decode.first_invalid = std::stoll(field(5));
    fr->documents = std::stoll(field(6));
  } catch (const std::exception&) {
    return InvalidInput(where + ": a number field is not a number");
  }
  fr->sha256 = field(2);
  fr->decode.encoding = field(7);
  fr->path = UnescapeField(line_.substr(cut[7] + 1));
  if (*g <= last_) return InvalidInput(where + ": file index " + std::to_string(*g) + " out of order; rerun this task");
  last_ = *g;
  return true;
}

TaskDocReader::~TaskDocReader() {
  if (f_) std::fclose(f_);
}

StatusOr<TaskDocReader> TaskDocReader::Open(const std::string& dir) {
  TaskDocReader r;
  r.path_ = (fs::path(dir) / "docs.bin").string();
  r.f_ = std::fopen(r.path_.c_str(), "rb");
  if (!r.f_) return InvalidInput(r.path_ + ": cannot open; rerun this task");
  return r;
}

StatusOr<bool> TaskDocReader::Next(TaskDoc* d) {
  auto get = [&](void* p, size_t n) { return std::fread(p, 1, n, f_) == n; };
  int64_t head[3];
  const size_t got = std::fread(head, 1, sizeof head, f_);
  if (got == 0 && std::feof(f_)) return false;
  uint64_t h[3];
  uint32_t n = 0;
  bool ok = got == sizeof head && get(h, sizeof h) && get(&n, sizeof n) && n <= 4096;
  if (ok) {
    d->file = head[0];
    d->pos = head[1];
    d->derived = head[2];
    d->content_hash = h[0];
    d->sig.exact_hi = h[1];
    d->sig.exact_lo = h[2];
    d->sig.minhash.resize(n);
    uint32_t t = 0;
    ok = get(d->sig.minhash.data(), n * sizeof(uint32_t)) && get(&t, sizeof t) && t < (1u << 30);
    if (ok) {
      d->sample.ids.resize(t);
      d->sample.mask.resize(t);
      uint32_t sl = 0;
      ok = get(d->sample.ids.data(), t * sizeof(int32_t)) && get(d->sample.mask.data(), t) && get(&sl, sizeof sl) &&
           sl < (1u << 20);
      uint8_t k = 0;
      if (ok) {
        d->source.resize(sl);
        ok = get(d->source.data(), sl) && get(&k, 1) && k <= kNumPiiTypes;
      }
      d->pii.fill(0);
      for (uint8_t i = 0; ok && i < k; ++i) {
        uint8_t type = 0;
        uint32_t count = 0;
        ok = get(&type, 1) && get(&count, sizeof count) && type < kNumPiiTypes;
        if (ok) d->pii[type] = count;
      }
    }
  }
  if (!ok) return InvalidInput(path_ + ": truncated or damaged record; rerun this task");
  return true;
}

}  // namespace st::data
