#include "train/llama_model.h"

#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>
#include <mutex>

#include "core/base_fingerprint.h"
#include "core/safetensors.h"
#include "train/cpu_doc_attention.h"
#include "train/cpu_rope.h"
#include "train/fused_ops.h"
#include "train/lora_matmul.h"

namespace st::train {
namespace {


at::Tensor RotateHalf(const at::Tensor& x) {
  const int64_t h = x.size(-1) / 2;
  return at::cat({-x.narrow(-1, h, h), x.narrow(-1, 0, h)}, -1);
}

StatusOr<at::Tensor> LoadTensor(const TensorStore& store, const std::string& name, const std::vector<int64_t>& shape) {
  std::vector<float> v;
  ST_RETURN_IF_ERROR(store.LoadF32(name, shape, &v));
  return at::from_blob(v.data(), shape, at::kFloat).clone();
}

}  // namespace

LoraLinear* LlamaBlock::Module(const std::string& name) {
  if (name == "q_proj") return &q;
  if (name == "k_proj") return &k;
  if (name == "v_proj") return &v;
  if (name == "o_proj") return &o;
  if (name == "gate_proj") return &gate;
  if (name == "up_proj") return &up;
  if (name == "down_proj") return &down;
  return nullptr;
}

StatusOr<LlamaModel> LlamaModel::Load(const std::string& model_dir) {
  LlamaModel m;
  ST_ASSIGN_OR_RETURN(m.spec_, LoadModelSpec(model_dir));
  ST_ASSIGN_OR_RETURN(TensorStore store, TensorStore::OpenDir(model_dir));
  const ModelSpec& s = m.spec_;
  m.blocks_.resize(s.num_layers);
  for (const auto& w : ListWeights(s)) {
    auto loaded = LoadTensor(store, w.hf, w.shape);
    if (!loaded.ok()) return loaded.status().With(model_dir);
    at::Tensor t = std::move(loaded).value();
    if (w.layer < 0) {
      if (w.role == "embed") m.embed_ = t;
      else if (w.role == "final_norm") m.final_norm_ = t;
      else m.lm_head_ = t;
      continue;
    }
    LlamaBlock& b = m.blocks_[w.layer];
    if (!w.module.empty()) b.Module(w.module)->weight = t;
    else if (w.role == "attn_norm") b.attn_norm = t;
    else if (w.role == "ffn_norm") b.ffn_norm = t;
    else if (w.role == "q_norm") b.q_norm = t;
    else if (w.role == "k_norm") b.k_norm = t;
    else if (w.role.size() > 5 && w.role.compare(w.role.size() - 5, 5, ".bias") == 0)
      b.Module(w.role.substr(0, w.role.size() - 5))->bias = t;
  }
  if (s.tie_word_embeddings) m.lm_head_ = m.embed_;
  // inv_freq as transformers computes it: 1 / theta^(arange(0, d, 2) / d), in f32,
  // divided by the rotary scaling factors (all ones without scaling).
  std::vector<float> factors = RopeFreqFactors(s);
  m.inv_freq_ = 1.0 / at::pow(s.rope_theta, at::arange(0, s.head_dim, 2, at::kLong).to(at::kFloat) / (double)s.head_dim);
  m.inv_freq_ = m.inv_freq_ / at::tensor(factors, at::kFloat);
  return m;
}

std::vector<std::pair<std::string, at::Tensor>> LlamaModel::NamedWeights() {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& w : ListWeights(spec_)) {
    at::Tensor t;
    if (w.layer < 0) {
      t = w.role == "embed" ? embed_ : w.role == "final_norm" ? final_norm_ : lm_head_;
    } else {
      LlamaBlock& b = blocks_[w.layer];
      if (!w.module.empty()) t = b.Module(w.module)->weight;
      else if (w.role == "attn_norm") t = b.attn_norm;
      else if (w.role == "ffn_norm") t = b.ffn_norm;
      else if (w.role == "q_norm") t = b.q_norm;
      else if (w.role == "k_norm") t = b.k_norm;
      else t = b.Module(w.role.substr(0, w.role.size() - 5))->bias;  // "<module>.bias"
    }
    out.emplace_back(w.hf, t);
  }
  return out;
}

void LlamaModel::AttachLora(const std::vector<std::string>& targets, int64_t rank, double alpha, double dropout,
                            uint64_t seed) {
  LoraConfig c;
  c.targets = targets;
  c.rank = rank;
  c.alpha = alpha;
  c.dropout = dropout;
  AttachLora(c, seed);
}

void LlamaModel::AttachLora(const LoraConfig& c, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  for (auto& b : blocks_)
    for (const auto& t : c.targets) b.Module(t)->AttachLora(c.rank, c.alpha, c.dropout, gen, c.rslora, c.dora);
}

void LlamaModel::SetBaseType(at::ScalarType type) {
  at::NoGradGuard ng;
  const bool tied = lm_head_.is_same(embed_);
  embed_ = embed_.to(type);
  lm_head_ = tied ? embed_ : lm_head_.to(type);
  for (auto& b : blocks_)
    for (const auto& name : LinearModules()) {
      LoraLinear* l = b.Module(name);
      if (l->weight.defined()) l->weight = l->weight.to(type);  // an NF4 weight is dequantized to x's type
      if (l->bias.defined()) l->bias = l->bias.to(type);
    }
}

void LlamaModel::To(const at::Device& device) {
  at::NoGradGuard ng;
  const bool tied = lm_head_.is_same(embed_);
  auto move = [&](at::Tensor& t) {
    if (t.defined()) t = t.to(device);
  };
  move(embed_);
  move(final_norm_);
  if (tied) lm_head_ = embed_;
  else move(lm_head_);
  move(inv_freq_);
  for (auto& b : blocks_) {
    for (at::Tensor* t : {&b.attn_norm, &b.ffn_norm, &b.q_norm, &b.k_norm}) move(*t);
    for (const auto& name : LinearModules()) {
      LoraLinear* l = b.Module(name);
      for (at::Tensor* t : {&l->weight, &l->bias, &l->nf4.packed, &l->nf4.absmax_q, &l->nf4.absmax2, &l->nf4.offset})
        move(*t);
    }
  }
}

void LlamaModel::QuantizeBaseNf4() {
  at::NoGradGuard ng;
  for (auto& b : blocks_)
    for (const auto& name : LinearModules()) {
      LoraLinear* l = b.Module(name);
      if (l->nf4.defined()) continue;
      l->nf4 = QuantizeNf4(l->weight);
      l->weight = at::Tensor();
    }
}

bool LlamaModel::base_nf4() const { return !blocks_.empty() && blocks_[0].q.nf4.defined(); }

void LlamaModel::DetachLora() {
  for (auto& b : blocks_)
    for (const auto& name : LinearModules()) {
      LoraLinear* l = b.Module(name);
      l->lora_a = at::Tensor();
      l->lora_b = at::Tensor();
      l->magnitude = at::Tensor();
      l->scale = 0;
      l->dropout = 0;
    }
}

Status LlamaModel::LoadAdapter(const LoraAdapter& ad) {
  at::NoGradGuard ng;
  for (const auto& [key, pair] : ad.weights) {
    if (key.first < 0 || key.first >= (int)blocks_.size()) return InvalidInput("adapter layer out of range");
    LoraLinear* lin = blocks_[key.first].Module(key.second);
    const int64_t out = lin->out_features(), in = lin->in_features(), r = ad.config.rank;
    const at::Device dev = embed_.device();
    lin->lora_a = at::from_blob(const_cast<float*>(pair.a.data()), {r, in}, at::kFloat).clone().to(dev).set_requires_grad(true);
    lin->lora_b = at::from_blob(const_cast<float*>(pair.b.data()), {out, r}, at::kFloat).clone().to(dev).set_requires_grad(true);
    lin->scale = ad.config.scale();
    lin->dropout = ad.config.dropout;
    if (ad.config.dora)
      lin->magnitude = at::from_blob(const_cast<float*>(pair.magnitude.data()), {out}, at::kFloat).clone().to(dev).set_requires_grad(true);
  }
  return Status::Ok();
}

Status LlamaModel::LoadAdapterDir(const std::string& adapter_dir, const std::string& model_dir) {
  ST_RETURN_IF_ERROR(CheckAdapterBase(adapter_dir, model_dir));
  ST_ASSIGN_OR_RETURN(LoraAdapter ad, LoadLoraAdapter(adapter_dir, spec_));
  return LoadAdapter(ad);
}

LoraAdapter LlamaModel::ExportAdapter(const std::vector<std::string>& targets, int64_t rank, double alpha,
                                      double dropout) const {
  LoraConfig c;
  c.targets = targets;
  c.rank = rank;
  c.alpha = alpha;
  c.dropout = dropout;
  return ExportAdapter(c);
}

LoraAdapter LlamaModel::ExportAdapter(const LoraConfig& c) const {
  LoraAdapter ad;
  ad.config = c;
  for (size_t l = 0; l < blocks_.size(); ++l)
    for (const auto& t : c.targets) {
      const LoraLinear* lin = const_cast<LlamaBlock&>(blocks_[l]).Module(t);
      if (!lin->has_lora()) continue;
      at::Tensor a = lin->lora_a.detach().cpu().contiguous(), b = lin->lora_b.detach().cpu().contiguous();
      LoraPair p;
      p.a.assign(a.data_ptr<float>(), a.data_ptr<float>() + a.numel());
      p.b.assign(b.data_ptr<float>(), b.data_ptr<float>() + b.numel());
      if (lin->dora()) {
        at::Tensor m = lin->magnitude.detach().cpu().contiguous();
        p.magnitude.assign(m.data_ptr<float>(), m.data_ptr<float>() + m.numel());
      }
      ad.weights[{(int)l, t}] = std::move(p);
    }
  return ad;
}

std::vector<at::Tensor> LlamaModel::TrainableParameters() const {
  std::vector<at::Tensor> ps;
  for (auto& b : blocks_)
    for (const auto& m : LinearModules()) {
      const LoraLinear* lin = const_cast<LlamaBlock&>(b).Module(m);
      if (lin->has_lora()) {
        ps.push_back(lin->lora_a);
        ps.push_back(lin->lora_b);
        if (lin->dora()) ps.push_back(lin->magnitude);
      }
    }
  return ps;
}

at::Tensor LlamaModel::Block(size_t l, at::Tensor x, const at::Tensor& cos, const at::Tensor& sin,
                             const at::Tensor& window_mask, bool training, KvCache* cache) const {
  const ModelSpec& s = spec_;
  const int64_t B = x.size(0), T = x.size(1), nh = s.num_heads, nkv = s.num_kv_heads, hd = s.head_dim;
  const double scale = 1.0 / std::sqrt((double)hd);
  {
    const LlamaBlock& b = blocks_[l];
    auto seen = [&](const char* module, const at::Tensor& in) {
      if (observer_) observer_((int)l, module, in);
    };
    at::Tensor h = RmsNormOp(x, b.attn_norm, s.rms_norm_eps);
    seen("q_proj", h);
    seen("k_proj", h);
    seen("v_proj", h);
    // q, k and v read the same h: on the CPU their LoRA branches are one node.
    const std::vector<at::Tensor> qkv = LoraMatmulSharedForward(h, {&b.q, &b.k, &b.v}, training);
    at::Tensor q = qkv[0].view({B, T, nh, hd});  // (B, T, nh, hd)
    at::Tensor k = qkv[1].view({B, T, nkv, hd});  // (B, T, nkv, hd)
    if (b.q_norm.defined()) {  // Qwen3: RMSNorm over each head before rotary
      q = RmsNormOp(q, b.q_norm, s.rms_norm_eps);
      k = RmsNormOp(k, b.k_norm, s.rms_norm_eps);
    }
    const bool rope_kernel = !sin.defined();  // cos holds the positions (B, T): see Block's comment
    const bool rope_cpu = !rope_kernel && Kernels().rope && RopeCpuApplies(q, cos) && RopeCpuApplies(k, cos);
    if (rope_kernel) {
      q = RopeOp(q, cos, inv_freq_);
      k = RopeOp(k, cos, inv_freq_);
    } else if (rope_cpu) {
      q = RopeCpu(q, cos, sin);
      k = RopeCpu(k, cos, sin);
    }
    q = q.transpose(1, 2);  // (B, nh, T, hd)
    k = k.transpose(1, 2);  // (B, nkv, T, hd)
    at::Tensor v = qkv[2].view({B, T, nkv, hd}).transpose(1, 2);
    if (!rope_kernel && !rope_cpu) {
      q = q * cos + RotateHalf(q) * sin;
      k = k * cos + RotateHalf(k) * sin;
    }
    if (cache) {  // keys and values of earlier positions come first
      if (cache->k.size() <= l) {
        cache->k.push_back(k);
        cache->v.push_back(v);
      } else {
        cache->k[l] = at::cat({cache->k[l], k}, 2);
        cache->v[l] = at::cat({cache->v[l], v}, 2);
      }
      k = cache->k[l];
      v = cache->v[l];
    }
    if (nkv != nh) {
      k = k.repeat_interleave(nh / nkv, 1);
      v = v.repeat_interleave(nh / nkv, 1);
    }
    // Packed rows on the CPU: only the key blocks each query block can see.
    at::Tensor a = window_mask.defined() && !cache && Kernels().attention ? DocAttentionCpu(q, k, v, window_mask, scale) : at::Tensor();
    if (!a.defined())
      a = window_mask.defined() ? at::scaled_dot_product_attention(q, k, v, window_mask, 0.0, false, scale)
                                : at::scaled_dot_product_attention(q, k, v, {}, 0.0, /*is_causal=*/true, scale);
    a = a.transpose(1, 2).reshape({B, T, nh * hd});
    seen("o_proj", a);
    x = x + b.o.Forward(a, training);
    h = RmsNormOp(x, b.ffn_norm, s.rms_norm_eps);
    seen("gate_proj", h);
    seen("up_proj", h);
    const std::vector<at::Tensor> gu = LoraMatmulSharedForward(h, {&b.gate, &b.up}, training);
    at::Tensor g = SwigluOp(gu[0], gu[1]);
    seen("down_proj", g);
    x = x + b.down.Forward(g, training);
  }
  return x;
}

namespace {

// Activation checkpointing of one block (the reentrant scheme of
// torch.utils.checkpoint): the forward keeps only the block's input; the
// backward runs the block again with gradients on, from the same dropout RNG
// state, and back-propagates through that copy, which accumulates the LoRA
// gradients and yields the input's gradient.
struct CheckpointedBlock : public torch::autograd::Function<CheckpointedBlock> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, at::Tensor x, const LlamaModel* model, int64_t layer,
                            at::Tensor cos, at::Tensor sin, at::Tensor mask) {
    at::Generator gen = at::detail::getDefaultCPUGenerator();
    {
      std::lock_guard<std::mutex> lock(gen.mutex());
      ctx->saved_data["rng"] = gen.get_state();
    }
    ctx->saved_data["model"] = reinterpret_cast<int64_t>(model);
    ctx->saved_data["layer"] = layer;
    ctx->saved_data["mask"] = mask;
    ctx->save_for_backward({x, cos, sin});
    at::NoGradGuard ng;
    return model->Block((size_t)layer, x, cos, sin, mask, /*training=*/true, nullptr);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    auto saved = ctx->get_saved_variables();
    const auto* model = reinterpret_cast<const LlamaModel*>(ctx->saved_data["model"].toInt());
    const int64_t layer = ctx->saved_data["layer"].toInt();
    at::Tensor mask = ctx->saved_data["mask"].toTensor();
    at::Tensor x = saved[0].detach().requires_grad_(true);
    at::Generator gen = at::detail::getDefaultCPUGenerator();
    at::Tensor now;
    {
      std::lock_guard<std::mutex> lock(gen.mutex());
      now = gen.get_state();
      gen.set_state(ctx->saved_data["rng"].toTensor());
    }
    at::Tensor y;
    {
      at::AutoGradMode on(true);
      y = model->Block((size_t)layer, x, saved[1], saved[2], mask, /*training=*/true, nullptr);
    }
    {
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_state(now);
    }
    torch::autograd::backward({y}, {grad_out[0]});
    return {x.grad(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor LlamaModel::Blocks(at::Tensor x, const at::Tensor& cos, const at::Tensor& sin, const at::Tensor& window_mask,
                              bool training, KvCache* cache) const {
  const bool recompute = checkpointing_ && training && !cache && at::GradMode::is_enabled();
  // The first block's input must ask for a gradient, or autograd never calls the
  // checkpointed backward (the embeddings are frozen).
  if (recompute && !x.requires_grad()) x = x.detach().requires_grad_(true);
  for (size_t l = 0; l < blocks_.size(); ++l)
    x = recompute ? CheckpointedBlock::apply(x, this, (int64_t)l, cos, sin, window_mask)
                  : Block(l, x, cos, sin, window_mask, training, cache);
  return x;
}

at::Tensor LlamaModel::Forward(const at::Tensor& ids, bool training, const at::Tensor& positions) const {
  return at::matmul(ForwardHidden(ids, training, positions), lm_head_.t()).to(at::kFloat);  // (B, T, V)
}

std::pair<at::Tensor, int64_t> LlamaModel::Loss(const at::Tensor& ids, const at::Tensor& mask, bool training,
                                                const at::Tensor& positions) const {
  return HeadLossOp(ForwardHidden(ids, training, positions), lm_head_, ids, mask);
}

at::Tensor LlamaModel::ForwardHidden(const at::Tensor& ids, bool training, const at::Tensor& positions) const {
  const ModelSpec& s = spec_;
  const int64_t T = ids.size(1);
  at::Tensor x = at::embedding(embed_, ids);  // (B, T, H)
  at::Tensor cos, sin, window_mask;
  // A row holds one document unless its positions restart somewhere after the start.
  const bool packed = positions.defined() && positions.narrow(1, 1, T - 1).eq(0).any().item<bool>();
  if (!positions.defined() || !packed) {
    // cos/sin (T, hd): positions p0..p0+T-1 times inv_freq, duplicated (rotate-half layout).
    at::Tensor p = at::arange(T, ids.options().dtype(at::kFloat));
    if (positions.defined()) p = p.view({1, T}) + positions.narrow(1, 0, 1).to(at::kFloat);  // (B, T)
    at::Tensor freqs = positions.defined() ? p.unsqueeze(-1) * inv_freq_ : at::outer(p, inv_freq_);
    at::Tensor emb = at::cat({freqs, freqs}, -1);
    cos = emb.cos();
    sin = emb.sin();
    if (positions.defined()) {  // (B, T, hd) -> (B, 1, T, hd), broadcast over heads
      cos = cos.unsqueeze(1);
      sin = sin.unsqueeze(1);
    }
    // Sliding window (Mistral): query i sees keys j with i - window < j <= i. (T, T) bool, true = attend.
    if (s.sliding_window > 0 && T > s.sliding_window) {
      at::Tensor i = at::arange(T, ids.options()).view({T, 1}), j = at::arange(T, ids.options()).view({1, T});
      window_mask = (j <= i).logical_and(j > i - s.sliding_window);
    }
  } else {
    // Packed documents: rotary at each token's own position; query i sees key j when
    // both lie in the same document (documents numbered by the restarts) and j <= i.
    at::Tensor freqs = positions.to(at::kFloat).unsqueeze(-1) * inv_freq_;  // (B, T, hd/2)
    at::Tensor emb = at::cat({freqs, freqs}, -1);
    cos = emb.cos().unsqueeze(1);
    sin = emb.sin().unsqueeze(1);
    at::Tensor doc = positions.eq(0).to(at::kLong).cumsum(1);  // (B, T)
    at::Tensor i = at::arange(T, ids.options()).view({T, 1}), j = at::arange(T, ids.options()).view({1, T});
    at::Tensor causal = j <= i;
    if (s.sliding_window > 0) causal = causal.logical_and(j > i - s.sliding_window);
    window_mask = doc.unsqueeze(2).eq(doc.unsqueeze(1)).logical_and(causal).unsqueeze(1);  // (B, 1, T, T)
  }
  const at::ScalarType ct = embed_.scalar_type();
  if (RopeKernelApplies(x)) {  // the kernel takes positions, not tables
    const int64_t B = ids.size(0);
    at::Tensor pos = positions.defined() ? positions.to(at::kLong).contiguous()
                                         : at::arange(T, ids.options().dtype(at::kLong)).expand({B, T}).contiguous();
    x = Blocks(x, pos, at::Tensor(), window_mask, training, nullptr);
  } else {
    x = Blocks(x, cos.to(ct), sin.to(ct), window_mask, training, nullptr);
  }
  return RmsNormOp(x, final_norm_, s.rms_norm_eps);
}

at::Tensor LlamaModel::ForwardCached(const at::Tensor& ids, KvCache* cache) const {
  const ModelSpec& s = spec_;
  const int64_t T = ids.size(1), p0 = cache->length;
  at::Tensor x = at::embedding(embed_, ids);
  at::Tensor p = at::arange(p0, p0 + T, ids.options().dtype(at::kFloat));
  at::Tensor emb = at::outer(p, inv_freq_);
  emb = at::cat({emb, emb}, -1);
  // New query i (position p0 + i) sees cached and new keys j <= p0 + i, within the window.
  at::Tensor mask;
  const int64_t L = p0 + T;
  if (T > 1 || (s.sliding_window > 0 && L > s.sliding_window)) {
    at::Tensor i = at::arange(p0, L, ids.options()).view({T, 1}), j = at::arange(L, ids.options()).view({1, L});
    mask = j <= i;
    if (s.sliding_window > 0) mask = mask.logical_and(j > i - s.sliding_window);
  } else {
    mask = at::ones({T, L}, ids.options().dtype(at::kBool));
  }
  const at::ScalarType ct = embed_.scalar_type();
  x = Blocks(x, emb.cos().to(ct), emb.sin().to(ct), mask, false, cache);
  cache->length = L;
  x = RmsNormOp(x, final_norm_, s.rms_norm_eps);
  return at::matmul(x, lm_head_.t()).to(at::kFloat);
}

std::pair<at::Tensor, int64_t> MaskedNextTokenLoss(const at::Tensor& logits, const at::Tensor& ids, const at::Tensor& mask) {
  const int64_t V = logits.size(-1), T = logits.size(1);
  at::Tensor lg = logits.narrow(1, 0, T - 1).reshape({-1, V});
  at::Tensor tgt = ids.narrow(1, 1, T - 1).reshape({-1});
  at::Tensor m = mask.narrow(1, 1, T - 1).reshape({-1}).to(at::kFloat);
  at::Tensor nll = at::cross_entropy_loss(lg, tgt, {}, at::Reduction::None);
  const int64_t n = (int64_t)m.sum().item<double>();
  at::Tensor loss = (nll * m).sum() / std::max<int64_t>(n, 1);
  return {loss, n};
}

}  // namespace st::train
