#include "data/clean/readers.h"

#include <csv.h>
#include <glob.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/file_io.h"

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

void ReadText(const std::string& path, const std::string& text, SourceRead* out) {
  size_t lineno = 0, start = 1, pos = 0;
  std::string cur;
  auto flush = [&] {
    std::string t = Trim(cur);
    if (!t.empty()) {
      Document d;
      d.response = t;
      d.source = path + ":" + std::to_string(start);
      out->docs.push_back(std::move(d));
    }
    cur.clear();
  };
  while (pos < text.size()) {
    size_t e = text.find('\n', pos);
    if (e == std::string::npos) e = text.size();
    std::string line = text.substr(pos, e - pos);
    pos = e + 1;
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (Trim(line).empty()) {
      flush();
      start = lineno + 1;
    } else {
      if (cur.empty()) start = lineno;
      cur += (cur.empty() ? "" : "\n") + line;
    }
  }
  flush();
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

void ReadJsonl(const SourceSpec& src, const std::string& path, const std::string& text, SourceRead* out) {
  size_t lineno = 0, pos = 0;
  while (pos < text.size()) {
    size_t e = text.find('\n', pos);
    if (e == std::string::npos) e = text.size();
    const std::string line = text.substr(pos, e - pos);
    pos = e + 1;
    ++lineno;
    if (Trim(line).empty()) continue;
    const std::string where = path + ":" + std::to_string(lineno);
    json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) {
      out->issues.push_back({where, "not valid JSON"});
      continue;
    }
    if (!j.is_object()) {
      out->issues.push_back({where, "expected a JSON object per line, found " + std::string(j.type_name())});
      continue;
    }
    Document d;
    if (std::string err = ToDocument(src, j, where, &d); !err.empty()) {
      out->issues.push_back({where, err});
      continue;
    }
    out->docs.push_back(std::move(d));
  }
}

// CSV / TSV with a header row (libcsv, RFC 4180 quoting).
struct CsvState {
  std::vector<std::string> row, header;
  std::vector<std::vector<std::string>> rows;
};

Status ReadCsv(const SourceSpec& src, const std::string& path, const std::string& text, bool tsv, SourceRead* out) {
  if (src.format == "chat") return InvalidInput(path + ": chat sources are .jsonl (one conversation per line)");
  csv_parser p;
  if (csv_init(&p, CSV_APPEND_NULL) != 0) return RuntimeError("libcsv: cannot initialise a parser");
  if (tsv) csv_set_delim(&p, '\t');
  CsvState st;
  auto field = [](void* s, size_t len, void* data) {
    static_cast<CsvState*>(data)->row.emplace_back(s ? static_cast<const char*>(s) : "", s ? len : 0);
  };
  auto end_row = [](int, void* data) {
    auto* st = static_cast<CsvState*>(data);
    st->rows.push_back(std::move(st->row));
    st->row.clear();
  };
  csv_parse(&p, text.data(), text.size(), field, end_row, &st);
  csv_fini(&p, field, end_row, &st);
  csv_free(&p);
  if (st.rows.empty()) return Status::Ok();
  st.header = st.rows[0];
  if (!st.header.empty() && st.header[0].rfind("\xEF\xBB\xBF", 0) == 0) st.header[0] = st.header[0].substr(3);
  std::vector<std::string> need = src.format == "text" ? std::vector<std::string>{src.text_field}
                                                       : std::vector<std::string>{src.prompt_field, src.response_field};
  for (const auto& n : need)
    if (std::find(st.header.begin(), st.header.end(), n) == st.header.end()) {
      std::string cols;
      for (const auto& h : st.header) cols += (cols.empty() ? "" : ", ") + h;
      return InvalidInput(path + ":1: the header has no column '" + n + "' (columns: " + cols +
                          "); set data.sources[].fields to name it");
    }
  for (size_t r = 1; r < st.rows.size(); ++r) {
    const std::string where = path + ":row " + std::to_string(r + 1);
    const auto& row = st.rows[r];
    if (row.size() == 1 && row[0].empty()) continue;  // blank line
    if (row.size() != st.header.size()) {
      out->issues.push_back({where, std::to_string(row.size()) + " columns, the header has " + std::to_string(st.header.size())});
      continue;
    }
    json j = json::object();
    for (size_t c = 0; c < row.size(); ++c) j[st.header[c]] = row[c];
    Document d;
    if (std::string err = ToDocument(src, j, where, &d); !err.empty()) {
      out->issues.push_back({where, err});
      continue;
    }
    out->docs.push_back(std::move(d));
  }
  return Status::Ok();
}

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

StatusOr<SourceRead> ReadSource(const SourceSpec& src, const std::function<bool(size_t)>& take) {
  SourceRead out;
  ST_ASSIGN_OR_RETURN(std::vector<std::string> files, ExpandSourcePath(src.path));
  for (size_t fi = 0; fi < files.size(); ++fi) {
    if (take && !take(fi)) continue;
    const std::string& path = files[fi];
    const size_t issues_before = out.issues.size();
    ST_ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
    FileRead fr;
    fr.index = (int)fi;
    fr.path = path;
    ST_ASSIGN_OR_RETURN(std::string text, DecodeToUtf8(bytes, src.encoding, &fr.decode));
    if (fr.decode.invalid_bytes > 0)
      out.issues.push_back({path + ":byte " + std::to_string(fr.decode.first_invalid),
                            std::to_string(fr.decode.invalid_bytes) + " bytes not valid " + fr.decode.encoding +
                                ", replaced with U+FFFD (set data.sources[].encoding if the guess is wrong)"});
    const size_t before = out.docs.size();
    const bool csv = EndsWith(path, ".csv"), tsv = EndsWith(path, ".tsv");
    const bool jsonl = EndsWith(path, ".jsonl") || EndsWith(path, ".json");
    if (csv || tsv) {
      ST_RETURN_IF_ERROR(ReadCsv(src, path, text, tsv, &out));
    } else if (jsonl) {
      ReadJsonl(src, path, text, &out);
    } else if (src.format == "text") {
      ReadText(path, text, &out);
    } else {
      return InvalidInput(path + ": format '" + src.format + "' expects .jsonl" + (src.format == "chat" ? "" : ", .csv or .tsv") + " files");
    }
    fr.documents = (int64_t)(out.docs.size() - before);
    if (fr.documents == 0) out.issues.push_back({path, bytes.empty() ? "empty file" : "no documents in this file"});
    for (size_t k = before; k < out.docs.size(); ++k) out.docs[k].file_index = (int)fi;
    for (size_t k = issues_before; k < out.issues.size(); ++k) out.issues[k].file_index = (int)fi;
    out.files.push_back(std::move(fr));
  }
  return out;
}

}  // namespace st::data
