// Task metrics for a slice's held-out pairs, computed on generated text:
//   exact match        the reply equals the reference (surrounding whitespace aside)
//   character P/R/F1   correction slices (source, reference, prediction): the
//                      edits the prediction makes to the source against the edits
//                      the reference makes, each edit a (start, end, replacement)
//                      span of the source in characters (Unicode code points),
//                      from a longest-common-subsequence alignment (a run of k
//                      characters replaced by k is k substitutions); a wrong or
//                      missed correction and an edit to a correct character all
//                      count. Without a source: the multiset overlap of the
//                      prediction's and the reference's characters.
// Sums are micro-averaged over the set (as SIGHAN/CSC and M2 scorers do).
#pragma once

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

namespace st::data {

struct CharCounts {
  int64_t tp = 0, fp = 0, fn = 0;
  double precision() const;
  double recall() const;
  double f1() const;
  void Add(const CharCounts& o) {
    tp += o.tp;
    fp += o.fp;
    fn += o.fn;
  }
};

// Texts are compared stripped of surrounding whitespace (Python's str.strip, PyStrip).
bool ExactMatch(const std::string& prediction, const std::string& reference);

using Edit = std::tuple<int64_t, int64_t, std::u32string>;  // source [start, end) -> replacement
std::vector<Edit> CharEdits(const std::u32string& source, const std::u32string& target);

// Edit-level counts when `source` is given; character-overlap counts otherwise.
CharCounts CorrectionCounts(const std::string& source, const std::string& reference, const std::string& prediction);
CharCounts OverlapCounts(const std::string& reference, const std::string& prediction);

}  // namespace st::data
