#include "export/random_init.h"

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>

#include "core/file_io.h"
#include "core/half.h"
#include "core/safetensors.h"
#include "data/tokenize/sp_tokenizer.h"

namespace st::exporter {
namespace fs = std::filesystem;

namespace {

StatusOr<ModelSpec> Preset(const std::string& name) {
  ModelSpec s;
  s.hf_architecture = "LlamaForCausalLM";
  s.model_type = "llama";
  s.gguf_arch = "llama";
  if (name == "tiny") {  // a few hundred thousand parameters: trains on CPU in seconds
    s.hidden_size = 128;
    s.intermediate_size = 256;
    s.num_layers = 2;
    s.num_heads = 4;
    s.num_kv_heads = 2;
    s.head_dim = 32;
    s.max_position_embeddings = 1024;
    s.rms_norm_eps = 1e-5;
    s.rope_theta = 10000.0;
    return s;
  }
  if (name == "1b") {  // Llama-3.2-1B's block shapes (with the small sample tokenizer): loading benchmarks
    s.hidden_size = 2048;
    s.intermediate_size = 8192;
    s.num_layers = 16;
    s.num_heads = 32;
    s.num_kv_heads = 8;
    s.head_dim = 64;
    s.max_position_embeddings = 2048;
    s.rms_norm_eps = 1e-5;
    s.rope_theta = 500000.0;
    return s;
  }
  return InvalidInput("unknown preset '" + name + "'; known presets: tiny, 1b");
}

}  // namespace

Status InitModel(const std::string& out_dir, const InitModelOptions& o) {
  ST_ASSIGN_OR_RETURN(ModelSpec s, Preset(o.preset));
  if (o.layers < 0 || o.layers > 1000) return InvalidInput("--layers " + std::to_string(o.layers) + ": expected 1..1000");
  if (o.layers > 0) s.num_layers = o.layers;
  if (o.dtype != "f32" && o.dtype != "f16" && o.dtype != "bf16")
    return InvalidInput("--dtype '" + o.dtype + "': expected f32, f16 or bf16");
  if (o.corpus.empty()) return InvalidInput("init-model needs a text corpus to train the tokenizer (--corpus FILE)");
  if (PathExists(out_dir) && !fs::is_empty(out_dir))
    return InvalidInput(out_dir + ": already exists and is not empty; choose another folder or remove it");

  AtomicDir dir;
  ST_RETURN_IF_ERROR(dir.Open(out_dir));
  ST_RETURN_IF_ERROR(data::TrainSpModel(o.corpus, dir / "tokenizer", o.vocab_size, o.seed));
  std::error_code ec;
  fs::remove(dir / "tokenizer.vocab", ec);  // the .model holds everything
  auto tok = data::SpTokenizer::Load(dir / "tokenizer.model");
  if (!tok.ok()) return tok.status();
  s.vocab_size = (*tok)->vocab_size();
  s.bos_token_id = (*tok)->bos_id();
  s.eos_token_id = (*tok)->eos_id();
  s.torch_dtype = o.dtype == "f32" ? "float32" : o.dtype == "f16" ? "float16" : "bfloat16";

  std::mt19937_64 rng(o.seed);
  std::normal_distribution<float> normal(0.0f, (float)o.init_std);
  std::normal_distribution<float> norm_jitter(1.0f, 0.1f);
  std::vector<TensorToWrite> ts;
  for (const auto& w : ListWeights(s)) {
    int64_t n = 1;
    for (int64_t d : w.shape) n *= d;
    std::vector<float> v(n);
    for (auto& x : v) x = w.shape.size() == 1 ? norm_jitter(rng) : normal(rng);
    TensorToWrite t = MakeF32Tensor(w.hf, w.shape, v);
    if (o.dtype != "f32") {
      t.dtype = o.dtype == "f16" ? DType::kF16 : DType::kBF16;
      t.bytes.resize(n * 2);
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h = o.dtype == "f16" ? F32ToF16(v[i]) : F32ToBF16(v[i]);
        std::memcpy(t.bytes.data() + 2 * i, &h, 2);
      }
    }
    ts.push_back(std::move(t));
  }
  ST_RETURN_IF_ERROR(WriteSafetensors(dir / "model.safetensors", ts, {{"format", "pt"}}));
  ST_RETURN_IF_ERROR(WriteFileAtomic(dir / "config.json", ModelSpecToConfigJson(s)));
  nlohmann::json tc = {{"tokenizer_class", "LlamaTokenizer"}, {"add_bos_token", true}, {"add_eos_token", false},
                       {"bos_token", (*tok)->Piece(s.bos_token_id)}, {"eos_token", (*tok)->Piece(s.eos_token_id)},
                       {"unk_token", (*tok)->Piece((*tok)->unk_id())}, {"pad_token", nullptr},
                       {"model_max_length", s.max_position_embeddings}, {"legacy", false},
                       {"clean_up_tokenization_spaces", false}};
  ST_RETURN_IF_ERROR(WriteFileAtomic(dir / "tokenizer_config.json", tc.dump(2) + "\n"));
  return dir.Commit();
}

}  // namespace st::exporter
