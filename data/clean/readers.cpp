#include "data/clean/readers.h"

#include <csv.h>
#include <glob.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <set>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/file_io.h"
#include "core/hash.h"

namespace st::data {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

bool EndsWith(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

bool Readable(const std::string& p) {
  return EndsWith(p, ".txt") || EndsWith(p, ".jsonl") || EndsWith(p, ".json") || EndsWith(p, ".csv") || EndsWith(p, ".tsv");
}

// A string field of a JSON object, or the reason it is not there.
std::string Field(const json& j, const std::string& name, std::string* out) {
  if (!j.contains(name)) return "missing field '" + name + "' (set data.sources[].fields to name it)";
  if (!j[name].is_string()) return "field '" + name + "': expected a string, found " + std::string(j[name].type_name());
  *out = j[name].get<std::string>();
  return "";
}

// One record (a JSON object or a CSV row as column -> value) to a document, or an issue.
std::string ToDocument(const SourceSpec& src, const json& j, const std::string& where, Document* d) {
  d->source = where;
  if (src.format == "text") return Field(j, src.text_field, &d->response);
  if (src.format == "chat") {
    StatusOr<std::vector<ChatMessage>> m = InvalidInput("");
    if (j.contains(src.messages_field)) m = ParseChatMessages(j[src.messages_field].dump(), where + ": " + src.messages_field);
    else if (j.contains("conversations")) m = ParseChatMessages(json{{"conversations", j["conversations"]}}.dump(), where);
    else return "missing field '" + src.messages_field + "' (or sharegpt 'conversations'); set data.sources[].fields.messages";
    if (!m.ok()) return m.status().message().substr(m.status().message().find(": ") + 2);
    if (m->empty()) return "empty conversation";
    d->messages = std::move(*m);
    return "";
  }
  if (j.contains(src.system_field) && !j[src.system_field].is_null()) {
    if (std::string e = Field(j, src.system_field, &d->system); !e.empty()) return e;
  }
  if (std::string e = Field(j, src.prompt_field, &d->prompt); !e.empty()) return e;
  return Field(j, src.response_field, &d->response);
}

// Streaming parsers: Feed() takes decoded text in any pieces and appends the
// documents (and problems) complete so far to *out.

// Lines and documents longer than this are not held in memory: a line is
// skipped (an issue with its file and line), a plain-text document is cut into
// pieces at line ends. A 1 GB line therefore costs 64 MiB of RAM, not 1 GB.
constexpr size_t kMaxRecordBytes = size_t{64} << 20;

std::string MiB(size_t n) { return std::to_string((n + (1 << 19)) >> 20) + " MiB"; }

// Cuts decoded text, fed in any pieces, into lines in one pass over each byte.
// line(text) gets each complete line (and, with `last`, the unterminated rest);
// overlong(bytes) stands in for a line longer than kMaxRecordBytes, whose bytes
// are dropped as they arrive.
class LineSplitter {
 public:
  template <typename Line, typename Overlong>
  void Feed(const std::string& chunk, bool last, Line line, Overlong overlong) {
    size_t pos = 0;
    for (size_t e; (e = chunk.find('\n', pos)) != std::string::npos; pos = e + 1) {
      if (skipping_) {
        overlong(skipped_ + (e - pos));
        skipping_ = false;
      } else if (carry_.empty()) {
        line(chunk.substr(pos, e - pos));
      } else {
        carry_.append(chunk, pos, e - pos);
        line(std::move(carry_));
        carry_.clear();
      }
    }
    const size_t rest = chunk.size() - pos;
    if (skipping_) {
      skipped_ += rest;
    } else if (carry_.size() + rest > kMaxRecordBytes) {
      skipping_ = true;
      skipped_ = carry_.size() + rest;
      std::string().swap(carry_);
    } else {
      carry_.append(chunk, pos, rest);
    }
    if (last) {
      if (skipping_) overlong(skipped_);
      else if (!carry_.empty()) line(std::move(carry_));
      skipping_ = false;
      carry_.clear();
    }
  }

 private:
  std::string carry_;
  bool skipping_ = false;
  size_t skipped_ = 0;
};

std::string OverlongLine(size_t bytes) {
  return "a line of " + MiB(bytes) + " (longer than the " + MiB(kMaxRecordBytes) +
         " a line may hold): skipped; split the record or the file";
}

class TextParser {  // documents separated by blank lines
 public:
  explicit TextParser(std::string path) : path_(std::move(path)) {}
  void Feed(const std::string& chunk, bool last, SourceRead* out) {
    lines_.Feed(
        chunk, last, [&](std::string line) { Line(std::move(line), out); },
        [&](size_t bytes) {
          ++lineno_;
          out->issues.push_back({path_ + ":" + std::to_string(lineno_), OverlongLine(bytes)});
        });
    if (last) Flush(out);
  }

 private:
  void Line(std::string line, SourceRead* out) {
    ++lineno_;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (Trim(line).empty()) {
      Flush(out);
      start_ = lineno_ + 1;
    } else {
      if (!cur_.empty() && cur_.size() + 1 + line.size() > kMaxRecordBytes) {
        out->issues.push_back({path_ + ":" + std::to_string(lineno_),
                               "the document from line " + std::to_string(start_) + " is longer than " +
                                   MiB(kMaxRecordBytes) + ": cut here into a new document"});
        Flush(out);
      }
      if (cur_.empty()) start_ = lineno_;
      cur_ += (cur_.empty() ? "" : "\n") + line;
    }
  }
  void Flush(SourceRead* out) {
    std::string t = Trim(cur_);
    if (!t.empty()) {
      Document d;
      d.response = std::move(t);
      d.source = path_ + ":" + std::to_string(start_);
      out->docs.push_back(std::move(d));
    }
    cur_.clear();
  }
  std::string path_, cur_;
  LineSplitter lines_;
  size_t lineno_ = 0, start_ = 1;
};

class JsonlParser {  // one JSON object per line
 public:
  JsonlParser(const SourceSpec& src, std::string path) : src_(src), path_(std::move(path)) {}
  void Feed(const std::string& chunk, bool last, SourceRead* out) {
    lines_.Feed(
        chunk, last, [&](const std::string& line) { Line(line, out); },
        [&](size_t bytes) {
          ++lineno_;
          out->issues.push_back({path_ + ":" + std::to_string(lineno_), OverlongLine(bytes)});
        });
  }

 private:
  void Line(const std::string& line, SourceRead* out) {
    ++lineno_;
    if (Trim(line).empty()) return;
    const std::string where = path_ + ":" + std::to_string(lineno_);
    json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) {
      out->issues.push_back({where, "not valid JSON"});
      return;
    }
    if (!j.is_object()) {
      out->issues.push_back({where, "expected a JSON object per line, found " + std::string(j.type_name())});
      return;
    }
    Document d;
    if (std::string err = ToDocument(src_, j, where, &d); !err.empty()) {
      out->issues.push_back({where, err});
      return;
    }
    out->docs.push_back(std::move(d));
  }
  const SourceSpec& src_;
  std::string path_;
  LineSplitter lines_;
  size_t lineno_ = 0;
};

class CsvParser {  // a header row, then records (libcsv: RFC 4180 quoting, any chunking)
 public:
  CsvParser(const SourceSpec& src, std::string path, bool tsv) : src_(src), path_(std::move(path)) {
    ok_ = csv_init(&p_, CSV_APPEND_NULL) == 0;
    // libcsv grows a field's buffer by a fixed step; its default (128 bytes) makes a
    // long field cost quadratic copying. 64 KiB to start, then (Feed) the step
    // doubles with the buffer, so growth is geometric.
    if (ok_) csv_set_blk_size(&p_, blk_);
    if (tsv) csv_set_delim(&p_, '\t');
  }
  ~CsvParser() {
    if (ok_) csv_free(&p_);
  }
  Status Feed(const std::string& chunk, bool last, SourceRead* out) {
    if (stopped_) return status_;
    if (!ok_) return RuntimeError("libcsv: cannot initialise a parser");
    out_ = out;
    csv_parse(&p_, chunk.data(), chunk.size(), &CsvParser::OnField, &CsvParser::OnRow, this);
    if (p_.entry_size > blk_) csv_set_blk_size(&p_, blk_ = p_.entry_size);
    if (row_bytes_ + p_.entry_pos > kMaxRecordBytes) {
      // A record this long (often an unclosed quote) cannot be resynchronised
      // safely: the rest of the file is left out, and said so.
      out->issues.push_back({path_ + ":row " + std::to_string(rows_ + 1),
                             "a row longer than " + MiB(kMaxRecordBytes) +
                                 " (an unclosed quote?): this row and the rest of the file are skipped"});
      csv_free(&p_);
      ok_ = false;
      stopped_ = true;
      row_.clear();
      return status_;
    }
    if (last) csv_fini(&p_, &CsvParser::OnField, &CsvParser::OnRow, this);
    return status_;
  }

 private:
  static void OnField(void* s, size_t len, void* self) {
    auto* me = static_cast<CsvParser*>(self);
    me->row_.emplace_back(s ? static_cast<const char*>(s) : "", s ? len : 0);
    me->row_bytes_ += s ? len : 0;
  }
  static void OnRow(int, void* self) { static_cast<CsvParser*>(self)->Row(); }
  void Row() {
    std::vector<std::string> row;
    row.swap(row_);
    row_bytes_ = 0;
    ++rows_;
    if (!status_.ok()) return;
    if (header_.empty()) {
      header_ = row;
      if (!header_.empty() && header_[0].rfind("\xEF\xBB\xBF", 0) == 0) header_[0] = header_[0].substr(3);
      std::vector<std::string> need = src_.format == "text" ? std::vector<std::string>{src_.text_field}
                                                            : std::vector<std::string>{src_.prompt_field, src_.response_field};
      for (const auto& n : need)
        if (std::find(header_.begin(), header_.end(), n) == header_.end()) {
          std::string cols;
          for (const auto& h : header_) cols += (cols.empty() ? "" : ", ") + h;
          status_ = InvalidInput(path_ + ":1: the header has no column '" + n + "' (columns: " + cols +
                                 "); set data.sources[].fields to name it");
          return;
        }
      return;
    }
    const std::string where = path_ + ":row " + std::to_string(rows_);
    if (row.size() == 1 && row[0].empty()) return;  // blank line
    if (row.size() != header_.size()) {
      out_->issues.push_back({where, std::to_string(row.size()) + " columns, the header has " + std::to_string(header_.size())});
      return;
    }
    json j = json::object();
    for (size_t c = 0; c < row.size(); ++c) j[header_[c]] = row[c];
    Document d;
    if (std::string err = ToDocument(src_, j, where, &d); !err.empty()) {
      out_->issues.push_back({where, err});
      return;
    }
    out_->docs.push_back(std::move(d));
  }
  const SourceSpec& src_;
  std::string path_;
  csv_parser p_{};
  bool ok_ = false, stopped_ = false;
  size_t row_bytes_ = 0, blk_ = size_t{64} << 10;
  std::vector<std::string> row_, header_;
  size_t rows_ = 0;
  SourceRead* out_ = nullptr;
  Status status_;
};

}  // namespace

size_t FindInvalidUtf8(const std::string& s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t n = s.size(), i = 0;
  while (i < n) {
    unsigned c = p[i];
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || i + len > n) return i;
    uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1f) : len == 3 ? (c & 0x0f) : (c & 0x07);
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xc0) != 0x80) return i;
      cp = (cp << 6) | (p[i + k] & 0x3f);
    }
    static const uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += len;
  }
  return std::string::npos;
}

namespace {

// Whether `target` (canonical) lies inside `root` (canonical).
bool Inside(const fs::path& root, const fs::path& target) {
  auto r = root.begin(), t = target.begin();
  for (; r != root.end(); ++r, ++t)
    if (t == target.end() || *r != *t) return false;
  return true;
}

// The error for a symbolic link whose target leaves the input directory.
Status EscapingLink(const fs::path& link, const fs::path& target, const fs::path& root) {
  return InvalidInput(link.string() + ": a symbolic link to " + target.string() + ", outside the input directory " +
                      root.string() + "; links out of an input directory are not followed. HINT: set "
                      "follow_symlinks: true on this source if the target is meant to be read");
}

}  // namespace

StatusOr<std::vector<std::string>> ExpandSourcePath(const std::string& path, bool follow_symlinks) {
  std::vector<std::string> files;
  std::error_code ec;
  if (path.find_first_of("*?[") != std::string::npos) {
    // The input directory of a pattern is its part before the first wildcard.
    const size_t wild = path.find_first_of("*?[");
    const size_t slash = path.rfind('/', wild);
    const fs::path root = fs::weakly_canonical(slash == std::string::npos ? "." : path.substr(0, slash + 1), ec);
    glob_t g{};
    const int rc = glob(path.c_str(), 0, nullptr, &g);
    for (size_t i = 0; rc == 0 && i < g.gl_pathc; ++i) {
      const fs::path p = g.gl_pathv[i];
      if (!fs::is_regular_file(p, ec)) continue;
      if (!follow_symlinks && fs::is_symlink(fs::symlink_status(p, ec))) {
        const fs::path target = fs::canonical(p, ec);
        if (!Inside(root, target)) {
          globfree(&g);
          return EscapingLink(p, target, root);
        }
      }
      files.push_back(p.string());
    }
    globfree(&g);
    if (files.empty()) return InvalidInput(path + ": the pattern matches no files");
  } else if (fs::is_directory(path, ec)) {
    // Links inside the directory are read when they point inside it too; a link
    // out of it is an error unless the source says follow_symlinks (then linked
    // directories are walked as well, each real directory once, so a link cycle
    // ends). Without the flag, linked directories are not walked.
    const fs::path root = fs::canonical(path, ec);
    std::set<fs::path> seen_dirs = {root};
    const auto opts = follow_symlinks ? fs::directory_options::follow_directory_symlink : fs::directory_options::none;
    fs::recursive_directory_iterator it(path, opts, ec), end;
    if (ec) return InvalidInput(path + ": cannot list the directory (" + ec.message() + ")");
    for (; it != end; it.increment(ec)) {
      if (ec) return InvalidInput(path + ": cannot list the directory (" + ec.message() + ")");
      const fs::path p = it->path();
      const bool link = it->is_symlink(ec);
      if (link && !follow_symlinks) {
        const fs::path target = fs::weakly_canonical(p, ec);
        if (!Inside(root, target)) return EscapingLink(p, target, root);
      }
      if (it->is_directory(ec)) {
        if (follow_symlinks && !seen_dirs.insert(fs::canonical(p, ec)).second) it.disable_recursion_pending();
        continue;
      }
      if (it->is_regular_file(ec) && Readable(p.string())) files.push_back(p.string());
    }
    if (files.empty()) return InvalidInput(path + ": the directory holds no .txt, .jsonl, .csv or .tsv files");
  } else {
    if (!PathExists(path)) return InvalidInput(path + ": file not found");
    files.push_back(path);
  }
  std::sort(files.begin(), files.end());
  return files;
}

Status StreamSource(const SourceSpec& src, const std::function<bool(size_t)>& take, size_t batch,
                    const std::function<Status(SourceRead&)>& sink) {
  ST_ASSIGN_OR_RETURN(std::vector<std::string> files, ExpandSourcePath(src.path, src.follow_symlinks));
  return StreamFiles(src, files, take, batch, sink);
}

Status StreamFiles(const SourceSpec& src, const std::vector<std::string>& files, const std::function<bool(size_t)>& take,
                   size_t batch, const std::function<Status(SourceRead&)>& sink) {
  constexpr size_t kChunk = 1 << 20;
  // Small files share a batch (one batch per file made a corpus of tiny files
  // pay the whole per-batch pipeline per file), up to this many files.
  constexpr size_t kFilesPerBatch = 4096;
  SourceRead out;
  std::string raw(kChunk, '\0'), utf8;  // reused: a fresh 1 MiB per small file cost more than reading it
  for (size_t fi = 0; fi < files.size(); ++fi) {
    if (take && !take(fi)) continue;
    const std::string& path = files[fi];
    const bool csv = EndsWith(path, ".csv"), tsv = EndsWith(path, ".tsv");
    const bool jsonl = EndsWith(path, ".jsonl") || EndsWith(path, ".json");
    if (!csv && !tsv && !jsonl && src.format != "text")
      return InvalidInput(path + ": format '" + src.format + "' expects .jsonl" + (src.format == "chat" ? "" : ", .csv or .tsv") + " files");
    if ((csv || tsv) && src.format == "chat") return InvalidInput(path + ": chat sources are .jsonl (one conversation per line)");
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
    if (!f) return InvalidInput(path + ": cannot open (" + std::strerror(errno) + ")");
    ST_ASSIGN_OR_RETURN(Decoder dec, Decoder::Create(src.encoding));
    Sha256Stream sha;
    TextParser text_p(path);
    JsonlParser json_p(src, path);
    CsvParser csv_p(src, path, tsv);
    // This file's documents and issues in `out` start here; `passed` counts those already sent.
    size_t first_doc = out.docs.size(), first_issue = out.issues.size();
    int64_t passed = 0;
    auto tag = [&] {
      for (size_t k = first_doc; k < out.docs.size(); ++k) out.docs[k].file_index = (int)fi;
      for (size_t k = first_issue; k < out.issues.size(); ++k) out.issues[k].file_index = (int)fi;
    };
    auto flush = [&]() -> Status {
      tag();
      passed += (int64_t)(out.docs.size() - first_doc);
      ST_RETURN_IF_ERROR(sink(out));
      out = SourceRead();
      first_doc = first_issue = 0;
      return Status::Ok();
    };
    while (true) {
      const size_t n = std::fread(raw.data(), 1, raw.size(), f.get());
      const bool last = n < raw.size();
      if (last && std::ferror(f.get())) return RuntimeError(path + ": read error");
      sha.Update(std::string_view(raw.data(), n));
      utf8.clear();
      ST_RETURN_IF_ERROR(dec.Feed(std::string_view(raw.data(), n), last, &utf8));
      if (csv || tsv) {
        ST_RETURN_IF_ERROR(csv_p.Feed(utf8, last, &out));
      } else if (jsonl) {
        json_p.Feed(utf8, last, &out);
      } else {
        text_p.Feed(utf8, last, &out);
      }
      if (last) break;
      if (out.docs.size() >= batch) ST_RETURN_IF_ERROR(flush());
    }
    FileRead fr;
    fr.index = (int)fi;
    fr.path = path;
    fr.decode = dec.stats();
    fr.sha256 = sha.FinishHex();
    fr.documents = passed + (int64_t)(out.docs.size() - first_doc);
    if (fr.decode.invalid_bytes > 0)
      out.issues.push_back({path + ":byte " + std::to_string(fr.decode.first_invalid),
                            std::to_string(fr.decode.invalid_bytes) + " bytes not valid " + fr.decode.encoding +
                                ", replaced with U+FFFD (set data.sources[].encoding if the guess is wrong)"});
    if (fr.documents == 0) out.issues.push_back({path, fr.decode.bytes_in == 0 ? "empty file" : "no documents in this file"});
    tag();
    out.files.push_back(std::move(fr));
    if (out.docs.size() >= batch || out.files.size() >= kFilesPerBatch) ST_RETURN_IF_ERROR(flush());
  }
  if (!out.files.empty() || !out.docs.empty() || !out.issues.empty()) ST_RETURN_IF_ERROR(sink(out));
  return Status::Ok();
}

StatusOr<SourceRead> ReadSource(const SourceSpec& src, const std::function<bool(size_t)>& take) {
  SourceRead all;
  ST_RETURN_IF_ERROR(StreamSource(src, take, SIZE_MAX, [&](SourceRead& b) {
    for (auto& d : b.docs) all.docs.push_back(std::move(d));
    for (auto& i : b.issues) all.issues.push_back(std::move(i));
    for (auto& f : b.files) all.files.push_back(std::move(f));
    return Status::Ok();
  }));
  return all;
}

}  // namespace st::data
