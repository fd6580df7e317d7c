// Kernel parity: the CUDA kernel against its CPU reference on fresh random
// inputs. Runs where a GPU exists; elsewhere the test says why it skips.
#include "kernels/axpy.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#ifdef SLICETUNE_TEST_CUDA
#include <cuda_runtime.h>
#endif

namespace st::kernels {
namespace {

TEST(AxpyRef, AddsScaledInput) {
  std::vector<float> x = {1, 2, 3}, y = {10, 20, 30};
  AxpyRef(3, 0.5f, x.data(), y.data());
  EXPECT_EQ(y, (std::vector<float>{10.5f, 21.0f, 31.5f}));
}

TEST(AxpyCuda, MatchesReferenceBitForBit) {
#ifndef SLICETUNE_TEST_CUDA
  GTEST_SKIP() << "this build did not compile CUDA kernels (no nvcc)";
#else
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0)
    GTEST_SKIP() << "no CUDA device on this machine; the kernel compiled, parity runs on a GPU machine";
  const int64_t n = 1 << 20;
  std::mt19937 rng(7);
  std::normal_distribution<float> d;
  std::vector<float> x(n), y(n);
  for (auto& v : x) v = d(rng);
  for (auto& v : y) v = d(rng);
  std::vector<float> ref = y;
  AxpyRef(n, 0.37f, x.data(), ref.data());
  float *dx, *dy;
  ASSERT_EQ(cudaMalloc(&dx, n * 4), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&dy, n * 4), cudaSuccess);
  cudaMemcpy(dx, x.data(), n * 4, cudaMemcpyHostToDevice);
  cudaMemcpy(dy, y.data(), n * 4, cudaMemcpyHostToDevice);
  ASSERT_EQ(AxpyCuda(n, 0.37f, dx, dy, nullptr), 0);
  std::vector<float> got(n);
  cudaMemcpy(got.data(), dy, n * 4, cudaMemcpyDeviceToHost);
  cudaFree(dx);
  cudaFree(dy);
  EXPECT_EQ(got, ref);
#endif
}

}  // namespace
}  // namespace st::kernels
