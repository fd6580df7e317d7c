#include "data/eval/metrics.h"

#include <algorithm>
#include <map>
#include <set>

#include "core/utf8.h"

namespace st::data {

double CharCounts::precision() const { return tp + fp ? (double)tp / (double)(tp + fp) : 1.0; }
double CharCounts::recall() const { return tp + fn ? (double)tp / (double)(tp + fn) : 1.0; }
double CharCounts::f1() const {
  const double p = precision(), r = recall();
  return p + r > 0 ? 2 * p * r / (p + r) : 0.0;
}

bool ExactMatch(const std::string& prediction, const std::string& reference) {
  return PyStrip(prediction) == PyStrip(reference);
}

std::vector<Edit> CharEdits(const std::u32string& a, const std::u32string& b) {
  const size_t n = a.size(), m = b.size();
  // lcs[i][j]: longest common subsequence of a[i:] and b[j:].
  std::vector<std::vector<int32_t>> lcs(n + 1, std::vector<int32_t>(m + 1, 0));
  for (size_t i = n; i-- > 0;)
    for (size_t j = m; j-- > 0;)
      lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
  // Walk the alignment; runs of unmatched characters on either side form one edit.
  std::vector<Edit> edits;
  size_t i = 0, j = 0;
  int64_t start = -1;
  std::u32string repl;
  // A run replacing k characters by k others is k substitutions (as CSC scores
  // them); other runs (insertions, deletions, length changes) stay one edit.
  auto flush = [&]() {
    if (start >= 0 && (int64_t)i - start == (int64_t)repl.size()) {
      for (size_t k = 0; k < repl.size(); ++k) edits.emplace_back(start + (int64_t)k, start + (int64_t)k + 1, repl.substr(k, 1));
    } else if (start >= 0) {
      edits.emplace_back(start, (int64_t)i, repl);
    }
    start = -1;
    repl.clear();
  };
  while (i < n || j < m) {
    if (i < n && j < m && a[i] == b[j] && lcs[i][j] == lcs[i + 1][j + 1] + 1) {
      flush();
      ++i, ++j;
    } else if (j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j])) {
      if (start < 0) start = (int64_t)i;
      repl += b[j++];
    } else {
      if (start < 0) start = (int64_t)i;
      ++i;
    }
  }
  flush();
  return edits;
}

CharCounts CorrectionCounts(const std::string& source, const std::string& reference, const std::string& prediction) {
  const std::u32string src = DecodeUtf8(PyStrip(source));
  const std::vector<Edit> gold = CharEdits(src, DecodeUtf8(PyStrip(reference)));
  const std::vector<Edit> pred = CharEdits(src, DecodeUtf8(PyStrip(prediction)));
  const std::set<Edit> g(gold.begin(), gold.end());
  CharCounts c;
  for (const Edit& e : pred) (g.count(e) ? c.tp : c.fp) += 1;
  c.fn = (int64_t)gold.size() - c.tp;
  return c;
}

CharCounts OverlapCounts(const std::string& reference, const std::string& prediction) {
  std::map<char32_t, int64_t> ref;
  for (char32_t ch : DecodeUtf8(PyStrip(reference))) ++ref[ch];
  CharCounts c;
  for (char32_t ch : DecodeUtf8(PyStrip(prediction))) {
    auto it = ref.find(ch);
    if (it != ref.end() && it->second > 0) {
      --it->second;
      ++c.tp;
    } else {
      ++c.fp;
    }
  }
  for (const auto& kv : ref) c.fn += kv.second;
  return c;
}

}  // namespace st::data
