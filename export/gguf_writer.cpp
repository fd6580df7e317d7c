#include "export/gguf_writer.h"

#include <cstring>

#include "core/file_io.h"

namespace st::gguf {
namespace {

template <typename T>
void Put(std::string* s, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  s->append(b, sizeof(T));
}

void PutStr(std::string* s, const std::string& v) {
  Put<uint64_t>(s, v.size());
  s->append(v);
}

uint64_t Pad(uint64_t n) { return (n + kAlignment - 1) / kAlignment * kAlignment; }

}  // namespace

void Writer::Key(const std::string& key, ValueType t) {
  PutStr(&kv_, key);
  Put<uint32_t>(&kv_, static_cast<uint32_t>(t));
  ++kv_count_;
}

void Writer::AddString(const std::string& key, const std::string& v) {
  Key(key, ValueType::kString);
  PutStr(&kv_, v);
}
void Writer::AddU32(const std::string& key, uint32_t v) {
  Key(key, ValueType::kU32);
  Put(&kv_, v);
}
void Writer::AddI32(const std::string& key, int32_t v) {
  Key(key, ValueType::kI32);
  Put(&kv_, v);
}
void Writer::AddF32(const std::string& key, float v) {
  Key(key, ValueType::kF32);
  Put(&kv_, v);
}
void Writer::AddBool(const std::string& key, bool v) {
  Key(key, ValueType::kBool);
  Put<uint8_t>(&kv_, v ? 1 : 0);
}
void Writer::AddStringArray(const std::string& key, const std::vector<std::string>& v) {
  Key(key, ValueType::kArray);
  Put<uint32_t>(&kv_, static_cast<uint32_t>(ValueType::kString));
  Put<uint64_t>(&kv_, v.size());
  for (const auto& s : v) PutStr(&kv_, s);
}
void Writer::AddF32Array(const std::string& key, const std::vector<float>& v) {
  Key(key, ValueType::kArray);
  Put<uint32_t>(&kv_, static_cast<uint32_t>(ValueType::kF32));
  Put<uint64_t>(&kv_, v.size());
  for (float f : v) Put(&kv_, f);
}
void Writer::AddI32Array(const std::string& key, const std::vector<int32_t>& v) {
  Key(key, ValueType::kArray);
  Put<uint32_t>(&kv_, static_cast<uint32_t>(ValueType::kI32));
  Put<uint64_t>(&kv_, v.size());
  for (int32_t x : v) Put(&kv_, x);
}

void Writer::AddTensor(const std::string& name, uint32_t type, const std::vector<uint64_t>& ne, uint64_t nbytes,
                       Producer produce) {
  tensors_.push_back({name, type, ne, nbytes, std::move(produce)});
}

Status Writer::Write(const std::string& path) const {
  std::string head;
  head.append("GGUF", 4);
  Put<uint32_t>(&head, 3);
  Put<uint64_t>(&head, tensors_.size());
  Put<uint64_t>(&head, kv_count_);
  head += kv_;
  uint64_t offset = 0;
  for (const auto& t : tensors_) {
    PutStr(&head, t.name);
    Put<uint32_t>(&head, static_cast<uint32_t>(t.ne.size()));
    for (uint64_t d : t.ne) Put<uint64_t>(&head, d);
    Put<uint32_t>(&head, t.type);
    Put<uint64_t>(&head, offset);
    offset += Pad(t.nbytes);
  }
  AtomicFile f;
  ST_RETURN_IF_ERROR(f.Open(path));
  ST_RETURN_IF_ERROR(f.Write(head.data(), head.size()));
  ST_RETURN_IF_ERROR(f.WriteZeros(Pad(head.size()) - head.size()));
  std::vector<uint8_t> buf;
  for (const auto& t : tensors_) {
    buf.clear();
    ST_RETURN_IF_ERROR(t.produce(&buf).With("tensor " + t.name));
    if (buf.size() != t.nbytes)
      return RuntimeError("GGUF writer: tensor " + t.name + " produced " + std::to_string(buf.size()) + " bytes, expected " +
                          std::to_string(t.nbytes));
    ST_RETURN_IF_ERROR(f.Write(buf.data(), buf.size()));
    ST_RETURN_IF_ERROR(f.WriteZeros(Pad(t.nbytes) - t.nbytes));
  }
  return f.Commit();
}

}  // namespace st::gguf
