#include "export/gguf_export.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <filesystem>
#include <memory>

#include "core/base_fingerprint.h"
#include "core/log.h"
#include "core/lora_adapter.h"
#include "core/model_spec.h"
#include "core/safetensors.h"
#include "data/tokenize/bpe_tokenizer.h"
#include "data/tokenize/chat_template.h"
#include "data/tokenize/sp_tokenizer.h"
#include "export/gguf_writer.h"
#include "export/merge.h"
#include "export/imatrix.h"
#include "export/quant/mixture.h"
#include "export/quant/quantize.h"
#include "kernels/gguf_quant.h"

namespace st::exporter {
namespace fs = std::filesystem;

namespace {

// Adds a tensor of float32 values stored as `t`; `fill` makes the values on
// demand into a scratch buffer that every tensor of the file reuses (producers
// run one at a time), so its pages stay mapped from one tensor to the next.
// `importance` (one value per column, may be empty) steers the quantizer.
using Fill = std::function<Status(std::vector<float>*)>;
// The block types the GPU quantizes (kernels/gguf_quant.h); others stay on the CPU.
bool GpuBlockType(quant::Type t, kernels::GgufBlockType* k) {
  if (t == quant::Type::kQ8_0) *k = kernels::GgufBlockType::kQ8_0;
  else if (t == quant::Type::kQ4_K) *k = kernels::GgufBlockType::kQ4_K;
  else if (t == quant::Type::kQ6_K) *k = kernels::GgufBlockType::kQ6_K;
  else return false;
  return true;
}

void AddFloatTensor(gguf::Writer* w, const std::string& name, quant::Type t, std::vector<uint64_t> ne, Fill fill,
                    std::shared_ptr<std::vector<float>> scratch, std::vector<float> importance = {}, bool gpu = false) {
  const uint64_t rows = ne.size() > 1 ? ne[1] : 1, cols = ne[0];
  w->AddTensor(name, static_cast<uint32_t>(t), ne, quant::RowBytes(t, (int64_t)cols) * rows,
               [t, rows, cols, fill, scratch, importance, gpu, name](std::vector<uint8_t>* out) -> Status {
                 ST_RETURN_IF_ERROR(fill(scratch.get()));
                 const float* imp = importance.empty() ? nullptr : importance.data();
                 kernels::GgufBlockType k;
                 if (gpu && GpuBlockType(t, &k)) {
                   out->resize(quant::RowBytes(t, (int64_t)cols) * rows);
                   const int rc = kernels::GgufQuantizeOnGpu(k, (int64_t)rows, (int64_t)cols, scratch->data(),
                                                             k == kernels::GgufBlockType::kQ8_0 ? nullptr : imp,
                                                             out->data());
                   if (rc != 0)
                     return RuntimeError("quantizing " + name + " on the GPU failed (CUDA error " + std::to_string(rc) +
                                         "); HINT: export without --device cuda");
                   return Status::Ok();
                 }
                 quant::QuantizeRows(t, scratch->data(), (int64_t)rows, (int64_t)cols, out, 0, imp);
                 return Status::Ok();
               });
}

Fill Constant(std::vector<float> v) {
  return [v](std::vector<float>* out) {
    *out = v;
    return Status::Ok();
  };
}

void AddProvenance(gguf::Writer* w, const Provenance& p, const std::string& model_dir) {
  if (!p.name.empty()) w->AddString("general.name", p.name);
  w->AddU32("general.base_model.count", 1);
  w->AddString("general.base_model.0.name", fs::path(model_dir).filename().string());
  if (!p.slice.empty()) w->AddString("general.slicetune.slice", p.slice);
  if (!p.recipe_sha256.empty()) w->AddString("general.slicetune.recipe_sha256", p.recipe_sha256);
  if (!p.data_manifest_sha256.empty()) w->AddString("general.slicetune.data_manifest_sha256", p.data_manifest_sha256);
  w->AddString("general.slicetune.version", SLICETUNE_VERSION);  // the toolchain that wrote the file
}

void AddArchitecture(gguf::Writer* w, const ModelSpec& s) {
  const std::string a = s.gguf_arch;
  w->AddString("general.architecture", a);
  w->AddU32(a + ".vocab_size", (uint32_t)s.vocab_size);
  w->AddU32(a + ".context_length", (uint32_t)s.max_position_embeddings);
  w->AddU32(a + ".embedding_length", (uint32_t)s.hidden_size);
  w->AddU32(a + ".block_count", (uint32_t)s.num_layers);
  w->AddU32(a + ".feed_forward_length", (uint32_t)s.intermediate_size);
  w->AddU32(a + ".attention.head_count", (uint32_t)s.num_heads);
  w->AddU32(a + ".attention.head_count_kv", (uint32_t)s.num_kv_heads);
  w->AddU32(a + ".attention.key_length", (uint32_t)s.head_dim);
  w->AddU32(a + ".attention.value_length", (uint32_t)s.head_dim);
  w->AddU32(a + ".rope.dimension_count", (uint32_t)s.head_dim);
  w->AddF32(a + ".rope.freq_base", (float)s.rope_theta);
  w->AddF32(a + ".attention.layer_norm_rms_epsilon", (float)s.rms_norm_eps);
  if (s.rope_scaling.type == "linear") {  // llama3 scaling travels as the rope_freqs tensor instead
    w->AddString(a + ".rope.scaling.type", "linear");
    w->AddF32(a + ".rope.scaling.factor", (float)s.rope_scaling.factor);
  }
}

// The model's tokenizer -> tokenizer.ggml.*: sentencepiece as llama.cpp's "llama"
// (SPM) vocabulary with scores, byte-level BPE as "gpt2" with merges and the
// pre-tokenizer name llama.cpp selects its split regex by (llama-vocab.cpp).
Status AddTokenizer(gguf::Writer* w, const std::string& model_dir, const ModelSpec& spec) {
  ST_ASSIGN_OR_RETURN(auto tok, data::LoadTokenizer(model_dir));
  const int n = tok->vocab_size();
  if (n > spec.vocab_size)
    return InvalidInput(tok->path() + ": tokenizer has " + std::to_string(n) + " tokens but config.json vocab_size is " +
                        std::to_string(spec.vocab_size) + "; the embedding has no rows for the extra ones");
  // Embeddings padded beyond the tokenizer (Qwen) get unused "[PAD<id>]" tokens, as llama.cpp's converter writes.
  std::vector<std::string> tokens(spec.vocab_size);
  std::vector<int32_t> types(spec.vocab_size);
  for (int i = 0; i < spec.vocab_size; ++i) {
    tokens[i] = i < n ? tok->Piece(i) : "[PAD" + std::to_string(i) + "]";
    types[i] = static_cast<int32_t>(i < n ? tok->Type(i) : data::TokenType::kUnused);
  }
  if (const auto* sp = dynamic_cast<const data::SpTokenizer*>(tok.get())) {
    std::vector<float> scores(spec.vocab_size, 0.0f);
    for (int i = 0; i < n; ++i) scores[i] = sp->Score(i);
    // Whether the model adds a dummy-prefix space: the first piece of "a" starts with U+2581.
    std::vector<int> probe = sp->Encode("a");
    const bool space_prefix = !probe.empty() && sp->Piece(probe[0]).rfind("\xE2\x96\x81", 0) == 0;
    w->AddString("tokenizer.ggml.model", "llama");
    w->AddStringArray("tokenizer.ggml.tokens", tokens);
    w->AddF32Array("tokenizer.ggml.scores", scores);
    w->AddI32Array("tokenizer.ggml.token_type", types);
    w->AddBool("tokenizer.ggml.add_space_prefix", space_prefix);
  } else if (const auto* bpe = dynamic_cast<const data::BpeTokenizer*>(tok.get())) {
    if (bpe->gguf_pre().empty())
      return InvalidInput(tok->path() + ": its pre-tokenizer regex is not one llama.cpp knows by name (llama-bpe, qwen2, "
                          "gpt2); llama.cpp would refuse or mis-tokenize the GGUF");
    w->AddString("tokenizer.ggml.model", "gpt2");
    w->AddString("tokenizer.ggml.pre", bpe->gguf_pre());
    w->AddStringArray("tokenizer.ggml.tokens", tokens);
    w->AddI32Array("tokenizer.ggml.token_type", types);
    w->AddStringArray("tokenizer.ggml.merges", bpe->merges());
  }
  if (tok->bos_id() >= 0) w->AddU32("tokenizer.ggml.bos_token_id", (uint32_t)tok->bos_id());
  if (tok->eos_id() >= 0) w->AddU32("tokenizer.ggml.eos_token_id", (uint32_t)tok->eos_id());
  if (tok->unk_id() >= 0) w->AddU32("tokenizer.ggml.unknown_token_id", (uint32_t)tok->unk_id());
  if (tok->pad_id() >= 0) w->AddU32("tokenizer.ggml.padding_token_id", (uint32_t)tok->pad_id());
  w->AddBool("tokenizer.ggml.add_bos_token", tok->add_bos());
  w->AddBool("tokenizer.ggml.add_eos_token", tok->add_eos());
  // The template string travels unchanged: llama.cpp and Ollama render chats with it.
  ST_ASSIGN_OR_RETURN(auto chat_template, data::ReadChatTemplate(model_dir));
  if (chat_template) w->AddString("tokenizer.chat_template", *chat_template);
  return Status::Ok();
}

}  // namespace

void PermuteRowsForGgmlRopeInPlace(float* w, int64_t n_heads, int64_t rows, int64_t cols) {
  const int64_t hd = rows / n_heads, half = hd / 2;
  std::vector<float> head((size_t)(hd * cols));  // one head's rows at a time
  for (int64_t h = 0; h < n_heads; ++h) {
    float* base = w + h * hd * cols;
    std::memcpy(head.data(), base, head.size() * sizeof(float));
    for (int64_t i = 0; i < half; ++i)
      for (int64_t j = 0; j < 2; ++j)
        std::memcpy(base + (2 * i + j) * cols, &head[(j * half + i) * cols], cols * sizeof(float));
  }
}

std::vector<float> PermuteRowsForGgmlRope(const std::vector<float>& w, int64_t n_heads, int64_t rows, int64_t cols) {
  std::vector<float> out = w;
  PermuteRowsForGgmlRopeInPlace(out.data(), n_heads, rows, cols);
  return out;
}

Status ExportModelGguf(const std::string& model_dir, const std::string& adapter_dir, const ModelExport& opt,
                       const std::string& out_path, const Provenance& prov) {
  ST_ASSIGN_OR_RETURN(quant::FileType ft, quant::ParseFileType(opt.type));
  if (std::string why; opt.gpu && !kernels::GgufGpuAvailable(&why))
    return InvalidInput("export --device cuda: no GPU can be used here (" + why + "); HINT: drop --device cuda");
  ST_ASSIGN_OR_RETURN(ModelSpec spec, LoadModelSpec(model_dir));
  ImportanceMatrix imatrix;
  if (!opt.imatrix.empty()) {
    ST_ASSIGN_OR_RETURN(imatrix, ReadImatrix(opt.imatrix));
  }
  auto base = std::make_shared<TensorStore>();
  ST_ASSIGN_OR_RETURN(*base, TensorStore::OpenDir(model_dir));
  std::shared_ptr<LoraAdapter> adapter;
  if (!adapter_dir.empty()) {
    ST_RETURN_IF_ERROR(CheckAdapterBase(adapter_dir, model_dir));
    adapter = std::make_shared<LoraAdapter>();
    ST_ASSIGN_OR_RETURN(*adapter, LoadLoraAdapter(adapter_dir, spec));
  }
  gguf::Writer w;
  auto scratch = std::make_shared<std::vector<float>>();
  AddArchitecture(&w, spec);
  w.AddString("general.type", "model");
  w.AddU32("general.file_type", ft.ftype);  // llama_ftype
  if (quant::IsQuantized(ft.base)) w.AddU32("general.quantization_version", 2);  // GGML_QNT_VERSION
  w.AddU32("general.alignment", gguf::kAlignment);
  AddProvenance(&w, prov, model_dir);
  ST_RETURN_IF_ERROR(AddTokenizer(&w, model_dir, spec));
  if (spec.rope_scaling.type == "llama3") {
    // llama.cpp divides each rotary frequency by rope_freqs[i] (convert_hf_to_gguf.py writes the same).
    std::vector<float> factors = RopeFreqFactors(spec);
    AddFloatTensor(&w, "rope_freqs.weight", quant::Type::kF32, {(uint64_t)factors.size()}, Constant(factors), scratch);
  }
  const std::vector<WeightName> weights = ListWeights(spec);
  quant::ModelFacts facts;
  facts.arch = spec.gguf_arch;
  facts.n_layers = (int)spec.num_layers;
  facts.n_heads = (int)spec.num_heads;
  facts.n_kv_heads = (int)spec.num_kv_heads;
  facts.tied_embeddings = std::none_of(weights.begin(), weights.end(), [](const WeightName& x) { return x.gguf == "output.weight"; });
  const quant::TypePlanner planner(ft, facts, opt.pure, !imatrix.entries.empty());
  int with_importance = 0;
  for (const auto& wn : weights) {
    // Fail early, before writing, if a tensor is missing or misshapen.
    const TensorView* t = base->Find(wn.hf);
    if (!t) return InvalidInput(model_dir + ": checkpoint is missing tensor '" + wn.hf + "'");
    std::vector<uint64_t> ne(wn.shape.rbegin(), wn.shape.rend());
    int64_t heads = wn.module == "q_proj" ? spec.num_heads : wn.module == "k_proj" ? spec.num_kv_heads : 0;
    if (!spec.permute_qk_for_gguf) heads = 0;
    const quant::Type type = planner.Choose(wn.gguf, (int)wn.shape.size(), (int64_t)ne[0], wn.layer);
    // llama-quantize passes a tensor's importance to every quantizer, when the sizes agree.
    std::vector<float> importance;
    if (quant::IsQuantized(type)) {
      ST_ASSIGN_OR_RETURN(importance, imatrix.For(wn.gguf, (int64_t)ne[0]));
      with_importance += !importance.empty();
      if (importance.empty() && planner.NeedsImportance(wn.gguf, type))
        return InvalidInput(wn.gguf + ": " + ft.name + " stores it as " + quant::Info(type).name +
                            ", which needs importance data (llama.cpp refuses too); HINT: pass --imatrix FILE "
                            "(`slicetune imatrix` computes one from the slice's data)");
    }
    Fill fill = [base, adapter, wn, heads](std::vector<float>* v) -> Status {
      ST_RETURN_IF_ERROR(LoadMergedWeight(*base, adapter.get(), wn, v));
      if (heads) PermuteRowsForGgmlRopeInPlace(v->data(), heads, wn.shape[0], wn.shape[1]);
      return Status::Ok();
    };
    AddFloatTensor(&w, wn.gguf, type, ne, fill, scratch, std::move(importance), opt.gpu);
  }
  if (!imatrix.entries.empty())
    LogInfo("export: importance matrix " + opt.imatrix + " used for " + std::to_string(with_importance) + " tensors");
  return w.Write(out_path);
}

Status ExportAdapterGguf(const std::string& model_dir, const std::string& adapter_dir, const std::string& type,
                         const std::string& out_path, const Provenance& prov) {
  ST_ASSIGN_OR_RETURN(quant::Type gt, quant::ParseType(type));
  if (gt != quant::Type::kF32 && gt != quant::Type::kF16)
    return InvalidInput("adapter GGUF type '" + type + "' is not supported; supported: f32, f16");
  ST_ASSIGN_OR_RETURN(ModelSpec spec, LoadModelSpec(model_dir));
  ST_RETURN_IF_ERROR(CheckAdapterBase(adapter_dir, model_dir));
  auto adapter = std::make_shared<LoraAdapter>();
  ST_ASSIGN_OR_RETURN(*adapter, LoadLoraAdapter(adapter_dir, spec));
  if (adapter->config.dora)
    return InvalidInput(adapter_dir + " is a DoRA adapter: llama.cpp and Ollama apply plain LoRA (W + s B A) and cannot "
                        "serve it as a GGUF LoRA. HINT: export the merged model (--type Q4_K_M etc. with --adapter), "
                        "or serve the PEFT adapter with vLLM / transformers");
  gguf::Writer w;
  auto scratch = std::make_shared<std::vector<float>>();
  w.AddString("general.architecture", spec.gguf_arch);
  w.AddString("general.type", "adapter");
  w.AddString("adapter.type", "lora");
  w.AddF32("adapter.lora.alpha", (float)adapter->config.alpha);
  w.AddU32("general.alignment", gguf::kAlignment);
  AddProvenance(&w, prov, model_dir);
  const int64_t r = adapter->config.rank;
  for (const auto& wn : ListWeights(spec)) {
    if (wn.module.empty() || !adapter->Find(wn.layer, wn.module)) continue;
    const int64_t out_dim = wn.shape[0], in_dim = wn.shape[1];
    int64_t heads = wn.module == "q_proj" ? spec.num_heads : wn.module == "k_proj" ? spec.num_kv_heads : 0;
    if (!spec.permute_qk_for_gguf) heads = 0;
    const LoraPair* p = adapter->Find(wn.layer, wn.module);
    AddFloatTensor(&w, wn.gguf + ".lora_a", gt, {(uint64_t)in_dim, (uint64_t)r},
                   [adapter, p](std::vector<float>* v) {
                     *v = p->a;
                     return Status::Ok();
                   }, scratch);
    AddFloatTensor(&w, wn.gguf + ".lora_b", gt, {(uint64_t)r, (uint64_t)out_dim},
                   [adapter, p, heads, out_dim, r](std::vector<float>* v) {
                     *v = heads ? PermuteRowsForGgmlRope(p->b, heads, out_dim, r) : p->b;
                     return Status::Ok();
                   }, scratch);
  }
  return w.Write(out_path);
}

}  // namespace st::exporter
