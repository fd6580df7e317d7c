#include <cmath>

#include "kernels/swiglu.h"

namespace st::kernels {

void SwigluForwardRef(int64_t n, const float* g, const float* u, float* h) {
  for (int64_t i = 0; i < n; ++i) h[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

void SwigluBackwardRef(int64_t n, const float* dh, const float* g, const float* u, float* dg, float* du) {
  for (int64_t i = 0; i < n; ++i) {
    const float s = 1.0f / (1.0f + std::exp(-g[i]));
    dg[i] = dh[i] * u[i] * s * (1.0f + g[i] * (1.0f - s));
    du[i] = dh[i] * g[i] * s;
  }
}

}  // namespace st::kernels
