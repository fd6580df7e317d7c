// Text encodings to UTF-8: UTF-8 (with or without BOM), GB18030 / GBK and
// UTF-16 (LE / BE, with or without BOM), detected or declared, converted with
// glibc's iconv (UTF-8 is checked with utf8proc). Bytes that are not valid in
// the encoding become U+FFFD and are counted, with the offset of the first,
// never dropped silently.
//
// Detection (`auto`), in order: a BOM; UTF-16 by its zero bytes (ASCII-range text
// in UTF-16 has a zero in every other byte); valid UTF-8; otherwise GB18030
// (a superset of GBK and GB2312, the encodings of Chinese enterprise files).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace st::data {

struct DecodeStats {
  std::string encoding;     // what was used: utf-8, gb18030, utf-16le, utf-16be (+ " (bom)")
  int64_t bytes_in = 0;
  int64_t invalid_bytes = 0;  // replaced by U+FFFD
  int64_t first_invalid = -1;  // byte offset of the first, -1 if none
};

// Canonical name for a declared encoding (utf-8, utf8, gbk, gb2312, gb18030,
// utf-16, utf-16le, utf-16be; any case), or "auto"; error for anything else.
StatusOr<std::string> CanonicalEncoding(const std::string& name);

// Picks the encoding of `sample` (the start of a file) as described above.
std::string DetectEncoding(std::string_view sample);

// Streaming decoder: feed bytes in any pieces, get UTF-8 out. A multi-byte
// sequence split across pieces is carried to the next Feed.
class Decoder {
 public:
  ~Decoder();
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;
  Decoder(Decoder&&) noexcept;
  // `encoding` is a canonical name from CanonicalEncoding, or "auto": then the
  // first Feed's bytes decide (pass at least a few KiB for a good guess).
  static StatusOr<Decoder> Create(const std::string& encoding);

  // Appends the UTF-8 for `in` to *out. `last`: no more input follows (an
  // incomplete trailing sequence is then invalid).
  Status Feed(std::string_view in, bool last, std::string* out);
  const DecodeStats& stats() const { return stats_; }

 private:
  Decoder() = default;
  Status Open(const std::string& encoding);
  // The UTF-8 path; `offset` is the stream offset of p[0].
  void FeedUtf8(const unsigned char* p, size_t left, bool last, int64_t offset, std::string* out);
  void* cd_ = nullptr;  // iconv_t; null for UTF-8, which is validated without iconv
  std::string pending_;  // bytes of an incomplete sequence from the last Feed
  bool started_ = false, utf8_ = false;
  std::string requested_;
  DecodeStats stats_;
};

// Whole-buffer convenience.
StatusOr<std::string> DecodeToUtf8(std::string_view bytes, const std::string& encoding, DecodeStats* stats);

}  // namespace st::data
