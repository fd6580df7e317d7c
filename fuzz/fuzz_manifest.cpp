// The shards' manifest (data/shards/manifest.h): any bytes as manifest.json give
// a verified list of shard files inside its folder, or an error.
#include <filesystem>

#include "data/shards/manifest.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = st::fuzz::WriteInput(data, size, "-manifest.json");
  for (const char* split : {"train", "val"}) {
    auto files = st::data::ShardsFromManifest(path, split, true);
    if (files.ok())
      for (const auto& f : *files)
        if (std::filesystem::path(f).parent_path() != std::filesystem::path(path).parent_path()) __builtin_trap();
  }
  return 0;
}
