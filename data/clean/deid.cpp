#include "data/clean/deid.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <arpa/inet.h>
#include <pcre2.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "core/file_io.h"
#include "core/hash.h"

namespace st::data {
namespace {

const char* kNames[kNumPiiTypes] = {"PHONE", "LANDLINE", "ID", "BANKCARD", "EMAIL", "IPV4", "IPV6", "IMEI", "ICCID", "IMSI"};

// Candidate patterns. Digit runs must not touch other letters or digits, so a
// number inside an order code or a longer number is never taken for a phone.
// ASCII classes only: full-width digits are normalized before this stage.
const char* kPatterns[kNumPiiTypes] = {
    // PHONE: optional +86 / 0086 / 86 prefix, 3-4-4 with optional - or space.
    R"((?<![0-9A-Za-z])(?:(?:\+|00)?86[ -]?)?1[3-9][0-9](?:[ -]?[0-9]{4}){2}(?![0-9A-Za-z]))",
    // LANDLINE: (area) or area, separator, 7-8 digits, optional extension.
    R"((?<![0-9A-Za-z])(?:\(0[0-9]{2,3}\)|0[0-9]{2,3})[ -]?[0-9]{7,8}(?:-[0-9]{1,5})?(?![0-9A-Za-z]))",
    R"((?<![0-9A-Za-z])[1-8][0-9]{16}[0-9Xx](?![0-9A-Za-z]))",
    // BANKCARD: 16-19 digits, plain or in groups of four.
    R"((?<![0-9A-Za-z])(?:[0-9]{16,19}|[0-9]{4}(?:[ -][0-9]{4}){3}(?:[ -][0-9]{1,3})?)(?![0-9A-Za-z]))",
    R"((?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}(?![A-Za-z0-9\-]))",
    R"((?<![0-9.])(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?![0-9]|\.[0-9]))",
    R"((?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![0-9A-Fa-f:]))",
    R"((?<![0-9A-Za-z])[0-9]{15}(?![0-9A-Za-z]))",
    R"((?<![0-9A-Za-z])8986[0-9]{15,16}(?![0-9A-Za-z]))",
    R"((?<![0-9A-Za-z])460(?:0[0-9]|11|15|20)[0-9]{10}(?![0-9A-Za-z]))",
};

// When two candidates overlap, the longer wins; on a tie, the earlier type here.
const PiiType kPriority[] = {PiiType::kId, PiiType::kBankCard, PiiType::kIccid, PiiType::kImsi, PiiType::kImei,
                             PiiType::kPhone, PiiType::kLandline, PiiType::kEmail, PiiType::kIpv6, PiiType::kIpv4};

std::string Digits(const std::string& s) {
  std::string d;
  for (char c : s)
    if (c >= '0' && c <= '9') d += c;
  return d;
}

// Case-insensitive (ASCII) search for any of `words` in the `window` bytes before `at`.
bool ContextBefore(const std::string& text, size_t at, const std::vector<std::string>& words, size_t window = 40) {
  const size_t from = at > window ? at - window : 0;
  std::string w = text.substr(from, at - from);
  for (char& c : w) c = (char)std::tolower((unsigned char)c);
  for (const auto& word : words)
    if (w.find(word) != std::string::npos) return true;
  return false;
}

const std::vector<std::string> kLandlineWords = {"电话", "座机", "传真", "tel", "fax", "联系", "热线", "办公"};
const std::vector<std::string> kImeiWords = {"imei", "串号", "设备号", "终端号"};
const std::vector<std::string> kImsiWords = {"imsi", "用户识别码"};
const std::vector<std::string> kVersionWords = {"v", "版本", "version", "ver"};

// A landline's digit groups: area code, subscriber number, extension. With no
// separator the area code's length follows the plan: 010 and 02x are three
// digits, the rest four.
struct Landline {
  std::string area, subscriber, ext;
  bool explicit_area = false;
  bool Valid() const {
    const bool three = area.size() == 3 && (area == "010" || area[1] == '2');
    const bool four = area.size() == 4 && area[1] >= '3' && area[1] <= '9';
    return (three && subscriber.size() == 8) || (four && (subscriber.size() == 7 || subscriber.size() == 8));
  }
};

Landline ParseLandline(const std::string& m) {
  std::vector<std::string> groups(1);
  for (char c : m) {
    if (c >= '0' && c <= '9') groups.back() += c;
    else if (!groups.back().empty()) groups.emplace_back();
  }
  if (groups.back().empty()) groups.pop_back();
  Landline l;
  if (groups.size() >= 2) {
    l.area = groups[0];
    l.subscriber = groups[1];
    if (groups.size() > 2) l.ext = groups[2];
    l.explicit_area = true;
  } else if (!groups.empty() && groups[0].size() > 4) {
    const size_t a = (groups[0][1] == '1' || groups[0][1] == '2') ? 3 : 4;
    l.area = groups[0].substr(0, a);
    l.subscriber = groups[0].substr(a);
  }
  return l;
}

bool ValidDate(int y, int m, int d) {
  if (y < 1900 || y > 2100 || m < 1 || m > 12 || d < 1) return false;
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return d <= kDays[m - 1] + (m == 2 && leap);
}

bool CardPrefix(const std::string& d) {
  auto p = [&](const char* s) { return d.rfind(s, 0) == 0; };
  if (p("62") || p("4") || p("35")) return d.size() >= 16;
  if (d.size() == 16 && (p("51") || p("52") || p("53") || p("54") || p("55"))) return true;
  if (d.size() == 16 && d[0] == '2' && d[1] >= '2' && d[1] <= '7') return true;  // Mastercard 2-series
  if (d.size() == 15 && (p("34") || p("37"))) return true;
  return false;
}

}  // namespace

const char* PiiTypeName(PiiType t) { return kNames[static_cast<int>(t)]; }

StatusOr<std::set<std::string>> ReadAllowList(const std::string& path) {
  ST_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  std::set<std::string> out;
  size_t a = 0;
  while (a < text.size()) {
    size_t e = text.find('\n', a);
    if (e == std::string::npos) e = text.size();
    std::string v = text.substr(a, e - a);
    while (!v.empty() && (v.back() == '\r' || v.back() == ' ')) v.pop_back();
    if (!v.empty() && v[0] != '#') out.insert(v);
    a = e + 1;
  }
  return out;
}

StatusOr<PiiType> ParsePiiType(const std::string& name) {
  std::string n;
  for (char c : name) n += (char)std::toupper((unsigned char)c);
  for (int i = 0; i < kNumPiiTypes; ++i)
    if (n == kNames[i]) return static_cast<PiiType>(i);
  std::string all;
  for (int i = 0; i < kNumPiiTypes; ++i) all += std::string(i ? ", " : "") + kNames[i];
  return InvalidInput("PII type '" + name + "' is not known; expected one of " + all);
}

StatusOr<PiiPolicy> ParsePiiPolicy(const std::string& name) {
  if (name == "keep") return PiiPolicy::kKeep;
  if (name == "placeholder") return PiiPolicy::kPlaceholder;
  if (name == "pseudonym") return PiiPolicy::kPseudonym;
  return InvalidInput("de-identification policy '" + name + "': expected keep, placeholder or pseudonym");
}

char ResidentIdCheck(const std::string& s) {
  static const int kW[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
  static const char kC[] = "10X98765432";
  int sum = 0;
  for (int i = 0; i < 17; ++i) sum += (s[i] - '0') * kW[i];
  return kC[sum % 11];
}

bool ValidResidentId(const std::string& id) {
  if (id.size() != 18) return false;
  for (int i = 0; i < 17; ++i)
    if (id[i] < '0' || id[i] > '9') return false;
  const int region = (id[0] - '0') * 10 + (id[1] - '0');
  if (region < 11 || region > 82) return false;
  if (!ValidDate(std::stoi(id.substr(6, 4)), std::stoi(id.substr(10, 2)), std::stoi(id.substr(12, 2)))) return false;
  return std::toupper((unsigned char)id[17]) == ResidentIdCheck(id);
}

char LuhnCheckDigit(const std::string& d) {
  int sum = 0;
  for (size_t i = 0; i < d.size(); ++i) {
    int v = d[d.size() - 1 - i] - '0';
    if (i % 2 == 0) v = v * 2 > 9 ? v * 2 - 9 : v * 2;
    sum += v;
  }
  return (char)('0' + (10 - sum % 10) % 10);
}

bool LuhnValid(const std::string& d) {
  return d.size() >= 2 && LuhnCheckDigit(d.substr(0, d.size() - 1)) == d.back();
}

struct Deidentifier::Impl {
  pcre2_code* code[kNumPiiTypes] = {};
  pcre2_match_data* md[kNumPiiTypes] = {};
  ~Impl() {
    for (int i = 0; i < kNumPiiTypes; ++i) {
      if (md[i]) pcre2_match_data_free(md[i]);
      if (code[i]) pcre2_code_free(code[i]);
    }
  }
};

Deidentifier::~Deidentifier() { delete impl_; }
Deidentifier::Deidentifier(Deidentifier&& o) noexcept : impl_(o.impl_), opts_(std::move(o.opts_)) { o.impl_ = nullptr; }

StatusOr<Deidentifier> Deidentifier::Create(const DeidOptions& opts) {
  Deidentifier d;
  d.opts_ = opts;
  if (std::count(opts.policy.begin(), opts.policy.end(), PiiPolicy::kPseudonym) && opts.key.size() < 16)
    return InvalidInput("pseudonyms need a secret key of at least 16 bytes (data.clean.deid.key_file, or "
                        "SLICETUNE_DEID_KEY); without one a phone number's stand-in can be reversed by trying all numbers");
  d.impl_ = new Impl();
  for (int i = 0; i < kNumPiiTypes; ++i) {
    int err = 0;
    PCRE2_SIZE off = 0;
    d.impl_->code[i] = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(kPatterns[i]), PCRE2_ZERO_TERMINATED, PCRE2_UTF, &err, &off, nullptr);
    if (!d.impl_->code[i]) return RuntimeError(std::string("internal: PII pattern for ") + kNames[i] + " does not compile");
    pcre2_jit_compile(d.impl_->code[i], PCRE2_JIT_COMPLETE);
    d.impl_->md[i] = pcre2_match_data_create_from_pattern(d.impl_->code[i], nullptr);
  }
  return d;
}

std::vector<PiiSpan> Deidentifier::Find(const std::string& text, DeidStats* stats) const {
  DeidStats local;
  DeidStats& st = stats ? *stats : local;
  std::vector<PiiSpan> cand;
  auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  for (int ti = 0; ti < kNumPiiTypes; ++ti) {
    const auto type = static_cast<PiiType>(ti);
    PCRE2_SIZE start = 0;
    while (start < text.size()) {
      int rc = pcre2_match(impl_->code[ti], subject, text.size(), start, PCRE2_NO_UTF_CHECK, impl_->md[ti], nullptr);
      if (rc < 0) break;
      PCRE2_SIZE* ov = pcre2_get_ovector_pointer(impl_->md[ti]);
      const size_t b = ov[0], e = ov[1];
      start = e > b ? e : b + 1;
      const std::string m = text.substr(b, e - b);
      const std::string d = Digits(m);
      bool ok = true;
      switch (type) {
        case PiiType::kLandline: {
          const Landline l = ParseLandline(m);
          ok = l.Valid() && (l.explicit_area || ContextBefore(text, b, kLandlineWords));
          break;
        }
        case PiiType::kId:
          ok = ValidResidentId(m);
          break;
        case PiiType::kBankCard: {
          ok = d.size() >= 15 && d.size() <= 19 && CardPrefix(d) && LuhnValid(d);
          break;
        }
        case PiiType::kIpv4: {
          size_t p = 0;
          for (int o = 0; o < 4 && ok; ++o) {
            size_t q = m.find('.', p);
            std::string oct = m.substr(p, q == std::string::npos ? std::string::npos : q - p);
            ok = !oct.empty() && oct.size() <= 3 && (oct.size() == 1 || oct[0] != '0') && std::stoi(oct) <= 255;
            p = q + 1;
          }
          if (ok) {  // "v1.2.3.4", "版本 1.2.3.4": a version, not an address
            const size_t from = b > 12 ? b - 12 : 0;
            std::string w = text.substr(from, b - from);
            for (char& c : w) c = (char)std::tolower((unsigned char)c);
            while (!w.empty() && (w.back() == ' ' || w.back() == ':')) w.pop_back();
            for (const auto& v : kVersionWords)
              if (w.size() >= v.size() && w.compare(w.size() - v.size(), v.size(), v) == 0) ok = false;
          }
          break;
        }
        case PiiType::kIpv6: {
          unsigned char buf[16];
          ok = std::count(m.begin(), m.end(), ':') >= 2 &&
               std::any_of(m.begin(), m.end(), [](char c) { return std::isxdigit((unsigned char)c); }) &&
               inet_pton(AF_INET6, m.c_str(), buf) == 1;
          // Clock times and ratios ("12:30:45") are not addresses: want a "::" or a letter digit or 8 groups.
          if (ok && m.find("::") == std::string::npos && std::count(m.begin(), m.end(), ':') < 7) ok = false;
          break;
        }
        case PiiType::kImei:
          ok = LuhnValid(d) && ContextBefore(text, b, kImeiWords);
          break;
        case PiiType::kImsi:
          ok = ContextBefore(text, b, kImsiWords);
          break;
        default:
          break;
      }
      if (!ok) {
        ++st.rejected;
        continue;
      }
      if (opts_.allow.count(m) || (!d.empty() && d.size() == m.size() && opts_.allow.count(d))) {
        ++st.allowed;
        continue;
      }
      cand.push_back({b, e, type});
    }
  }
  // Longest first, then priority; keep the ones that do not overlap a kept one.
  auto rank = [](PiiType t) { return (int)(std::find(std::begin(kPriority), std::end(kPriority), t) - std::begin(kPriority)); };
  std::sort(cand.begin(), cand.end(), [&](const PiiSpan& x, const PiiSpan& y) {
    if (x.end - x.begin != y.end - y.begin) return x.end - x.begin > y.end - y.begin;
    if (rank(x.type) != rank(y.type)) return rank(x.type) < rank(y.type);
    return x.begin < y.begin;
  });
  std::vector<PiiSpan> out;
  for (const auto& c : cand) {
    bool overlap = false;
    for (const auto& o : out)
      if (c.begin < o.end && o.begin < c.end) overlap = true;
    if (!overlap) out.push_back(c);
  }
  std::sort(out.begin(), out.end(), [](const PiiSpan& x, const PiiSpan& y) { return x.begin < y.begin; });
  for (const auto& s : out) ++st.found[static_cast<int>(s.type)];
  if (!out.empty()) ++st.documents_with_pii;
  return out;
}

std::string Deidentifier::Pseudonym(PiiType type, const std::string& value) const {
  // A stream of keyed bytes for this (type, canonical value).
  std::string canon;
  if (type == PiiType::kEmail) {
    for (char c : value) canon += (char)std::tolower((unsigned char)c);
  } else if (type == PiiType::kIpv4 || type == PiiType::kIpv6) {
    unsigned char buf[16];
    const int af = type == PiiType::kIpv4 ? AF_INET : AF_INET6;
    canon = inet_pton(af, value.c_str(), buf) == 1 ? std::string(reinterpret_cast<char*>(buf), af == AF_INET ? 4 : 16) : value;
  } else {
    canon = Digits(value);
    if (type == PiiType::kPhone && canon.size() > 11) canon = canon.substr(canon.size() - 11);  // +86 prefix
    if (type == PiiType::kId) canon += (char)std::toupper((unsigned char)value.back());
  }
  std::string stream;
  for (int block = 0; stream.size() < 64; ++block)
    stream += HmacSha256(opts_.key, std::string(kNames[static_cast<int>(type)]) + ":" + std::to_string(block) + ":" + canon);
  size_t at = 0;
  auto next = [&](int mod) { return (int)((unsigned char)stream[at++ % stream.size()] % mod); };
  auto digits = [&](size_t n) {
    std::string s;
    for (size_t i = 0; i < n; ++i) s += (char)('0' + next(10));
    return s;
  };
  // Re-spell `digits_out` with the separators of `value` where its digits were.
  auto respell = [&](const std::string& digits_out, size_t first_digit) {
    std::string out = value;
    size_t k = 0, seen = 0;
    for (char& c : out)
      if (c >= '0' && c <= '9') {
        if (seen++ >= first_digit && k < digits_out.size()) c = digits_out[k++];
      }
    return out;
  };
  const std::string d = Digits(value);
  switch (type) {
    case PiiType::kPhone: {
      const size_t pre = d.size() - 11;  // digits of a +86 / 0086 prefix, kept
      std::string m = "1" + std::string(1, (char)('3' + next(7))) + digits(9);
      return respell(m, pre);
    }
    case PiiType::kLandline: {  // same area code and extension, a new subscriber number
      const Landline l = ParseLandline(value);
      const std::string s = std::string(1, (char)('2' + next(7))) + digits(l.subscriber.size() - 1) + l.ext;
      return respell(s, l.area.size());
    }
    case PiiType::kId: {
      // Same region, a birth date between 1950 and 2004, new sequence, valid check character.
      const int y = 1950 + next(55), mo = 1 + next(12), da = 1 + next(28);
      char date[36];  // 8 used; room for any int so unoptimized builds see no truncation
      std::snprintf(date, sizeof date, "%04d%02d%02d", y, mo, da);
      std::string id = value.substr(0, 6) + date + digits(3);
      return id + ResidentIdCheck(id);
    }
    case PiiType::kBankCard: {
      std::string s = d.substr(0, 6) + digits(d.size() - 7);
      s += LuhnCheckDigit(s);
      return respell(s.substr(6), 6);
    }
    case PiiType::kEmail: {
      const size_t atpos = value.find('@');
      static const char* kHex = "0123456789abcdef";
      std::string local = "user";
      for (int i = 0; i < 8; ++i) local += kHex[next(16)];
      return local + value.substr(atpos);
    }
    case PiiType::kIpv4:
      return "10." + std::to_string(next(256)) + "." + std::to_string(next(256)) + "." + std::to_string(1 + next(254));
    case PiiType::kIpv6: {
      static const char* kHex = "0123456789abcdef";
      std::string s = "fd00";
      for (int g = 0; g < 7; ++g) {
        s += ':';
        for (int i = 0; i < 4; ++i) s += kHex[next(16)];
      }
      return s;
    }
    case PiiType::kImei: {
      std::string s = d.substr(0, 8) + digits(6);
      return s + LuhnCheckDigit(s);
    }
    case PiiType::kIccid: {
      std::string s = d.substr(0, 6) + digits(d.size() - 6 - (d.size() == 20 ? 1 : 0));
      if (d.size() == 20) s += LuhnCheckDigit(s);
      return s;
    }
    case PiiType::kImsi:
      return d.substr(0, 5) + digits(10);
    default:
      return value;
  }
}

std::string Deidentifier::Apply(const std::string& text, DeidStats* stats) const {
  DeidStats local;
  DeidStats& st = stats ? *stats : local;
  const auto spans = Find(text, &st);
  if (spans.empty()) return text;
  std::string out;
  out.reserve(text.size());
  size_t at = 0;
  for (const auto& s : spans) {
    out.append(text, at, s.begin - at);
    const PiiPolicy p = opts_.policy[static_cast<int>(s.type)];
    const std::string value = text.substr(s.begin, s.end - s.begin);
    if (p == PiiPolicy::kKeep) {
      out += value;
    } else {
      ++st.replaced[static_cast<int>(s.type)];
      out += p == PiiPolicy::kPlaceholder ? std::string("<") + kNames[static_cast<int>(s.type)] + ">" : Pseudonym(s.type, value);
    }
    at = s.end;
  }
  out.append(text, at, std::string::npos);
  return out;
}

}  // namespace st::data
