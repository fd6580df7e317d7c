// Our own encoder for sentencepiece BPE models, giving the ids libsentencepiece's
// SentencePieceProcessor::Encode gives, faster: Debian's libsentencepiece 0.1.97
// builds a protobuf per call and looks every candidate merge up by string, which
// made it most of the data build's CPU time (bench/RESULTS.md, corpus pipeline).
//
// It follows the same algorithm (sentencepiece's normalizer.cc for the identity
// rule and bpe_model.cc's Model::Encode): the text is normalized (optional removal
// of extra spaces, a dummy prefix, ' ' -> U+2581), split into characters (a
// user-defined symbol is one frozen symbol), and the adjacent pair whose
// concatenation is a piece with the highest score (ties: leftmost) is merged until
// none is left; characters outside the vocabulary become byte pieces (byte
// fallback) or one <unk> per run. Here a pair is looked up by the two symbols'
// ids in a table built once from the vocabulary (every way each piece splits into
// two), not by building and hashing the concatenated string.
//
// Only models this reproduces exactly are accepted: BPE, no precompiled
// normalization map (Llama / Mistral's identity rule), spaces escaped, no
// whitespace-as-suffix, no unused pieces. For the rest SpTokenizer keeps calling
// libsentencepiece.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "data/tokenize/sp_model_proto.h"

namespace st::data {

class SpBpeEncoder {
 public:
  // nullptr, with the reason in *why, when the model is not one this encoder reproduces.
  static std::unique_ptr<SpBpeEncoder> Build(const SpModelFacts& facts, std::string* why);

  // Appends the ids of `text` (no BOS / EOS) to *ids. False, with *ids as it
  // was, when `text` is not valid UTF-8 (the caller then asks libsentencepiece,
  // which replaces bad bytes its own way). Thread-safe.
  bool Encode(std::string_view text, std::vector<int>* ids) const;

 private:
  SpBpeEncoder() = default;
  struct Merge {
    uint64_t key;  // left symbol id << 32 | right symbol id; 0 marks an empty slot
    int32_t merged;
    float score;
  };
  struct CharIds {
    int32_t sym = -1;  // id for pairing: its piece, a pseudo id, or -1 (pairs with nothing)
    int32_t out = -1;  // the id it is emitted as (PieceToId: reserved pieces first, else unk)
  };
  CharIds LookupChar(uint32_t cp) const;
  const Merge* FindMerge(int32_t left, int32_t right) const;
  // Longest user-defined symbol at the start of `s`: its piece id, and *len; -1 if none.
  int MatchUserDefined(std::string_view s, size_t* len) const;
  // False when `text` is not valid UTF-8.
  bool Normalize(std::string_view text, std::string* out) const;
  // The ids of one stretch of normalized text, merges confined to it.
  void EncodeStretch(std::string_view norm, std::vector<int>* out) const;

  // When no piece has U+2581 right after another character, no merge crosses the
  // start of a space run: the normalized text is encoded word by word then, and
  // each thread keeps the ids of recent short words (keyed by this encoder's serial).
  bool split_at_spaces_ = false;
  uint64_t serial_ = 0;

  int unk_id_ = 0;
  bool byte_fallback_ = false, add_dummy_prefix_ = true, remove_extra_whitespaces_ = true;
  int byte_ids_[256] = {};
  std::vector<int32_t> out_of_piece_;  // piece id -> id emitted (a reserved duplicate wins, as in PieceToId)
  std::vector<CharIds> bmp_;           // code points below 0x10000
  std::unordered_map<uint32_t, CharIds> astral_;
  std::vector<Merge> merges_;  // open addressing, power-of-two size
  uint64_t merge_mask_ = 0;
  // User-defined symbols: text -> piece id, and which first bytes start one.
  std::unordered_map<std::string, int> user_defined_;
  size_t max_user_defined_ = 0;
  bool user_first_[256] = {};
};

}  // namespace st::data
