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
  if (m.value("format", "") != "slicetune-manifest" || m.value("format_version", 0) != kManifestVersion)
    return InvalidInput(manifest_path + ": not a slicetune manifest of version " + std::to_string(kManifestVersion) +
                        "; rebuild with `slicetune data build`");
  std::vector<std::string> out;
  const fs::path dir = fs::path(manifest_path).parent_path();
  for (const auto& s : m["shards"]) {
    if (s.value("split", "") != split) continue;
    std::string path = (dir / s.value("file", "")).string();
    if (verify) {
      ST_ASSIGN_OR_RETURN(std::string sha, Sha256File(path));
      if (sha != s.value("sha256", ""))
        return InvalidInput(path + ": checksum differs from " + manifest_path + "; the shard changed since it was built, rebuild with `slicetune data build`");
    }
    out.push_back(path);
  }
  return out;
}

}  // namespace st::data
