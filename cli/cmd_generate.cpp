#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "core/file_io.h"
#include "data/tokenize/chat_template.h"
#include "data/tokenize/ollama_template.h"
#include "data/tokenize/tokenizer.h"

namespace st::cli {
namespace fs = std::filesystem;

namespace {

struct GenerateArgs {
  std::string model, adapter, prompt, system, format = "auto";
  bool raw = false, ids = false;
  int64_t max_new_tokens = 128, top_k = 0;
  double temperature = 0.0, top_p = 1.0;
  uint64_t seed = 0;
};

std::string Join(const std::vector<int>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? " " : "") + std::to_string(v[i]);
  return s;
}

Status RunGenerate(const GenerateArgs& a) {
  ST_ASSIGN_OR_RETURN(auto tok, data::LoadTokenizer(a.model));
  std::vector<int> prompt, stop;
  if (tok->eos_id() >= 0) stop.push_back(tok->eos_id());
  if (a.raw) {
    prompt = tok->Encode(a.prompt);
    if (tok->add_bos() && tok->bos_id() >= 0) prompt.insert(prompt.begin(), tok->bos_id());
  } else {
    auto tmpl = data::LoadChatTemplate(a.model, *tok, a.format);
    if (!tmpl.ok())
      return InvalidInput(tmpl.status().message() + "; HINT: --raw sends the prompt as plain text");
    std::vector<data::ChatMessage> msgs;
    if (!a.system.empty()) msgs.push_back({"system", a.system});
    msgs.push_back({"user", a.prompt});
    ST_ASSIGN_OR_RETURN(data::RenderedChat chat, tmpl->Render(msgs, /*add_generation_prompt=*/true));
    prompt = data::TokenizeChat(*tok, chat).ids;
    // The family's end-of-turn markers that are single tokens end the reply too (<|im_end|>, <|eot_id|>).
    ST_ASSIGN_OR_RETURN(data::OllamaChat oc, data::OllamaChatFor(*tmpl));
    for (const auto& s : oc.stops) {
      std::vector<size_t> starts;
      std::vector<int> one = tok->EncodeWithOffsets(s, &starts);
      if (one.size() == 1 && tok->Piece(one[0]) == s) stop.push_back(one[0]);
    }
  }
  const std::string out = (fs::temp_directory_path() / ("slicetune-generate-" + std::to_string(::getpid()))).string();
  std::vector<std::string> argv = {TrainBinary(), "generate", "--model", a.model, "--ids", Join(prompt),
                                   "--stop", Join(stop), "--max-new-tokens", std::to_string(a.max_new_tokens),
                                   "--temperature", std::to_string(a.temperature), "--top-k", std::to_string(a.top_k),
                                   "--top-p", std::to_string(a.top_p), "--seed", std::to_string(a.seed), "-o", out};
  if (!a.adapter.empty()) {
    argv.push_back("--adapter");
    argv.push_back(a.adapter);
  }
  Status st = RunChild(argv);
  StatusOr<std::string> text = st.ok() ? ReadFile(out) : StatusOr<std::string>(st);
  std::error_code ec;
  fs::remove(out, ec);
  if (!text.ok()) return text.status();
  std::vector<int> ids;
  std::istringstream in(*text);
  int x;
  while (in >> x) ids.push_back(x);
  if (a.ids) std::cout << Join(ids) << "\n";
  else std::cout << tok->Decode(ids) << "\n";
  return Status::Ok();
}

}  // namespace

void AddGenerate(CLI::App& app, Status* result) {
  auto* cmd = app.add_subcommand("generate",
                                 "Try a model or slice: the prompt through the model's chat template, the reply generated "
                                 "(KV cache; greedy unless --temperature)");
  auto a = std::make_shared<GenerateArgs>();
  cmd->add_option("MODEL_DIR", a->model, "Hugging Face model directory")->required();
  cmd->add_option("--adapter", a->adapter, "PEFT adapter (a slice) to apply");
  cmd->add_option("--prompt", a->prompt, "The user's message")->required();
  cmd->add_option("--system", a->system, "A system message before it");
  cmd->add_flag("--raw", a->raw, "No chat template: continue the prompt text itself (BOS added as the tokenizer does)");
  cmd->add_option("--format", a->format, "Chat format: auto (from the template), chatml, llama3, llama2, mistral");
  cmd->add_option("--max-new-tokens", a->max_new_tokens, "At most this many new tokens")->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  cmd->add_option("--temperature", a->temperature, "0: greedy; above: sampled")->capture_default_str()->check(CLI::Range(0.0, 100.0));
  cmd->add_option("--top-k", a->top_k, "Sample among the k likeliest (0: all)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--top-p", a->top_p, "Sample within this probability mass")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--seed", a->seed, "Sampling seed");
  cmd->add_flag("--ids", a->ids, "Print the new token ids instead of text");
  cmd->callback([a, result] { *result = RunGenerate(*a); });
}

}  // namespace st::cli
