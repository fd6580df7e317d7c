// The Llama-family decoder in ATen, built from a ModelSpec and loaded with our
// safetensors reader. Follows transformers' modeling_llama.py: RMSNorm in f32,
// rotary embeddings in the rotate-half layout (with llama3 / linear scaling),
// grouped-query attention (KV heads repeated), SwiGLU MLP, optional tied
// embeddings; and the family's quirks from the spec: Qwen2's q/k/v biases
// (modeling_qwen2.py), Qwen3's per-head q/k RMSNorm (modeling_qwen3.py), Mistral's
// sliding-window attention (modeling_mistral.py).
//
//   ids (B, T) int64  ->  logits (B, T, V) float32
#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <string>
#include <vector>

#include "core/lora_adapter.h"
#include "core/model_spec.h"
#include "core/status.h"
#include "train/lora.h"

namespace st::train {

struct LlamaBlock {
  at::Tensor attn_norm, ffn_norm;  // (H,)
  at::Tensor q_norm, k_norm;       // (head_dim,) Qwen3 only
  LoraLinear q, k, v, o, gate, up, down;
  LoraLinear* Module(const std::string& name);
};

// Keys and values of the positions seen so far, per layer (B, kv_heads, L, head_dim),
// for generation: each new token attends to them without recomputing them.
struct KvCache {
  std::vector<at::Tensor> k, v;
  int64_t length = 0;
};

class LlamaModel {
 public:
  // Loads config.json and the weights (F32, F16 or BF16) from a Hugging Face directory.
  static StatusOr<LlamaModel> Load(const std::string& model_dir);

  const ModelSpec& spec() const { return spec_; }
  // Adds freshly initialised LoRA factors to `targets` in every block.
  void AttachLora(const std::vector<std::string>& targets, int64_t rank, double alpha, double dropout, uint64_t seed);
  // Same for a whole config: its targets, rank, alpha, dropout, rsLoRA scaling and DoRA magnitudes.
  void AttachLora(const LoraConfig& c, uint64_t seed);
  // Drops every LoRA branch (the base model alone again).
  void DetachLora();
  // Loads trained factors (PEFT adapter) into the model.
  Status LoadAdapter(const LoraAdapter& adapter);
  // Reads the PEFT adapter in `adapter_dir` and loads it, after checking it was
  // trained on the base in `model_dir` (core/base_fingerprint.h).
  Status LoadAdapterDir(const std::string& adapter_dir, const std::string& model_dir);
  // Copies the LoRA factors out as a PEFT adapter.
  LoraAdapter ExportAdapter(const std::vector<std::string>& targets, int64_t rank, double alpha, double dropout) const;
  LoraAdapter ExportAdapter(const LoraConfig& c) const;
  std::vector<at::Tensor> TrainableParameters() const;
  // Every base weight by its Hugging Face name, in ListWeights order (a tied LM
  // head once, as the embeddings); the tensors themselves, not copies.
  std::vector<std::pair<std::string, at::Tensor>> NamedWeights();

  // `positions` (B, T) int64, optional: each token's position in its document, 0
  // where a packed document starts. Rotary embeddings use them and attention stays
  // within a document (block-diagonal causal mask). Undefined: 0..T-1, one document.
  at::Tensor Forward(const at::Tensor& ids, bool training = false, const at::Tensor& positions = {}) const;
  // The final normed hidden states (B, T, H): Forward without the LM head.
  at::Tensor ForwardHidden(const at::Tensor& ids, bool training = false, const at::Tensor& positions = {}) const;
  // MaskedNextTokenLoss of Forward's logits; on CUDA through the fused LM-head
  // cross-entropy (train/fused_ops.h), which never holds the logits.
  std::pair<at::Tensor, int64_t> Loss(const at::Tensor& ids, const at::Tensor& mask, bool training,
                                      const at::Tensor& positions = {}) const;

  // Called in Forward with the input (B, T, in) of every block linear layer
  // (module names as in ListWeights: "q_proj" ... "down_proj"), e.g. to collect
  // activation statistics for an importance matrix. Empty: no calls.
  // Incremental forward for generation: `ids` (B, T) continue the sequence the
  // cache holds (positions cache->length ...); returns their logits (B, T, V)
  // and extends the cache. Same results as Forward over the whole sequence.
  at::Tensor ForwardCached(const at::Tensor& ids, KvCache* cache) const;

  using InputObserver = std::function<void(int layer, const std::string& module, const at::Tensor& x)>;
  void SetInputObserver(InputObserver f) { observer_ = std::move(f); }

  // Mixed precision: the frozen base (linear weights, embeddings, LM head) in
  // `type` (kBFloat16), activations in that type, RMSNorm in float32, the LoRA
  // factors and their optimizer state in float32; logits come back in float32.
  void SetBaseType(at::ScalarType type);
  at::ScalarType base_type() const { return embed_.scalar_type(); }
  // Training forwards keep only each block's input and recompute the block in
  // the backward pass (less memory for one more forward).
  void SetActivationCheckpointing(bool on) { checkpointing_ = on; }
  // Moves every tensor of the model to `device` (LoRA factors attached later follow it).
  void To(const at::Device& device);
  at::Device device() const { return embed_.device(); }
  // QLoRA: every block linear weight to NF4 (kernels/nf4.h), dequantized per use.
  void QuantizeBaseNf4();
  bool base_nf4() const;

  // Decoder block `l` over x (B, T, H) (Blocks runs them in turn). cos / sin are
  // the rotary tables broadcast to (B, heads, T, head_dim); with the CUDA rotary
  // kernel (RopeKernelApplies), cos holds the positions (B, T) int64 instead and
  // sin is undefined.
  at::Tensor Block(size_t l, at::Tensor x, const at::Tensor& cos, const at::Tensor& sin, const at::Tensor& window_mask,
                   bool training, KvCache* cache) const;

 private:
  // The decoder blocks over embeddings x (B, T, H) with rotary tables and the
  // attention mask (undefined: causal); with a cache, attention also covers
  // the cached positions, and the cache grows by T.
  at::Tensor Blocks(at::Tensor x, const at::Tensor& cos, const at::Tensor& sin, const at::Tensor& window_mask,
                    bool training, KvCache* cache) const;
  InputObserver observer_;
  bool checkpointing_ = false;
  ModelSpec spec_;
  at::Tensor embed_, final_norm_, lm_head_;  // lm_head_ aliases embed_ when tied
  std::vector<LlamaBlock> blocks_;
  at::Tensor inv_freq_;  // (head_dim / 2,)
};

// Mean cross-entropy over target positions: logits (B, T, V) predict ids[:, 1:]
// where mask[:, 1:] is 1. Returns {loss, number of targets}.
std::pair<at::Tensor, int64_t> MaskedNextTokenLoss(const at::Tensor& logits, const at::Tensor& ids, const at::Tensor& mask);

}  // namespace st::train
