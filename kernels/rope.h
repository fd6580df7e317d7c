// Rotary position embedding in place, rotate-half layout (transformers'
// apply_rotary_pos_emb): for pair i < d/2 of a head with angle a = pos * inv_freq[i]
//   x_i' = x_i cos a - x_{i+d/2} sin a,   x_{i+d/2}' = x_{i+d/2} cos a + x_i sin a.
// x (tokens, heads, head_dim) contiguous; pos (tokens,) int64; inv_freq (head_dim/2,)
// float32 already divided by the scaling factors (llama3, linear: core/model_spec.h's
// RopeFreqFactors), so one kernel serves every scaling type.
// Backward: the rotation is orthogonal, so dx = R(-a) dy: the same op with
// `inverse` set (sin a -> -sin a), also in place on the gradient.
#pragma once

#include <cstdint>

#include "kernels/kernel_common.h"

namespace st::kernels {

void RopeRef(int64_t tokens, int64_t heads, int64_t head_dim, float* x, const int64_t* pos, const float* inv_freq,
             bool inverse);

// x of type `t`, pos and inv_freq on the device. The angle is computed in float32
// (pos * inv_freq, as transformers does) and the sine and cosine in float32.
int RopeCuda(int64_t tokens, int64_t heads, int64_t head_dim, DType t, void* x, const int64_t* pos,
             const float* inv_freq, bool inverse, void* stream);

}  // namespace st::kernels
