// tokenizer.model loading (data/tokenize/sp_tokenizer.h: Debian's libsentencepiece
// parses the protobuf; our code then indexes its pieces, specials and byte
// fallback), then an encode with offsets and a decode of a fixed mixed text.
#include "data/tokenize/sp_tokenizer.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = st::fuzz::WriteInput(data, size, "-tokenizer.model");
  auto t = st::data::SpTokenizer::Load(path);
  if (!t.ok()) return 0;
  std::vector<size_t> starts;
  const auto ids = (*t)->EncodeWithOffsets("杭分 宽带 broadband 2026 <s>\n\xe2\x80\x8b", &starts);
  (void)(*t)->Decode(ids);
  for (int id = 0; id < (*t)->vocab_size() && id < 64; ++id) (void)(*t)->Piece(id);
  return 0;
}
