// SentencePiece tokenizer (tokenizer.model in a Hugging Face directory), and
// training one for `init-model`.
//
// This file links Debian's libsentencepiece, which carries and exports its own
// protobuf; LibTorch exports a different one. So sentencepiece never enters a
// process that loads LibTorch: `slicetune` tokenizes, `slicetune-train` reads ids.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "data/tokenize/sp_bpe_encoder.h"
#include "data/tokenize/tokenizer.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace st::data {

class SpTokenizer : public Tokenizer {
 public:
  ~SpTokenizer() override;
  // `add_bos` / `add_eos` come from tokenizer_config.json (true / false when it does not say).
  static StatusOr<std::unique_ptr<SpTokenizer>> Load(const std::string& model_path, bool add_bos = true,
                                                     bool add_eos = false);

  std::vector<int> Encode(const std::string& text) const override;  // no BOS/EOS
  std::vector<int> EncodeWithOffsets(const std::string& text, std::vector<size_t>* starts) const override;
  std::string Decode(const std::vector<int>& ids) const override;
  int vocab_size() const override;
  int bos_id() const override;
  int eos_id() const override;
  int unk_id() const override;
  int pad_id() const override;
  bool add_bos() const override { return add_bos_; }
  bool add_eos() const override { return add_eos_; }
  std::string Piece(int id) const override;
  float Score(int id) const;
  TokenType Type(int id) const override;
  const std::string& sha256() const override { return sha256_; }
  const std::string& path() const override { return path_; }
  // Whether ids come from our own BPE encoder (sp_bpe_encoder.h) rather than
  // libsentencepiece; SLICETUNE_SP_LIBRARY=1 in the environment turns it off.
  bool uses_own_encoder() const { return fast_ != nullptr; }

 private:
  SpTokenizer();
  std::unique_ptr<SpBpeEncoder> BuildOwnEncoder(const std::string& model_bytes) const;
  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
  std::unique_ptr<SpBpeEncoder> fast_;  // null: the model is one it does not reproduce
  std::string sha256_, path_;
  bool add_bos_ = true, add_eos_ = false;
  std::vector<std::pair<std::string, int>> specials_;  // control / unknown piece text -> id, longest first
  bool special_first_[256] = {};                        // first bytes of specials_
};

// Trains a BPE model with byte fallback, Llama-style settings (identity
// normalization, dummy prefix, whitespace kept) on `corpus_files`, writing
// `<out_prefix>.model`.
Status TrainSpModel(const std::vector<std::string>& corpus_files, const std::string& out_prefix, int vocab_size,
                    uint64_t seed);

}  // namespace st::data
