#include <vector>

#include "kernels/lora_linear.h"

namespace st::kernels {
namespace {

// D(x) (n, in)
std::vector<float> Dropped(const LoraShape& s, const float* x, float p, uint64_t seed) {
  std::vector<float> xd(x, x + s.n * s.in);
  if (p > 0)
    for (int64_t i = 0; i < s.n * s.in; ++i) xd[i] *= DropoutFactor(seed, (uint64_t)i, p);
  return xd;
}

}  // namespace

void LoraLinearForwardRef(const LoraShape& s, const float* x, const float* w, const float* bias, const float* a,
                          const float* b, float scale, float p, uint64_t seed, float* y, float* xa) {
  const std::vector<float> xd = Dropped(s, x, p, seed);
  for (int64_t i = 0; i < s.n; ++i) {
    for (int64_t k = 0; k < s.rank; ++k) {
      double acc = 0;
      for (int64_t j = 0; j < s.in; ++j) acc += (double)xd[i * s.in + j] * a[k * s.in + j];
      xa[i * s.rank + k] = (float)acc;
    }
    for (int64_t o = 0; o < s.out; ++o) {
      double base = 0, low = 0;
      for (int64_t j = 0; j < s.in; ++j) base += (double)x[i * s.in + j] * w[o * s.in + j];
      for (int64_t k = 0; k < s.rank; ++k) low += (double)xa[i * s.rank + k] * b[o * s.rank + k];
      y[i * s.out + o] = (float)(base + (bias ? bias[o] : 0.0) + scale * low);
    }
  }
}

void LoraLinearBackwardRef(const LoraShape& s, const float* dy, const float* x, const float* w, const float* a,
                           const float* b, const float* xa, float scale, float p, uint64_t seed, float* dx, float* da,
                           float* db) {
  const std::vector<float> xd = Dropped(s, x, p, seed);
  std::vector<double> g(s.n * s.rank, 0.0);  // dy B
  for (int64_t i = 0; i < s.n; ++i)
    for (int64_t k = 0; k < s.rank; ++k)
      for (int64_t o = 0; o < s.out; ++o) g[i * s.rank + k] += (double)dy[i * s.out + o] * b[o * s.rank + k];
  if (dx)
    for (int64_t i = 0; i < s.n; ++i)
      for (int64_t j = 0; j < s.in; ++j) {
        double base = 0, low = 0;
        for (int64_t o = 0; o < s.out; ++o) base += (double)dy[i * s.out + o] * w[o * s.in + j];
        for (int64_t k = 0; k < s.rank; ++k) low += g[i * s.rank + k] * a[k * s.in + j];
        dx[i * s.in + j] = (float)(base + scale * DropoutFactor(seed, (uint64_t)(i * s.in + j), p) * low);
      }
  for (int64_t k = 0; k < s.rank; ++k)
    for (int64_t j = 0; j < s.in; ++j) {
      double acc = 0;
      for (int64_t i = 0; i < s.n; ++i) acc += g[i * s.rank + k] * xd[i * s.in + j];
      da[k * s.in + j] = (float)(scale * acc);
    }
  for (int64_t o = 0; o < s.out; ++o)
    for (int64_t k = 0; k < s.rank; ++k) {
      double acc = 0;
      for (int64_t i = 0; i < s.n; ++i) acc += (double)dy[i * s.out + o] * xa[i * s.rank + k];
      db[o * s.rank + k] = (float)(scale * acc);
    }
}

}  // namespace st::kernels
