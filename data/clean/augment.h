// Augmentation for the correction slices: from clean sentences, (erroneous,
// correct) pairs, seeded and ratio-controlled, deterministic per sentence.
//   typo          one character swapped for a homophone (same pinyin, any tone) or a
//                 similar-shape character (same four-corner code); the confusion sets
//                 are derived from Unihan (tables/confusion_sets.tsv, make_confusion.py)
//   term          one character of a glossary term swapped for a same-pinyin character
//                 (宽带 -> 宽代): domain-term errors
//   duplicate     a character or a 2-4 character word repeated (会议 -> 会议会议), or one
//                 character of a real reduplication dropped (常常 -> 常): 叠词 errors
//   abbreviation  a glossary term written as its abbreviation (杭州分公司 -> 杭分); the
//                 pair teaches expansion
// Each kind makes on average `ratio` pairs per sentence it applies to (a sentence
// too short or without a term yields none); `clean_ratio` adds unchanged pairs that
// teach the model to leave correct text alone.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/status.h"

namespace st::data {

struct GlossaryEntry {
  std::string term;          // the full form: 杭州分公司, 宽带
  std::string abbreviation;  // "" when it has none: 杭分
};

// A TSV file: term<TAB>abbreviation (the second column optional), # comments.
StatusOr<std::vector<GlossaryEntry>> ReadGlossary(const std::string& path);

struct AugmentOptions {
  std::vector<std::string> kinds = {"typo", "term", "duplicate", "abbreviation"};
  double ratio = 1.0;
  double clean_ratio = 0.0;
  uint64_t seed = 0;
  std::vector<GlossaryEntry> glossary;
};

struct AugmentPair {
  std::string kind;  // typo | term | duplicate | abbreviation | clean
  std::string erroneous, correct;
};

class Augmenter {
 public:
  static StatusOr<Augmenter> Create(const AugmentOptions& opts);
  // Pairs for one sentence; the same sentence and seed give the same pairs.
  std::vector<AugmentPair> Generate(const std::string& sentence) const;
  // Splits text into sentences after 。！？；!?; and newlines (the stop stays with its sentence).
  static std::vector<std::string> Sentences(const std::string& text);
  // The toneless pinyin of a character in the confusion tables ("" if none): for tests and tools.
  std::string Pinyin(char32_t c) const;

 private:
  Augmenter() = default;
  AugmentOptions opts_;
  std::unordered_map<char32_t, std::u32string> homophones_, shapes_;  // character -> its set (itself included)
  std::unordered_map<char32_t, std::string> pinyin_;
};

// The instruction each kind's pairs are trained with.
std::string AugmentInstruction(const std::string& kind);

}  // namespace st::data
