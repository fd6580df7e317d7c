#include "data/clean/augment.h"

#include <xxhash.h>

#include <algorithm>

#include "core/file_io.h"
#include "core/utf8.h"

namespace st::data {

extern const char kConfusionSetsTsv[];  // generated from tables/confusion_sets.tsv

namespace {

std::u32string ToU32(const std::string& s) { return DecodeUtf8(s); }
std::string ToU8(const std::u32string& s) { return EncodeUtf8(s); }

bool IsHan(char32_t c) { return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF); }

// A small deterministic generator (splitmix64) seeded per sentence and kind.
struct Rng {
  uint64_t s;
  uint64_t Next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  size_t Below(size_t n) { return n ? (size_t)(Next() % n) : 0; }
  double Unit() { return (double)(Next() >> 11) / (double)(1ull << 53); }
};

// How many pairs to make at this ratio: floor(ratio), plus one more with the fractional chance.
int Count(double ratio, Rng& rng) {
  int n = (int)ratio;
  if (rng.Unit() < ratio - n) ++n;
  return n;
}

}  // namespace

StatusOr<std::vector<GlossaryEntry>> ReadGlossary(const std::string& path) {
  ST_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  std::vector<GlossaryEntry> out;
  size_t a = 0, lineno = 0;
  while (a < text.size()) {
    size_t e = text.find('\n', a);
    if (e == std::string::npos) e = text.size();
    std::string line = text.substr(a, e - a);
    a = e + 1;
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    const size_t tab = line.find('\t');
    GlossaryEntry g;
    g.term = line.substr(0, tab);
    if (tab != std::string::npos) g.abbreviation = line.substr(tab + 1);
    if (g.term.empty())
      return InvalidInput(path + ":" + std::to_string(lineno) + ": expected term<TAB>abbreviation (abbreviation optional)");
    out.push_back(g);
  }
  return out;
}

std::string AugmentInstruction(const std::string& kind) {
  if (kind == "typo") return "纠正下面句子中的错别字：\n";
  if (kind == "term") return "纠正下面句子中的专业术语错误：\n";
  if (kind == "duplicate") return "纠正下面句子中的叠词错误：\n";
  if (kind == "abbreviation") return "把下面句子中的缩写展开为全称：\n";
  return "检查下面的句子，如有错误请改正：\n";
}

StatusOr<Augmenter> Augmenter::Create(const AugmentOptions& opts) {
  for (const auto& k : opts.kinds)
    if (k != "typo" && k != "term" && k != "duplicate" && k != "abbreviation")
      return InvalidInput("augment kind '" + k + "': expected typo, term, duplicate or abbreviation");
  if (opts.ratio < 0 || opts.ratio > 100 || opts.clean_ratio < 0 || opts.clean_ratio > 100)
    return InvalidInput("augment ratio: expected a number in [0, 100]");
  Augmenter a;
  a.opts_ = opts;
  const std::string table = kConfusionSetsTsv;
  size_t p = 0;
  while (p < table.size()) {
    size_t e = table.find('\n', p);
    if (e == std::string::npos) e = table.size();
    const std::string line = table.substr(p, e - p);
    p = e + 1;
    if (line.empty() || line[0] == '#') continue;
    const size_t t1 = line.find('\t'), t2 = line.find('\t', t1 + 1);
    const std::string kind = line.substr(0, t1), key = line.substr(t1 + 1, t2 - t1 - 1);
    const std::u32string chars = ToU32(line.substr(t2 + 1));
    for (char32_t c : chars) {
      if (kind == "pinyin") {
        a.homophones_[c] = chars;
        a.pinyin_[c] = key;
      } else {
        a.shapes_[c] = chars;
      }
    }
  }
  return a;
}

std::string Augmenter::Pinyin(char32_t c) const {
  auto it = pinyin_.find(c);
  return it == pinyin_.end() ? "" : it->second;
}

std::vector<std::string> Augmenter::Sentences(const std::string& text) {
  std::vector<std::string> out;
  std::u32string cur;
  auto flush = [&] {
    size_t b = 0, e = cur.size();
    while (b < e && (cur[b] == ' ' || cur[b] == 0x3000 || cur[b] == '\t')) ++b;
    while (e > b && (cur[e - 1] == ' ' || cur[e - 1] == '\t')) --e;
    if (e > b) out.push_back(ToU8(cur.substr(b, e - b)));
    cur.clear();
  };
  for (char32_t c : ToU32(text)) {
    if (c == '\n') {
      flush();
      continue;
    }
    cur += c;
    if (c == 0x3002 || c == 0xFF01 || c == 0xFF1F || c == 0xFF1B || c == '!' || c == '?' || c == ';') flush();
  }
  flush();
  return out;
}

std::vector<AugmentPair> Augmenter::Generate(const std::string& sentence) const {
  std::vector<AugmentPair> out;
  const std::u32string s = ToU32(sentence);
  std::vector<size_t> han;
  for (size_t i = 0; i < s.size(); ++i)
    if (IsHan(s[i])) han.push_back(i);
  if (han.size() < 2) return out;
  const uint64_t base = XXH64(sentence.data(), sentence.size(), opts_.seed);
  auto rng_for = [&](const std::string& kind) { return Rng{base ^ XXH64(kind.data(), kind.size(), 0)}; };
  auto emit = [&](const std::string& kind, const std::u32string& wrong) {
    if (wrong != s) out.push_back({kind, ToU8(wrong), sentence});
  };
  // Another character from `set` than c, or 0 when the set has none.
  auto other = [](const std::u32string& set, char32_t c, Rng& rng) -> char32_t {
    if (set.size() < 2) return 0;
    for (int tries = 0; tries < 8; ++tries) {
      const char32_t d = set[rng.Below(set.size())];
      if (d != c) return d;
    }
    return 0;
  };
  for (const auto& kind : opts_.kinds) {
    Rng rng = rng_for(kind);
    const int n = Count(opts_.ratio, rng);
    for (int k = 0; k < n; ++k) {
      std::u32string w = s;
      if (kind == "typo") {
        // A homophone or a similar shape, whichever the character has (a coin decides when both).
        for (int tries = 0; tries < 8; ++tries) {
          const size_t i = han[rng.Below(han.size())];
          const auto h = homophones_.find(s[i]), sh = shapes_.find(s[i]);
          const bool use_shape = sh != shapes_.end() && (h == homophones_.end() || rng.Below(2));
          const char32_t d = use_shape ? other(sh->second, s[i], rng) : h != homophones_.end() ? other(h->second, s[i], rng) : 0;
          if (d) {
            w[i] = d;
            break;
          }
        }
      } else if (kind == "term") {
        std::vector<std::pair<size_t, size_t>> hits;  // [begin, end) of terms in s
        for (const auto& g : opts_.glossary) {
          const std::u32string t = ToU32(g.term);
          for (size_t at = s.find(t); at != std::u32string::npos && !t.empty(); at = s.find(t, at + t.size()))
            hits.emplace_back(at, at + t.size());
        }
        if (hits.empty()) break;
        for (int tries = 0; tries < 8; ++tries) {
          const auto [b, e] = hits[rng.Below(hits.size())];
          const size_t i = b + rng.Below(e - b);
          const auto h = homophones_.find(s[i]);
          const char32_t d = h == homophones_.end() ? 0 : other(h->second, s[i], rng);
          if (d) {
            w[i] = d;
            break;
          }
        }
      } else if (kind == "duplicate") {
        std::vector<size_t> redup;  // real AA reduplications
        for (size_t i = 0; i + 1 < s.size(); ++i)
          if (IsHan(s[i]) && s[i] == s[i + 1]) redup.push_back(i);
        if (!redup.empty() && rng.Below(4) == 0) {
          w.erase(redup[rng.Below(redup.size())], 1);  // 常常 -> 常
        } else {
          // Repeat a run of 1-4 Han characters in place: 会议 -> 会议会议.
          const size_t i = han[rng.Below(han.size())];
          size_t len = 1 + rng.Below(4);
          while (len > 1 && (i + len > s.size() || !std::all_of(s.begin() + i, s.begin() + i + len, IsHan))) --len;
          w.insert(i + len, s.substr(i, len));
        }
      } else if (kind == "abbreviation") {
        std::vector<const GlossaryEntry*> present;
        for (const auto& g : opts_.glossary)
          if (!g.abbreviation.empty() && sentence.find(g.term) != std::string::npos) present.push_back(&g);
        if (present.empty()) break;
        const GlossaryEntry& g = *present[rng.Below(present.size())];
        std::string abbr = sentence;
        for (size_t at = abbr.find(g.term); at != std::string::npos; at = abbr.find(g.term, at + g.abbreviation.size()))
          abbr.replace(at, g.term.size(), g.abbreviation);
        w = ToU32(abbr);
      }
      emit(kind, w);
    }
  }
  Rng rng = rng_for("clean");
  for (int k = Count(opts_.clean_ratio, rng); k > 0; --k) out.push_back({"clean", sentence, sentence});
  return out;
}

}  // namespace st::data
