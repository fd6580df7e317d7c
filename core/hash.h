// SHA-256 of bytes and files (OpenSSL's EVP), hex-encoded. Used for shard and
// manifest checksums, tokenizer hashes and recipe hashes.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace st {

std::string Sha256Hex(std::string_view bytes);
StatusOr<std::string> Sha256File(const std::string& path);

}  // namespace st
