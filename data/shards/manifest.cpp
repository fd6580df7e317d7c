#include "data/shards/manifest.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/file_io.h"
#include "core/hash.h"
#include "core/json_io.h"

namespace st::data {
namespace fs = std::filesystem;
using json = nlohmann::json;

StatusOr<std::vector<std::string>> ShardsFromManifest(const std::string& manifest_path, const std::string& split,
                                                      bool verify) {
  ST_ASSIGN_OR_RETURN(json m, ReadJsonFile(manifest_path));
  if (!m.is_object() || !m.contains("format") || !m["format"].is_string() || m["format"] != "slicetune-manifest" ||
      !m.contains("format_version") || !m["format_version"].is_number_integer() || m["format_version"] != kManifestVersion)
    return InvalidInput(manifest_path + ": not a slicetune manifest of version " + std::to_string(kManifestVersion) +
                        "; rebuild with `slicetune data build`");
  std::vector<std::string> out;
  const fs::path dir = fs::path(manifest_path).parent_path();
  if (!m.contains("shards") || !m["shards"].is_array())
    return InvalidInput(manifest_path + ": field 'shards' missing or not a list; rebuild with `slicetune data build`");
  for (const auto& s : m["shards"]) {
    auto text = [&](const char* k) { return s.is_object() && s.contains(k) && s[k].is_string() ? s[k].get<std::string>() : ""; };
    if (!s.is_object()) return InvalidInput(manifest_path + ": a 'shards' entry is not an object");
    if (text("split") != split) continue;
    // A shard is a file beside the manifest: a name with a directory part (../x,
    // /etc/x) would read outside the shards folder, and is refused.
    const std::string file = text("file");
    if (file.empty() || file == "." || file == ".." || file.find('/') != std::string::npos ||
        file.find('\\') != std::string::npos)
      return InvalidInput(manifest_path + ": shard file '" + file + "' is not a file name inside the manifest's folder");
    std::string path = (dir / file).string();
    if (verify) {
      ST_ASSIGN_OR_RETURN(std::string sha, Sha256File(path));
      if (sha != text("sha256"))
        return InvalidInput(path + ": checksum differs from " + manifest_path + "; the shard changed since it was built, rebuild with `slicetune data build`");
    }
    out.push_back(path);
  }
  return out;
}

}  // namespace st::data
