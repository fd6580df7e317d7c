#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/commands.h"
#include "core/json_io.h"
#include "core/file_io.h"
#include "data/clean/readers.h"
#include "data/tokenize/chat_template.h"
#include "data/tokenize/tokenizer.h"

namespace st::cli {

namespace {

template <typename Opts>
Status PrintChat(const data::Tokenizer& t, const Opts& o) {
  ST_ASSIGN_OR_RETURN(std::string text, ReadFile(o.chat));
  ST_ASSIGN_OR_RETURN(auto messages, data::ParseChatMessages(text, o.chat));
  ST_ASSIGN_OR_RETURN(auto tmpl, data::LoadChatTemplate(o.model, t, o.format));
  if (!o.date.empty()) tmpl.set_date(o.date);
  auto rendered = tmpl.Render(messages, o.gen_prompt);
  if (!rendered.ok()) return InvalidInput(o.chat + ": " + rendered.status().message());
  if (!o.ids) {
    std::cout << rendered->text;
    return Status::Ok();
  }
  data::ChatTokens ct = data::TokenizeChat(t, *rendered);
  for (size_t i = 0; i < ct.ids.size(); ++i) std::cout << (i ? " " : "") << ct.ids[i];
  std::cout << "\n";
  for (size_t i = 0; i < ct.mask.size(); ++i) std::cout << (i ? " " : "") << (int)ct.mask[i];
  std::cout << "\n";
  return Status::Ok();
}

}  // namespace

void AddTokenize(CLI::App& app, Status* result) {
  auto* cmd = app.add_subcommand(
      "tokenize", "Print the model tokenizer's ids for each stdin line (as transformers' tokenizer(text)); --decode: ids to text");
  struct Opts {
    std::string model;
    bool decode = false, no_bos = false, jsonl = false, gen_prompt = false, ids = false;
    std::string chat, format = "auto", date;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("MODEL_DIR", o->model, "Hugging Face model directory (tokenizer.model or tokenizer.json)")->required();
  cmd->add_flag("--decode", o->decode, "Read space-separated ids per line, print text");
  cmd->add_flag("--no-bos", o->no_bos, "Do not add BOS / EOS even where the model adds them");
  cmd->add_flag("--jsonl", o->jsonl, "Each input line is a JSON string (so text may hold newlines); --decode prints JSON strings");
  cmd->add_option("--chat", o->chat,
                  "Render this conversation (JSON: a list of {role, content}, {\"messages\": [...]} or sharegpt "
                  "{\"conversations\": [...]}) with the model's chat template and print the text");
  cmd->add_flag("--add-generation-prompt", o->gen_prompt, "With --chat: end with the assistant header");
  cmd->add_flag("--ids", o->ids,
                "With --chat: print the token ids, then a line of 0/1 marking the assistant tokens trained on");
  cmd->add_option("--date", o->date, "With --chat: the date a dated Llama 3.x template writes (default: today, as transformers)");
  cmd->add_option("--format", o->format, "With --chat: auto (detect from the template), chatml, llama3, llama2, mistral");
  cmd->callback([o, result] {
    auto tok = data::LoadTokenizer(o->model);
    if (!tok.ok()) {
      *result = tok.status();
      return;
    }
    const data::Tokenizer& t = **tok;
    if (!o->chat.empty()) {
      *result = PrintChat(t, *o);
      return;
    }
    std::string line;
    int64_t lineno = 0;
    while (std::getline(std::cin, line)) {
      ++lineno;
      const std::string where = "stdin:" + std::to_string(lineno);
      if (o->decode) {
        std::istringstream in(line);
        std::vector<int> ids;
        long long id;
        while (in >> id) {
          if (id < 0 || id >= t.vocab_size()) {
            *result = InvalidInput(where + ": id " + std::to_string(id) + " outside the vocabulary [0, " +
                                   std::to_string(t.vocab_size()) + ")");
            return;
          }
          ids.push_back((int)id);
        }
        const std::string text = t.Decode(ids);
        std::cout << (o->jsonl ? nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) : text) << "\n";
        continue;
      }
      std::string text = line;
      if (o->jsonl) {
        auto j = ParseJson(line, where);
        if (!j.ok() || !j->is_string()) {
          *result = j.ok() ? InvalidInput(where + ": expected a JSON string per line") : j.status();
          return;
        }
        text = j->get<std::string>();
      }
      if (data::FindInvalidUtf8(text) != std::string::npos) {
        *result = InvalidInput(where + ": not valid UTF-8");
        return;
      }
      std::vector<int> ids = t.Encode(text);
      if (t.add_bos() && !o->no_bos) ids.insert(ids.begin(), t.bos_id());
      if (t.add_eos() && !o->no_bos) ids.push_back(t.eos_id());
      for (size_t i = 0; i < ids.size(); ++i) std::cout << (i ? " " : "") << ids[i];
      std::cout << "\n";
    }
  });
}

}  // namespace st::cli
