// GGUF v3 writer (the format of ggml's include/gguf.h and docs/gguf.md).
//
// File layout, step by step:
//   1. magic "GGUF", u32 version = 3
//   2. u64 tensor count, u64 key-value count
//   3. key-value pairs: key (u64 length + UTF-8 bytes), u32 value type, value
//      (arrays: u32 element type, u64 count, elements)
//   4. tensor infos: name, u32 n_dims, u64 ne[n_dims] (ne[0] innermost: an
//      nn.Linear weight (out, in) is ne = [in, out]), u32 ggml type, u64 offset
//      relative to the data section
//   5. zero padding to `general.alignment` (32)
//   6. tensor data, in tensor-info order, each padded to the alignment (ggml
//      refuses any other order)
// Tensor bytes are produced on demand while writing, so a whole model is never
// held twice in memory. Output goes to a temporary name and is renamed on success.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/status.h"

namespace st::gguf {

enum class ValueType : uint32_t {
  kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7,
  kString = 8, kArray = 9, kU64 = 10, kI64 = 11, kF64 = 12,
};

inline constexpr uint32_t kAlignment = 32;

class Writer {
 public:
  void AddString(const std::string& key, const std::string& v);
  void AddU32(const std::string& key, uint32_t v);
  void AddI32(const std::string& key, int32_t v);
  void AddF32(const std::string& key, float v);
  void AddBool(const std::string& key, bool v);
  void AddStringArray(const std::string& key, const std::vector<std::string>& v);
  void AddF32Array(const std::string& key, const std::vector<float>& v);
  void AddI32Array(const std::string& key, const std::vector<int32_t>& v);

  // `ggml_type` is ggml.h's enum value; `produce` resizes its buffer to exactly
  // `nbytes` and fills it when the data section is written (the buffer is reused:
  // it may hold an earlier tensor's bytes). Tensor i+1 is produced on another
  // thread while tensor i is written, so producers must not share state with the
  // caller's thread; they never run at the same time as each other.
  using Producer = std::function<Status(std::vector<uint8_t>* out)>;
  void AddTensor(const std::string& name, uint32_t ggml_type, const std::vector<uint64_t>& ne, uint64_t nbytes,
                 Producer produce);

  Status Write(const std::string& path) const;

 private:
  struct Tensor {
    std::string name;
    uint32_t type;
    std::vector<uint64_t> ne;
    uint64_t nbytes;
    Producer produce;
  };
  std::string kv_;  // serialized key-value section
  uint64_t kv_count_ = 0;
  std::vector<Tensor> tensors_;
  void Key(const std::string& key, ValueType t);
};

}  // namespace st::gguf
