#include "data/tokenize/sp_model_proto.h"

#include <cstdint>
#include <cstring>

namespace st::data {
namespace {

// One protobuf wire-format field at a time (protobuf's encoding guide: a tag
// varint (field << 3 | wire type), then a varint, 8 or 4 fixed bytes, or a
// length-prefixed payload).
class WireReader {
 public:
  explicit WireReader(std::string_view b) : b_(b) {}
  bool done() const { return pos_ >= b_.size(); }
  bool ok() const { return ok_; }

  bool Varint(uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= b_.size()) return ok_ = false;
      const uint8_t c = (uint8_t)b_[pos_++];
      *v |= (uint64_t)(c & 0x7f) << shift;
      if (!(c & 0x80)) return true;
    }
    return ok_ = false;
  }
  // The next field: its number, wire type and, for length-delimited ones, the
  // payload; for varints the value; fixed32 in `fixed32`.
  bool Next(int* field, int* wire, uint64_t* value, std::string_view* payload, uint32_t* fixed32) {
    uint64_t tag;
    if (!Varint(&tag)) return false;
    *field = (int)(tag >> 3);
    *wire = (int)(tag & 7);
    switch (*wire) {
      case 0:
        return Varint(value);
      case 1:
        if (b_.size() - pos_ < 8) return ok_ = false;
        pos_ += 8;
        return true;
      case 2: {
        uint64_t n;
        if (!Varint(&n) || n > b_.size() - pos_) return ok_ = false;
        *payload = b_.substr(pos_, n);
        pos_ += n;
        return true;
      }
      case 5:
        if (b_.size() - pos_ < 4) return ok_ = false;
        std::memcpy(fixed32, b_.data() + pos_, 4);
        pos_ += 4;
        return true;
      default:  // groups (3, 4) are not used by this message
        return ok_ = false;
    }
  }

 private:
  std::string_view b_;
  size_t pos_ = 0;
  bool ok_ = true;
};

// Calls f(field, wire type, varint value, payload, fixed32) for each field of a
// message; false if it is malformed (or f returns false).
template <typename F>
bool ForEachField(std::string_view b, F&& f) {
  WireReader r(b);
  int field, wire;
  uint64_t v = 0;
  std::string_view s;
  uint32_t f32 = 0;
  while (!r.done())
    if (!r.Next(&field, &wire, &v, &s, &f32) || !f(field, wire, v, s, f32)) return false;
  return true;
}

bool ReadPiece(std::string_view b, SpModelFacts::Piece* p) {
  return ForEachField(b, [&](int field, int wire, uint64_t v, std::string_view s, uint32_t f32) {
    if (field == 1 && wire == 2) p->text.assign(s);
    if (field == 2 && wire == 5) std::memcpy(&p->score, &f32, 4);
    if (field == 3 && wire == 0) p->type = (int)v;
    return true;
  });
}

bool ReadTrainerSpec(std::string_view b, SpModelFacts* f) {
  return ForEachField(b, [&](int field, int wire, uint64_t v, std::string_view, uint32_t) {
    if (wire != 0) return true;
    if (field == 3) f->model_type = (int)v;
    if (field == 24) f->treat_whitespace_as_suffix = v != 0;
    if (field == 35) f->byte_fallback = v != 0;
    return true;
  });
}

bool ReadNormalizerSpec(std::string_view b, SpModelFacts* f) {
  return ForEachField(b, [&](int field, int wire, uint64_t v, std::string_view s, uint32_t) {
    if (field == 1 && wire == 2) f->normalizer_name.assign(s);
    if (field == 2 && wire == 2) f->charsmap_bytes = s.size();
    if (field == 3 && wire == 0) f->add_dummy_prefix = v != 0;
    if (field == 4 && wire == 0) f->remove_extra_whitespaces = v != 0;
    if (field == 5 && wire == 0) f->escape_whitespaces = v != 0;
    return true;
  });
}

}  // namespace

StatusOr<SpModelFacts> ReadSpModelFacts(std::string_view proto, const std::string& what) {
  SpModelFacts f;
  const bool ok = ForEachField(proto, [&](int field, int wire, uint64_t, std::string_view s, uint32_t) {
    if (wire != 2) return true;
    if (field == 1) {
      f.pieces.emplace_back();
      return ReadPiece(s, &f.pieces.back());
    }
    if (field == 2) return ReadTrainerSpec(s, &f);
    if (field == 3) return ReadNormalizerSpec(s, &f);
    return true;
  });
  if (!ok)
    return InvalidInput(what + ": not a valid sentencepiece model (truncated or malformed protobuf field); "
                               "expected the tokenizer.model shipped with the checkpoint");
  return f;
}

}  // namespace st::data
