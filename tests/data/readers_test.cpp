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

TEST(Readers, SymlinksOutOfAnInputDirectoryNeedTheFlag) {
  namespace fs = std::filesystem;
  testing::TempDir dir;
  fs::create_directories(dir / "corpus/sub");
  fs::create_directories(dir / "elsewhere");
  std::ofstream(dir / "corpus/a.txt") << "甲\n";
  std::ofstream(dir / "corpus/sub/b.txt") << "乙\n";
  std::ofstream(dir / "elsewhere/secret.txt") << "丙\n";
  fs::create_symlink(dir / "corpus/a.txt", dir / "corpus/inside-link.txt");  // stays inside: read
  fs::create_symlink("../sub", dir / "corpus/sub/loop");                       // a cycle
  auto files = ExpandSourcePath(dir / "corpus");
  ASSERT_TRUE(files.ok()) << files.status().message();
  EXPECT_EQ(files->size(), 3u);  // a.txt, inside-link.txt, sub/b.txt; the linked directory is not walked

  fs::create_symlink(dir / "elsewhere/secret.txt", dir / "corpus/leak.txt");
  files = ExpandSourcePath(dir / "corpus");
  ASSERT_FALSE(files.ok());
  const std::string m = files.status().message();
  EXPECT_NE(m.find("corpus/leak.txt: a symbolic link to " + (dir / "elsewhere/secret.txt")), std::string::npos) << m;
  EXPECT_NE(m.find("follow_symlinks: true"), std::string::npos) << m;
  EXPECT_FALSE(ExpandSourcePath(dir / "corpus/*.txt").ok());  // a glob's directory is guarded the same way

  files = ExpandSourcePath(dir / "corpus", /*follow_symlinks=*/true);
  ASSERT_TRUE(files.ok()) << files.status().message();
  EXPECT_EQ(files->size(), 4u);

  fs::remove(dir / "corpus/leak.txt");
  fs::create_symlink(dir / "elsewhere", dir / "corpus/linked-dir");  // a directory link out
  EXPECT_FALSE(ExpandSourcePath(dir / "corpus").ok());
  files = ExpandSourcePath(dir / "corpus", true);
  ASSERT_TRUE(files.ok()) << files.status().message();
  EXPECT_EQ(files->size(), 4u);  // the cycle is walked once: sub/b.txt is not read twice

  EXPECT_TRUE(ExpandSourcePath(dir / "corpus/leak-free.txt").status().message().find("file not found") !=
              std::string::npos);
  fs::create_symlink(dir / "elsewhere/secret.txt", dir / "named.txt");  // a file named itself: the user chose it
  files = ExpandSourcePath(dir / "named.txt");
  ASSERT_TRUE(files.ok());
  EXPECT_EQ(files->size(), 1u);
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

// Small files share a batch (a batch per file made a corpus of tiny files pay the
// whole per-batch pipeline per file: 200,000 one-line files took 650 s, now 17 s),
// and each document, issue and file total still names its own file.
TEST(Readers, SmallFilesShareABatchAndKeepTheirFileIndex) {
  testing::TempDir dir;
  for (int i = 0; i < 10; ++i) {
    std::string text;
    for (int k = 0; k <= i % 3; ++k) text += "file " + std::to_string(i) + " doc " + std::to_string(k) + "\n\n";
    std::ofstream(dir / ("f" + std::to_string(i) + ".txt")) << (i == 4 ? "" : text);
  }
  SourceSpec src;
  src.path = dir.str();
  for (size_t batch : {size_t(1000), size_t(2)}) {
    size_t batches = 0;
    std::vector<int64_t> docs_per_file(10, 0), totals(10, -1);
    std::vector<int> issue_files;
    auto st = StreamSource(src, {}, batch, [&](SourceRead& b) {
      ++batches;
      for (const auto& d : b.docs) {
        EXPECT_EQ(d.response.rfind("file " + std::to_string(d.file_index) + " ", 0), 0u) << d.response;
        ++docs_per_file[d.file_index];
      }
      for (const auto& f : b.files) totals[f.index] = f.documents;
      for (const auto& is : b.issues) issue_files.push_back(is.file_index);
      return Status::Ok();
    });
    ASSERT_TRUE(st.ok()) << st.message();
    EXPECT_EQ(docs_per_file, totals) << "batch " << batch;
    EXPECT_EQ(totals[4], 0);
    EXPECT_EQ(totals[5], 3);
    EXPECT_EQ(issue_files, std::vector<int>{4});  // the empty file, named by its own index
    if (batch == 1000) EXPECT_EQ(batches, 1u);     // ten files, 15 documents: one batch
    else EXPECT_EQ(batches, 6u);                   // sent once 2 wait at a file's end: after f1 f2 f5 f7 f8, f9
  }
}

// A record longer than 64 MiB is not held: the line is skipped with an issue
// naming its file and line (text, JSONL), a plain-text document is cut at a line
// end, a CSV row (an unclosed quote) stops that file. Everything around it stays.
TEST(Readers, OverlongRecordsAreSkippedAndNamed) {
  testing::TempDir dir;
  const std::string huge(70u << 20, 'x');
  std::ofstream(dir / "a.txt") << "前面\n\n" << huge << "\n\n后面\n";
  std::ofstream(dir / "b.jsonl") << "{\"text\": \"一\"}\n{\"text\": \"" << huge << "\"}\n{\"text\": \"三\"}\n";
  std::ofstream(dir / "c.csv") << "q,a\n问,答\n\"" << huge << "\n";
  std::string lines;
  for (int i = 0; i < 50; ++i) lines += std::string(2u << 20, 'y') + "\n";  // 100 MiB, no blank line
  std::ofstream(dir / "d.txt") << lines;
  struct Case {
    const char* file;
    std::vector<std::string> docs;
    std::string where, what;
  };
  for (const Case& c : {Case{"a.txt", {"前面", "后面"}, "a.txt:3", "a line of 70 MiB"},
                        Case{"b.jsonl", {"一", "三"}, "b.jsonl:2", "a line of 70 MiB"},
                        Case{"c.csv", {"答"}, "c.csv:row 3", "this row and the rest of the file are skipped"}}) {
    SourceSpec src;
    src.path = dir / c.file;
    if (std::string(c.file) == "c.csv") {
      src.format = "instruction";
      src.prompt_field = "q";
      src.response_field = "a";
    }
    auto d = ReadSource(src);
    ASSERT_TRUE(d.ok()) << d.status().message();
    std::vector<std::string> got;
    for (const auto& doc : d->docs) got.push_back(doc.response);
    EXPECT_EQ(got, c.docs) << c.file;
    ASSERT_EQ(d->issues.size(), 1u) << c.file;
    EXPECT_NE(d->issues[0].where.find(c.where), std::string::npos) << d->issues[0].where;
    EXPECT_NE(d->issues[0].what.find(c.what), std::string::npos) << d->issues[0].what;
  }
  SourceSpec src;
  src.path = dir / "d.txt";
  auto d = ReadSource(src);
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d->docs.size(), 2u);  // cut at the last line end under 64 MiB
  EXPECT_EQ(d->docs[0].response.size() + d->docs[1].response.size() + 2, lines.size());
  EXPECT_LE(d->docs[0].response.size(), size_t{64} << 20);
  EXPECT_NE(d->issues.at(0).what.find("cut here into a new document"), std::string::npos);
}

}  // namespace
}  // namespace st::data
