#include "data/clean/readers.h"

#include <gtest/gtest.h>

#include <fstream>

#include "tests/test_util.h"

namespace st::data {
namespace {

TEST(Readers, TextFilesSplitOnBlankLines) {
  testing::TempDir dir;
  std::ofstream(dir / "a.txt") << "第一段。\n仍是第一段。\n\n\nSecond paragraph.\n";
  SourceSpec src;
  src.path = dir / "a.txt";
  auto d = ReadSource(src);
  ASSERT_TRUE(d.ok()) << d.status().message();
  ASSERT_EQ(d->size(), 2u);
  EXPECT_EQ((*d)[0].response, "第一段。\n仍是第一段。");
  EXPECT_EQ((*d)[1].source, src.path + ":5");
}

TEST(Readers, InstructionJsonlUsesNamedFieldsAndReportsBadLines) {
  testing::TempDir dir;
  std::ofstream(dir / "p.jsonl") << R"({"input": "杭分", "output": "杭州分公司"})" << "\n" << R"({"input": 3})" << "\n";
  SourceSpec src;
  src.path = dir / "p.jsonl";
  src.format = "instruction";
  src.prompt_field = "input";
  src.response_field = "output";
  auto d = ReadSource(src);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("p.jsonl:2: field 'input': expected a string"), std::string::npos) << d.status().message();
}

TEST(Readers, InvalidUtf8IsReportedWithLineAndHint) {
  testing::TempDir dir;
  std::ofstream(dir / "g.txt") << "ok\n\xd6\xd0\xce\xc4\n";  // "中文" in GBK
  SourceSpec src;
  src.path = dir / "g.txt";
  auto d = ReadSource(src);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("g.txt:2: not valid UTF-8"), std::string::npos) << d.status().message();
  EXPECT_EQ(FindInvalidUtf8("杭州 ok"), std::string::npos);
  EXPECT_EQ(FindInvalidUtf8("\xed\xa0\x80"), 0u);  // surrogate
}

}  // namespace
}  // namespace st::data
