// Byte-level BPE from a Hugging Face tokenizer.json (Llama 3, Qwen2/2.5/3, GPT-2 and
// DeepSeek-V3-style vocabularies), following the tokenizers library's
// pipeline:
//   1. added tokens (special or not) are cut out of the text first, leftmost-longest;
//   2. normalizer: none or NFC (utf8proc);
//   3. pre-tokenizer: the model's Split regexes (PCRE2 with Unicode properties),
//      each cutting the pieces the one before left, or ByteLevel's own GPT-2 regex;
//   4. each piece's bytes are mapped to printable characters (GPT-2's
//      bytes_to_unicode), then merged pairwise by merge rank (or looked up whole
//      when the model sets ignore_merges, as Llama 3 does);
//   5. decode maps the characters back to bytes.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "data/tokenize/tokenizer.h"

namespace st::data {

class BpeTokenizer : public Tokenizer {
 public:
  ~BpeTokenizer() override;
  // `config_json` is tokenizer_config.json's text ("" when absent): bos/eos/pad
  // tokens and add_bos_token.
  static StatusOr<std::unique_ptr<BpeTokenizer>> Load(const std::string& tokenizer_json_path,
                                                      const std::string& config_json);

  std::vector<int> Encode(const std::string& text) const override;
  std::vector<int> EncodeWithOffsets(const std::string& text, std::vector<size_t>* starts) const override;
  std::string Decode(const std::vector<int>& ids) const override;
  int vocab_size() const override { return (int)pieces_.size(); }
  int bos_id() const override { return bos_; }
  int eos_id() const override { return eos_; }
  int pad_id() const override { return pad_; }
  int unk_id() const override { return unk_; }
  bool add_bos() const override { return add_bos_; }
  bool add_eos() const override { return add_eos_; }
  std::string Piece(int id) const override;
  TokenType Type(int id) const override;
  const std::string& sha256() const override { return sha256_; }
  const std::string& path() const override { return path_; }

  // For GGUF: merges as "left right" in rank order, and llama.cpp's name for the
  // pre-tokenizer ("llama-bpe", "qwen2", "gpt2"), empty when llama.cpp has none.
  const std::vector<std::string>& merges() const { return merges_; }
  const std::string& gguf_pre() const { return gguf_pre_; }

 private:
  static StatusOr<std::unique_ptr<BpeTokenizer>> LoadChecked(const std::string& tokenizer_json_path,
                                                             const std::string& config_json);
  BpeTokenizer();
  void EncodeChunk(const std::string& text, size_t base, std::vector<int>* out, std::vector<size_t>* starts) const;
  void EncodeWord(const std::string& word, std::vector<int>* out) const;
  void EncodeWordUncached(const std::string& word, std::vector<int>* out) const;

  struct Regex;
  std::unique_ptr<Regex> regex_;
  bool nfc_ = false, ignore_merges_ = false, add_bos_ = false, add_eos_ = false;
  std::unordered_map<std::string, int> vocab_;
  std::unordered_map<std::string, int> merge_rank_;  // "left right" -> rank
  std::vector<std::string> merges_;
  std::vector<std::string> pieces_;  // id -> token text (vocab or added)
  std::vector<TokenType> types_;
  std::vector<std::pair<std::string, int>> added_;  // content -> id, longest first
  std::vector<int> added_by_byte_[256];             // indices into added_ by first byte, longest first
  // Word -> ids, as the tokenizers library caches them (not thread-safe; one
  // tokenizer per thread). Cleared when it grows past kCacheMax entries.
  static constexpr size_t kCacheMax = 1 << 18;
  mutable std::unordered_map<std::string, std::vector<int>> cache_;
  std::string byte_to_char_[256];
  std::unordered_map<std::string, uint8_t> char_to_byte_;
  int bos_ = -1, eos_ = -1, pad_ = -1, unk_ = -1;
  std::string sha256_, path_, gguf_pre_;
};

}  // namespace st::data
