// SwiGLU gate of the Llama MLP: h = silu(g) * u, silu(g) = g * sigmoid(g).
// g, u, h (n,) elementwise.
// Backward, with s = sigmoid(g):
//   d silu/dg = s + g s (1 - s) = s (1 + g (1 - s))
//   dg = dh * u * s (1 + g (1 - s)),   du = dh * g s
#pragma once

#include <cstdint>

#include "kernels/kernel_common.h"

namespace st::kernels {

void SwigluForwardRef(int64_t n, const float* g, const float* u, float* h);
void SwigluBackwardRef(int64_t n, const float* dh, const float* g, const float* u, float* dg, float* du);

// All of type `t` on the device.
int SwigluForwardCuda(int64_t n, DType t, const void* g, const void* u, void* h, void* stream);
int SwigluBackwardCuda(int64_t n, DType t, const void* dh, const void* g, const void* u, void* dg, void* du,
                       void* stream);

}  // namespace st::kernels
