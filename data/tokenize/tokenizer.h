// The tokenizer of a Hugging Face model directory, whichever kind it ships:
// sentencepiece (tokenizer.model, sp_tokenizer.h) or byte-level BPE
// (tokenizer.json, bpe_tokenizer.h). The data stage, `tokenize` and the GGUF
// export all go through this interface.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace st::data {

// GGUF / llama.cpp token types (llama.cpp's llama_token_type).
enum class TokenType : int { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // Ids for `text` without the BOS/EOS the model adds around a sequence.
  virtual std::vector<int> Encode(const std::string& text) const = 0;
  // The same ids, and for each the byte offset in `text` where its text starts
  // (used to find the tokens of an assistant reply in a rendered chat).
  virtual std::vector<int> EncodeWithOffsets(const std::string& text, std::vector<size_t>* starts) const = 0;
  virtual std::string Decode(const std::vector<int>& ids) const = 0;
  virtual int vocab_size() const = 0;
  virtual int bos_id() const = 0;  // -1 if none
  virtual int eos_id() const = 0;  // -1 if none
  virtual int pad_id() const = 0;  // -1 if none
  virtual int unk_id() const = 0;  // -1 if none
  // Whether the model prepends BOS to a sequence (transformers' default encode).
  virtual bool add_bos() const = 0;
  // Whether it appends EOS (tokenizer_config.json add_eos_token; false by default).
  virtual bool add_eos() const = 0;
  virtual std::string Piece(int id) const = 0;
  virtual TokenType Type(int id) const = 0;
  virtual const std::string& sha256() const = 0;
  virtual const std::string& path() const = 0;
};

// Each id's bytes in decoded text, so that concatenating them gives Decode(ids)
// (with *strip_leading_space: less one leading space, sentencepiece's dummy
// prefix). Byte-level BPE decodes token by token; sentencepiece pieces have
// U+2581 for spaces, <0xNN> byte pieces, controls that decode to nothing and
// " \u2047 " for unknown.
std::vector<std::string> TokenBytesTable(const Tokenizer& tok, bool* strip_leading_space);

// tokenizer.model when present (exact sentencepiece), else tokenizer.json.
StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizer(const std::string& model_dir);

}  // namespace st::data
