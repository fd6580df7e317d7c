#include "core/safetensors.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <immintrin.h>
#include <thread>
#include <nlohmann/json.hpp>

#include "core/cpu_features.h"
#include "core/half.h"
#include "core/json_io.h"
#include "core/parallel.h"

namespace st {
namespace {

using json = nlohmann::json;

struct DTypeInfo {
  DType t;
  const char* name;
  size_t size;
};
constexpr DTypeInfo kDTypes[] = {
    {DType::kF32, "F32", 4}, {DType::kF16, "F16", 2},  {DType::kBF16, "BF16", 2}, {DType::kI32, "I32", 4},
    {DType::kI64, "I64", 8}, {DType::kU8, "U8", 1},    {DType::kI8, "I8", 1},     {DType::kF64, "F64", 8},
    {DType::kBool, "BOOL", 1}, {DType::kI16, "I16", 2}, {DType::kU16, "U16", 2}, {DType::kU32, "U32", 4},
    {DType::kU64, "U64", 8},
};

bool ParseDType(const std::string& s, DType* t) {
  for (const auto& d : kDTypes)
    if (s == d.name) {
      *t = d.t;
      return true;
    }
  return false;
}

std::string ShapeStr(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

}  // namespace

const char* DTypeName(DType t) {
  for (const auto& d : kDTypes)
    if (d.t == t) return d.name;
  return "?";
}

size_t DTypeSize(DType t) {
  for (const auto& d : kDTypes)
    if (d.t == t) return d.size;
  return 0;
}

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

namespace {

// Every f16 bit pattern's float value: one table lookup per element instead of
// bit surgery (256 KiB, built once).
const float* F16Table() {
  static const std::vector<float> table = [] {
    std::vector<float> t(65536);
    for (uint32_t h = 0; h < 65536; ++h) t[h] = F16ToF32((uint16_t)h);
    return t;
  }();
  return table.data();
}

// f16 -> f32 with the F16C instruction (exact, like the table).
__attribute__((target("avx,f16c"))) void F16ToF32Hardware(const uint8_t* src, float* dst, int64_t b, int64_t e) {
  int64_t i = b;
  for (; i + 8 <= e; i += 8)
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 2 * i))));
  const float* table = F16Table();
  for (; i < e; ++i) {
    uint16_t h;
    std::memcpy(&h, src + 2 * i, 2);
    dst[i] = table[h];
  }
}

// Converts elements [b, e) of a 16-bit tensor.
template <typename Convert>
void Convert16(const uint8_t* src, float* dst, int64_t b, int64_t e, Convert conv) {
  for (int64_t i = b; i < e; ++i) {
    uint16_t h;
    std::memcpy(&h, src + 2 * i, 2);
    dst[i] = conv(h);
  }
}

}  // namespace

Status TensorView::ToF32(std::vector<float>* out) const {
  const int64_t n = numel();
  out->resize(static_cast<size_t>(n));
  if (dtype != DType::kF32 && dtype != DType::kF16 && dtype != DType::kBF16)
    return InvalidInput("tensor '" + name + "': expected dtype F32, F16 or BF16, found " + DTypeName(dtype));
  // Large tensors convert on every core, in 1 Mi-element pieces.
  constexpr int64_t kPiece = 1 << 20;
  const int64_t pieces = (n + kPiece - 1) / kPiece;
  const int threads = (int)std::max(1u, std::thread::hardware_concurrency());
  float* dst = out->data();
  const float* table = dtype == DType::kF16 ? F16Table() : nullptr;
  static const bool f16c = CpuHasF16c() && !std::getenv("SLICETUNE_NO_SIMD");
  ParallelFor((size_t)pieces, threads, [&](int, size_t p) {
    const int64_t b = (int64_t)p * kPiece, e = std::min(n, b + kPiece);
    if (dtype == DType::kF32) std::memcpy(dst + b, data + 4 * b, (e - b) * 4);
    else if (dtype == DType::kF16 && f16c) F16ToF32Hardware(data, dst, b, e);
    else if (dtype == DType::kF16) Convert16(data, dst, b, e, [table](uint16_t h) { return table[h]; });
    else Convert16(data, dst, b, e, [](uint16_t h) { return BF16ToF32(h); });
  });
  return Status::Ok();
}

StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(const std::string& path) {
  auto f = std::unique_ptr<SafetensorsFile>(new SafetensorsFile());
  ST_ASSIGN_OR_RETURN(f->map_, MappedFile::Open(path));
  const uint8_t* p = f->map_.data();
  const size_t size = f->map_.size();
  const std::string hint = " (is this a complete .safetensors file? re-download or re-export it)";
  if (size < 8) return InvalidInput(path + ": truncated: " + std::to_string(size) + " bytes, a safetensors file has at least 8" + hint);
  uint64_t n;
  std::memcpy(&n, p, 8);
  if (n > size - 8)
    return InvalidInput(path + ": header length field says " + std::to_string(n) + " bytes but only " +
                        std::to_string(size - 8) + " follow" + hint);
  if (n > (100u << 20)) return InvalidInput(path + ": header of " + std::to_string(n) + " bytes exceeds the 100 MB limit" + hint);
  auto parsed = ParseJson(std::string_view(reinterpret_cast<const char*>(p + 8), n), path + ": header");
  if (!parsed.ok()) return InvalidInput(parsed.status().message() + hint);
  const json h = std::move(parsed).value();
  if (!h.is_object()) return InvalidInput(path + ": header: expected a JSON object, found " + std::string(h.type_name()));
  const uint8_t* data = p + 8 + n;
  const uint64_t data_size = size - 8 - n;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (auto it = h.begin(); it != h.end(); ++it) {
    const std::string& key = it.key();
    const json& v = it.value();
    if (key == "__metadata__") {
      if (!v.is_object()) return InvalidInput(path + ": __metadata__: expected an object of strings");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) return InvalidInput(path + ": __metadata__." + m.key() + ": expected a string");
        f->metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string where = path + ": tensor '" + key + "'";
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets"))
      return InvalidInput(where + ": expected an object with dtype, shape and data_offsets");
    TensorView t;
    t.name = key;
    if (!v["dtype"].is_string() || !ParseDType(v["dtype"].get<std::string>(), &t.dtype))
      return InvalidInput(where + ": unknown dtype " + v["dtype"].dump());
    if (!v["shape"].is_array()) return InvalidInput(where + ": shape: expected an array");
    uint64_t numel = 1;
    for (const auto& d : v["shape"]) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0) return InvalidInput(where + ": shape: expected non-negative integers, found " + v["shape"].dump());
      t.shape.push_back(d.get<int64_t>());
      if (t.shape.back() != 0 && numel > (1ull << 62) / static_cast<uint64_t>(t.shape.back()))
        return InvalidInput(where + ": shape " + v["shape"].dump() + " is too large");
      numel *= static_cast<uint64_t>(t.shape.back());
    }
    const auto& off = v["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      return InvalidInput(where + ": data_offsets: expected [begin, end], found " + off.dump());
    uint64_t b = off[0].get<uint64_t>(), e = off[1].get<uint64_t>();
    if (b > e || e > data_size)
      return InvalidInput(where + ": data_offsets [" + std::to_string(b) + ", " + std::to_string(e) +
                          "] fall outside the data section of " + std::to_string(data_size) + " bytes" + hint);
    if (e - b != numel * DTypeSize(t.dtype))
      return InvalidInput(where + ": " + std::to_string(e - b) + " bytes for shape " + ShapeStr(t.shape) + " of " +
                          DTypeName(t.dtype) + ", expected " + std::to_string(numel * DTypeSize(t.dtype)));
    t.data = data + b;
    t.nbytes = e - b;
    ranges.emplace_back(b, e);
    f->tensors_.emplace(key, std::move(t));
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].first < ranges[i - 1].second) return InvalidInput(path + ": two tensors overlap in the data section" + hint);
  return f;
}

const TensorView* SafetensorsFile::Find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

StatusOr<TensorStore> TensorStore::OpenDir(const std::string& dir, const std::string& basename) {
  namespace fs = std::filesystem;
  TensorStore s;
  const std::string single = (fs::path(dir) / (basename + ".safetensors")).string();
  const std::string index = (fs::path(dir) / (basename + ".safetensors.index.json")).string();
  std::vector<std::string> files;
  if (PathExists(single)) {
    files.push_back(single);
  } else if (PathExists(index)) {
    ST_ASSIGN_OR_RETURN(json j, ReadJsonFile(index));
    if (!j.contains("weight_map") || !j["weight_map"].is_object())
      return InvalidInput(index + ": expected an object field 'weight_map'");
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
      if (!it.value().is_string()) return InvalidInput(index + ": weight_map." + it.key() + ": expected a file name");
      const std::string name = it.value().get<std::string>();
      // A shard is a file beside the index: "../x" or "/x" would read outside the model folder.
      if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos ||
          name.find('\\') != std::string::npos)
        return InvalidInput(index + ": weight_map." + it.key() + ": '" + name +
                            "' is not a file name inside the model folder; refusing to read outside it");
      std::string f = (fs::path(dir) / name).string();
      if (std::find(files.begin(), files.end(), f) == files.end()) files.push_back(f);
    }
  } else {
    bool pickle = PathExists((fs::path(dir) / "pytorch_model.bin").string()) ||
                  PathExists((fs::path(dir) / (basename + ".bin")).string()) ||
                  PathExists((fs::path(dir) / "adapter_model.bin").string());
    if (pickle)
      return InvalidInput(dir + ": holds only a pickled .bin checkpoint; slicetune refuses pickles because loading one runs "
                          "code. Convert it to safetensors first (transformers: save_pretrained(..., safe_serialization=True))");
    return InvalidInput(dir + ": no " + basename + ".safetensors or " + basename + ".safetensors.index.json found");
  }
  for (const auto& f : files) {
    ST_ASSIGN_OR_RETURN(auto file, SafetensorsFile::Open(f));
    s.files_.push_back(std::shared_ptr<SafetensorsFile>(std::move(file)));
    for (const auto& [name, view] : s.files_.back()->tensors()) {
      s.index_[name] = &view;
      s.owner_[name] = s.files_.back().get();
    }
  }
  return s;
}

const TensorView* TensorStore::Find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : it->second;
}

std::vector<std::string> TensorStore::Names() const {
  std::vector<std::string> r;
  for (const auto& kv : index_) r.push_back(kv.first);
  return r;
}

Status TensorStore::LoadF32(const std::string& name, const std::vector<int64_t>& shape, std::vector<float>* out) const {
  const TensorView* t = Find(name);
  if (!t) return InvalidInput("checkpoint is missing tensor '" + name + "' (is config.json for the same model?)");
  if (t->shape != shape)
    return InvalidInput("tensor '" + name + "': expected shape " + ShapeStr(shape) + " from config.json, found " + ShapeStr(t->shape));
  ST_RETURN_IF_ERROR(t->ToF32(out));
  owner_.at(name)->Release(*t);
  return Status::Ok();
}

TensorToWrite MakeF32Tensor(const std::string& name, std::vector<int64_t> shape, const std::vector<float>& v) {
  TensorToWrite t;
  t.name = name;
  t.dtype = DType::kF32;
  t.shape = std::move(shape);
  t.bytes.resize(v.size() * 4);
  std::memcpy(t.bytes.data(), v.data(), t.bytes.size());
  return t;
}

uint64_t TensorSource::nbytes() const {
  uint64_t n = DTypeSize(dtype);
  for (int64_t d : shape) n *= static_cast<uint64_t>(d);
  return n;
}

Status WriteSafetensorsStreaming(const std::string& path, const std::vector<TensorSource>& tensors,
                                 const std::map<std::string, std::string>& metadata) {
  json h = json::object();
  if (!metadata.empty()) h["__metadata__"] = metadata;
  uint64_t off = 0;
  for (const auto& t : tensors) {
    h[t.name] = {{"dtype", DTypeName(t.dtype)}, {"shape", t.shape}, {"data_offsets", {off, off + t.nbytes()}}};
    off += t.nbytes();
  }
  std::string header = h.dump();
  while (header.size() % 8) header.push_back(' ');
  uint64_t n = header.size();
  AtomicFile f;
  ST_RETURN_IF_ERROR(f.Open(path));
  ST_RETURN_IF_ERROR(f.Write(&n, 8));
  ST_RETURN_IF_ERROR(f.Write(header.data(), header.size()));
  std::vector<uint8_t> buf;
  for (const auto& t : tensors) {
    buf.clear();
    ST_RETURN_IF_ERROR(t.produce(&buf).With("tensor '" + t.name + "'"));
    if (buf.size() != t.nbytes())
      return RuntimeError("safetensors writer: tensor '" + t.name + "' produced " + std::to_string(buf.size()) +
                          " bytes, its shape needs " + std::to_string(t.nbytes()));
    ST_RETURN_IF_ERROR(f.Write(buf.data(), buf.size()));
  }
  return f.Commit();
}

Status WriteSafetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                        const std::map<std::string, std::string>& metadata) {
  std::vector<TensorSource> sources;
  for (const auto& t : tensors)
    sources.push_back({t.name, t.dtype, t.shape, [&t](std::vector<uint8_t>* out) {
                         *out = t.bytes;
                         return Status::Ok();
                       }});
  return WriteSafetensorsStreaming(path, sources, metadata);
}

}  // namespace st
