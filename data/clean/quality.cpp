#include "data/clean/quality.h"

#include <utf8proc.h>

#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/utf8.h"

namespace st::data {
namespace {

std::vector<int32_t> Chars(const std::string& s) {
  const std::u32string u = DecodeUtf8(s);
  return std::vector<int32_t>(u.begin(), u.end());
}

double DupLineRatio(const std::vector<int32_t>& c) {
  std::unordered_map<std::u32string, int> count;
  std::vector<std::u32string> lines(1);
  for (int32_t x : c) {
    if (x == '\n') lines.emplace_back();
    else lines.back() += (char32_t)x;
  }
  for (const auto& l : lines)
    if (!l.empty()) ++count[l];
  size_t dup = 0, total = 0;
  for (const auto& l : lines) {
    total += l.size();
    if (!l.empty() && count[l] > 1) dup += l.size();
  }
  return total ? (double)dup / (double)total : 0.0;
}

double DupNgramRatio(const std::vector<int32_t>& c, size_t n = 10) {
  if (c.size() < 2 * n) return 0.0;
  std::unordered_set<uint64_t> seen;
  std::vector<uint8_t> covered(c.size(), 0);
  for (size_t i = 0; i + n <= c.size(); ++i) {
    uint64_t h = 1469598103934665603ull;
    for (size_t k = 0; k < n; ++k) h = (h ^ (uint64_t)c[i + k]) * 1099511628211ull;
    if (!seen.insert(h).second)
      for (size_t k = 0; k < n; ++k) covered[i + k] = 1;
  }
  size_t dup = 0;
  for (uint8_t v : covered) dup += v;
  return (double)dup / (double)c.size();
}

double TextRatio(const std::vector<int32_t>& c) {
  size_t text = 0, nonspace = 0;
  for (int32_t x : c) {
    const auto cat = utf8proc_category(x);
    if (cat == UTF8PROC_CATEGORY_ZS || x == '\n' || x == '\t' || x == '\r') continue;
    ++nonspace;
    if ((cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) || (cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO))
      ++text;
  }
  return nonspace ? (double)text / (double)nonspace : 0.0;
}

}  // namespace

std::string QualityReject(const std::string& text, const QualityOptions& o) {
  const std::vector<int32_t> c = Chars(text);
  if ((int64_t)c.size() < o.min_chars) return "too_short";
  if (o.max_chars > 0 && (int64_t)c.size() > o.max_chars) return "too_long";
  if (o.max_dup_line_ratio > 0 && DupLineRatio(c) > o.max_dup_line_ratio) return "repeated_lines";
  if (o.max_dup_ngram_ratio > 0 && DupNgramRatio(c) > o.max_dup_ngram_ratio) return "repeated_ngrams";
  if (o.min_text_ratio > 0 && TextRatio(c) < o.min_text_ratio) return "low_text_ratio";
  return "";
}

}  // namespace st::data
