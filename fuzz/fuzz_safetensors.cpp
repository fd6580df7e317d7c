// safetensors header and tensor table (core/safetensors.h): any bytes give a
// tensor table whose every view lies inside the file, or an error.
#include <cstdlib>

#include "core/safetensors.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = st::fuzz::WriteInput(data, size, ".safetensors");
  auto f = st::SafetensorsFile::Open(path);
  if (!f.ok()) return 0;
  for (const auto& [name, t] : (*f)->tensors()) {
    if (t.nbytes > size) std::abort();  // a view beyond the file
    std::vector<float> v;
    if (t.numel() < (1 << 16)) (void)t.ToF32(&v);
  }
  return 0;
}
