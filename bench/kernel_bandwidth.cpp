// Achieved memory bandwidth of the memory-bound fused kernels (kernels/) against
// the device-to-device copy bandwidth measured in the same run, on a GPU.
// Bytes counted: every element the kernel must read plus every element it writes,
// once (the minimum traffic), over the median of timed launches (CUDA events).
//
//   build/gpu/bench/kernel_bandwidth            (prints a Markdown table)
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdlib>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "kernels/nf4.h"
#include "kernels/rmsnorm.h"
#include "kernels/rope.h"
#include "kernels/swiglu.h"

namespace {
using namespace st::kernels;

void* Alloc(size_t bytes) {
  void* p = nullptr;
  if (cudaMalloc(&p, bytes) != cudaSuccess) {
    std::fprintf(stderr, "cudaMalloc of %zu bytes failed\n", bytes);
    std::exit(1);
  }
  cudaMemset(p, 0, bytes);
  return p;
}

// Median milliseconds of `reps` launches of f after 3 warm-ups.
double TimeMs(const std::function<int()>& f, int reps = 20) {
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  for (int i = 0; i < 3; ++i)
    if (f() != 0) std::fprintf(stderr, "kernel launch failed\n");
  std::vector<float> ms;
  for (int i = 0; i < reps; ++i) {
    cudaEventRecord(a);
    f();
    cudaEventRecord(b);
    cudaEventSynchronize(b);
    float t = 0;
    cudaEventElapsedTime(&t, a, b);
    ms.push_back(t);
  }
  std::sort(ms.begin(), ms.end());
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return ms[ms.size() / 2];
}

}  // namespace

int main() {
  int dev = 0;
  cudaDeviceProp prop{};
  if (cudaGetDevice(&dev) != cudaSuccess || cudaGetDeviceProperties(&prop, dev) != cudaSuccess) {
    std::fprintf(stderr, "no CUDA device\n");
    return 1;
  }
  // Llama-3-8B activations of one 2048-token sequence, batch 4: rows 8192, hidden 4096, MLP 14336.
  const int64_t rows = 8192, H = 4096, I = 14336, heads = 32, hd = 128;
  const size_t big = (size_t)rows * I * 2;  // bf16 MLP activation, 235 MB
  void *a = Alloc(big), *b = Alloc(big), *c = Alloc(big), *d = Alloc(big), *e = Alloc(big);
  float* rstd = (float*)Alloc(rows * 4);
  int64_t* pos = (int64_t*)Alloc(rows * 8);
  float* inv = (float*)Alloc(hd / 2 * 4);
  const double copy_ms = TimeMs([&] { return (int)cudaMemcpyAsync(b, a, big, cudaMemcpyDeviceToDevice); });
  const double copy_bw = 2.0 * big / (copy_ms * 1e-3);
  struct Row {
    std::string name;
    double bytes, ms;
  };
  std::vector<Row> table;
  const double act = (double)rows * H * 2, mlp = (double)rows * I * 2;
  table.push_back({"rmsnorm forward (8192 x 4096, bf16)", 2 * act + rows * 4,
                   TimeMs([&] { return RmsNormForwardCuda(rows, H, DType::kBF16, a, c, 1e-5f, b, rstd, nullptr); })});
  table.push_back({"rmsnorm backward (dx; frozen gain)", 3 * act + rows * 4, TimeMs([&] {
                     return RmsNormBackwardCuda(rows, H, DType::kBF16, a, b, c, rstd, d, nullptr, nullptr);
                   })});
  table.push_back({"rope in place (q: 8192 x 32 x 128, bf16)", 2 * act,
                   TimeMs([&] { return RopeCuda(rows, heads, hd, DType::kBF16, a, pos, inv, false, nullptr); })});
  table.push_back({"swiglu forward (8192 x 14336, bf16)", 3 * mlp,
                   TimeMs([&] { return SwigluForwardCuda(rows * I, DType::kBF16, a, b, c, nullptr); })});
  table.push_back({"swiglu backward", 5 * mlp,
                   TimeMs([&] { return SwigluBackwardCuda(rows * I, DType::kBF16, a, b, c, d, e, nullptr); })});
  {
    const int64_t n = I * H;  // one MLP weight
    const Nf4Sizes sz = Nf4SizesFor(n);
    auto* packed = (uint8_t*)Alloc(sz.packed);
    auto* aq = (uint8_t*)Alloc(sz.blocks);
    auto* a2 = (float*)Alloc(sz.blocks2 * 4);
    auto* off = (float*)Alloc(4);
    table.push_back({"nf4 dequantize (14336 x 4096 -> bf16)", (double)sz.packed + sz.blocks + n * 2.0, TimeMs([&] {
                       return Nf4DequantizeCuda(n, DType::kBF16, packed, aq, a2, off, a, nullptr);
                     })});
  }
  std::printf("GPU: %s; device-to-device copy: %.0f GB/s (read + write, %.0f MB)\n\n", prop.name, copy_bw / 1e9,
              big / 1e6);
  std::printf("| kernel | time (ms) | GB/s | of copy bandwidth |\n|---|---:|---:|---:|\n");
  for (const Row& r : table)
    std::printf("| %s | %.3f | %.0f | %.0f%% |\n", r.name.c_str(), r.ms, r.bytes / (r.ms * 1e-3) / 1e9,
                100.0 * r.bytes / (r.ms * 1e-3) / copy_bw);
  return 0;
}
