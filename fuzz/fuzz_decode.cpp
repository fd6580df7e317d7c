// Encoding detection and decoding (data/clean/decode.h): any bytes become valid
// UTF-8 with the undecodable ones counted.
#include <cstdlib>
#include <string_view>

#include "core/utf8.h"
#include "data/clean/decode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  st::data::DecodeStats stats;
  auto out = st::data::DecodeToUtf8(std::string_view(reinterpret_cast<const char*>(data), size), "auto", &stats);
  if (out.ok() && st::EncodeUtf8(st::DecodeUtf8(*out)) != *out) std::abort();  // not valid UTF-8
  return 0;
}
