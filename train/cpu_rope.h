// Rotary position embedding on the CPU as one autograd node (the GPU has its
// kernel, train/fused_ops.h), in the rotate-half layout of transformers'
// apply_rotary_pos_emb, with d = head_dim / 2:
//   y_j = x_j c_j - x_{j+d} s_j   (j < d)        y_j = x_j c_j + x_{j-d} s_j   (j >= d)
// and its transpose for the gradient:
//   dx_j = dy_j c_j + dy_{j+d} s_{j+d}   (j < d)  dx_j = dy_j c_j - dy_{j-d} s_{j-d}   (j >= d)
// The composite (x * cos + rotate_half(x) * sin) makes a copy, two products and a
// sum, each a pass over q or k, and as many again backward; this reads x once,
// in float32, and rounds once to x's type.
#pragma once

#include <ATen/ATen.h>

namespace st::train {

// x (B, T, heads, head_dim), a CPU float32 or bf16 tensor; cos and sin the
// model's tables, (T, head_dim) for every row or (B, 1, T, head_dim) per row.
bool RopeCpuApplies(const at::Tensor& x, const at::Tensor& cos);
at::Tensor RopeCpu(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

}  // namespace st::train
