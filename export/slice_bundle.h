// One base GGUF plus N slice adapters, ready for every serving stack:
//
//   OUT/base-<TYPE>.gguf            the base model, quantized (llama.cpp, Ollama FROM)
//   OUT/<slice>.lora.gguf           per slice: GGUF LoRA (llama.cpp --lora, Ollama ADAPTER)
//   OUT/<slice>.Modelfile           per slice: FROM the base, ADAPTER the slice, the chat TEMPLATE
//   OUT/<slice>-peft/               per slice: PEFT adapter (vLLM --lora-modules, transformers)
//   OUT/bundle.json                 what is where, with each file's sha256 and the slice's base
//
// The folder is built under a temporary name and appears only when complete.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "export/gguf_export.h"

namespace st::exporter {

struct SliceAdapter {
  std::string name;  // file-name safe: letters, digits, '-', '_', '.'
  std::string dir;   // PEFT adapter directory
};

// "NAME=DIR" or "DIR" (name: the folder's name, or its parent's when the folder
// is called "adapter", as our run directories lay it out).
StatusOr<SliceAdapter> ParseSliceAdapter(const std::string& arg);

Status ExportSliceBundle(const std::string& model_dir, const std::vector<SliceAdapter>& slices, const ModelExport& opt,
                         const std::string& adapter_type, const std::string& out_dir, const Provenance& prov);

}  // namespace st::exporter
