#include "core/json_io.h"

#include "core/file_io.h"

namespace st {

StatusOr<nlohmann::json> ParseJson(std::string_view text, const std::string& where) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    return InvalidInput(where + ": not valid JSON (" + e.what() + ")");
  }
}

StatusOr<nlohmann::json> ReadJsonFile(const std::string& path) {
  ST_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  return ParseJson(text, path);
}

}  // namespace st
