#include "data/tokenize/bpe_tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <utf8proc.h>

#include <algorithm>
#include <climits>

#include "core/file_io.h"
#include "core/hash.h"
#include "core/json_io.h"

namespace st::data {
namespace {

using json = nlohmann::json;

// Pre-tokenizer patterns llama.cpp knows by name (llama-vocab.cpp); the strings
// are the ones the models' tokenizer.json files carry.
const char* kLlama3Pattern =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char* kQwen2Pattern =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
// DeepSeek-V3 / R1: three Splits in turn (digits by three, CJK runs, then words).
const char* kDeepseek3Patterns[] = {
    "\\p{N}{1,3}", "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+",
    ("[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| "
     "?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")};
// ByteLevel(use_regex=true): GPT-2's pattern.
const char* kGpt2Pattern = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

std::string EncodeUtf8(uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += (char)cp;
  } else if (cp < 0x800) {
    s += (char)(0xc0 | (cp >> 6));
    s += (char)(0x80 | (cp & 0x3f));
  } else {
    s += (char)(0xe0 | (cp >> 12));
    s += (char)(0x80 | ((cp >> 6) & 0x3f));
    s += (char)(0x80 | (cp & 0x3f));
  }
  return s;
}

// Length of the UTF-8 sequence starting with byte c (1 for invalid lead bytes).
size_t Utf8Len(unsigned char c) { return c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1; }

// A token's content from tokenizer_config.json: a string or {"content": ...}.
std::string TokenContent(const json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_object() && j.contains("content") && j["content"].is_string()) return j["content"].get<std::string>();
  return "";
}

// The BOS id the post-processor inserts before a single sequence, or -1.
int TemplateBos(const json& pp) {
  if (!pp.is_object()) return -1;
  const std::string type = pp.value("type", "");
  if (type == "Sequence" && pp.contains("processors")) {
    for (const auto& p : pp["processors"])
      if (int b = TemplateBos(p); b >= 0) return b;
    return -1;
  }
  if (type != "TemplateProcessing" || !pp.contains("single") || pp["single"].empty()) return -1;
  const json& first = pp["single"][0];
  if (!first.contains("SpecialToken")) return -1;
  const std::string name = first["SpecialToken"].value("id", "");
  if (!pp.contains("special_tokens") || !pp["special_tokens"].contains(name)) return -1;
  const json& ids = pp["special_tokens"][name]["ids"];
  return ids.is_array() && !ids.empty() ? ids[0].get<int>() : -1;
}

}  // namespace

// The pre-tokenizer's Split regexes, applied in turn: each one cuts every piece
// the previous ones left (tokenizers' Sequence of Split, behaviour Isolated).
struct BpeTokenizer::Regex {
  std::vector<pcre2_code*> code;
  std::vector<pcre2_match_data*> md;
  ~Regex() {
    for (auto* m : md) pcre2_match_data_free(m);
    for (auto* c : code) pcre2_code_free(c);
  }
};

BpeTokenizer::BpeTokenizer() = default;
BpeTokenizer::~BpeTokenizer() = default;

StatusOr<std::unique_ptr<BpeTokenizer>> BpeTokenizer::Load(const std::string& path, const std::string& config_text) {
  // Fields are read with defaults and checks; a JSON type error left anywhere in
  // them is still a bad tokenizer.json, never a crash (found by fuzz/fuzz_tokenizer_json.cpp).
  try {
    return LoadChecked(path, config_text);
  } catch (const nlohmann::json::exception& e) {
    return InvalidInput(path + ": unexpected structure (" + e.what() + "); expected a Hugging Face tokenizer.json");
  }
}

StatusOr<std::unique_ptr<BpeTokenizer>> BpeTokenizer::LoadChecked(const std::string& path, const std::string& config_text) {
  ST_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  ST_ASSIGN_OR_RETURN(json j, ParseJson(text, path));
  std::unique_ptr<BpeTokenizer> t(new BpeTokenizer());
  t->path_ = path;
  t->sha256_ = Sha256Hex(text);
  const json& model = j.value("model", json::object());
  if (model.value("type", "") != "BPE")
    return InvalidInput(path + ": model.type '" + model.value("type", "") + "' is not supported; expected BPE");
  if (model.value("byte_fallback", false))
    return InvalidInput(path + ": BPE with byte_fallback (sentencepiece-style tokenizer.json) is not supported; "
                               "use the model's tokenizer.model");
  t->ignore_merges_ = model.value("ignore_merges", false);

  // Normalizer: none or NFC.
  const json& norm = j.contains("normalizer") ? j["normalizer"] : json();
  if (!norm.is_null()) {
    if (norm.value("type", "") == "NFC") t->nfc_ = true;
    else return InvalidInput(path + ": normalizer " + norm.dump().substr(0, 80) + " is not supported (none or NFC)");
  }
  // Pre-tokenizer: Sequence[Split(regex, Isolated), ByteLevel(use_regex=false)] or ByteLevel(use_regex=true).
  std::vector<std::string> patterns;
  const json& pre = j.contains("pre_tokenizer") ? j["pre_tokenizer"] : json();
  std::vector<json> steps;
  if (pre.is_object() && pre.value("type", "") == "Sequence") steps.assign(pre["pretokenizers"].begin(), pre["pretokenizers"].end());
  else if (pre.is_object()) steps.push_back(pre);
  bool byte_level = false;
  for (const auto& s : steps) {
    const std::string type = s.value("type", "");
    if (type == "Split" && s.contains("pattern") && s["pattern"].contains("Regex") && !byte_level &&
        s.value("behavior", "") == "Isolated" && !s.value("invert", false)) {
      patterns.push_back(s["pattern"]["Regex"].get<std::string>());
    } else if (type == "ByteLevel" && !s.value("add_prefix_space", false)) {
      byte_level = true;
      if (s.value("use_regex", true)) patterns.push_back(kGpt2Pattern);
    } else {
      return InvalidInput(path + ": pre_tokenizer step " + s.dump().substr(0, 120) +
                          " is not supported (expected Split(Regex, Isolated) and ByteLevel without prefix space)");
    }
  }
  if (!byte_level || patterns.empty())
    return InvalidInput(path + ": expected a byte-level BPE pre-tokenizer (ByteLevel, with Split regexes or its own)");
  // llama.cpp picks its split regexes by this name (llama-vocab.cpp, convert_hf_to_gguf.py).
  // Compared with \r and \n written either as escapes or as the characters.
  auto canon = [](std::vector<std::string> v) {
    for (auto& p : v)
      for (size_t i = 0; (i = p.find('\\', i)) != std::string::npos;) {
        if (i + 1 < p.size() && (p[i + 1] == 'r' || p[i + 1] == 'n')) p.replace(i, 2, p[i + 1] == 'r' ? "\r" : "\n");
        else i += 2;
      }
    return v;
  };
  const auto pats = canon(patterns);
  if (pats == canon({kLlama3Pattern})) t->gguf_pre_ = "llama-bpe";
  else if (pats == canon({kQwen2Pattern})) t->gguf_pre_ = "qwen2";
  else if (pats == canon({kGpt2Pattern})) t->gguf_pre_ = "gpt2";
  else if (pats == canon({kDeepseek3Patterns[0], kDeepseek3Patterns[1], kDeepseek3Patterns[2]})) t->gguf_pre_ = "deepseek-v3";
  t->regex_ = std::make_unique<Regex>();
  for (const auto& pattern : patterns) {
    int err = 0;
    PCRE2_SIZE erroff = 0;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.c_str()), pattern.size(),
                                     PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK, &err, &erroff, nullptr);
    if (!code) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof msg);
      return InvalidInput(path + ": pre-tokenizer regex /" + pattern.substr(0, 60) + "/ does not compile at offset " +
                          std::to_string(erroff) + ": " + reinterpret_cast<char*>(msg));
    }
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // optional speed-up; falls back to the interpreter
    t->regex_->code.push_back(code);
    t->regex_->md.push_back(pcre2_match_data_create_from_pattern(code, nullptr));
  }

  // GPT-2's bytes_to_unicode: printable bytes stand for themselves, the rest map to U+0100 onwards.
  for (int b = 0, extra = 0; b < 256; ++b) {
    const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    t->byte_to_char_[b] = EncodeUtf8(printable ? (uint32_t)b : 256u + (uint32_t)extra++);
    t->char_to_byte_[t->byte_to_char_[b]] = (uint8_t)b;
  }

  // Vocabulary, added tokens, merges.
  if (!model.contains("vocab") || !model["vocab"].is_object()) return InvalidInput(path + ": model.vocab: expected an object");
  // Token ids index tables sized by the largest: each must be a whole number in
  // [0, kMaxTokenId) (a negative one indexed before the table; found by fuzz/fuzz_tokenizer_json.cpp).
  constexpr int64_t kMaxTokenId = 1 << 24;
  auto id_of = [&](const json& v, const std::string& where) -> StatusOr<int> {
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= kMaxTokenId)
      return InvalidInput(path + ": " + where + ": expected a token id from 0 to " + std::to_string(kMaxTokenId - 1) +
                          ", found " + v.dump().substr(0, 40));
    return (int)v.get<int64_t>();
  };
  int max_id = -1;
  for (auto it = model["vocab"].begin(); it != model["vocab"].end(); ++it) {
    ST_ASSIGN_OR_RETURN(const int id, id_of(it.value(), "model.vocab[\"" + it.key().substr(0, 40) + "\"]"));
    t->vocab_[it.key()] = id;
    max_id = std::max(max_id, id);
  }
  std::vector<std::tuple<int, std::string, bool>> added;
  for (const auto& a : j.value("added_tokens", json::array())) {
    const std::string content = a.value("content", "");
    if (!a.contains("id") || content.empty())
      return InvalidInput(path + ": added_tokens entry " + a.dump().substr(0, 80) + " needs an id and content");
    ST_ASSIGN_OR_RETURN(const int id, id_of(a["id"], "added_tokens \"" + content.substr(0, 40) + "\" id"));
    added.emplace_back(id, content, a.value("special", false));
    max_id = std::max(max_id, id);
  }
  t->pieces_.assign(max_id + 1, "");
  t->types_.assign(max_id + 1, TokenType::kUnused);
  for (const auto& [piece, id] : t->vocab_) {
    t->pieces_[id] = piece;
    t->types_[id] = TokenType::kNormal;
  }
  for (const auto& [id, content, special] : added) {
    t->pieces_[id] = content;
    t->types_[id] = special ? TokenType::kControl : TokenType::kUserDefined;
    t->added_.emplace_back(content, id);
  }
  std::sort(t->added_.begin(), t->added_.end(), [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  for (size_t k = 0; k < t->added_.size(); ++k) t->added_by_byte_[(unsigned char)t->added_[k].first[0]].push_back((int)k);
  for (int id = 0; id <= max_id; ++id)
    if (t->pieces_[id].empty()) t->pieces_[id] = "[PAD" + std::to_string(id) + "]";  // holes, as llama.cpp's converter fills them
  if (model.contains("merges")) {
    for (const auto& m : model["merges"]) {
      std::string s;
      if (m.is_string()) s = m.get<std::string>();
      else if (m.is_array() && m.size() == 2) s = m[0].get<std::string>() + " " + m[1].get<std::string>();
      else return InvalidInput(path + ": model.merges entry " + m.dump() + ": expected \"a b\" or [a, b]");
      t->merge_rank_.emplace(s, (int)t->merges_.size());
      t->merges_.push_back(std::move(s));
    }
  }
  if (model.contains("unk_token") && model["unk_token"].is_string()) {
    auto it = t->vocab_.find(model["unk_token"].get<std::string>());
    if (it != t->vocab_.end()) t->unk_ = it->second;
  }

  // Special tokens and BOS policy: tokenizer_config.json, else the post-processor.
  auto find_id = [&](const std::string& content) {
    for (const auto& [c, id] : t->added_)
      if (c == content) return id;
    auto it = t->vocab_.find(content);
    return it == t->vocab_.end() ? -1 : it->second;
  };
  const int template_bos = TemplateBos(j.contains("post_processor") ? j["post_processor"] : json());
  t->bos_ = template_bos;
  t->add_bos_ = template_bos >= 0;
  if (!config_text.empty()) {
    ST_ASSIGN_OR_RETURN(json c, ParseJson(config_text, "tokenizer_config.json"));
    if (c.contains("bos_token") && !c["bos_token"].is_null()) t->bos_ = find_id(TokenContent(c["bos_token"]));
    if (c.contains("eos_token") && !c["eos_token"].is_null()) t->eos_ = find_id(TokenContent(c["eos_token"]));
    if (c.contains("pad_token") && !c["pad_token"].is_null()) t->pad_ = find_id(TokenContent(c["pad_token"]));
    if (c.contains("add_bos_token") && c["add_bos_token"].is_boolean()) t->add_bos_ = c["add_bos_token"].get<bool>() && t->bos_ >= 0;
    if (c.contains("add_eos_token") && c["add_eos_token"].is_boolean()) t->add_eos_ = c["add_eos_token"].get<bool>() && t->eos_ >= 0;
  }
  return t;
}

std::string BpeTokenizer::Piece(int id) const { return id >= 0 && id < (int)pieces_.size() ? pieces_[id] : ""; }
TokenType BpeTokenizer::Type(int id) const { return id >= 0 && id < (int)types_.size() ? types_[id] : TokenType::kUnused; }

void BpeTokenizer::EncodeWord(const std::string& word, std::vector<int>* out) const {
  if (auto it = cache_.find(word); it != cache_.end()) {
    out->insert(out->end(), it->second.begin(), it->second.end());
    return;
  }
  const size_t before = out->size();
  EncodeWordUncached(word, out);
  if (cache_.size() >= kCacheMax) cache_.clear();
  cache_.emplace(word, std::vector<int>(out->begin() + before, out->end()));
}

void BpeTokenizer::EncodeWordUncached(const std::string& word, std::vector<int>* out) const {
  // Symbols: the mapped character of each byte.
  std::string mapped;
  std::vector<std::string> sym;
  for (unsigned char b : word) {
    sym.push_back(byte_to_char_[b]);
    mapped += byte_to_char_[b];
  }
  if (ignore_merges_) {
    if (auto it = vocab_.find(mapped); it != vocab_.end()) {
      out->push_back(it->second);
      return;
    }
  }
  while (sym.size() > 1) {
    int best = INT_MAX;
    size_t at = 0;
    for (size_t i = 0; i + 1 < sym.size(); ++i) {
      auto it = merge_rank_.find(sym[i] + " " + sym[i + 1]);
      if (it != merge_rank_.end() && it->second < best) {
        best = it->second;
        at = i;
      }
    }
    if (best == INT_MAX) break;
    // Merge every occurrence of the best pair, left to right (as tokenizers does).
    const std::string left = sym[at], right = sym[at + 1];
    std::vector<std::string> next;
    for (size_t i = 0; i < sym.size(); ++i) {
      if (i + 1 < sym.size() && sym[i] == left && sym[i + 1] == right) {
        next.push_back(left + right);
        ++i;
      } else {
        next.push_back(sym[i]);
      }
    }
    sym.swap(next);
  }
  for (const auto& s : sym) {
    auto it = vocab_.find(s);
    if (it != vocab_.end()) out->push_back(it->second);
    else if (unk_ >= 0) out->push_back(unk_);
  }
}

void BpeTokenizer::EncodeChunk(const std::string& raw, size_t base, std::vector<int>* out,
                               std::vector<size_t>* starts) const {
  std::string text = raw;
  if (nfc_ && !raw.empty()) {
    utf8proc_uint8_t* n = utf8proc_NFC(reinterpret_cast<const utf8proc_uint8_t*>(raw.c_str()));
    if (n) {
      text = reinterpret_cast<char*>(n);
      std::free(n);
    }
  }
  // Offsets are exact when normalization left the chunk alone; otherwise every
  // token of the chunk is placed at its start.
  const bool exact = text.size() == raw.size();
  auto word = [&](size_t at, size_t n) {
    const size_t before = out->size();
    EncodeWord(text.substr(at, n), out);
    if (!starts) return;
    size_t off = base + (exact ? at : 0);
    for (size_t k = before; k < out->size(); ++k) {
      starts->push_back(off);
      if (!exact) continue;
      const std::string& p = pieces_[(*out)[k]];
      for (unsigned char c : p) off += (c & 0xc0) != 0x80;  // one mapped character per byte
    }
  };
  // Pieces as (offset, length) in `text`, cut by each regex in turn.
  std::vector<std::pair<size_t, size_t>> pieces = {{0, text.size()}}, next;
  for (size_t r = 0; r < regex_->code.size(); ++r) {
    next.clear();
    for (const auto& [from, n] : pieces) {
      // Each piece is matched as a string of its own, as tokenizers does.
      auto subject = reinterpret_cast<PCRE2_SPTR>(text.data() + from);
      PCRE2_SIZE start = 0;
      while (start < n) {
        int rc = pcre2_match(regex_->code[r], subject, n, start, PCRE2_NO_UTF_CHECK, regex_->md[r], nullptr);
        if (rc < 0) {  // no more matches: the rest is one isolated piece
          next.emplace_back(from + start, n - start);
          break;
        }
        PCRE2_SIZE* ov = pcre2_get_ovector_pointer(regex_->md[r]);
        if (ov[0] > start) next.emplace_back(from + start, ov[0] - start);
        if (ov[1] > ov[0]) {
          next.emplace_back(from + ov[0], ov[1] - ov[0]);
          start = ov[1];
        } else {  // empty match: step over one character
          const size_t k = std::min<size_t>(Utf8Len((unsigned char)text[from + ov[0]]), n - ov[0]);
          next.emplace_back(from + ov[0], k);
          start = ov[0] + k;
        }
      }
    }
    pieces.swap(next);
  }
  for (const auto& [from, n] : pieces) word(from, n);
}

std::vector<int> BpeTokenizer::Encode(const std::string& text) const { return EncodeWithOffsets(text, nullptr); }

std::vector<int> BpeTokenizer::EncodeWithOffsets(const std::string& text, std::vector<size_t>* starts) const {
  std::vector<int> out;
  if (starts) starts->clear();
  size_t chunk = 0, i = 0;
  while (i < text.size()) {
    int hit = -1;
    size_t hit_len = 0;
    for (int k : added_by_byte_[(unsigned char)text[i]]) {  // longest first
      const auto& [content, id] = added_[k];
      if (content.size() <= text.size() - i && text.compare(i, content.size(), content) == 0) {
        hit = id;
        hit_len = content.size();
        break;
      }
    }
    if (hit < 0) {
      ++i;
      continue;
    }
    if (i > chunk) EncodeChunk(text.substr(chunk, i - chunk), chunk, &out, starts);
    out.push_back(hit);
    if (starts) starts->push_back(i);
    i += hit_len;
    chunk = i;
  }
  if (chunk < text.size()) EncodeChunk(text.substr(chunk), chunk, &out, starts);
  return out;
}

std::string BpeTokenizer::Decode(const std::vector<int>& ids) const {
  std::string out;
  for (int id : ids) {
    if (id < 0 || id >= (int)pieces_.size()) continue;
    if (types_[id] == TokenType::kControl || types_[id] == TokenType::kUserDefined) {
      out += pieces_[id];
      continue;
    }
    const std::string& p = pieces_[id];
    for (size_t k = 0; k < p.size();) {
      const size_t n = std::min(Utf8Len((unsigned char)p[k]), p.size() - k);
      auto it = char_to_byte_.find(p.substr(k, n));
      if (it != char_to_byte_.end()) out += (char)it->second;
      else out += p.substr(k, n);
      k += n;
    }
  }
  return out;
}

}  // namespace st::data
