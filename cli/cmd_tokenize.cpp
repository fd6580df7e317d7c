#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/commands.h"
#include "core/json_io.h"
#include "data/clean/readers.h"
#include "data/tokenize/tokenizer.h"

namespace st::cli {

void AddTokenize(CLI::App& app, Status* result) {
  auto* cmd = app.add_subcommand(
      "tokenize", "Print the model tokenizer's ids for each stdin line (as transformers' tokenizer(text)); --decode: ids to text");
  struct Opts {
    std::string model;
    bool decode = false, no_bos = false, jsonl = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("MODEL_DIR", o->model, "Hugging Face model directory (tokenizer.model or tokenizer.json)")->required();
  cmd->add_flag("--decode", o->decode, "Read space-separated ids per line, print text");
  cmd->add_flag("--no-bos", o->no_bos, "Do not prepend BOS even where the model adds it");
  cmd->add_flag("--jsonl", o->jsonl, "Each input line is a JSON string (so text may hold newlines); --decode prints JSON strings");
  cmd->callback([o, result] {
    auto tok = data::LoadTokenizer(o->model);
    if (!tok.ok()) {
      *result = tok.status();
      return;
    }
    const data::Tokenizer& t = **tok;
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
      for (size_t i = 0; i < ids.size(); ++i) std::cout << (i ? " " : "") << ids[i];
      std::cout << "\n";
    }
  });
}

}  // namespace st::cli
