// tokenizer.json loading (data/tokenize/bpe_tokenizer.h), then an encode and a
// decode of a fixed mixed text.
#include "data/tokenize/bpe_tokenizer.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = st::fuzz::WriteInput(data, size, "-tokenizer.json");
  auto t = st::data::BpeTokenizer::Load(path, "");
  if (t.ok()) (void)(*t)->Decode((*t)->Encode("杭分 宽带 broadband 2026 \n"));
  return 0;
}
