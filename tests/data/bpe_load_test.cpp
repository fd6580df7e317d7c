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

// A token id that is negative, fractional or past 2^24 is an error naming it, before
// any table is sized by it (fuzz/corpus/tokenizer_json/ keeps the input that found it:
// a vocab id of -1 indexed before the piece table).
TEST(BpeLoad, TokenIdsOutOfRangeAreErrors) {
  testing::TempDir dir;
  for (const char* text : {R"({"pre_tokenizer": {"type": "ByteLevel", "use_regex": true}, "model": {"type": "BPE", "vocab": {"a": 0, "b": -1}, "merges": []}})",
                           R"({"pre_tokenizer": {"type": "ByteLevel", "use_regex": true}, "model": {"type": "BPE", "vocab": {"a": 2.5}, "merges": []}})",
                           R"({"pre_tokenizer": {"type": "ByteLevel", "use_regex": true}, "model": {"type": "BPE", "vocab": {"a": 4000000000}, "merges": []}})",
                           R"({"pre_tokenizer": {"type": "ByteLevel", "use_regex": true}, "added_tokens": [{"id": -7, "content": "<s>"}], "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})",
                           R"({"pre_tokenizer": {"type": "ByteLevel", "use_regex": true}, "added_tokens": [{"id": 99999999, "content": "<s>"}], "model": {"type": "BPE", "vocab": {}, "merges": []}})"}) {
    std::ofstream(dir / "tokenizer.json") << text;
    auto t = BpeTokenizer::Load(dir / "tokenizer.json", "");
    ASSERT_FALSE(t.ok()) << text;
    EXPECT_EQ(t.status().exit_code(), 2) << text;
    EXPECT_NE(t.status().message().find("expected a token id from 0 to 16777215"), std::string::npos) << t.status().message();
  }
}

}  // namespace
}  // namespace st::data
