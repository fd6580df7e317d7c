// SentencePiece tokenizer (tokenizer.model in a Hugging Face directory), and
// training one for `init-model`.
//
// This file links Debian's libsentencepiece, which carries and exports its own
// protobuf; LibTorch exports a different one. So sentencepiece never enters a
// process that loads LibTorch: `slicetune` tokenizes, `slicetune-train` reads ids.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace st::data {

// GGUF / llama.cpp token types (llama.cpp's llama_token_type).
enum class TokenType : int { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

class SpTokenizer {
 public:
  ~SpTokenizer();
  static StatusOr<std::unique_ptr<SpTokenizer>> Load(const std::string& model_path);

  std::vector<int> Encode(const std::string& text) const;  // no BOS/EOS
  std::string Decode(const std::vector<int>& ids) const;
  int vocab_size() const;
  int bos_id() const;
  int eos_id() const;
  int unk_id() const;
  int pad_id() const;  // -1 if none
  std::string Piece(int id) const;
  float Score(int id) const;
  TokenType Type(int id) const;
  const std::string& sha256() const { return sha256_; }
  const std::string& path() const { return path_; }

 private:
  SpTokenizer();
  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
  std::string sha256_, path_;
};

// Trains a BPE model with byte fallback, Llama-style settings (identity
// normalization, dummy prefix, whitespace kept) on `corpus_files`, writing
// `<out_prefix>.model`.
Status TrainSpModel(const std::vector<std::string>& corpus_files, const std::string& out_prefix, int vocab_size,
                    uint64_t seed);

}  // namespace st::data
