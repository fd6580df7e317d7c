// SHA-256 of bytes and files (OpenSSL's EVP), hex-encoded; HMAC-SHA256. Used for shard and
// manifest checksums, tokenizer hashes and recipe hashes.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace st {

std::string Sha256Hex(std::string_view bytes);
StatusOr<std::string> Sha256File(const std::string& path);
// HMAC-SHA256(key, message): 32 raw bytes (keyed pseudonyms in de-identification).
std::string HmacSha256(std::string_view key, std::string_view message);

}  // namespace st
