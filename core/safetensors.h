// safetensors read (memory-mapped) and write.
//
// File format (https://github.com/huggingface/safetensors, "Format" in its README):
//   1. 8 bytes: N, little-endian u64, the size of the JSON header.
//   2. N bytes: UTF-8 JSON object. Each key is a tensor name mapping to
//      {"dtype": "F32"|"F16"|"BF16"|..., "shape": [..], "data_offsets": [begin, end]}
//      with offsets relative to the start of the data section; the optional key
//      "__metadata__" maps to a string -> string object.
//   3. The data section: every tensor's little-endian bytes, row-major.
// We pad the header with spaces to a multiple of 8 bytes, as the reference writer does.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/file_io.h"
#include "core/status.h"

namespace st {

enum class DType { kF32, kF16, kBF16, kI32, kI64, kU8, kI8, kF64, kBool, kI16, kU16, kU32, kU64 };

const char* DTypeName(DType t);  // safetensors spelling: "F32", "BF16", ...
size_t DTypeSize(DType t);

struct TensorView {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // points into the mapping; valid while the file lives
  size_t nbytes = 0;
  int64_t numel() const;
  // Copies the tensor into f32 (from F32, F16 or BF16). Errors name the tensor and dtype.
  Status ToF32(std::vector<float>* out) const;
};

class SafetensorsFile {
 public:
  static StatusOr<std::unique_ptr<SafetensorsFile>> Open(const std::string& path);
  const std::map<std::string, TensorView>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const TensorView* Find(const std::string& name) const;
  const std::string& path() const { return map_.path(); }
  // Drops a tensor's pages from memory after it has been copied out.
  void Release(const TensorView& t) const { map_.DontNeed(t.data, t.nbytes); }

 private:
  MappedFile map_;
  std::map<std::string, TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

// A set of tensors from one file or from a sharded checkpoint (model.safetensors.index.json).
class TensorStore {
 public:
  // `dir` is a Hugging Face model or adapter directory.
  static StatusOr<TensorStore> OpenDir(const std::string& dir, const std::string& basename = "model");
  const TensorView* Find(const std::string& name) const;
  std::vector<std::string> Names() const;
  // Finds `name` and copies it to f32, checking the expected shape; errors name the
  // file. The tensor's mapped pages are released afterwards, so loading a model
  // tensor by tensor keeps the resident set near the converted model's size.
  Status LoadF32(const std::string& name, const std::vector<int64_t>& shape, std::vector<float>* out) const;

 private:
  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::map<std::string, const TensorView*> index_;
  std::map<std::string, const SafetensorsFile*> owner_;
};

// A tensor to write: bytes already in `dtype`'s little-endian layout.
struct TensorToWrite {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

TensorToWrite MakeF32Tensor(const std::string& name, std::vector<int64_t> shape, const std::vector<float>& v);

// Writes tensors (in the given order) atomically.
Status WriteSafetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                        const std::map<std::string, std::string>& metadata = {});

// A tensor whose bytes are produced while the file is written, so a writer holds
// one tensor at a time, never the whole model.
struct TensorSource {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  std::function<Status(std::vector<uint8_t>* out)> produce;
  uint64_t nbytes() const;
};
Status WriteSafetensorsStreaming(const std::string& path, const std::vector<TensorSource>& tensors,
                                 const std::map<std::string, std::string>& metadata = {});

}  // namespace st
