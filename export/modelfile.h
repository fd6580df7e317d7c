// Ollama Modelfiles for what we export: FROM the model GGUF, ADAPTER the slice's
// GGUF LoRA (if any), a TEMPLATE generated from the model's own chat template
// (data/tokenize/ollama_template.h), stop tokens for the family's turn markers
// and the sampling parameters of the model's generation_config.json. The chat
// template / EOS mismatch after export is what users of other tools hit most.
// Format: ollama/ollama docs/modelfile.md.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"

namespace st::exporter {

struct ModelfileSpec {
  std::string model_dir;              // Hugging Face directory: tokenizer, chat template, generation config
  std::string from;                   // FROM: the model GGUF, relative to the Modelfile's folder
  std::vector<std::string> adapters;  // ADAPTER lines: GGUF LoRA files, same convention
  std::string comment;                // first line, after "# "
};

StatusOr<std::string> BuildModelfile(const ModelfileSpec& spec);
// Builds and writes atomically.
Status WriteModelfile(const ModelfileSpec& spec, const std::string& path);

}  // namespace st::exporter
