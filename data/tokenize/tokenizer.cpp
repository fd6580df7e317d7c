#include "data/tokenize/tokenizer.h"

#include <cstdio>
#include <filesystem>

#include "core/file_io.h"
#include "core/json_io.h"
#include "core/model_spec.h"
#include "data/tokenize/bpe_tokenizer.h"
#include "data/tokenize/sp_tokenizer.h"

namespace st::data {

StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizer(const std::string& model_dir) {
  namespace fs = std::filesystem;
  const std::string file = TokenizerFile(model_dir);
  const std::string sp = (fs::path(model_dir) / "tokenizer.model").string();
  const std::string hf = (fs::path(model_dir) / "tokenizer.json").string();
  const std::string cfg = (fs::path(model_dir) / "tokenizer_config.json").string();
  std::string cfg_text;
  if (PathExists(cfg)) {
    ST_ASSIGN_OR_RETURN(cfg_text, ReadFile(cfg));
  }
  if (file == sp) {
    bool add_bos = true, add_eos = false;
    if (!cfg_text.empty()) {
      ST_ASSIGN_OR_RETURN(auto c, ParseJson(cfg_text, cfg));
      if (c.contains("add_bos_token") && c["add_bos_token"].is_boolean()) add_bos = c["add_bos_token"].get<bool>();
      if (c.contains("add_eos_token") && c["add_eos_token"].is_boolean()) add_eos = c["add_eos_token"].get<bool>();
    }
    ST_ASSIGN_OR_RETURN(auto t, SpTokenizer::Load(sp, add_bos, add_eos));
    return std::unique_ptr<Tokenizer>(std::move(t));
  }
  if (file == hf) {
    ST_ASSIGN_OR_RETURN(auto t, BpeTokenizer::Load(hf, cfg_text));
    return std::unique_ptr<Tokenizer>(std::move(t));
  }
  if (!PathExists(model_dir)) return InvalidInput(model_dir + ": model directory not found");
  return InvalidInput(model_dir + ": no tokenizer.model (sentencepiece) or tokenizer.json (byte-level BPE) found");
}

}  // namespace st::data

namespace st::data {

std::vector<std::string> TokenBytesTable(const Tokenizer& tok, bool* strip_leading_space) {
  const int n = tok.vocab_size();
  std::vector<std::string> out(n);
  *strip_leading_space = false;
  if (std::filesystem::path(tok.path()).filename() != "tokenizer.model") {
    for (int id = 0; id < n; ++id) out[id] = tok.Decode({id});  // byte-level BPE: token by token
    return out;
  }
  static const std::string kSpace = "\xE2\x96\x81";  // U+2581, sentencepiece's space
  int probe = -1;
  for (int id = 0; id < n; ++id) {
    const std::string p = tok.Piece(id);
    switch (tok.Type(id)) {
      case TokenType::kByte: {
        unsigned v = 0;
        if (std::sscanf(p.c_str(), "<0x%2X>", &v) == 1) out[id] = std::string(1, (char)v);
        break;
      }
      case TokenType::kControl:
      case TokenType::kUnused:
        break;
      case TokenType::kUnknown:
        out[id] = " \xE2\x81\x87 ";  // sentencepiece's unknown surface, " ⁇ "
        break;
      default: {
        std::string s;
        for (size_t i = 0; i < p.size();) {
          if (p.compare(i, kSpace.size(), kSpace) == 0) {
            s += ' ';
            i += kSpace.size();
          } else {
            s += p[i++];
          }
        }
        out[id] = s;
        if (probe < 0 && s.size() > 1 && s[0] == ' ') probe = id;
      }
    }
  }
  // Whether decoding drops the space a leading piece starts with (the dummy prefix).
  if (probe >= 0) *strip_leading_space = tok.Decode({probe}) == out[probe].substr(1);
  return out;
}

}  // namespace st::data
