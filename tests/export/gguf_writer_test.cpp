#include "export/gguf_writer.h"

#include <gtest/gtest.h>

#include <cstring>

#include "core/file_io.h"
#include "export/gguf_export.h"
#include "export/gguf_reader.h"
#include "tests/test_util.h"

namespace st::gguf {
namespace {

template <typename T>
T At(const std::string& s, size_t off) {
  T v;
  std::memcpy(&v, s.data() + off, sizeof(T));
  return v;
}

TEST(GgufWriter, HeaderKeysAndAlignedTensorDataInInfoOrder) {
  testing::TempDir dir;
  Writer w;
  w.AddString("general.architecture", "llama");
  w.AddU32("general.alignment", kAlignment);
  w.AddTensor("a", 0, {3}, 12, [](std::vector<uint8_t>* out) {
    out->assign(12, 0xAA);
    return Status::Ok();
  });
  w.AddTensor("b", 1, {2, 2}, 8, [](std::vector<uint8_t>* out) {
    out->assign(8, 0xBB);
    return Status::Ok();
  });
  ASSERT_TRUE(w.Write(dir / "x.gguf").ok());
  std::string s = *ReadFile(dir / "x.gguf");
  EXPECT_EQ(s.substr(0, 4), "GGUF");
  EXPECT_EQ(At<uint32_t>(s, 4), 3u);
  EXPECT_EQ(At<uint64_t>(s, 8), 2u);   // tensors
  EXPECT_EQ(At<uint64_t>(s, 16), 2u);  // kv pairs
  // Data section: 'a' (12 bytes, padded to 32), then 'b' (8 bytes, padded).
  EXPECT_EQ(s.size() % kAlignment, 0u);
  size_t data = s.size() - 64;
  EXPECT_EQ(data % kAlignment, 0u);
  EXPECT_EQ((uint8_t)s[data], 0xAA);
  EXPECT_EQ((uint8_t)s[data + 12], 0x00);
  EXPECT_EQ((uint8_t)s[data + 32], 0xBB);
}

TEST(GgufReader, AlignmentOfAnotherTypeIsAnError) {
  // general.alignment written as a string: std::stoul threw out of the reader
  // (fuzz_gguf, 240 s run); now an error naming the key.
  testing::TempDir dir;
  Writer w;
  w.AddString("general.architecture", "llama");
  w.AddString("general.alignment", "x32");
  ASSERT_TRUE(w.Write(dir / "bad.gguf").ok());
  auto info = ReadGgufInfo(dir / "bad.gguf");
  ASSERT_FALSE(info.ok());
  EXPECT_NE(info.status().message().find("general.alignment has value type 8"), std::string::npos)
      << info.status().message();
}

TEST(GgufWriter, ProducerFailureLeavesNoFile) {
  testing::TempDir dir;
  Writer w;
  w.AddTensor("a", 0, {1}, 4, [](std::vector<uint8_t>*) { return RuntimeError("boom"); });
  Status s = w.Write(dir / "x.gguf");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("tensor a: boom"), std::string::npos);
  EXPECT_FALSE(PathExists(dir / "x.gguf"));
  EXPECT_TRUE(std::filesystem::is_empty(dir.str()));
}

TEST(GgufExport, RopePermutationInterleavesHalves) {
  // One head of dim 4 with 1 column: rows [r0 r1 r2 r3] -> [r0 r2 r1 r3].
  std::vector<float> w = {0, 1, 2, 3, 10, 11, 12, 13};  // two heads
  auto p = exporter::PermuteRowsForGgmlRope(w, 2, 8, 1);
  EXPECT_EQ(p, (std::vector<float>{0, 2, 1, 3, 10, 12, 11, 13}));
}

}  // namespace
}  // namespace st::gguf
