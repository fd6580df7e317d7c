#include <unistd.h>

#include <algorithm>
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
  SamplingArgs sampling;
};

}  // namespace

std::string Join(const std::vector<int>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? " " : "") + std::to_string(v[i]);
  return s;
}

StatusOr<std::vector<int>> PromptIds(const data::Tokenizer& tok, const std::string& model, bool raw,
                                     const std::string& format, const std::string& system, const std::string& user,
                                     std::vector<int>* stop) {
  std::vector<int> prompt;
  if (tok.eos_id() >= 0 && std::find(stop->begin(), stop->end(), tok.eos_id()) == stop->end()) stop->push_back(tok.eos_id());
  if (raw) {
    prompt = tok.Encode(user);
    if (tok.add_bos() && tok.bos_id() >= 0) prompt.insert(prompt.begin(), tok.bos_id());
    return prompt;
  }
  auto tmpl = data::LoadChatTemplate(model, tok, format);
  if (!tmpl.ok()) return InvalidInput(tmpl.status().message() + "; HINT: --raw sends the prompt as plain text");
  std::vector<data::ChatMessage> msgs;
  if (!system.empty()) msgs.push_back({"system", system});
  msgs.push_back({"user", user});
  ST_ASSIGN_OR_RETURN(data::RenderedChat chat, tmpl->Render(msgs, /*add_generation_prompt=*/true));
  prompt = data::TokenizeChat(tok, chat).ids;
  // The family's end-of-turn markers that are single tokens end the reply too (<|im_end|>, <|eot_id|>).
  ST_ASSIGN_OR_RETURN(data::OllamaChat oc, data::OllamaChatFor(*tmpl));
  for (const auto& s : oc.stops) {
    std::vector<size_t> starts;
    std::vector<int> one = tok.EncodeWithOffsets(s, &starts);
    if (one.size() == 1 && tok.Piece(one[0]) == s && std::find(stop->begin(), stop->end(), one[0]) == stop->end())
      stop->push_back(one[0]);
  }
  return prompt;
}

Status GenerateInChild(const std::string& model, const std::string& adapter, const std::vector<std::vector<int>>& prompts,
                       const std::vector<int>& stop, const SamplingArgs& s, std::vector<std::vector<int>>* out) {
  const std::string base = (fs::temp_directory_path() / ("slicetune-generate-" + std::to_string(::getpid()))).string();
  std::string lines;
  for (const auto& p : prompts) lines += Join(p) + "\n";
  ST_RETURN_IF_ERROR(WriteFileAtomic(base + ".in", lines));
  std::vector<std::string> argv = {TrainBinary(), "generate", "--model", model, "--ids-file", base + ".in",
                                   "--stop", Join(stop), "--max-new-tokens", std::to_string(s.max_new_tokens),
                                   "--temperature", std::to_string(s.temperature), "--top-k", std::to_string(s.top_k),
                                   "--top-p", std::to_string(s.top_p), "--seed", std::to_string(s.seed), "-o", base + ".out"};
  if (!adapter.empty()) {
    argv.push_back("--adapter");
    argv.push_back(adapter);
  }
  Status st = RunChild(argv);
  StatusOr<std::string> text = st.ok() ? ReadFile(base + ".out") : StatusOr<std::string>(st);
  std::error_code ec;
  fs::remove(base + ".in", ec);
  fs::remove(base + ".out", ec);
  if (!text.ok()) return text.status();
  out->clear();
  std::istringstream in(*text);
  for (std::string line; std::getline(in, line);) {
    std::vector<int> ids;
    std::istringstream l(line);
    int x;
    while (l >> x) ids.push_back(x);
    out->push_back(std::move(ids));
  }
  if (out->size() != prompts.size())
    return RuntimeError("slicetune-train generate returned " + std::to_string(out->size()) + " replies for " +
                        std::to_string(prompts.size()) + " prompts");
  return Status::Ok();
}

namespace {

Status RunGenerate(const GenerateArgs& a) {
  ST_ASSIGN_OR_RETURN(auto tok, data::LoadTokenizer(a.model));
  std::vector<int> stop;
  ST_ASSIGN_OR_RETURN(std::vector<int> prompt, PromptIds(*tok, a.model, a.raw, a.format, a.system, a.prompt, &stop));
  std::vector<std::vector<int>> replies;
  ST_RETURN_IF_ERROR(GenerateInChild(a.model, a.adapter, {prompt}, stop, a.sampling, &replies));
  if (a.ids) std::cout << Join(replies[0]) << "\n";
  else std::cout << tok->Decode(replies[0]) << "\n";
  return Status::Ok();
}

}  // namespace

void AddSamplingOptions(CLI::App* cmd, SamplingArgs* s) {
  cmd->add_option("--max-new-tokens", s->max_new_tokens, "At most this many new tokens")->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  cmd->add_option("--temperature", s->temperature, "0: greedy; above: sampled")->capture_default_str()->check(CLI::Range(0.0, 100.0));
  cmd->add_option("--top-k", s->top_k, "Sample among the k likeliest (0: all)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--top-p", s->top_p, "Sample within this probability mass")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--seed", s->seed, "Sampling seed");
}

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
  AddSamplingOptions(cmd, &a->sampling);
  cmd->add_flag("--ids", a->ids, "Print the new token ids instead of text");
  cmd->callback([a, result] { *result = RunGenerate(*a); });
}

}  // namespace st::cli
