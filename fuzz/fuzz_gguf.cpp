// GGUF reader (export/gguf_reader.h): header, key-values and tensor infos of any bytes.
#include "export/gguf_reader.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = st::fuzz::WriteInput(data, size, ".gguf");
  (void)st::gguf::ReadGgufInfo(path);
  return 0;
}
