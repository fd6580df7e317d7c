// GGUF block quantization on the GPU (kernels/gguf_quant.cu) against its CPU
// reference, byte for byte (the reference equals the export path's bytes:
// tests/export/gguf_gpu_ref_test.cpp). Its own binary: the GGUF kernel is built on
// the static CUDA runtime for the export binary (kernels/CMakeLists.txt).
#include "kernels/gguf_quant.h"
#include "tests/kernels/cuda_test_util.h"

namespace st::kernels {
namespace {

TEST(CudaParity, GgufBlocksByteIdentical) {
  REQUIRE_GPU();
#ifdef SLICETUNE_TEST_CUDA
  const int64_t rows = 300, cols = 4096;  // 4800 Q4_K / Q6_K super-blocks, 38400 Q8_0 blocks
  auto x = Random(rows * cols, 18, 0.02f);
  for (int64_t i = 0; i < 256; ++i) x[i] = 0.0f;
  x[1000] = 4.0f;
  auto imp = Random(cols, 19);
  for (auto& v : imp) v = std::fabs(v) + 0.01f;
  for (GgufBlockType t : {GgufBlockType::kQ8_0, GgufBlockType::kQ4_K, GgufBlockType::kQ6_K})
    for (bool with_imp : {false, true}) {
      const int64_t bytes = rows * cols / GgufBlockValues(t) * GgufBlockBytes(t);
      std::vector<uint8_t> want(bytes);
      GgufQuantizeRef(t, rows, cols, x.data(), with_imp ? imp.data() : nullptr, want.data());
      std::unique_ptr<Dev> X(Upload(x, DType::kF32)), I(Upload(imp, DType::kF32)), O(new Dev(bytes));
      ASSERT_EQ(GgufQuantizeCuda(t, rows, cols, (float*)X->p, with_imp ? (float*)I->p : nullptr, (uint8_t*)O->p, nullptr), 0);
      ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
      EXPECT_EQ(DownloadRaw<uint8_t>(O.get(), bytes), want) << "type " << (int)t << (with_imp ? " with importance" : "");
    }
#endif
}

}  // namespace
}  // namespace st::kernels
