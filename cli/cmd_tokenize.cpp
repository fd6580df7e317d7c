#include <filesystem>
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "data/clean/readers.h"
#include "data/tokenize/sp_tokenizer.h"

namespace st::cli {

void AddTokenize(CLI::App& app, Status* result) {
  auto* cmd = app.add_subcommand("tokenize", "Print token ids for each stdin line with the model's tokenizer (--decode: ids to text)");
  struct Opts {
    std::string model;
    bool decode = false, bos = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("MODEL_DIR", o->model, "Hugging Face model directory")->required();
  cmd->add_flag("--decode", o->decode, "Read space-separated ids per line, print text");
  cmd->add_flag("--bos", o->bos, "Prepend the BOS id when encoding");
  cmd->callback([o, result] {
    auto tok = data::SpTokenizer::Load((std::filesystem::path(o->model) / "tokenizer.model").string());
    if (!tok.ok()) {
      *result = tok.status();
      return;
    }
    std::string line;
    int64_t lineno = 0;
    while (std::getline(std::cin, line)) {
      ++lineno;
      if (o->decode) {
        std::istringstream in(line);
        std::vector<int> ids;
        long long id;
        while (in >> id) {
          if (id < 0 || id >= (*tok)->vocab_size()) {
            *result = InvalidInput("stdin:" + std::to_string(lineno) + ": id " + std::to_string(id) + " outside the vocabulary [0, " +
                                   std::to_string((*tok)->vocab_size()) + ")");
            return;
          }
          ids.push_back((int)id);
        }
        std::cout << (*tok)->Decode(ids) << "\n";
        continue;
      }
      if (data::FindInvalidUtf8(line) != std::string::npos) {
        *result = InvalidInput("stdin:" + std::to_string(lineno) + ": not valid UTF-8");
        return;
      }
      std::vector<int> ids = (*tok)->Encode(line);
      if (o->bos) ids.insert(ids.begin(), (*tok)->bos_id());
      for (size_t i = 0; i < ids.size(); ++i) std::cout << (i ? " " : "") << ids[i];
      std::cout << "\n";
    }
  });
}

}  // namespace st::cli
