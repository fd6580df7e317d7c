// Test tool: our Llama forward on given token ids, logits written as raw
// float32 (T, V) for the reference-parity tests to compare.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <sstream>

#include "core/lora_adapter.h"
#include "train/llama_model.h"

int main(int argc, char** argv) {
  CLI::App app{"st_forward: dump our logits for token ids"};
  std::string model_dir, adapter, ids_text, out, pos_text;
  app.add_option("MODEL_DIR", model_dir)->required();
  app.add_option("--adapter", adapter);
  app.add_option("--ids", ids_text, "space-separated token ids")->required();
  app.add_option("--out", out)->required();
  app.add_option("--positions", pos_text, "space-separated positions (packed documents restart at 0)");
  bool nf4 = false;
  app.add_flag("--nf4", nf4, "hold the block linear weights in NF4 (QLoRA's base)");
  CLI11_PARSE(app, argc, argv);
  auto model = st::train::LlamaModel::Load(model_dir);
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", model.status().message().c_str());
    return model.status().exit_code();
  }
  if (!adapter.empty()) {
    auto ad = st::LoadLoraAdapter(adapter, model->spec());
    if (!ad.ok() || !model->LoadAdapter(*ad).ok()) {
      std::fprintf(stderr, "%s\n", ad.status().message().c_str());
      return 2;
    }
  }
  if (nf4) model->QuantizeBaseNf4();
  std::vector<int64_t> ids;
  std::istringstream in(ids_text);
  for (int64_t v; in >> v;) ids.push_back(v);
  at::NoGradGuard ng;
  std::vector<int64_t> pos;
  std::istringstream pin(pos_text);
  for (int64_t v; pin >> v;) pos.push_back(v);
  if (!pos.empty() && pos.size() != ids.size()) {
    std::fprintf(stderr, "st_forward: --positions has %zu values for %zu ids\n", pos.size(), ids.size());
    return 2;
  }
  at::Tensor positions = pos.empty() ? at::Tensor() : at::tensor(pos, at::kLong).view({1, (int64_t)pos.size()});
  at::Tensor logits = model->Forward(at::tensor(ids, at::kLong).view({1, (int64_t)ids.size()}), false, positions).contiguous();
  std::FILE* f = std::fopen(out.c_str(), "wb");
  if (!f) return 1;
  std::fwrite(logits.data_ptr<float>(), 4, logits.numel(), f);
  std::fclose(f);
  return 0;
}
