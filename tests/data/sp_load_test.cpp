// tokenizer.model files that crashed loading (fuzz_tokenizer_model): each must
// be an exit-2 style error naming the file, not an abort.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "data/tokenize/sp_tokenizer.h"
#include "tests/test_util.h"

namespace st::data {
namespace {

TEST(SpLoad, MalformedModelsAreErrorsNotCrashes) {
  // A unigram model with an empty piece: libsentencepiece's trie builder throws.
  const std::string empty_piece(
      "\x0a\x0e\x0a\x05\x3c\x75\x6e\x6b\x3e\x15\x00\x00\x00\x00\x18\x02\x0a\x0c\x0a\x03\x3c\x73\x3e\x15"
      "\x00\x00\x00\x00\x38\x03\x0a\x32\x55\x00\x00\x80\x0d\x0a\x04\x3c\x2f\x73\x3e\x15\x00\x00\x00\x00"
      "\x18\x03\x0a\x0a\x0a\x03\xe2\x96\x81\x15\xaa\xa8\xcd\xbf\x0a\x08\x0a\x01\x31\x15\x2f\x80\x5a\xc0"
      "\x0a\x08\x0a\x01\xb0\x15\x05\xd6\x83\xc0\x0a\x0a\x0a\x08\x00\x01\x68\x15\x09\xd6\x83\xc0\x29\x0a"
      "\x08\x0a\x01\x6b\x15\x09\xd6\x12\x0c\x18\x01\x20\x32\x55\x00\x00\x80\x3f\x88\x02\x00\x1a\x0c\x0a"
      "\x08\x69\x2c\xbc\x9a\x74\x69\x74\x79\x12\x00",
      131);
  testing::TempDir dir;
  const std::string path = dir / "tokenizer.model";
  std::ofstream(path, std::ios::binary) << empty_piece;
  auto t = SpTokenizer::Load(path);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find(path + ": not a valid sentencepiece model"), std::string::npos)
      << t.status().message();
  std::ofstream(path, std::ios::binary | std::ios::trunc) << "not a protobuf at all";
  EXPECT_FALSE(SpTokenizer::Load(path).ok());
}

}  // namespace
}  // namespace st::data
