#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>

#include <fstream>

#include "data/shards/packer.h"
#include "data/shards/report_lists.h"
#include "data/shards/shard_io.h"
#include "tests/test_util.h"

namespace st::data {
namespace {

TEST(Packer, MasksPromptAndBosAndPacksAcrossRows) {
  TokenizedSample s = MakeSample(1, {10, 11}, {20, 21, 22}, 2);
  EXPECT_EQ(s.ids, (std::vector<int32_t>{1, 10, 11, 20, 21, 22, 2}));
  EXPECT_EQ(s.mask, (std::vector<uint8_t>{0, 0, 0, 1, 1, 1, 1}));
  PackedRows p = PackSamples({s, s}, 4, /*pack=*/true, /*pad=*/0);
  EXPECT_EQ(p.rows, 4);  // 14 tokens -> 4 rows of 4, two pads
  EXPECT_EQ(p.real_tokens, 14);
  EXPECT_EQ(p.ids[14], 0);
  EXPECT_EQ(p.mask[15], 0);
  // Positions restart with each sample (continuing across the row cut); pads are 0.
  EXPECT_EQ(p.pos, (std::vector<int32_t>{0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4, 5, 6, 0, 0}));
  PackedRows q = PackSamples({s}, 4, /*pack=*/false, 0);
  EXPECT_EQ(q.rows, 1);
  EXPECT_EQ(q.truncated_samples, 1);
}

TEST(Packer, FirstTokenOfASampleIsNeverATarget) {
  // A sample without BOS (Qwen text): its first token would be predicted from the
  // previous document's last token if it were a target.
  TokenizedSample s = MakeSample(-1, {}, {20, 21}, 2);
  EXPECT_EQ(s.mask, (std::vector<uint8_t>{1, 1, 1}));
  PackedRows p = PackSamples({s, s}, 6, /*pack=*/true, 0);
  EXPECT_EQ(p.mask, (std::vector<uint8_t>{0, 1, 1, 0, 1, 1}));
  EXPECT_EQ(p.pos, (std::vector<int32_t>{0, 1, 2, 0, 1, 2}));
}

TEST(Shards, RoundTripKeepsIdsMaskAndAttributes) {
  testing::TempDir dir;
  ShardData s;
  s.seq_len = 3;
  s.input_ids = {1, 2, 3, 4, 5, 6};
  s.loss_mask = {0, 1, 1, 1, 1, 0};
  s.tokenizer_sha256 = "abc";
  s.split = "val";
  s.pad_id = 2;
  s.num_real_tokens = 5;
  ASSERT_TRUE(WriteShard(dir / "s.h5", s).ok());
  auto r = ReadShard(dir / "s.h5");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->input_ids, s.input_ids);
  EXPECT_EQ(r->loss_mask, s.loss_mask);
  EXPECT_EQ(r->tokenizer_sha256, "abc");
  EXPECT_EQ(r->split, "val");
  EXPECT_EQ(r->num_sequences(), 2);
  EXPECT_EQ(r->num_target_tokens(), 4);
  EXPECT_EQ(r->position_ids, (std::vector<int32_t>{0, 1, 2, 0, 1, 2}));  // none given: one document per row
  s.position_ids = {0, 1, 0, 0, 1, 2};
  ASSERT_TRUE(WriteShard(dir / "p.h5", s).ok());
  EXPECT_EQ(ReadShard(dir / "p.h5")->position_ids, s.position_ids);
}

TEST(Shards, NonShardFilesAreRefusedWithAHint) {
  testing::TempDir dir;
  std::ofstream(dir / "x.h5") << "not hdf5";
  auto r = ReadShard(dir / "x.h5");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().exit_code(), 2);
  EXPECT_NE(r.status().message().find("no slicetune checksum block"), std::string::npos);
}

// Flips one byte of a file at `offset`.
void FlipByte(const std::string& path, long offset) {
  std::FILE* f = std::fopen(path.c_str(), "r+b");
  ASSERT_NE(f, nullptr);
  std::fseek(f, offset, SEEK_SET);
  int c = std::fgetc(f);
  std::fseek(f, offset, SEEK_SET);
  std::fputc(c ^ 0x5a, f);
  std::fclose(f);
}

TEST(Shards, ADamagedShardIsCaughtByItsChecksumBeforeHdf5ReadsIt) {
  testing::TempDir dir;
  ShardData s;
  s.seq_len = 4;
  s.input_ids.assign(4 * 100, 7);
  s.loss_mask.assign(4 * 100, 1);
  s.tokenizer_sha256 = "abc";
  s.split = "train";
  ASSERT_TRUE(WriteShard(dir / "s.h5", s).ok());
  const std::string path = dir / "s.h5";
  const long size = (long)std::filesystem::file_size(path);
  for (long offset : {600L, size / 2, size - 1}) {  // HDF5 metadata, chunk data, the end
    std::filesystem::copy_file(path, dir / "d.h5", std::filesystem::copy_options::overwrite_existing);
    FlipByte(dir / "d.h5", offset);
    auto r = ReadShard(dir / "d.h5");
    ASSERT_FALSE(r.ok()) << offset;
    EXPECT_EQ(r.status().exit_code(), 2);
    EXPECT_NE(r.status().message().find("do not match the checksum"), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find("d.h5"), std::string::npos);
  }
  // A damaged checksum block, and a file cut short, are refused too.
  std::filesystem::copy_file(path, dir / "b.h5", std::filesystem::copy_options::overwrite_existing);
  FlipByte(dir / "b.h5", 30);
  EXPECT_FALSE(ReadShard(dir / "b.h5").ok());
  std::filesystem::copy_file(path, dir / "t.h5", std::filesystem::copy_options::overwrite_existing);
  std::filesystem::resize_file(dir / "t.h5", size - 100);
  EXPECT_FALSE(ReadShard(dir / "t.h5").ok());
  EXPECT_TRUE(ReadShard(path).ok());
}

TEST(ReportLists, StreamEveryRowAndKeepTheLargestInArrivalOrder) {
  testing::TempDir dir;
  ReportLists lists;
  ASSERT_TRUE(lists.Open(dir.str()).ok());
  // 30 clusters: sizes 2..7 repeating; the report keeps the 20 largest, ties in arrival order.
  for (int i = 0; i < 30; ++i) {
    DupClusterReport c;
    c.kept = "k" + std::to_string(i);
    for (int m = 0; m <= i % 6; ++m) c.removed.push_back("r" + std::to_string(i) + "." + std::to_string(m));
    c.exact = i % 2 == 0;
    ASSERT_TRUE(lists.AddCluster(c).ok());
  }
  std::array<int64_t, kNumPiiTypes> none{}, some{};
  some[0] = 2;
  some[1] = 1;
  ASSERT_TRUE(lists.AddPiiDocument("a.txt:1", none).ok());  // nothing found: not listed
  ASSERT_TRUE(lists.AddPiiDocument("a.txt:3", some).ok());
  nlohmann::json clean = {{"pii", {{"documents_with_pii", 1}}}};
  ASSERT_TRUE(lists.Finish(&clean).ok());
  const auto& d = clean["duplicate_clusters"];
  EXPECT_EQ(d["count"], 30);
  EXPECT_EQ(d["by_size"], (nlohmann::json{{"2", 5}, {"3", 5}, {"4", 5}, {"5", 5}, {"6", 5}, {"7", 5}}));
  ASSERT_EQ(d["largest"].size(), kTopListed);
  std::vector<std::string> kept;
  for (const auto& c : d["largest"]) kept.push_back(c["kept"]);
  EXPECT_EQ(kept[0], "k5");  // the first of size 7
  EXPECT_EQ(kept[4], "k29");
  EXPECT_EQ(kept[5], "k4");  // then size 6, in arrival order
  EXPECT_EQ(kept[14], "k27");  // the last of size 5
  EXPECT_EQ(kept[19], "k26");  // the last of size 4; those of sizes 2 and 3 do not fit
  EXPECT_EQ(d["largest"][0]["size"], 7);
  EXPECT_EQ(d["largest"][0]["removed"].size(), kClusterMembersListed);
  EXPECT_EQ(d["largest"][0]["removed"][0], "r5.0");
  // The files hold every row, whole, in arrival order.
  std::ifstream cf(dir / kDuplicateClustersFile);
  std::string line;
  int rows = 0;
  while (std::getline(cf, line)) {
    const auto row = nlohmann::json::parse(line);
    EXPECT_EQ(row["kept"], "k" + std::to_string(rows));
    EXPECT_EQ(row["removed"].size(), (size_t)(rows % 6 + 1));
    ++rows;
  }
  EXPECT_EQ(rows, 30);
  std::ifstream pf(dir / kPiiDocumentsFile);
  ASSERT_TRUE(std::getline(pf, line));
  EXPECT_EQ(nlohmann::json::parse(line)["source"], "a.txt:3");
  EXPECT_FALSE(std::getline(pf, line));
  EXPECT_EQ(clean["pii"]["documents_listed"], 1);
  EXPECT_EQ(clean["pii"]["top_documents"][0]["counts"].size(), 2u);
}

}  // namespace
}  // namespace st::data
