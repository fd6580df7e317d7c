// De-identification, precision first: personal data in Chinese enterprise text
// found by pattern, then confirmed by validators (checksums, number plans),
// context words and an allow-list before anything is touched — an over-eager pass
// ruins a fine-tune as surely as a leak ruins a release.
//
// Types and what confirms them:
//   PHONE     mainland mobile: 1[3-9] + 9 digits (separators - or space, +86 prefix); number plan
//   LANDLINE  area code (010, 02x; 0[3-9]xx) + 7-8 digits; needs a separator, brackets or a context word
//   ID        18-character resident ID: region, a real birth date, ISO 7064 MOD 11-2 check character
//   BANKCARD  16-19 digits with a card-scheme prefix (62 UnionPay, 4, 5[1-5], 2[2-7], 35, 34/37) and Luhn
//   EMAIL     local@domain.tld
//   IPV4      four octets 0-255, not part of a longer dotted number or a version ("v1.2.3.4")
//   IPV6      what inet_pton accepts, with at least two colons and a hex digit
//   IMEI      15 digits with Luhn, next to a context word (IMEI, 串号, 设备号)
//   ICCID     SIM number 8986 + 15-16 digits (China's issuer prefix)
//   IMSI      460 + a Chinese operator's MNC + 10 digits, next to a context word (IMSI)
// Each type has a policy: keep, placeholder (<PHONE>) or pseudonym: the same value
// always becomes the same realistic, format-valid stand-in (a keyed HMAC-SHA256 of
// the type and the value's digits), so "138-0013-8000" and "13800138000" get one
// stand-in across files, tasks and runs that share the key.
#pragma once

#include <array>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "core/status.h"

namespace st::data {

enum class PiiType : int { kPhone, kLandline, kId, kBankCard, kEmail, kIpv4, kIpv6, kImei, kIccid, kImsi, kCount };
inline constexpr int kNumPiiTypes = static_cast<int>(PiiType::kCount);

const char* PiiTypeName(PiiType t);  // "PHONE", ...
StatusOr<PiiType> ParsePiiType(const std::string& name);  // any case

enum class PiiPolicy { kKeep, kPlaceholder, kPseudonym };
StatusOr<PiiPolicy> ParsePiiPolicy(const std::string& name);  // keep | placeholder | pseudonym

struct PiiSpan {
  size_t begin = 0, end = 0;  // bytes
  PiiType type = PiiType::kPhone;
};

struct DeidOptions {
  std::array<PiiPolicy, kNumPiiTypes> policy{};  // per type; default placeholder for all
  std::set<std::string> allow;  // values never touched (service numbers, glossary terms), compared as written
  std::string key;              // secret for pseudonyms (required when any policy is pseudonym)
  DeidOptions() { policy.fill(PiiPolicy::kPlaceholder); }
};

struct DeidStats {
  std::array<int64_t, kNumPiiTypes> found{};     // confirmed spans per type
  std::array<int64_t, kNumPiiTypes> replaced{};  // of those, changed (policy not keep)
  int64_t allowed = 0;     // candidates skipped by the allow-list
  int64_t rejected = 0;    // candidates a validator or missing context turned down
  int64_t documents_with_pii = 0;
};

class Deidentifier {
 public:
  ~Deidentifier();
  Deidentifier(Deidentifier&&) noexcept;
  Deidentifier(const Deidentifier&) = delete;
  Deidentifier& operator=(const Deidentifier&) = delete;
  static StatusOr<Deidentifier> Create(const DeidOptions& opts);

  // Confirmed spans in `text`, in order, not overlapping. Not thread-safe (one per thread).
  std::vector<PiiSpan> Find(const std::string& text, DeidStats* stats) const;
  // `text` with every confirmed span replaced by its policy.
  std::string Apply(const std::string& text, DeidStats* stats) const;
  // The stand-in for one value of a type (pseudonym policy).
  std::string Pseudonym(PiiType type, const std::string& value) const;

 private:
  Deidentifier() = default;
  struct Impl;
  Impl* impl_ = nullptr;
  DeidOptions opts_;
};

// An allow-list file: one value per line, # comments.
StatusOr<std::set<std::string>> ReadAllowList(const std::string& path);

// Validators, exposed for tests.
bool ValidResidentId(const std::string& id18);  // region, date, check character
bool LuhnValid(const std::string& digits);
char ResidentIdCheck(const std::string& first17);
char LuhnCheckDigit(const std::string& digits_without_check);

}  // namespace st::data
