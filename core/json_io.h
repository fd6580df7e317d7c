// JSON parsing with errors that name the source (nlohmann::json underneath).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "core/status.h"

namespace st {

// Parses `text`; a syntax error becomes InvalidInput "<where>: not valid JSON (...)".
StatusOr<nlohmann::json> ParseJson(std::string_view text, const std::string& where);
// Reads and parses a file; errors name the path.
StatusOr<nlohmann::json> ReadJsonFile(const std::string& path);

}  // namespace st
