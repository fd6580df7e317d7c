// The shard manifest, <output_dir>/shards/manifest.json:
//   {format: "slicetune-manifest", format_version: 1, recipe, recipe_sha256,
//    tokenizer_sha256, tokenizer, seq_len, pack,
//    inputs: [{path, sha256, bytes, format, documents}],
//    shards: [{file, split, sequences, target_tokens, real_tokens, sha256}]}
// Shard files are named relative to the manifest's folder.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"

namespace st::data {

inline constexpr int kManifestVersion = 1;

// Lists the shard files of `split` from a manifest, optionally verifying each checksum.
StatusOr<std::vector<std::string>> ShardsFromManifest(const std::string& manifest_path, const std::string& split,
                                                      bool verify_checksums);

}  // namespace st::data
