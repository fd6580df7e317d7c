#include "data/clean/readers.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/test_util.h"

namespace st::data {
namespace {

TEST(Readers, TextFilesSplitOnBlankLines) {
  testing::TempDir dir;
  std::ofstream(dir / "a.txt") << "第一段。\r\n仍是第一段。\n\n\nSecond paragraph.\n";
  SourceSpec src;
  src.path = dir / "a.txt";
  auto d = ReadSource(src);
  ASSERT_TRUE(d.ok()) << d.status().message();
  ASSERT_EQ(d->docs.size(), 2u);
  EXPECT_EQ(d->docs[0].response, "第一段。\n仍是第一段。");
  EXPECT_EQ(d->docs[1].source, src.path + ":5");
  EXPECT_TRUE(d->issues.empty());
}

TEST(Readers, BadJsonlLinesAreRecordedAndSkipped) {
  testing::TempDir dir;
  std::ofstream(dir / "p.jsonl") << R"({"input": "杭分", "output": "杭州分公司"})" << "\n"
                                 << R"({"input": 3, "output": "x"})" << "\n"
                                 << "{not json\n"
                                 << R"({"output": "no input"})" << "\n"
                                 << R"(["a list"])" << "\n"
                                 << R"({"input": "宁分", "output": "宁波分公司"})" << "\n";
  SourceSpec src;
  src.path = dir / "p.jsonl";
  src.format = "instruction";
  src.prompt_field = "input";
  src.response_field = "output";
  auto d = ReadSource(src);
  ASSERT_TRUE(d.ok()) << d.status().message();
  ASSERT_EQ(d->docs.size(), 2u);
  EXPECT_EQ(d->docs[1].prompt, "宁分");
  ASSERT_EQ(d->issues.size(), 4u);
  EXPECT_EQ(d->issues[0].where, src.path + ":2");
  EXPECT_NE(d->issues[0].what.find("field 'input': expected a string"), std::string::npos);
  EXPECT_EQ(d->issues[1].what, "not valid JSON");
  EXPECT_NE(d->issues[2].what.find("missing field 'input'"), std::string::npos);
}

TEST(Readers, GbkIsDecodedAndInvalidBytesCounted) {
  testing::TempDir dir;
  std::ofstream(dir / "g.txt") << "ok\n\xd6\xd0\xce\xc4\n";  // "中文" in GBK
  SourceSpec src;
  src.path = dir / "g.txt";
  auto d = ReadSource(src);
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(d->docs[0].response, "ok\n中文");
  EXPECT_EQ(d->files[0].decode.encoding, "gb18030");
  std::ofstream(dir / "bad.txt") << "好\xff\n";
  src.path = dir / "bad.txt";
  src.encoding = "utf-8";
  d = ReadSource(src);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->docs[0].response, "好\xEF\xBF\xBD");
  ASSERT_EQ(d->issues.size(), 1u);
  EXPECT_NE(d->issues[0].what.find("1 bytes not valid utf-8"), std::string::npos) << d->issues[0].what;
  EXPECT_EQ(FindInvalidUtf8("杭州 ok"), std::string::npos);
  EXPECT_EQ(FindInvalidUtf8("\xed\xa0\x80"), 0u);  // surrogate
}

TEST(Readers, CsvTsvDirectoriesAndGlobs) {
  testing::TempDir dir;
  std::filesystem::create_directories(dir / "in");
  std::ofstream(dir / "in/a.csv") << "id,q,a\n1,杭分,\"杭州分公司, 总部\"\n2,\"多行\n问题\",答\n3,short\n";
  std::ofstream(dir / "in/b.tsv") << "q\ta\n宁分\t宁波分公司\n";
  std::ofstream(dir / "in/empty.csv") << "";
  SourceSpec src;
  src.path = dir / "in";
  src.format = "instruction";
  src.prompt_field = "q";
  src.response_field = "a";
  auto d = ReadSource(src);
  ASSERT_TRUE(d.ok()) << d.status().message();
  ASSERT_EQ(d->docs.size(), 3u);
  EXPECT_EQ(d->docs[0].response, "杭州分公司, 总部");
  EXPECT_EQ(d->docs[1].prompt, "多行\n问题");
  EXPECT_EQ(d->docs[2].prompt, "宁分");
  ASSERT_EQ(d->issues.size(), 2u);  // the short row, the empty file
  EXPECT_NE(d->issues[0].where.find("a.csv:row 4"), std::string::npos) << d->issues[0].where;
  EXPECT_EQ(d->issues[1].what, "empty file");
  src.path = dir / "in/*.tsv";
  d = ReadSource(src);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->docs.size(), 1u);
  src.response_field = "answer";
  src.path = dir / "in/b.tsv";
  d = ReadSource(src);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("no column 'answer' (columns: q, a)"), std::string::npos) << d.status().message();
  src.path = dir / "in/*.none";
  EXPECT_FALSE(ReadSource(src).ok());
}

TEST(Readers, StreamsLargeFilesInBatchesAcrossChunkBoundaries) {
  // > 1 MiB each, so the 1 MiB read pieces cut multi-byte characters (GBK),
  // JSON lines and a quoted CSV field with a newline.
  testing::TempDir dir;
  const std::string gbk_zhong = "\xd6\xd0";  // 中
  std::string txt, jsonl, csv = "q,a\n";
  for (int i = 0; i < 200000; ++i) {
    txt += "doc " + std::to_string(i) + " " + gbk_zhong + gbk_zhong + "\n\n";
    jsonl += R"({"text": "第)" + std::to_string(i) + R"(行：中文"})" "\n";
    csv += "\"问题" + std::to_string(i) + "\n第二行\",答\n";
  }
  std::ofstream(dir / "big.txt") << txt;
  std::ofstream(dir / "big.jsonl") << jsonl;
  std::ofstream(dir / "big.csv") << csv;
  for (const char* name : {"big.txt", "big.jsonl", "big.csv"}) {
    SourceSpec src;
    src.path = dir / name;
    if (std::string(name) == "big.csv") {
      src.format = "instruction";
      src.prompt_field = "q";
      src.response_field = "a";
    }
    size_t batches = 0, docs = 0, files = 0;
    std::string last;
    auto st = StreamSource(src, {}, 1000, [&](SourceRead& b) {
      ++batches;
      docs += b.docs.size();
      files += b.files.size();
      EXPECT_TRUE(b.issues.empty()) << name << ": " << b.issues[0].where << " " << b.issues[0].what;
      if (!b.docs.empty()) last = b.docs.back().prompt.empty() ? b.docs.back().response : b.docs.back().prompt;
      return Status::Ok();
    });
    ASSERT_TRUE(st.ok()) << st.message();
    EXPECT_EQ(docs, 200000u) << name;
    EXPECT_EQ(files, 1u);
    EXPECT_GE(batches, 3u) << name;  // a batch per 1 MiB piece read, not one read of everything
    EXPECT_TRUE(last == "doc 199999 中中" || last == "第199999行：中文" || last == "问题199999\n第二行") << last;
  }
}

}  // namespace
}  // namespace st::data
