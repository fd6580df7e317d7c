#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/nf4.h"
#include "kernels/nf4_tables.h"

namespace st::kernels {
namespace {

// Block maxima of |x| over blocks of `block` values.
void BlockAbsMax(int64_t n, const float* x, int64_t block, float* out) {
  for (int64_t b = 0; b * block < n; ++b) {
    float m = 0.0f;
    for (int64_t i = b * block; i < std::min(n, (b + 1) * block); ++i) m = std::max(m, std::fabs(x[i]));
    out[b] = m;
  }
}

float Scaled(float v, float absmax) {
  const float inv = 1.0f / std::max(absmax, 1e-38f);
  return std::min(1.0f, std::max(-1.0f, v * inv));
}

}  // namespace

void Nf4QuantizeRef(int64_t n, const float* x, uint8_t* packed, uint8_t* absmax_q, float* absmax2, float* offset) {
  const Nf4Sizes sz = Nf4SizesFor(n);
  std::vector<float> absmax(sz.blocks);
  BlockAbsMax(n, x, kNf4Block, absmax.data());
  std::fill(packed, packed + sz.packed, uint8_t{0});
  for (int64_t i = 0; i < 2 * sz.packed; ++i) {  // n odd: the pad is a scaled 0
    const int q = NearestCode(kNf4Code, 16, i < n ? Scaled(x[i], absmax[i / kNf4Block]) : 0.0f);
    packed[i / 2] |= (uint8_t)(i % 2 == 0 ? q << 4 : q);
  }
  double sum = 0;
  for (float a : absmax) sum += a;
  *offset = (float)(sum / (double)sz.blocks);
  for (float& a : absmax) a -= *offset;
  BlockAbsMax(sz.blocks, absmax.data(), kNf4Block2, absmax2);
  for (int64_t b = 0; b < sz.blocks; ++b)
    absmax_q[b] = (uint8_t)NearestCode(kDynamic8Code, 256, Scaled(absmax[b], absmax2[b / kNf4Block2]));
}

void Nf4DequantizeRef(int64_t n, const uint8_t* packed, const uint8_t* absmax_q, const float* absmax2, float offset,
                      float* out) {
  for (int64_t b = 0; b * kNf4Block < n; ++b) {
    const float a = kDynamic8Code[absmax_q[b]] * absmax2[b / kNf4Block2] + offset;
    for (int64_t i = b * kNf4Block; i < std::min(n, (b + 1) * kNf4Block); ++i) {
      const int q = i % 2 == 0 ? packed[i / 2] >> 4 : packed[i / 2] & 15;
      out[i] = kNf4Code[q] * a;
    }
  }
}

void Nf4MatmulRef(int64_t rows, int64_t in, int64_t out, const float* x, const uint8_t* packed, const uint8_t* absmax_q,
                  const float* absmax2, float offset, float* y) {
  std::vector<float> w(in * out);
  Nf4DequantizeRef(in * out, packed, absmax_q, absmax2, offset, w.data());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < out; ++o) {
      double acc = 0;
      for (int64_t k = 0; k < in; ++k) acc += (double)x[r * in + k] * w[o * in + k];
      y[r * out + o] = (float)acc;
    }
}

}  // namespace st::kernels
