// tokenizer.json of the wrong shape: an error naming the file, never an exception
// (fuzz/fuzz_tokenizer_json.cpp found a type error that aborted the process).
#include <gtest/gtest.h>

#include <fstream>

#include "data/tokenize/bpe_tokenizer.h"
#include "tests/test_util.h"

namespace st::data {
namespace {

TEST(BpeLoad, WrongJsonTypesAreErrorsNotCrashes) {
  testing::TempDir dir;
  for (const char* text : {"[]", "{\"model\": []}", "{\"model\": {\"type\": 5}}",
                           "{\"model\": {\"type\": \"BPE\", \"vocab\": [1], \"merges\": 3}}",
                           "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": \"x\"}, \"merges\": []}}",
                           "{\"added_tokens\": 7, \"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}"}) {
    std::ofstream(dir / "tokenizer.json") << text;
    auto t = BpeTokenizer::Load(dir / "tokenizer.json", "");
    ASSERT_FALSE(t.ok()) << text;
    EXPECT_EQ(t.status().exit_code(), 2) << text;
    EXPECT_NE(t.status().message().find("tokenizer.json"), std::string::npos) << t.status().message();
  }
}

}  // namespace
}  // namespace st::data
