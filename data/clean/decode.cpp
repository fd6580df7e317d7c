#include "data/clean/decode.h"

#include <iconv.h>
#include <utf8proc.h>

#include <algorithm>
#include <cerrno>
#include <cctype>

namespace st::data {
namespace {

constexpr char kReplacement[] = "\xEF\xBF\xBD";  // U+FFFD

bool ValidUtf8(std::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    const auto c = (unsigned char)s[i];
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0) return false;
    if (i + len > n) return true;  // a sequence cut by the sample's end is not evidence against
    for (size_t k = 1; k < len; ++k)
      if (((unsigned char)s[i + k] & 0xc0) != 0x80) return false;
    i += len;
  }
  return true;
}

// The iconv name for a canonical encoding.
const char* IconvName(const std::string& enc) {
  if (enc == "utf-8") return "UTF-8";
  if (enc == "gb18030") return "GB18030";
  if (enc == "utf-16le") return "UTF-16LE";
  if (enc == "utf-16be") return "UTF-16BE";
  return nullptr;
}

}  // namespace

StatusOr<std::string> CanonicalEncoding(const std::string& name) {
  std::string n;
  for (char c : name)
    if (c != '_') n += (char)std::tolower((unsigned char)c);
  if (n == "auto") return std::string("auto");
  if (n == "utf-8" || n == "utf8" || n == "utf-8-sig") return std::string("utf-8");
  // GB18030 decodes every GBK and GB2312 byte sequence to the same characters.
  if (n == "gb18030" || n == "gbk" || n == "gb2312" || n == "cp936") return std::string("gb18030");
  if (n == "utf-16le" || n == "utf16le") return std::string("utf-16le");
  if (n == "utf-16be" || n == "utf16be") return std::string("utf-16be");
  if (n == "utf-16" || n == "utf16") return std::string("utf-16");
  return InvalidInput("encoding '" + name + "' is not supported; expected auto, utf-8, gb18030 (gbk, gb2312), utf-16, utf-16le or utf-16be");
}

std::string DetectEncoding(std::string_view s) {
  if (s.size() >= 3 && (unsigned char)s[0] == 0xEF && (unsigned char)s[1] == 0xBB && (unsigned char)s[2] == 0xBF) return "utf-8";
  if (s.size() >= 2 && (unsigned char)s[0] == 0xFF && (unsigned char)s[1] == 0xFE) return "utf-16le";
  if (s.size() >= 2 && (unsigned char)s[0] == 0xFE && (unsigned char)s[1] == 0xFF) return "utf-16be";
  // UTF-16 without a BOM: many zero bytes, on one parity.
  size_t even0 = 0, odd0 = 0;
  const size_t m = std::min<size_t>(s.size(), 1 << 16) & ~size_t(1);
  for (size_t i = 0; i < m; i += 2) {
    even0 += s[i] == 0;
    odd0 += s[i + 1] == 0;
  }
  if (m >= 4 && odd0 * 4 >= m / 2 && even0 * 10 < odd0) return "utf-16le";
  if (m >= 4 && even0 * 4 >= m / 2 && odd0 * 10 < even0) return "utf-16be";
  if (ValidUtf8(s.substr(0, 1 << 20))) return "utf-8";
  return "gb18030";
}

Decoder::~Decoder() {
  if (cd_) iconv_close(static_cast<iconv_t>(cd_));
}

Decoder::Decoder(Decoder&& o) noexcept
    : cd_(o.cd_), pending_(std::move(o.pending_)), started_(o.started_), utf8_(o.utf8_),
      requested_(std::move(o.requested_)), stats_(std::move(o.stats_)) {
  o.cd_ = nullptr;
}

StatusOr<Decoder> Decoder::Create(const std::string& encoding) {
  ST_ASSIGN_OR_RETURN(std::string enc, CanonicalEncoding(encoding));
  Decoder d;
  d.requested_ = enc;
  return d;
}

Status Decoder::Open(const std::string& enc) {
  stats_.encoding = enc;
  // UTF-8 is checked here, not by iconv: glibc's UTF-8 decoder passes 5- and 6-byte
  // forms and code points above U+10FFFF through (found by fuzz_decode).
  if (enc == "utf-8") {
    utf8_ = true;
    return Status::Ok();
  }
  const char* name = IconvName(enc);
  iconv_t cd = iconv_open("UTF-8", name);
  if (cd == (iconv_t)-1) return RuntimeError(std::string("iconv cannot convert from ") + name + " on this system");
  cd_ = cd;
  return Status::Ok();
}

namespace {

// Whether the n (< 4) bytes at p could begin a valid sequence that the next piece completes.
bool CutSequence(const unsigned char* p, size_t n) {
  const unsigned char c = p[0];
  const size_t len = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
  if (len == 0 || n >= len) return false;
  for (size_t k = 1; k < n; ++k)
    if ((p[k] & 0xC0) != 0x80) return false;
  return true;
}

}  // namespace

// Copies the well-formed sequences (utf8proc_iterate: Unicode's table 3-7, no
// overlong forms, surrogates or code points past U+10FFFF) and replaces each byte
// that does not start one, as the iconv path does for its invalid units.
void Decoder::FeedUtf8(const unsigned char* p, size_t left, bool last, int64_t offset, std::string* out) {
  while (left > 0) {
    size_t run = 0;
    while (run < left && p[run] < 0x80) ++run;
    if (run) {
      out->append(reinterpret_cast<const char*>(p), run);
      p += run;
      left -= run;
      offset += (int64_t)run;
      continue;
    }
    utf8proc_int32_t cp;
    const utf8proc_ssize_t n = utf8proc_iterate(p, (utf8proc_ssize_t)std::min<size_t>(left, 4), &cp);
    if (n > 0) {
      out->append(reinterpret_cast<const char*>(p), (size_t)n);
      p += n;
      left -= (size_t)n;
      offset += n;
      continue;
    }
    if (!last && left < 4 && CutSequence(p, left)) {  // completed by the next Feed
      pending_.assign(reinterpret_cast<const char*>(p), left);
      return;
    }
    if (stats_.first_invalid < 0) stats_.first_invalid = offset;
    stats_.invalid_bytes += 1;
    out->append(kReplacement);
    ++p;
    --left;
    ++offset;
  }
}

Status Decoder::Feed(std::string_view in, bool last, std::string* out) {
  std::string buf;
  const size_t carried = pending_.size();
  if (carried) {
    buf = pending_ + std::string(in);
    in = buf;
    pending_.clear();
  }
  const int64_t base = stats_.bytes_in - (int64_t)carried;  // stream offset of in[0]
  stats_.bytes_in += (int64_t)(in.size() - carried);
  size_t skip = 0;
  if (!started_) {
    if (in.size() < 4096 && !last) {  // wait for enough bytes to detect from
      pending_.assign(in);
      return Status::Ok();
    }
    started_ = true;
    std::string enc = requested_ == "auto" ? DetectEncoding(in) : requested_;
    auto u = [&](size_t i) { return i < in.size() ? (unsigned char)in[i] : 0u; };
    const bool bom8 = u(0) == 0xEF && u(1) == 0xBB && u(2) == 0xBF;
    const bool bom_le = u(0) == 0xFF && u(1) == 0xFE, bom_be = u(0) == 0xFE && u(1) == 0xFF;
    if (enc == "utf-16") enc = bom_be ? "utf-16be" : "utf-16le";  // no BOM: little-endian, as Windows writes it
    if (enc == "utf-8" && bom8) skip = 3;
    if ((enc == "utf-16le" && bom_le) || (enc == "utf-16be" && bom_be)) skip = 2;
    ST_RETURN_IF_ERROR(Open(enc));
    if (skip) stats_.encoding += " (bom)";
  }
  if (utf8_) {
    FeedUtf8(reinterpret_cast<const unsigned char*>(in.data()) + skip, in.size() - skip, last, base + (int64_t)skip, out);
    return Status::Ok();
  }
  const size_t unit = stats_.encoding.rfind("utf-16", 0) == 0 ? 2 : 1;
  auto cd = static_cast<iconv_t>(cd_);
  char* src = const_cast<char*>(in.data()) + skip;
  size_t left = in.size() - skip;
  char tmp[1 << 14];
  while (left > 0) {
    char* dst = tmp;
    size_t room = sizeof tmp;
    size_t rc = iconv(cd, &src, &left, &dst, &room);
    out->append(tmp, dst - tmp);
    if (rc != (size_t)-1) break;
    if (errno == E2BIG) continue;
    if (errno == EINVAL && !last) {  // incomplete sequence at the end: keep it for the next Feed
      pending_.assign(src, left);
      break;
    }
    // EILSEQ, or EINVAL at the very end: one unit is invalid.
    const size_t bad = std::min(unit, left);
    if (stats_.first_invalid < 0) stats_.first_invalid = base + (src - in.data());
    stats_.invalid_bytes += (int64_t)bad;
    out->append(kReplacement);
    src += bad;
    left -= bad;
    iconv(cd, nullptr, nullptr, nullptr, nullptr);  // reset shift state
  }
  return Status::Ok();
}

StatusOr<std::string> DecodeToUtf8(std::string_view bytes, const std::string& encoding, DecodeStats* stats) {
  ST_ASSIGN_OR_RETURN(Decoder d, Decoder::Create(encoding));
  std::string out;
  out.reserve(bytes.size() + bytes.size() / 4);
  ST_RETURN_IF_ERROR(d.Feed(bytes, /*last=*/true, &out));
  if (stats) *stats = d.stats();
  return out;
}

}  // namespace st::data
