#include "core/safetensors.h"

#include <gtest/gtest.h>

#include <filesystem>

#include <cstring>
#include <fstream>

#include "core/file_io.h"
#include "tests/test_util.h"

namespace st {
namespace {

void WriteRaw(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string Header(const std::string& json) {
  uint64_t n = json.size();
  std::string s(8, '\0');
  std::memcpy(s.data(), &n, 8);
  return s + json;
}

TEST(Safetensors, RoundTripKeepsNamesShapesDtypesAndBytes) {
  testing::TempDir dir;
  std::vector<float> a = {1.0f, -2.5f, 3.25f, 0.0f, 7.0f, -1e-3f};
  TensorToWrite f16;
  f16.name = "b.f16";
  f16.dtype = DType::kF16;
  f16.shape = {2};
  f16.bytes = {0x00, 0x3c, 0x00, 0xc0};  // 1.0, -2.0
  ASSERT_TRUE(WriteSafetensors(dir / "m.safetensors", {MakeF32Tensor("a.weight", {2, 3}, a), f16}, {{"format", "pt"}}).ok());
  auto f = SafetensorsFile::Open(dir / "m.safetensors");
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ((*f)->metadata().at("format"), "pt");
  const TensorView* t = (*f)->Find("a.weight");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->shape, (std::vector<int64_t>{2, 3}));
  std::vector<float> back;
  ASSERT_TRUE(t->ToF32(&back).ok());
  EXPECT_EQ(back, a);
  std::vector<float> h;
  ASSERT_TRUE((*f)->Find("b.f16")->ToF32(&h).ok());
  EXPECT_EQ(h, (std::vector<float>{1.0f, -2.0f}));
  // Header is padded to 8 bytes, as the reference writer does.
  auto bytes = ReadFile(dir / "m.safetensors");
  uint64_t n;
  std::memcpy(&n, bytes->data(), 8);
  EXPECT_EQ(n % 8, 0u);
}

TEST(Safetensors, TruncatedFileGivesClearError) {
  testing::TempDir dir;
  ASSERT_TRUE(WriteSafetensors(dir / "m.safetensors", {MakeF32Tensor("w", {4, 4}, std::vector<float>(16, 1.0f))}).ok());
  auto bytes = *ReadFile(dir / "m.safetensors");
  WriteRaw(dir / "cut.safetensors", bytes.substr(0, bytes.size() - 10));
  auto f = SafetensorsFile::Open(dir / "cut.safetensors");
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().exit_code(), 2);
  EXPECT_NE(f.status().message().find("cut.safetensors"), std::string::npos);
  EXPECT_NE(f.status().message().find("outside the data section"), std::string::npos) << f.status().message();
}

TEST(Safetensors, MalformedHeadersAreRejectedWithTheReason) {
  testing::TempDir dir;
  struct Case {
    std::string bytes, expect;
  } cases[] = {
      {"abc", "truncated"},
      {std::string("\xff\xff\xff\xff\x00\x00\x00\x00", 8) + "{}", "header length field"},
      {Header("{not json"), "not valid JSON"},
      {Header("[1,2]"), "expected a JSON object"},
      {Header(R"({"w":{"dtype":"Q9","shape":[1],"data_offsets":[0,4]}})") + "abcd", "unknown dtype"},
      {Header(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})") + "abcd", "expected 8"},
      {Header(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})") + "abcd", "non-negative"},
      {Header(R"({"w":{"dtype":"F32","shape":[1]}})") + "abcd", "dtype, shape and data_offsets"},
      {Header(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}})") + "abcdefgh", "overlap"},
  };
  for (const auto& c : cases) {
    WriteRaw(dir / "bad.safetensors", c.bytes);
    auto f = SafetensorsFile::Open(dir / "bad.safetensors");
    ASSERT_FALSE(f.ok()) << c.expect;
    EXPECT_EQ(f.status().exit_code(), 2);
    EXPECT_NE(f.status().message().find(c.expect), std::string::npos) << f.status().message();
  }
}

TEST(Safetensors, MissingFileAndPickleOnlyDirectoriesAreExplained) {
  testing::TempDir dir;
  auto f = SafetensorsFile::Open(dir / "none.safetensors");
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("not found"), std::string::npos);
  WriteRaw(dir / "pytorch_model.bin", "PK");
  auto s = TensorStore::OpenDir(dir.str());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("pickle"), std::string::npos);
}

TEST(Safetensors, ShardedCheckpointIsReadThroughItsIndex) {
  testing::TempDir dir;
  ASSERT_TRUE(WriteSafetensors(dir / "model-00001-of-00002.safetensors", {MakeF32Tensor("a", {1}, {1.0f})}).ok());
  ASSERT_TRUE(WriteSafetensors(dir / "model-00002-of-00002.safetensors", {MakeF32Tensor("b", {1}, {2.0f})}).ok());
  WriteRaw(dir / "model.safetensors.index.json",
           R"({"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}})");
  auto s = TensorStore::OpenDir(dir.str());
  ASSERT_TRUE(s.ok()) << s.status().message();
  std::vector<float> v;
  ASSERT_TRUE(s->LoadF32("b", {1}, &v).ok());
  EXPECT_EQ(v[0], 2.0f);
  auto bad = s->LoadF32("a", {2}, &v);
  EXPECT_NE(bad.message().find("expected shape [2]"), std::string::npos);
}

TEST(Safetensors, AnIndexNamingFilesOutsideTheModelFolderIsRefused) {
  testing::TempDir dir;
  ASSERT_TRUE(WriteSafetensors(dir / "outside.safetensors", {MakeF32Tensor("a", {1}, {1.0f})}).ok());
  std::filesystem::create_directories(dir / "m");
  for (const char* name : {"../outside.safetensors", "/etc/passwd", "..", "sub/x.safetensors"}) {
    WriteRaw(dir / "m/model.safetensors.index.json", std::string(R"({"weight_map":{"a":")") + name + "\"}}");
    auto s = TensorStore::OpenDir(dir / "m");
    ASSERT_FALSE(s.ok()) << name;
    EXPECT_EQ(s.status().exit_code(), 2);
    EXPECT_NE(s.status().message().find("not a file name inside the model folder"), std::string::npos) << name;
  }
}

TEST(AtomicFile, UncommittedWriteLeavesNothingBehind) {
  testing::TempDir dir;
  {
    AtomicFile f;
    ASSERT_TRUE(f.Open(dir / "out.bin").ok());
    ASSERT_TRUE(f.Write("abc", 3).ok());
    EXPECT_TRUE(PathExists(f.temp_path()));
  }
  EXPECT_FALSE(PathExists(dir / "out.bin"));
  EXPECT_TRUE(std::filesystem::is_empty(dir.str()));
}

}  // namespace
}  // namespace st
