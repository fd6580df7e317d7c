// Text normalization that is safe for Chinese, each step optional:
//   nfc               Unicode NFC (utf8proc): composed forms; CJK text is unchanged
//                     except compatibility ideographs, which become their unified forms.
//   fullwidth_ascii   full-width letters and digits (Ａ１) to ASCII (A1).
//   fullwidth_punct   full-width ASCII punctuation (！，：？（）) to ASCII too. Off by
//                     default: Chinese text keeps its ，！？ — the model should see them.
//                     CJK punctuation (。、「」《》) is never touched.
//   ideographic_space U+3000 to an ASCII space (off by default).
//   controls          control characters other than tab and newline dropped, CR LF and
//                     lone CR to LF, zero-width characters (U+200B-200D, U+2060, BOM) dropped.
//   whitespace        runs of spaces and tabs inside a line to one space (indentation at a
//                     line's start is kept), spaces at line ends dropped,
//                     three or more newlines to two (a paragraph break stays a paragraph break).
//   t2s               traditional to simplified Chinese with OpenCC's t2s conversion.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/status.h"

namespace st::data {

struct NormalizeOptions {
  bool nfc = true;
  bool fullwidth_ascii = true;
  bool fullwidth_punct = false;
  bool ideographic_space = false;
  bool controls = true;
  bool whitespace = true;
  bool t2s = false;
};

// Characters (code points) each step changed or removed, summed over calls.
struct NormalizeStats {
  int64_t documents = 0, documents_changed = 0;
  int64_t nfc = 0, fullwidth = 0, controls = 0, whitespace = 0, t2s = 0;
};

// Whether NFC leaves this code point as it is wherever it stands among others of
// the same set (the normalizer skips utf8proc for text made only of these).
bool NfcStableCodePoint(uint32_t c);

class Normalizer {
 public:
  ~Normalizer();
  Normalizer(Normalizer&&) noexcept;
  Normalizer(const Normalizer&) = delete;
  Normalizer& operator=(const Normalizer&) = delete;
  static StatusOr<Normalizer> Create(const NormalizeOptions& opts);
  // `text` must be valid UTF-8. Safe to call from several threads with separate stats.
  std::string Apply(const std::string& text, NormalizeStats* stats) const;
  const NormalizeOptions& options() const { return opts_; }

 private:
  Normalizer() = default;
  NormalizeOptions opts_;
  void* opencc_ = nullptr;  // opencc_t when t2s
};

}  // namespace st::data
