#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/linear_ce.h"

namespace st::kernels {
namespace {

// logits (ct, cv) of tokens t0.. against vocabulary rows v0..
void ChunkLogits(const LinearCeShape& s, const float* hidden, const float* weight, int64_t t0, int64_t ct, int64_t v0,
                 int64_t cv, float* out) {
  for (int64_t t = 0; t < ct; ++t)
    for (int64_t v = 0; v < cv; ++v) {
      const float *h = hidden + (t0 + t) * s.dim, *w = weight + (v0 + v) * s.dim;
      float acc = 0;
      for (int64_t k = 0; k < s.dim; ++k) acc += h[k] * w[k];
      out[t * cv + v] = acc;
    }
}

}  // namespace

void LinearCrossEntropyRef(const LinearCeShape& s, const float* hidden, const float* weight, const int64_t* targets,
                           int64_t ignore_index, float scale, float* nll, float* dhidden) {
  const int64_t CT = s.chunk_tokens > 0 ? s.chunk_tokens : s.tokens;
  const int64_t CV = s.chunk_vocab > 0 ? std::min(s.chunk_vocab, s.vocab) : s.vocab;
  std::vector<float> logits(CT * CV), m(CT), sum(CT), tl(CT);
  if (dhidden) std::memset(dhidden, 0, sizeof(float) * s.tokens * s.dim);
  for (int64_t t0 = 0; t0 < s.tokens; t0 += CT) {
    const int64_t ct = std::min(CT, s.tokens - t0);
    std::fill(m.begin(), m.end(), -std::numeric_limits<float>::infinity());
    std::fill(sum.begin(), sum.end(), 0.0f);
    std::fill(tl.begin(), tl.end(), 0.0f);
    for (int64_t v0 = 0; v0 < s.vocab; v0 += CV) {  // pass 1: running max / sum of exp
      const int64_t cv = std::min(CV, s.vocab - v0);
      ChunkLogits(s, hidden, weight, t0, ct, v0, cv, logits.data());
      for (int64_t t = 0; t < ct; ++t) {
        const float* l = logits.data() + t * cv;
        const float cm = *std::max_element(l, l + cv);
        float cs = 0;
        for (int64_t v = 0; v < cv; ++v) cs += std::exp(l[v] - cm);
        const float nm = std::max(m[t], cm);
        sum[t] = sum[t] * std::exp(m[t] - nm) + cs * std::exp(cm - nm);
        m[t] = nm;
        const int64_t tg = targets[t0 + t];
        if (tg >= v0 && tg < v0 + cv) tl[t] = l[tg - v0];
      }
    }
    for (int64_t t = 0; t < ct; ++t) {
      const bool ignored = targets[t0 + t] == ignore_index;
      m[t] = m[t] + std::log(sum[t]);  // lse
      nll[t0 + t] = ignored ? 0.0f : m[t] - tl[t];
    }
    if (!dhidden) continue;
    for (int64_t v0 = 0; v0 < s.vocab; v0 += CV) {  // pass 2: dh += (softmax - onehot) W
      const int64_t cv = std::min(CV, s.vocab - v0);
      ChunkLogits(s, hidden, weight, t0, ct, v0, cv, logits.data());
      for (int64_t t = 0; t < ct; ++t) {
        const int64_t tg = targets[t0 + t];
        if (tg == ignore_index) continue;
        float* dh = dhidden + (t0 + t) * s.dim;
        for (int64_t v = 0; v < cv; ++v) {
          const float g = scale * (std::exp(logits[t * cv + v] - m[t]) - (v0 + v == tg ? 1.0f : 0.0f));
          const float* w = weight + (v0 + v) * s.dim;
          for (int64_t k = 0; k < s.dim; ++k) dh[k] += g * w[k];
        }
      }
    }
  }
}

}  // namespace st::kernels
