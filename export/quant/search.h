// Scale searches behind ggml's k-quants and importance-weighted quants. The
// ones the GPU also runs (RoundNearest, SymmetricLevels, AffineLevels,
// PositiveLevels) live in kernels/gguf_search.h, one body for host and device;
// this adds the Q3_K-only descent. The float arithmetic follows ggml-quants.c
// operation by operation, because the bytes must equal ggml's; the code is
// ours. Build with -ffp-contract=off.
#pragma once

#include <cstdint>

#include "kernels/gguf_search.h"

namespace st::quant {

// Symmetric 3-bit-style search used by Q3_K without importance: levels in
// [0, 2*nmax), optional coordinate-descent refinement weighted by x^2.
float SymmetricLevelsDescent(int n, int nmax, const float* x, int8_t* L, bool refine);

}  // namespace st::quant
