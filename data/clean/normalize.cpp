#include "data/clean/normalize.h"

#include <opencc/opencc.h>
#include <utf8proc.h>

#include <algorithm>
#include <cstdlib>
#include <vector>

#include "core/utf8.h"

namespace st::data {
namespace {

std::vector<int32_t> CodePoints(const std::string& s) {
  const std::u32string u = DecodeUtf8(s);
  return std::vector<int32_t>(u.begin(), u.end());
}

std::string Utf8(const std::vector<int32_t>& cps) { return EncodeUtf8(std::u32string(cps.begin(), cps.end())); }

bool IsZeroWidth(int32_t c) { return (c >= 0x200B && c <= 0x200D) || c == 0x2060 || c == 0xFEFF; }
bool IsHSpace(int32_t c) { return c == ' ' || c == '\t'; }

}  // namespace

// Code points that NFC leaves as they are wherever they stand, among themselves:
// combining class 0, no canonical decomposition, and no composition with a
// neighbour from this set (Unicode's UnicodeData.txt and CompositionExclusions;
// the test holds every one to utf8proc). Below U+0300 (ASCII, Latin-1, Latin
// Extended A/B: precomposed letters are already NFC), U+2010-U+2027 (dashes,
// quotes, ellipsis), U+3000-U+3029 (CJK punctuation; the tone marks after it
// combine), U+4E00-U+9FFF (CJK unified ideographs) and U+FF01-U+FF5E (full-width
// forms: compatibility mappings only, which NFC does not apply).
bool NfcStableCodePoint(uint32_t c) {
  return c < 0x300 || (c >= 0x2010 && c <= 0x2027) || (c >= 0x3000 && c <= 0x3029) || (c >= 0x4E00 && c <= 0x9FFF) ||
         (c >= 0xFF01 && c <= 0xFF5E);
}

Normalizer::~Normalizer() {
  if (opencc_) opencc_close(static_cast<opencc_t>(opencc_));
}

Normalizer::Normalizer(Normalizer&& o) noexcept : opts_(o.opts_), opencc_(o.opencc_) { o.opencc_ = nullptr; }

StatusOr<Normalizer> Normalizer::Create(const NormalizeOptions& opts) {
  Normalizer n;
  n.opts_ = opts;
  if (opts.t2s) {
    opencc_t cc = opencc_open("t2s.json");
    if (cc == (opencc_t)-1) cc = opencc_open("/usr/share/opencc/t2s.json");
    if (cc == (opencc_t)-1)
      return RuntimeError(std::string("OpenCC could not load its t2s conversion (") + opencc_error() +
                          "); install Debian's libopencc1.1 / opencc data");
    n.opencc_ = cc;
  }
  return n;
}

std::string Normalizer::Apply(const std::string& text, NormalizeStats* st) const {
  NormalizeStats local;
  NormalizeStats& s = st ? *st : local;
  ++s.documents;
  std::string cur = text;
  if (opts_.t2s && opencc_) {
    char* conv = opencc_convert_utf8(static_cast<opencc_t>(opencc_), cur.data(), cur.size());
    if (conv) {
      std::string t(conv);
      opencc_convert_utf8_free(conv);
      if (t != cur) {
        // Count characters that differ (t2s maps one character to one, mostly).
        auto a = CodePoints(cur), b = CodePoints(t);
        for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) s.t2s += a[i] != b[i];
        s.t2s += (int64_t)(a.size() > b.size() ? a.size() - b.size() : b.size() - a.size());
        cur.swap(t);
      }
    }
  }
  std::vector<int32_t> in = CodePoints(cur), out;
  // Text made only of code points NFC leaves alone (most Chinese and English)
  // skips utf8proc's decomposition.
  if (opts_.nfc && !in.empty() &&
      !std::all_of(in.begin(), in.end(), [](int32_t c) { return NfcStableCodePoint((uint32_t)c); })) {
    utf8proc_uint8_t* n = utf8proc_NFC(reinterpret_cast<const utf8proc_uint8_t*>(cur.c_str()));
    if (n) {
      std::string t(reinterpret_cast<char*>(n));
      std::free(n);
      if (t != cur) {
        std::vector<int32_t> b = CodePoints(t);
        s.nfc += (int64_t)(in.size() > b.size() ? in.size() - b.size() : 1);
        cur.swap(t);
        in.swap(b);
      }
    }
  }
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    int32_t c = in[i];
    if (opts_.controls) {
      if (c == '\r') {  // CR LF and lone CR: LF
        if (i + 1 < in.size() && in[i + 1] == '\n') ++i;
        ++s.controls;
        out.push_back('\n');
        continue;
      }
      const bool cc = (c < 0x20 && c != '\t' && c != '\n') || (c >= 0x7F && c < 0xA0);
      if (cc || IsZeroWidth(c)) {
        ++s.controls;
        continue;
      }
    }
    if (c >= 0xFF01 && c <= 0xFF5E) {
      const bool alnum = (c >= 0xFF10 && c <= 0xFF19) || (c >= 0xFF21 && c <= 0xFF3A) || (c >= 0xFF41 && c <= 0xFF5A);
      if ((alnum && opts_.fullwidth_ascii) || (!alnum && opts_.fullwidth_punct)) {
        c -= 0xFEE0;
        ++s.fullwidth;
      }
    } else if (c == 0x3000 && opts_.ideographic_space) {
      c = ' ';
      ++s.fullwidth;
    }
    out.push_back(c);
  }
  if (opts_.whitespace) {
    std::vector<int32_t> w;
    w.reserve(out.size());
    int newlines = 0;
    for (size_t i = 0; i < out.size(); ++i) {
      const int32_t c = out[i];
      if (IsHSpace(c)) {
        size_t j = i;
        while (j < out.size() && IsHSpace(out[j])) ++j;
        const bool at_line_end = j == out.size() || out[j] == '\n';
        const bool at_line_start = w.empty() || w.back() == '\n';
        if (at_line_start && !at_line_end) {  // indentation (code, lists) is kept as it is
          w.insert(w.end(), out.begin() + i, out.begin() + j);
        } else {
          if (at_line_end || !(j - i == 1 && c == ' ')) s.whitespace += (int64_t)(j - i);
          if (!at_line_end) w.push_back(' ');
        }
        newlines = 0;
        i = j - 1;
        continue;
      }
      if (c == '\n') {
        if (++newlines > 2) {
          ++s.whitespace;
          continue;
        }
      } else {
        newlines = 0;
      }
      w.push_back(c);
    }
    out.swap(w);
  }
  std::string result = Utf8(out);
  if (result != text) ++s.documents_changed;
  return result;
}

}  // namespace st::data
