// GGUF v2/v3 reader (read-only, memory-mapped) for `slicetune inspect` and for
// checks on files we did not write. Layout: see export/gguf_writer.h. Every
// count, length and offset is bounds-checked against the file before use.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/file_io.h"
#include "core/status.h"

namespace st::gguf {

struct KeyValue {
  std::string key;
  uint32_t type = 0;          // ValueType of the value (or of the elements, for arrays)
  bool is_array = false;
  uint64_t array_len = 0;
  std::string display;        // the value as text (arrays: the first few elements)
};

struct TensorInfo {
  std::string name;
  std::vector<uint64_t> ne;
  uint32_t ggml_type = 0;
  uint64_t offset = 0;        // from the start of the data section
};

struct FileInfo {
  uint32_t version = 0;
  uint32_t alignment = 32;
  std::vector<KeyValue> kv;
  std::vector<TensorInfo> tensors;
  uint64_t data_offset = 0;
  uint64_t file_size = 0;
};

StatusOr<FileInfo> ReadGgufInfo(const std::string& path);

// ggml type name ("F32", "Q4_0", ...) or "type N" for types we do not name.
std::string GgmlTypeName(uint32_t t);
// Bytes of a tensor of ggml type t with the given shape, or 0 if unknown.
uint64_t GgmlTensorBytes(uint32_t t, const std::vector<uint64_t>& ne);

}  // namespace st::gguf
