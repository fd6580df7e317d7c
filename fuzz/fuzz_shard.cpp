// HDF5 shard reader (data/shards/shard_io.h) over any bytes.
#include "data/shards/shard_io.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = st::fuzz::WriteInput(data, size, ".h5");
  (void)st::data::ReadShard(path);
  return 0;
}
