#include "data/tokenize/tokenizer.h"

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
