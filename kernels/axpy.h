// axpy: y[i] += alpha * x[i] for i in [0, n).   x, y are (n,) float32.
//
// The smallest fused op, here to prove the kernels/ wiring (header, CPU reference,
// CUDA kernel, parity test); export/ uses the reference to fold a scaled LoRA
// delta into a base weight. API is pointers, sizes and a stream: no LibTorch.
#pragma once

#include <cstdint>

namespace st::kernels {

// CPU reference (axpy_ref.cpp).
void AxpyRef(int64_t n, float alpha, const float* x, float* y);

// CUDA version (axpy.cu): x, y are device pointers; `stream` is a cudaStream_t
// (nullptr: the default stream). Returns 0 on success, else the cudaError_t value.
// Builds without CUDA return -1.
int AxpyCuda(int64_t n, float alpha, const float* x, float* y, void* stream);

}  // namespace st::kernels
