#include <cmath>

#include "kernels/rope.h"

namespace st::kernels {

void RopeRef(int64_t tokens, int64_t heads, int64_t head_dim, float* x, const int64_t* pos, const float* inv_freq,
             bool inverse) {
  const int64_t half = head_dim / 2;
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t i = 0; i < half; ++i) {
      const float a = (float)pos[t] * inv_freq[i];
      const float c = std::cos(a), s = inverse ? -std::sin(a) : std::sin(a);
      for (int64_t h = 0; h < heads; ++h) {
        float* xh = x + (t * heads + h) * head_dim;
        const float x1 = xh[i], x2 = xh[i + half];
        xh[i] = x1 * c - x2 * s;
        xh[i + half] = x2 * c + x1 * s;
      }
    }
}

}  // namespace st::kernels
