// File types as llama-quantize names them (Q4_K_M, Q8_0, F16 ...) and the
// per-tensor type each one gives, with the same choices llama.cpp makes:
// output/tied embedding, attn_v, ffn_down and attn_output rules, then the
// fallback when a row is not a multiple of the block size.
// Followed: src/llama-quant.cpp (llama_tensor_get_type_impl,
// tensor_type_fallback, tensor_allows_quantization, llama_ftype_get_default_type)
// of llama.cpp as vendored by llama-cpp-python 0.3.36.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"
#include "export/quant/quantize.h"

namespace st::quant {

struct FileType {
  const char* name;  // "Q4_K_M"
  uint32_t ftype;    // llama_ftype, written as general.file_type
  Type base;         // the type most matrices get
};

// Accepts llama-quantize's names in any case ("q4_k_m", "Q8_0", "f16") and its
// aliases (Q4_K = Q4_K_M, Q3_K = Q3_K_M, Q5_K = Q5_K_M); errors list them all.
StatusOr<FileType> ParseFileType(const std::string& name);
std::string KnownFileTypeNames();

// What the rules need to know about the model.
struct ModelFacts {
  std::string arch;  // gguf architecture ("llama", "qwen2")
  int n_layers = 0;
  int n_heads = 0;
  int n_kv_heads = 0;
  bool tied_embeddings = false;  // no output.weight: token_embd doubles as the output
};

class TypePlanner {
 public:
  // `pure`: every quantizable matrix gets the base type (llama-quantize --pure),
  // fallbacks aside. `has_imatrix` changes the Q4_0/Q5_0 ffn_down rule as in llama.cpp.
  TypePlanner(FileType ft, ModelFacts facts, bool pure, bool has_imatrix);

  // The type for GGUF tensor `name` whose rows hold `ne0` values and which has
  // `n_dims` dimensions. 1-D tensors and norms stay F32 (llama.cpp keeps them as
  // they are in its F32 input); `layer` is the block index or -1.
  Type Choose(const std::string& name, int n_dims, int64_t ne0, int layer) const;

  // llama.cpp refuses to write these without importance data: the Q2_K
  // matrices of a Q2_K_S file (embedding and output aside).
  bool NeedsImportance(const std::string& name, Type t) const;

 private:
  Type MixtureRule(const std::string& name, int64_t ne0, int layer, Type t) const;
  FileType ft_;
  ModelFacts facts_;
  bool pure_, has_imatrix_;
};

}  // namespace st::quant
