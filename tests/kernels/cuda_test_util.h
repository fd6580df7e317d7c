// Helpers of the CUDA parity tests: random inputs, bf16 rounding, device
// buffers, and the skip when there is no GPU.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <vector>

#include "core/half.h"
#include "kernels/kernel_common.h"

#ifdef SLICETUNE_TEST_CUDA
#include <cuda_runtime.h>
#endif

namespace st::kernels {

#ifdef SLICETUNE_TEST_CUDA
#define REQUIRE_GPU()                                                                                 \
  do {                                                                                                \
    int devices = 0;                                                                                  \
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0)                                  \
      GTEST_SKIP() << "no CUDA device on this machine; the kernels compiled, parity runs on a GPU"; \
  } while (0)
#else
#define REQUIRE_GPU() GTEST_SKIP() << "this build did not compile CUDA kernels (no nvcc)"
#endif

inline std::vector<float> Random(int64_t n, uint64_t seed, float scale = 1.0f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// Values as the kernel sees them in `t` (bf16 rounds).
inline std::vector<float> AsType(std::vector<float> v, DType t) {
  if (t == DType::kBF16)
    for (auto& x : v) x = BF16ToF32(F32ToBF16(x));
  return v;
}

inline double Tol(DType t) { return t == DType::kBF16 ? 2e-2 : 2e-5; }

inline void ExpectClose(const std::vector<float>& got, const std::vector<float>& want, double rtol, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double amax = 0, err = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    amax = std::max(amax, (double)std::fabs(want[i]));
    err = std::max(err, (double)std::fabs(got[i] - want[i]));
  }
  EXPECT_LE(err, rtol * std::max(amax, 1e-6)) << what << ": max abs error " << err << " against max |want| " << amax;
}

#ifdef SLICETUNE_TEST_CUDA
// A device buffer holding host floats in type t, and back.
struct Dev {
  void* p = nullptr;
  size_t bytes = 0;
  Dev(size_t b) : bytes(b) { EXPECT_EQ(cudaMalloc(&p, std::max<size_t>(b, 1)), cudaSuccess); }
  ~Dev() { cudaFree(p); }
  Dev(const Dev&) = delete;
};
inline Dev* Upload(const std::vector<float>& v, DType t) {
  auto* d = new Dev(v.size() * (t == DType::kBF16 ? 2 : 4));
  if (t == DType::kBF16) {
    std::vector<uint16_t> h(v.size());
    for (size_t i = 0; i < v.size(); ++i) h[i] = F32ToBF16(v[i]);
    cudaMemcpy(d->p, h.data(), d->bytes, cudaMemcpyHostToDevice);
  } else {
    cudaMemcpy(d->p, v.data(), d->bytes, cudaMemcpyHostToDevice);
  }
  return d;
}
template <typename T>
Dev* UploadRaw(const std::vector<T>& v) {
  auto* d = new Dev(v.size() * sizeof(T));
  cudaMemcpy(d->p, v.data(), d->bytes, cudaMemcpyHostToDevice);
  return d;
}
inline std::vector<float> Download(const Dev* d, int64_t n, DType t) {
  std::vector<float> out(n);
  if (t == DType::kBF16) {
    std::vector<uint16_t> h(n);
    cudaMemcpy(h.data(), d->p, n * 2, cudaMemcpyDeviceToHost);
    for (int64_t i = 0; i < n; ++i) out[i] = BF16ToF32(h[i]);
  } else {
    cudaMemcpy(out.data(), d->p, n * 4, cudaMemcpyDeviceToHost);
  }
  return out;
}
template <typename T>
std::vector<T> DownloadRaw(const Dev* d, int64_t n) {
  std::vector<T> out(n);
  cudaMemcpy(out.data(), d->p, n * sizeof(T), cudaMemcpyDeviceToHost);
  return out;
}
#endif


}  // namespace st::kernels
