#include "export/gguf_reader.h"

#include <cstring>

#include "export/gguf_writer.h"

namespace st::gguf {
namespace {

// Sequential reader over the mapped bytes; every read checks the bounds.
class Cursor {
 public:
  Cursor(const uint8_t* p, size_t n, std::string path) : p_(p), n_(n), path_(std::move(path)) {}
  size_t pos() const { return pos_; }
  template <typename T>
  Status Read(T* v) {
    if (n_ - pos_ < sizeof(T)) return Truncated();
    std::memcpy(v, p_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return Status::Ok();
  }
  Status ReadString(std::string* s) {
    uint64_t len = 0;
    ST_RETURN_IF_ERROR(Read(&len));
    if (len > n_ - pos_) return Truncated();
    s->assign(reinterpret_cast<const char*>(p_ + pos_), len);
    pos_ += len;
    return Status::Ok();
  }
  Status Skip(uint64_t k) {
    if (k > n_ - pos_) return Truncated();
    pos_ += k;
    return Status::Ok();
  }
  Status Truncated() const {
    return InvalidInput(path_ + ": truncated or corrupt GGUF at byte " + std::to_string(pos_) + " of " + std::to_string(n_));
  }
  const std::string& path() const { return path_; }

 private:
  const uint8_t* p_;
  size_t n_, pos_ = 0;
  std::string path_;
};

size_t ScalarSize(uint32_t t) {
  switch (static_cast<ValueType>(t)) {
    case ValueType::kU8: case ValueType::kI8: case ValueType::kBool: return 1;
    case ValueType::kU16: case ValueType::kI16: return 2;
    case ValueType::kU32: case ValueType::kI32: case ValueType::kF32: return 4;
    case ValueType::kU64: case ValueType::kI64: case ValueType::kF64: return 8;
    default: return 0;
  }
}

Status ReadScalar(Cursor* c, uint32_t t, std::string* out) {
  switch (static_cast<ValueType>(t)) {
#define ST_CASE(E, T, FMT)                  \
  case ValueType::E: {                      \
    T v{};                                  \
    ST_RETURN_IF_ERROR(c->Read(&v));        \
    *out = FMT;                             \
    return Status::Ok();                    \
  }
    ST_CASE(kU8, uint8_t, std::to_string(v))
    ST_CASE(kI8, int8_t, std::to_string(v))
    ST_CASE(kU16, uint16_t, std::to_string(v))
    ST_CASE(kI16, int16_t, std::to_string(v))
    ST_CASE(kU32, uint32_t, std::to_string(v))
    ST_CASE(kI32, int32_t, std::to_string(v))
    ST_CASE(kU64, uint64_t, std::to_string(v))
    ST_CASE(kI64, int64_t, std::to_string(v))
    ST_CASE(kF32, float, std::to_string(v))
    ST_CASE(kF64, double, std::to_string(v))
    ST_CASE(kBool, uint8_t, std::string(v ? "true" : "false"))
#undef ST_CASE
    case ValueType::kString: {
      std::string s;
      ST_RETURN_IF_ERROR(c->ReadString(&s));
      *out = s.size() > 120 ? "\"" + s.substr(0, 117) + "...\"" : "\"" + s + "\"";
      return Status::Ok();
    }
    default:
      return InvalidInput(c->path() + ": unknown GGUF value type " + std::to_string(t) + " at byte " + std::to_string(c->pos()));
  }
}

struct TypeRow {
  uint32_t id;
  const char* name;
  uint32_t block_values, block_bytes;
};
// ggml.h type ids and block sizes (ggml-common.h).
constexpr TypeRow kTypes[] = {
    {0, "F32", 1, 4},    {1, "F16", 1, 2},     {2, "Q4_0", 32, 18},  {3, "Q4_1", 32, 20},   {6, "Q5_0", 32, 22},
    {7, "Q5_1", 32, 24}, {8, "Q8_0", 32, 34},  {10, "Q2_K", 256, 84}, {11, "Q3_K", 256, 110}, {12, "Q4_K", 256, 144},
    {13, "Q5_K", 256, 176}, {14, "Q6_K", 256, 210}, {24, "I8", 1, 1}, {25, "I16", 1, 2}, {26, "I32", 1, 4},
    {27, "I64", 1, 8},   {28, "F64", 1, 8},    {30, "BF16", 1, 2},
};

}  // namespace

std::string GgmlTypeName(uint32_t t) {
  for (const auto& r : kTypes)
    if (r.id == t) return r.name;
  return "type " + std::to_string(t);
}

uint64_t GgmlTensorBytes(uint32_t t, const std::vector<uint64_t>& ne) {
  for (const auto& r : kTypes) {
    if (r.id != t) continue;
    uint64_t rows = 1;
    for (size_t i = 1; i < ne.size(); ++i) rows *= ne[i];
    const uint64_t cols = ne.empty() ? 1 : ne[0];
    return rows * (cols / r.block_values) * r.block_bytes;
  }
  return 0;
}

StatusOr<FileInfo> ReadGgufInfo(const std::string& path) {
  ST_ASSIGN_OR_RETURN(MappedFile m, MappedFile::Open(path));
  Cursor c(m.data(), m.size(), path);
  FileInfo info;
  info.file_size = m.size();
  char magic[4];
  if (m.size() < 4 || std::memcmp(m.data(), "GGUF", 4) != 0)
    return InvalidInput(path + ": bad magic, expected 'GGUF'; HINT: is this a GGUF file?");
  ST_RETURN_IF_ERROR(c.Read(&magic));
  ST_RETURN_IF_ERROR(c.Read(&info.version));
  if (info.version != 2 && info.version != 3)
    return InvalidInput(path + ": GGUF version " + std::to_string(info.version) + ", expected 2 or 3");
  uint64_t n_tensors = 0, n_kv = 0;
  ST_RETURN_IF_ERROR(c.Read(&n_tensors));
  ST_RETURN_IF_ERROR(c.Read(&n_kv));
  if (n_tensors > m.size() || n_kv > m.size()) return c.Truncated();
  for (uint64_t i = 0; i < n_kv; ++i) {
    KeyValue kv;
    ST_RETURN_IF_ERROR(c.ReadString(&kv.key));
    ST_RETURN_IF_ERROR(c.Read(&kv.type));
    if (kv.type == static_cast<uint32_t>(ValueType::kArray)) {
      kv.is_array = true;
      ST_RETURN_IF_ERROR(c.Read(&kv.type));
      ST_RETURN_IF_ERROR(c.Read(&kv.array_len));
      if (kv.array_len > m.size()) return c.Truncated();
      std::string shown;
      for (uint64_t k = 0; k < kv.array_len; ++k) {
        if (k < 4 || kv.type == static_cast<uint32_t>(ValueType::kString)) {
          std::string v;
          ST_RETURN_IF_ERROR(ReadScalar(&c, kv.type, &v));
          if (k < 4) shown += (k ? ", " : "") + v;
        } else {
          const size_t sz = ScalarSize(kv.type);
          if (sz == 0) return InvalidInput(path + ": key " + kv.key + ": unknown array element type " + std::to_string(kv.type));
          ST_RETURN_IF_ERROR(c.Skip((kv.array_len - k) * sz));
          break;
        }
      }
      kv.display = "[" + shown + (kv.array_len > 4 ? ", ... (" + std::to_string(kv.array_len) + " items)" : "") + "]";
    } else {
      ST_RETURN_IF_ERROR(ReadScalar(&c, kv.type, &kv.display));
      if (kv.key == "general.alignment") {
        // The GGUF spec makes it a uint32; any other type (a string here crashed
        // std::stoul; found by fuzz_gguf) is an error naming it.
        if (kv.type != static_cast<uint32_t>(ValueType::kU32))
          return InvalidInput(path + ": general.alignment has value type " + std::to_string(kv.type) +
                              ", the GGUF spec says uint32 (type 4)");
        info.alignment = (uint32_t)std::stoul(kv.display);
      }
    }
    info.kv.push_back(std::move(kv));
  }
  if (info.alignment == 0 || (info.alignment & (info.alignment - 1)))
    return InvalidInput(path + ": general.alignment " + std::to_string(info.alignment) + " is not a power of two");
  for (uint64_t i = 0; i < n_tensors; ++i) {
    TensorInfo t;
    ST_RETURN_IF_ERROR(c.ReadString(&t.name));
    uint32_t n_dims = 0;
    ST_RETURN_IF_ERROR(c.Read(&n_dims));
    if (n_dims > 4) return InvalidInput(path + ": tensor " + t.name + " has " + std::to_string(n_dims) + " dimensions, at most 4");
    t.ne.resize(n_dims);
    for (auto& d : t.ne) ST_RETURN_IF_ERROR(c.Read(&d));
    ST_RETURN_IF_ERROR(c.Read(&t.ggml_type));
    ST_RETURN_IF_ERROR(c.Read(&t.offset));
    info.tensors.push_back(std::move(t));
  }
  info.data_offset = (c.pos() + info.alignment - 1) / info.alignment * info.alignment;
  for (const auto& t : info.tensors) {
    const uint64_t bytes = GgmlTensorBytes(t.ggml_type, t.ne);
    if (info.data_offset + t.offset + bytes > info.file_size)
      return InvalidInput(path + ": tensor " + t.name + " lies beyond the end of the file (truncated?)");
  }
  return info;
}

}  // namespace st::gguf
