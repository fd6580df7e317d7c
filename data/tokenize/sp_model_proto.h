// The few fields of a serialized sentencepiece ModelProto (tokenizer.model) that
// our own BPE encoder (sp_bpe_encoder.h) needs: the pieces with their scores and
// types, the model type, byte fallback and the normalizer's settings.
//
// Field numbers and defaults follow sentencepiece's sentencepiece_model.proto
// (ModelProto 1 pieces / 2 trainer_spec / 3 normalizer_spec; SentencePiece 1 piece,
// 2 score, 3 type; TrainerSpec 3 model_type, 24 treat_whitespace_as_suffix,
// 35 byte_fallback; NormalizerSpec 1 name, 2 precompiled_charsmap, 3
// add_dummy_prefix, 4 remove_extra_whitespaces, 5 escape_whitespaces).
//
// Why not libprotobuf: Debian's libsentencepiece carries and exports its own
// protobuf runtime, and does not ship the generated ModelProto class; a second
// runtime in the same process would clash with it. The wire format (varints and
// length-delimited fields) is all this reader needs. It runs only on a file
// libsentencepiece has already accepted, and still checks every length.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace st::data {

struct SpModelFacts {
  // sentencepiece's ModelProto.SentencePiece.Type
  enum PieceType : int { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };
  struct Piece {
    std::string text;
    float score = 0;
    int type = kNormal;
  };
  std::vector<Piece> pieces;
  int model_type = 1;  // TrainerSpec.ModelType: 1 unigram, 2 BPE, 3 word, 4 char
  bool byte_fallback = false;
  bool treat_whitespace_as_suffix = false;
  std::string normalizer_name;
  size_t charsmap_bytes = 0;  // precompiled_charsmap: empty for the identity rule
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = true;
  bool escape_whitespaces = true;
};

// `what` names the file in errors.
StatusOr<SpModelFacts> ReadSpModelFacts(std::string_view proto, const std::string& what);

}  // namespace st::data
