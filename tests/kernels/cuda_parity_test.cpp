// CUDA kernels against their CPU references (kernels/*_ref.cpp, themselves held
// to LibTorch autograd in tests/train/kernels_ref_test.cpp) on fresh random
// inputs at several shapes, including ones that are not multiples of any block,
// tile or chunk size; float32 within ~1e-5 and bfloat16 within ~1e-2 relative to
// the largest magnitude, gradients included; NF4 codes byte for byte. Runs where
// a GPU exists; elsewhere each test says why it skips.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <tuple>
#include <vector>

#include "core/half.h"
#include "kernels/linear_ce.h"
#include "kernels/lora_linear.h"
#include "kernels/nf4.h"
#include "kernels/rmsnorm.h"
#include "kernels/rope.h"
#include "kernels/swiglu.h"

#include "tests/kernels/cuda_test_util.h"

#ifdef SLICETUNE_TEST_CUDA
#include <cublas_v2.h>
#endif

namespace st::kernels {
namespace {

const DType kTypes[] = {DType::kF32, DType::kBF16};

TEST(CudaParity, RmsNorm) {
  REQUIRE_GPU();
#ifdef SLICETUNE_TEST_CUDA
  for (DType t : kTypes)
    for (auto [rows, dim] : std::vector<std::pair<int64_t, int64_t>>{{1, 8}, {7, 67}, {300, 4096}, {5, 5000}}) {
      auto x = AsType(Random(rows * dim, 1), t), w = AsType(Random(dim, 2), t), dy = AsType(Random(rows * dim, 3), t);
      std::vector<float> y(rows * dim), rstd(rows), dx(rows * dim), dw(dim);
      RmsNormForwardRef(rows, dim, x.data(), w.data(), 1e-5f, y.data(), rstd.data());
      RmsNormBackwardRef(rows, dim, dy.data(), x.data(), w.data(), rstd.data(), dx.data(), dw.data());
      std::unique_ptr<Dev> X(Upload(x, t)), W(Upload(w, t)), DY(Upload(dy, t)), Y(new Dev(rows * dim * 4)),
          R(new Dev(rows * 4)), DX(new Dev(rows * dim * 4)), DW(new Dev(dim * 4));
      ASSERT_EQ(RmsNormForwardCuda(rows, dim, t, X->p, W->p, 1e-5f, Y->p, (float*)R->p, nullptr), 0);
      ASSERT_EQ(RmsNormBackwardCuda(rows, dim, t, DY->p, X->p, W->p, (float*)R->p, DX->p, (float*)DW->p, nullptr), 0);
      ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
      ExpectClose(Download(Y.get(), rows * dim, t), y, Tol(t), "rmsnorm y");
      ExpectClose(Download(DX.get(), rows * dim, t), dx, Tol(t), "rmsnorm dx");
      ExpectClose(Download(DW.get(), dim, DType::kF32), dw, Tol(t), "rmsnorm dw");
    }
#endif
}

TEST(CudaParity, Rope) {
  REQUIRE_GPU();
#ifdef SLICETUNE_TEST_CUDA
  for (DType t : kTypes)
    for (auto [tokens, heads, hd] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{{3, 1, 8}, {129, 5, 64}, {2048, 8, 128}}) {
      auto x = AsType(Random(tokens * heads * hd, 4), t);
      std::vector<int64_t> pos(tokens);
      for (int64_t i = 0; i < tokens; ++i) pos[i] = (i * 37) % 8191;
      std::vector<float> inv(hd / 2);
      for (int64_t i = 0; i < hd / 2; ++i) inv[i] = std::pow(500000.0f, -2.0f * i / hd) / (i > hd / 4 ? 8.0f : 1.0f);
      for (bool inverse : {false, true}) {
        std::vector<float> want = x;
        RopeRef(tokens, heads, hd, want.data(), pos.data(), inv.data(), inverse);
        std::unique_ptr<Dev> X(Upload(x, t)), P(UploadRaw(pos)), F(UploadRaw(inv));
        ASSERT_EQ(RopeCuda(tokens, heads, hd, t, X->p, (int64_t*)P->p, (float*)F->p, inverse, nullptr), 0);
        ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
        ExpectClose(Download(X.get(), tokens * heads * hd, t), want, t == DType::kBF16 ? 2e-2 : 1e-4, "rope");
      }
    }
#endif
}

TEST(CudaParity, Swiglu) {
  REQUIRE_GPU();
#ifdef SLICETUNE_TEST_CUDA
  for (DType t : kTypes)
    for (int64_t n : {1, 1000, 3 * 14336 + 5}) {
      auto g = AsType(Random(n, 5, 3.0f), t), u = AsType(Random(n, 6), t), dh = AsType(Random(n, 7), t);
      std::vector<float> h(n), dg(n), du(n);
      SwigluForwardRef(n, g.data(), u.data(), h.data());
      SwigluBackwardRef(n, dh.data(), g.data(), u.data(), dg.data(), du.data());
      std::unique_ptr<Dev> G(Upload(g, t)), U(Upload(u, t)), DH(Upload(dh, t)), H(new Dev(n * 4)), DG(new Dev(n * 4)),
          DU(new Dev(n * 4));
      ASSERT_EQ(SwigluForwardCuda(n, t, G->p, U->p, H->p, nullptr), 0);
      ASSERT_EQ(SwigluBackwardCuda(n, t, DH->p, G->p, U->p, DG->p, DU->p, nullptr), 0);
      ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
      ExpectClose(Download(H.get(), n, t), h, Tol(t), "swiglu h");
      ExpectClose(Download(DG.get(), n, t), dg, Tol(t), "swiglu dg");
      ExpectClose(Download(DU.get(), n, t), du, Tol(t), "swiglu du");
    }
#endif
}

TEST(CudaParity, LinearCrossEntropy) {
  REQUIRE_GPU();
#ifdef SLICETUNE_TEST_CUDA
  cublasHandle_t blas;
  ASSERT_EQ(cublasCreate(&blas), CUBLAS_STATUS_SUCCESS);
  for (DType t : kTypes)
    for (auto [n, dim, vocab, ct, cv] : std::vector<std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t>>{
             {5, 16, 37, 0, 0}, {70, 64, 1000, 16, 0}, {70, 64, 1000, 33, 300}, {257, 128, 5003, 64, 1024}}) {
      auto h = AsType(Random(n * dim, 8), t), w = AsType(Random(vocab * dim, 9, 0.1f), t);
      std::vector<int64_t> tg(n);
      for (int64_t i = 0; i < n; ++i) tg[i] = i % 7 == 3 ? -100 : (i * 131) % vocab;
      const LinearCeShape s{n, dim, vocab, ct, cv};
      std::vector<float> nll(n), dh(n * dim);
      LinearCrossEntropyRef(s, h.data(), w.data(), tg.data(), -100, 0.01f, nll.data(), dh.data());
      const size_t wsb = LinearCrossEntropyWorkspaceCuda(s, t);
      std::unique_ptr<Dev> H(Upload(h, t)), W(Upload(w, t)), T(UploadRaw(tg)), NLL(new Dev(n * 4)), DH(new Dev(n * dim * 4)),
          WS(new Dev(wsb));
      ASSERT_EQ(LinearCrossEntropyCuda(s, t, H->p, W->p, (int64_t*)T->p, -100, 0.01f, (float*)NLL->p, DH->p, WS->p, wsb,
                                       blas, nullptr),
                0);
      ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
      ExpectClose(Download(NLL.get(), n, DType::kF32), nll, t == DType::kBF16 ? 1e-2 : 1e-5, "linear ce nll");
      ExpectClose(Download(DH.get(), n * dim, t), dh, Tol(t), "linear ce dh");
    }
  cublasDestroy(blas);
#endif
}

TEST(CudaParity, LoraLinear) {
  REQUIRE_GPU();
#ifdef SLICETUNE_TEST_CUDA
  cublasHandle_t blas;
  ASSERT_EQ(cublasCreate(&blas), CUBLAS_STATUS_SUCCESS);
  for (DType t : kTypes)
    for (auto [n, in, out, r, p] : std::vector<std::tuple<int64_t, int64_t, int64_t, int64_t, float>>{
             {3, 24, 17, 4, 0.0f}, {129, 256, 200, 16, 0.1f}, {1000, 512, 1536, 8, 0.05f}}) {
      const LoraShape s{n, in, out, r};
      auto x = AsType(Random(n * in, 10), t), w = AsType(Random(out * in, 11, 0.05f), t), bias = AsType(Random(out, 12), t);
      auto a = Random(r * in, 13, 0.05f), b = Random(out * r, 14, 0.05f), dy = AsType(Random(n * out, 15), t);
      const float scale = 2.0f;
      const uint64_t seed = 1234;
      std::vector<float> y(n * out), xa(n * r), dx(n * in), da(r * in), db(out * r);
      LoraLinearForwardRef(s, x.data(), w.data(), bias.data(), a.data(), b.data(), scale, p, seed, y.data(), xa.data());
      LoraLinearBackwardRef(s, dy.data(), x.data(), w.data(), a.data(), b.data(), xa.data(), scale, p, seed, dx.data(),
                            da.data(), db.data());
      const size_t wsb = LoraLinearWorkspaceCuda(s, t, p);
      std::unique_ptr<Dev> X(Upload(x, t)), W(Upload(w, t)), B0(Upload(bias, t)), A(UploadRaw(a)), B(UploadRaw(b)),
          DY(Upload(dy, t)), Y(new Dev(n * out * 4)), XA(new Dev(n * r * 4)), DX(new Dev(n * in * 4)),
          DA(new Dev(r * in * 4)), DB(new Dev(out * r * 4)), WS(new Dev(wsb));
      ASSERT_EQ(LoraLinearForwardCuda(s, t, X->p, W->p, B0->p, (float*)A->p, (float*)B->p, scale, p, seed, Y->p,
                                      (float*)XA->p, WS->p, wsb, blas, nullptr),
                0);
      ASSERT_EQ(LoraLinearBackwardCuda(s, t, DY->p, X->p, W->p, (float*)A->p, (float*)B->p, (float*)XA->p, scale, p, seed,
                                       DX->p, (float*)DA->p, (float*)DB->p, WS->p, wsb, blas, nullptr),
                0);
      ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
      ExpectClose(Download(Y.get(), n * out, t), y, Tol(t), "lora y");
      ExpectClose(Download(XA.get(), n * r, DType::kF32), xa, Tol(t), "lora xa");
      ExpectClose(Download(DX.get(), n * in, t), dx, Tol(t), "lora dx");
      ExpectClose(Download(DA.get(), r * in, DType::kF32), da, Tol(t), "lora dA");
      ExpectClose(Download(DB.get(), out * r, DType::kF32), db, Tol(t), "lora dB");
    }
  cublasDestroy(blas);
#endif
}

TEST(CudaParity, Nf4QuantizeDequantizeMatmul) {
  REQUIRE_GPU();
#ifdef SLICETUNE_TEST_CUDA
  for (auto [out, in] : std::vector<std::pair<int64_t, int64_t>>{{1, 63}, {17, 64}, {300, 1000}, {1024, 4096}}) {
    const int64_t n = out * in;
    const auto x = Random(n, 16, 0.02f);  // float32 input, as the quantizer sees a dense weight
    const Nf4Sizes sz = Nf4SizesFor(n);
    std::vector<uint8_t> packed(sz.packed), aq(sz.blocks);
    std::vector<float> a2(sz.blocks2), deq(n);
    float offset = 0;
    Nf4QuantizeRef(n, x.data(), packed.data(), aq.data(), a2.data(), &offset);
    Nf4DequantizeRef(n, packed.data(), aq.data(), a2.data(), offset, deq.data());
    std::unique_ptr<Dev> X(Upload(x, DType::kF32)), P(new Dev(sz.packed)), AQ(new Dev(sz.blocks)), A2(new Dev(sz.blocks2 * 4)),
        OFF(new Dev(4)), WS(new Dev(sz.blocks * 4)), DQ(new Dev(n * 4));
    ASSERT_EQ(Nf4QuantizeCuda(n, DType::kF32, X->p, (uint8_t*)P->p, (uint8_t*)AQ->p, (float*)A2->p, (float*)OFF->p,
                              (float*)WS->p, nullptr),
              0);
    ASSERT_EQ(Nf4DequantizeCuda(n, DType::kF32, (uint8_t*)P->p, (uint8_t*)AQ->p, (float*)A2->p, (float*)OFF->p, DQ->p,
                                nullptr),
              0);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    EXPECT_EQ(DownloadRaw<uint8_t>(P.get(), sz.packed), packed) << "packed codes";
    EXPECT_EQ(DownloadRaw<float>(A2.get(), sz.blocks2), a2) << "absmax2";
    // The offset is a mean summed in another order: equal to within an ulp or two,
    // which may move an absmax code on a midpoint; the dequantized values tell.
    EXPECT_NEAR(DownloadRaw<float>(OFF.get(), 1)[0], offset, 1e-6 * std::fabs(offset));
    ExpectClose(Download(DQ.get(), n, DType::kF32), deq, 1e-5, "nf4 dequantize");
    for (DType t : kTypes)
      for (int64_t rows : {1, 5, 33}) {
        auto xin = AsType(Random(rows * in, 17), t);
        std::vector<float> y(rows * out);
        Nf4MatmulRef(rows, in, out, xin.data(), packed.data(), aq.data(), a2.data(), offset, y.data());
        std::unique_ptr<Dev> XI(Upload(xin, t)), Y(new Dev(rows * out * 4));
        ASSERT_EQ(Nf4MatmulCuda(rows, in, out, t, XI->p, (uint8_t*)P->p, (uint8_t*)AQ->p, (float*)A2->p, (float*)OFF->p,
                                Y->p, nullptr),
                  0);
        ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
        ExpectClose(Download(Y.get(), rows * out, t), y, Tol(t), "nf4 matmul");
      }
  }
#endif
}

}  // namespace
}  // namespace st::kernels
