#include "data/clean/readers.h"

#include <csv.h>
#include <glob.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
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

// Appends `chunk` to *carry and calls line(text) for each complete line; with
// `last`, also for the unterminated rest.
template <typename Fn>
void ForEachLine(std::string* carry, const std::string& chunk, bool last, Fn line) {
  *carry += chunk;
  size_t pos = 0;
  while (true) {
    const size_t e = carry->find('\n', pos);
    if (e == std::string::npos) break;
    line(carry->substr(pos, e - pos));
    pos = e + 1;
  }
  carry->erase(0, pos);
  if (last && !carry->empty()) {
    line(*carry);
    carry->clear();
  }
}

class TextParser {  // documents separated by blank lines
 public:
  explicit TextParser(std::string path) : path_(std::move(path)) {}
  void Feed(const std::string& chunk, bool last, SourceRead* out) {
    ForEachLine(&carry_, chunk, last, [&](std::string line) { Line(std::move(line), out); });
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
  std::string path_, carry_, cur_;
  size_t lineno_ = 0, start_ = 1;
};

class JsonlParser {  // one JSON object per line
 public:
  JsonlParser(const SourceSpec& src, std::string path) : src_(src), path_(std::move(path)) {}
  void Feed(const std::string& chunk, bool last, SourceRead* out) {
    ForEachLine(&carry_, chunk, last, [&](const std::string& line) { Line(line, out); });
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
  std::string path_, carry_;
  size_t lineno_ = 0;
};

class CsvParser {  // a header row, then records (libcsv: RFC 4180 quoting, any chunking)
 public:
  CsvParser(const SourceSpec& src, std::string path, bool tsv) : src_(src), path_(std::move(path)) {
    ok_ = csv_init(&p_, CSV_APPEND_NULL) == 0;
    if (tsv) csv_set_delim(&p_, '\t');
  }
  ~CsvParser() {
    if (ok_) csv_free(&p_);
  }
  Status Feed(const std::string& chunk, bool last, SourceRead* out) {
    if (!ok_) return RuntimeError("libcsv: cannot initialise a parser");
    out_ = out;
    csv_parse(&p_, chunk.data(), chunk.size(), &CsvParser::OnField, &CsvParser::OnRow, this);
    if (last) csv_fini(&p_, &CsvParser::OnField, &CsvParser::OnRow, this);
    return status_;
  }

 private:
  static void OnField(void* s, size_t len, void* self) {
    static_cast<CsvParser*>(self)->row_.emplace_back(s ? static_cast<const char*>(s) : "", s ? len : 0);
  }
  static void OnRow(int, void* self) { static_cast<CsvParser*>(self)->Row(); }
  void Row() {
    std::vector<std::string> row;
    row.swap(row_);
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
  bool ok_ = false;
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

StatusOr<std::vector<std::string>> ExpandSourcePath(const std::string& path) {
  std::vector<std::string> files;
  if (path.find_first_of("*?[") != std::string::npos) {
    glob_t g{};
    const int rc = glob(path.c_str(), 0, nullptr, &g);
    for (size_t i = 0; rc == 0 && i < g.gl_pathc; ++i)
      if (fs::is_regular_file(g.gl_pathv[i])) files.push_back(g.gl_pathv[i]);
    globfree(&g);
    if (files.empty()) return InvalidInput(path + ": the pattern matches no files");
  } else if (fs::is_directory(path)) {
    for (const auto& e : fs::recursive_directory_iterator(path))
      if (e.is_regular_file() && Readable(e.path().string())) files.push_back(e.path().string());
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
  ST_ASSIGN_OR_RETURN(std::vector<std::string> files, ExpandSourcePath(src.path));
  constexpr size_t kChunk = 1 << 20;
  SourceRead out;
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
    int64_t docs = 0;
    std::string raw(kChunk, '\0'), utf8;
    auto emit = [&](bool force) -> Status {
      for (size_t k = 0; k < out.docs.size(); ++k) out.docs[k].file_index = (int)fi;
      for (auto& is : out.issues) is.file_index = (int)fi;
      if (!force && out.docs.size() < batch) return Status::Ok();
      docs += (int64_t)out.docs.size();
      ST_RETURN_IF_ERROR(sink(out));
      out = SourceRead();
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
      ST_RETURN_IF_ERROR(emit(false));
    }
    FileRead fr;
    fr.index = (int)fi;
    fr.path = path;
    fr.decode = dec.stats();
    fr.sha256 = sha.FinishHex();
    fr.documents = docs + (int64_t)out.docs.size();
    if (fr.decode.invalid_bytes > 0)
      out.issues.push_back({path + ":byte " + std::to_string(fr.decode.first_invalid),
                            std::to_string(fr.decode.invalid_bytes) + " bytes not valid " + fr.decode.encoding +
                                ", replaced with U+FFFD (set data.sources[].encoding if the guess is wrong)"});
    if (fr.documents == 0) out.issues.push_back({path, fr.decode.bytes_in == 0 ? "empty file" : "no documents in this file"});
    out.files.push_back(std::move(fr));
    ST_RETURN_IF_ERROR(emit(true));  // a file's last batch carries its totals
  }
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
