// Quality filters: a document is dropped for one named reason, the first that holds:
//   too_short / too_long   fewer than min_chars / more than max_chars characters
//   repeated_lines         the characters in lines that occur more than once exceed
//                          max_dup_line_ratio of the document (boilerplate, log spam)
//   repeated_ngrams        the characters covered by a character n-gram (n = 10) seen
//                          before in the document exceed max_dup_ngram_ratio ("好好好好…")
//   low_text_ratio         letters and digits (any script) are less than min_text_ratio
//                          of the non-space characters (tables of symbols, mojibake)
// A ratio of 0 switches its check off. Characters are Unicode code points.
#pragma once

#include <cstdint>
#include <string>

namespace st::data {

struct QualityOptions {
  int64_t min_chars = 1;
  int64_t max_chars = 0;  // 0: no limit
  double max_dup_line_ratio = 0.0;
  double max_dup_ngram_ratio = 0.0;
  double min_text_ratio = 0.0;
};

// "" when the document passes, else the reason (names above).
std::string QualityReject(const std::string& text, const QualityOptions& o);

}  // namespace st::data
