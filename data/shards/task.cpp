#include "data/shards/task.h"

#include <xxhash.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "core/file_io.h"
#include "core/json_io.h"
#include "core/log.h"
#include "data/clean/augment.h"
#include "data/shards/report.h"
#include "data/tokenize/chat_template.h"
#include "data/tokenize/tokenizer.h"

namespace st::data {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

uint64_t ContentHash(const Document& d) {
  std::string s = d.system + "\x1e" + d.prompt + "\x1e" + d.response;
  for (const auto& m : d.messages) s += "\x1e" + m.role + "\x1f" + m.content;
  return XXH3_64bits(s.data(), s.size());
}

template <typename Fn>
void Parallel(size_t n, int threads, Fn fn) {
  threads = std::max(1, std::min<int>(threads, (int)n));
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      for (size_t i = t; i < n; i += threads) fn(t, i);
    });
  for (auto& th : pool) th.join();
}

}  // namespace

std::string TasksDir(const Recipe& r) { return (fs::path(r.output_dir) / "shards.tasks").string(); }

std::string TaskDir(const Recipe& r, int task, int tasks) {
  char name[64];
  std::snprintf(name, sizeof name, "task-%05d-of-%05d", task, tasks);
  return (fs::path(TasksDir(r)) / name).string();
}

StatusOr<TaskResult> RunDataTask(const Recipe& r, int task, int tasks) {
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

  TaskResult out;
  out.task = task;
  out.tasks = tasks;
  out.data_hash = r.data_hash;
  out.tokenizer_sha256 = tok.sha256();
  std::vector<Document> docs;
  std::vector<int64_t> global_file;  // per document
  int64_t offset = 0;
  for (size_t si = 0; si < r.data.sources.size(); ++si) {
    const auto& src = r.data.sources[si];
    ST_ASSIGN_OR_RETURN(std::vector<std::string> files, ExpandSourcePath(src.path));
    ST_ASSIGN_OR_RETURN(SourceRead read, ReadSource(src, [&](size_t k) { return (offset + (int64_t)k) % tasks == task; }));
    for (auto& f : read.files) out.files.emplace_back(offset + f.index, f);
    for (auto& is : read.issues) out.issues.emplace_back(offset + is.file_index, is);
    for (auto& d : read.docs) {
      d.source_index = (int)si;
      global_file.push_back(offset + d.file_index);
      docs.push_back(std::move(d));
    }
    offset += (int64_t)files.size();
  }
  // Position of each document among its file's documents (before any is removed).
  std::vector<int64_t> pos(docs.size());
  {
    std::map<int64_t, int64_t> next;
    for (size_t i = 0; i < docs.size(); ++i) {
      pos[i] = next[global_file[i]]++;
      docs[i].order = (int64_t)i;
    }
  }
  ST_RETURN_IF_ERROR(CleanDocuments(&docs, r.data.clean, threads, &out.clean));
  if (r.data.augment.on) {
    // Pairs from each text document's sentences, placed right after it.
    AugmentOptions ao;
    ao.kinds = r.data.augment.kinds;
    ao.ratio = r.data.augment.ratio;
    ao.clean_ratio = r.data.augment.clean_ratio;
    ao.seed = r.seed;
    if (!r.data.augment.glossary.empty()) {
      ST_ASSIGN_OR_RETURN(ao.glossary, ReadGlossary(r.data.augment.glossary));
    }
    ST_ASSIGN_OR_RETURN(Augmenter aug, Augmenter::Create(ao));
    std::vector<Document> with_pairs;
    for (auto& d : docs) {
      const bool text = r.data.sources[d.source_index].format == "text";
      std::vector<AugmentPair> pairs;
      if (text)
        for (const auto& sentence : Augmenter::Sentences(d.response))
          for (auto& p : aug.Generate(sentence)) pairs.push_back(std::move(p));
      const Document parent = d;
      with_pairs.push_back(std::move(d));
      for (size_t k = 0; k < pairs.size(); ++k) {
        Document e;
        e.prompt = AugmentInstruction(pairs[k].kind) + pairs[k].erroneous;
        e.response = pairs[k].correct;
        e.source = parent.source + " (" + pairs[k].kind + ")";
        e.source_index = parent.source_index;
        e.order = parent.order;
        e.derived = (int)k + 1;
        ++out.clean.augmented[pairs[k].kind];
        with_pairs.push_back(std::move(e));
      }
    }
    docs.swap(with_pairs);
  }
  for (auto& p : out.clean.pii_documents) {
    p.file = global_file[p.order];
    p.pos = pos[p.order];
  }

  const DedupOptions dedup = ToDedupOptions(r.data.clean, 1);
  if (r.data.clean.dedup) ST_RETURN_IF_ERROR(ValidateDedupOptions(dedup));
  out.docs.resize(docs.size());
  std::vector<Status> errors(threads);
  Progress prog("tokenize", (int64_t)docs.size(), "docs");
  Parallel(docs.size(), threads, [&](int t, size_t i) {
    const Document& d = docs[i];
    TaskDoc& td = out.docs[i];
    td.file = global_file[d.order];
    td.pos = pos[d.order];
    td.derived = d.derived;
    td.source = d.source;
    td.content_hash = ContentHash(d);
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
    if (t == 0) prog.Update((int64_t)i + 1);
  });
  prog.Finish();
  for (const auto& e : errors) ST_RETURN_IF_ERROR(e);
  return out;
}

Status WriteTaskResult(const std::string& dir, const TaskResult& t) {
  AtomicDir ad;
  ST_RETURN_IF_ERROR(ad.Open(dir));
  json files = json::array(), issues = json::array();
  for (const auto& [g, f] : t.files)
    files.push_back({{"file", g}, {"index", f.index}, {"path", f.path}, {"encoding", f.decode.encoding},
                     {"bytes", f.decode.bytes_in}, {"invalid_bytes", f.decode.invalid_bytes},
                     {"first_invalid", f.decode.first_invalid}, {"documents", f.documents}});
  for (const auto& [g, is] : t.issues) issues.push_back({{"file", g}, {"where", is.where}, {"what", is.what}});
  json summary = {{"format", "slicetune-data-task"}, {"task", t.task}, {"tasks", t.tasks}, {"data_sha256", t.data_hash},
                  {"tokenizer_sha256", t.tokenizer_sha256}, {"files", files}, {"issues", issues},
                  {"clean", CleanReportJson(t.clean, /*with_positions=*/true)}, {"documents", (int64_t)t.docs.size()}};
  std::string lines;
  for (const auto& d : t.docs) {
    std::string mask(d.sample.mask.size(), '0');
    for (size_t k = 0; k < mask.size(); ++k) mask[k] = d.sample.mask[k] ? '1' : '0';
    lines += json({{"f", d.file}, {"p", d.pos}, {"d", d.derived}, {"s", d.source}, {"h", d.content_hash},
                   {"x", {d.sig.exact_hi, d.sig.exact_lo}}, {"m", d.sig.minhash}, {"i", d.sample.ids}, {"k", mask}})
                 .dump(-1, ' ', false, json::error_handler_t::replace) +
             "\n";
  }
  ST_RETURN_IF_ERROR(WriteFileAtomic(ad / "docs.jsonl", lines));
  ST_RETURN_IF_ERROR(WriteFileAtomic(ad / "summary.json", summary.dump(1) + "\n"));
  return ad.Commit();
}

StatusOr<TaskResult> ReadTaskResult(const std::string& dir) {
  const std::string sp = (fs::path(dir) / "summary.json").string(), dp = (fs::path(dir) / "docs.jsonl").string();
  ST_ASSIGN_OR_RETURN(json s, ReadJsonFile(sp));
  if (s.value("format", "") != "slicetune-data-task") return InvalidInput(sp + ": not a data task summary");
  TaskResult t;
  t.task = s.value("task", 0);
  t.tasks = s.value("tasks", 1);
  t.data_hash = s.value("data_sha256", "");
  t.tokenizer_sha256 = s.value("tokenizer_sha256", "");
  for (const auto& f : s["files"]) {
    FileRead fr;
    fr.index = f.value("index", 0);
    fr.path = f.value("path", "");
    fr.decode.encoding = f.value("encoding", "");
    fr.decode.bytes_in = f.value("bytes", (int64_t)0);
    fr.decode.invalid_bytes = f.value("invalid_bytes", (int64_t)0);
    fr.decode.first_invalid = f.value("first_invalid", (int64_t)-1);
    fr.documents = f.value("documents", (int64_t)0);
    t.files.emplace_back(f.value("file", (int64_t)0), fr);
  }
  for (const auto& is : s["issues"]) t.issues.emplace_back(is.value("file", (int64_t)0), SourceIssue(is.value("where", ""), is.value("what", "")));
  t.clean = CleanReportFromJson(s["clean"]);
  ST_ASSIGN_OR_RETURN(std::string text, ReadFile(dp));
  size_t a = 0;
  int64_t lineno = 0;
  while (a < text.size()) {
    size_t e = text.find('\n', a);
    if (e == std::string::npos) e = text.size();
    ++lineno;
    json j = json::parse(text.begin() + (std::ptrdiff_t)a, text.begin() + (std::ptrdiff_t)e, nullptr, false);
    a = e + 1;
    if (j.is_discarded() || !j.is_object())
      return InvalidInput(dp + ":" + std::to_string(lineno) + ": damaged task output; rerun this task");
    TaskDoc d;
    d.file = j["f"].get<int64_t>();
    d.pos = j["p"].get<int64_t>();
    d.derived = j.value("d", (int64_t)0);
    d.source = j["s"].get<std::string>();
    d.content_hash = j["h"].get<uint64_t>();
    d.sig.exact_hi = j["x"][0].get<uint64_t>();
    d.sig.exact_lo = j["x"][1].get<uint64_t>();
    d.sig.minhash = j["m"].get<std::vector<uint32_t>>();
    d.sample.ids = j["i"].get<std::vector<int32_t>>();
    const std::string mask = j["k"].get<std::string>();
    d.sample.mask.resize(mask.size());
    for (size_t k = 0; k < mask.size(); ++k) d.sample.mask[k] = mask[k] == '1';
    t.docs.push_back(std::move(d));
  }
  if ((int64_t)t.docs.size() != s.value("documents", (int64_t)-1))
    return InvalidInput(dp + ": holds " + std::to_string(t.docs.size()) + " documents, the summary says " +
                        std::to_string(s.value("documents", (int64_t)-1)) + "; rerun this task");
  return t;
}

}  // namespace st::data
