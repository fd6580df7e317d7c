// SHA-256 of bytes and files (OpenSSL's EVP), hex-encoded; HMAC-SHA256. Used for shard and
// manifest checksums, tokenizer hashes and recipe hashes.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace st {

std::string Sha256Hex(std::string_view bytes);
StatusOr<std::string> Sha256File(const std::string& path);
// SHA-256 fed in pieces (a file hashed while it is being read for something else).
class Sha256Stream {
 public:
  Sha256Stream();
  ~Sha256Stream();
  Sha256Stream(const Sha256Stream&) = delete;
  Sha256Stream& operator=(const Sha256Stream&) = delete;
  void Update(std::string_view bytes);
  std::string FinishHex();

 private:
  void* ctx_;  // EVP_MD_CTX
};

// HMAC-SHA256(key, message): 32 raw bytes (keyed pseudonyms in de-identification).
std::string HmacSha256(std::string_view key, std::string_view message);

}  // namespace st
