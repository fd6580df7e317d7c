#include "export/gguf_writer.h"

#include <future>

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
  // Tensor i+1 is produced (quantized, on every core) while tensor i is being
  // written; two buffers take turns, reused so their pages stay mapped.
  std::vector<uint8_t> bufs[2];
  auto produce = [this, &bufs](size_t i) -> Status {
    const Tensor& t = tensors_[i];
    std::vector<uint8_t>* buf = &bufs[i % 2];
    ST_RETURN_IF_ERROR(t.produce(buf).With("tensor " + t.name));
    if (buf->size() != t.nbytes)
      return RuntimeError("GGUF writer: tensor " + t.name + " produced " + std::to_string(buf->size()) + " bytes, expected " +
                          std::to_string(t.nbytes));
    return Status::Ok();
  };
  std::future<Status> next;
  if (!tensors_.empty()) next = std::async(std::launch::async, produce, 0);
  for (size_t i = 0; i < tensors_.size(); ++i) {
    ST_RETURN_IF_ERROR(next.get());
    if (i + 1 < tensors_.size()) next = std::async(std::launch::async, produce, i + 1);
    const Tensor& t = tensors_[i];
    Status w = f.Write(bufs[i % 2].data(), t.nbytes);
    if (w.ok()) w = f.WriteZeros(Pad(t.nbytes) - t.nbytes);
    if (!w.ok()) {
      if (next.valid()) next.wait();  // the producer writes into our buffers
      return w;
    }
  }
  return f.Commit();
}

}  // namespace st::gguf
