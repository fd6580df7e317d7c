// config.json (core/model_spec.h): any text parses to a spec or an error.
#include <string>

#include "core/model_spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto s = st::ParseModelSpec(std::string(reinterpret_cast<const char*>(data), size), "fuzz/config.json");
  if (s.ok()) (void)st::ListWeights(*s);
  return 0;
}
