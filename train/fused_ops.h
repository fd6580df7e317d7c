// The bridge between the model (train/llama_model.cpp, train/lora.cpp) and the
// fused kernels (kernels/): autograd functions that run the CUDA kernels on CUDA
// tensors, on the current stream with LibTorch's cuBLAS handle; on the CPU the
// single-node versions of train/cpu_norm.h, cpu_rope.h, cpu_doc_attention.h and
// lora_matmul.h; the plain LibTorch formulas everywhere else. Each can be switched
// off (recipe train.kernels_off) to compare.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "train/nf4_weight.h"

namespace st::train {

struct LoraLinear;

struct KernelSwitches {
  bool rmsnorm = true, rope = true, swiglu = true, linear_ce = true, lora = true, nf4 = true;
  bool attention = true;  // CPU only: train/cpu_doc_attention.h
  bool packed_gemm = true;  // CPU only: train/cpu_packed_gemm.h
};
// Process-wide switches (the trainer sets them from the recipe).
KernelSwitches& Kernels();
// All on, then the named ones off; an unknown name is an error listing the known ones.
Status SetKernelsOff(const std::vector<std::string>& names);

// transformers' LlamaRMSNorm: float32 inside, back in x's type.
at::Tensor RmsNormOp(const at::Tensor& x, const at::Tensor& w, double eps);
// silu(g) * u
at::Tensor SwigluOp(const at::Tensor& g, const at::Tensor& u);
// Whether RopeOp will run the kernel for x (then the model skips its cos/sin tables).
bool RopeKernelApplies(const at::Tensor& x);
// Rotary embedding of x (B, T, heads, head_dim) at positions (B, T) with the
// scaled inverse frequencies (head_dim / 2,), on CUDA only (RopeKernelApplies).
at::Tensor RopeOp(const at::Tensor& x, const at::Tensor& positions, const at::Tensor& inv_freq);
// Mean cross-entropy of lm_head(hidden) (B, T, H) predicting ids[:, 1:] where
// mask[:, 1:] is 1, as MaskedNextTokenLoss over the logits; on CUDA with the fused
// kernel, without the logits. Returns {loss, number of targets}.
std::pair<at::Tensor, int64_t> HeadLossOp(const at::Tensor& hidden, const at::Tensor& lm_head, const at::Tensor& ids,
                                          const at::Tensor& mask);
// The LoRA layer through the fused kernel when it applies (CUDA, LoRA, not DoRA);
// undefined otherwise, and the caller runs LoraLinear's own formula.
at::Tensor FusedLoraForward(const at::Tensor& x, const LoraLinear& l, bool training);
// x W^T for an NF4 weight: dequantized per call (CPU: the reference), or the
// dequantize-fused kernel for few rows on CUDA.
at::Tensor Nf4LinearOp(const at::Tensor& x, const Nf4Weight& w);

}  // namespace st::train
