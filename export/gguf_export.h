// Hugging Face directory (+ optional LoRA adapter) -> GGUF for llama.cpp and Ollama,
// and a LoRA adapter alone -> GGUF LoRA adapter (llama.cpp --lora, Ollama ADAPTER).
//
// Conventions (checked against llama.cpp's loader, see DESIGN.md "Facts that bite"):
// llama q_proj/k_proj rows are permuted to ggml's adjacent-pair rotary layout (and
// so is lora_B of q and k); 1-D norm weights stay F32; adapter tensors are
// <name>.lora_a with ne = [in, r] and <name>.lora_b with ne = [r, out].
#pragma once

#include <map>
#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace st::exporter {

struct Provenance {
  std::string name;                  // general.name
  std::string slice;                 // recipe name
  std::string recipe_sha256;
  std::string data_manifest_sha256;
};

struct ModelExport {
  std::string type = "f16";  // a llama-quantize file type: F16, Q8_0, Q4_K_M ... (quant/mixture.h)
  bool pure = false;         // every matrix the base type (llama-quantize --pure)
  std::string imatrix;       // llama.cpp imatrix file (GGUF or legacy .dat), or empty
  bool gpu = false;          // Q8_0 / Q4_K / Q6_K blocks on the GPU (same bytes: kernels/gguf_quant.h)
};

// Base model (merged with `adapter_dir` unless empty) -> GGUF of `opt.type`,
// per-tensor types chosen as llama-quantize chooses them.
Status ExportModelGguf(const std::string& model_dir, const std::string& adapter_dir, const ModelExport& opt,
                       const std::string& out_path, const Provenance& prov);

// `type` is "f32" or "f16".
Status ExportAdapterGguf(const std::string& model_dir, const std::string& adapter_dir, const std::string& type,
                         const std::string& out_path, const Provenance& prov);

// Permutes q/k rows (out, in) for ggml's rotary layout: within each head, new row
// 2i = old row i, new row 2i+1 = old row i + head_dim/2.
std::vector<float> PermuteRowsForGgmlRope(const std::vector<float>& w, int64_t n_heads, int64_t rows, int64_t cols);
void PermuteRowsForGgmlRopeInPlace(float* w, int64_t n_heads, int64_t rows, int64_t cols);

}  // namespace st::exporter
