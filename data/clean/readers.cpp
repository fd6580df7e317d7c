#include "data/clean/readers.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/file_io.h"
#include "core/json_io.h"

namespace st::data {
namespace {

using json = nlohmann::json;

bool EndsWith(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

StatusOr<std::string> Field(const json& j, const std::string& name, const std::string& where) {
  if (!j.contains(name)) return InvalidInput(where + ": missing field '" + name + "' (set data.sources[].fields to name it)");
  if (!j[name].is_string()) return InvalidInput(where + ": field '" + name + "': expected a string, found " + std::string(j[name].type_name()));
  return j[name].get<std::string>();
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

StatusOr<std::vector<Document>> ReadSource(const SourceSpec& src) {
  ST_ASSIGN_OR_RETURN(std::string text, ReadFile(src.path));
  if (size_t bad = FindInvalidUtf8(text); bad != std::string::npos) {
    size_t line = 1 + std::count(text.begin(), text.begin() + bad, '\n');
    return InvalidInput(src.path + ":" + std::to_string(line) + ": not valid UTF-8 at byte " + std::to_string(bad) +
                        "; convert the file to UTF-8 first (e.g. iconv -f GB18030 -t UTF-8)");
  }
  std::vector<Document> docs;
  const bool jsonl = EndsWith(src.path, ".jsonl") || EndsWith(src.path, ".json");
  if (src.format == "text" && !jsonl) {
    std::istringstream in(text);
    std::string line, cur;
    size_t lineno = 0, start = 1;
    auto flush = [&] {
      std::string t = Trim(cur);
      if (!t.empty()) {
        Document d;
        d.response = t;
        d.source = src.path + ":" + std::to_string(start);
        docs.push_back(std::move(d));
      }
      cur.clear();
    };
    while (std::getline(in, line)) {
      ++lineno;
      if (Trim(line).empty()) {
        flush();
        start = lineno + 1;
      } else {
        if (cur.empty()) start = lineno;
        cur += (cur.empty() ? "" : "\n") + line;
      }
    }
    flush();
    return docs;
  }
  if (!jsonl) return InvalidInput(src.path + ": format '" + src.format + "' expects a .jsonl file");
  std::istringstream in(text);
  std::string line;
  size_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (Trim(line).empty()) continue;
    const std::string where = src.path + ":" + std::to_string(lineno);
    ST_ASSIGN_OR_RETURN(json j, ParseJson(line, where));
    if (!j.is_object()) return InvalidInput(where + ": expected a JSON object per line");
    Document d;
    d.source = where;
    if (src.format == "text") {
      ST_ASSIGN_OR_RETURN(d.response, Field(j, src.text_field, where));
    } else if (src.format == "chat") {
      if (j.contains(src.messages_field)) {
        ST_ASSIGN_OR_RETURN(d.messages, ParseChatMessages(j[src.messages_field].dump(), where + ": " + src.messages_field));
      } else if (j.contains("conversations")) {
        ST_ASSIGN_OR_RETURN(d.messages, ParseChatMessages(json{{"conversations", j["conversations"]}}.dump(), where));
      } else {
        return InvalidInput(where + ": missing field '" + src.messages_field +
                            "' (or sharegpt 'conversations'); set data.sources[].fields.messages to name it");
      }
      if (d.messages.empty()) return InvalidInput(where + ": empty conversation");
    } else {
      if (j.contains(src.system_field)) {
        ST_ASSIGN_OR_RETURN(d.system, Field(j, src.system_field, where));
      }
      ST_ASSIGN_OR_RETURN(d.prompt, Field(j, src.prompt_field, where));
      ST_ASSIGN_OR_RETURN(d.response, Field(j, src.response_field, where));
    }
    docs.push_back(std::move(d));
  }
  return docs;
}

}  // namespace st::data
