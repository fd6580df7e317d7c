#include "export/imatrix.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/file_io.h"
#include "export/gguf_reader.h"
#include "export/gguf_writer.h"

namespace st::exporter {
namespace {

constexpr uint32_t kGgmlF32 = 0;
const char kSums[] = ".in_sum2";
const char kCounts[] = ".counts";

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

StatusOr<ImportanceMatrix> ReadGguf(const std::string& path) {
  ST_ASSIGN_OR_RETURN(gguf::FileInfo info, gguf::ReadGgufInfo(path));
  ST_ASSIGN_OR_RETURN(MappedFile m, MappedFile::Open(path));
  ImportanceMatrix im;
  bool has_count = false, has_size = false, has_datasets = false;
  for (const auto& kv : info.kv) {
    if (kv.key == "imatrix.chunk_count") has_count = true, im.chunk_count = (int32_t)std::stol(kv.display);
    if (kv.key == "imatrix.chunk_size") has_size = true, im.chunk_size = (int32_t)std::stol(kv.display);
    if (kv.key == "imatrix.datasets") has_datasets = true;
  }
  if (!has_count || !has_size || !has_datasets)
    return InvalidInput(path + ": imatrix GGUF lacks imatrix.datasets / imatrix.chunk_count / imatrix.chunk_size "
                        "(llama-quantize refuses such a file too); HINT: regenerate it with `slicetune imatrix`");
  for (const auto& t : info.tensors) {
    const bool sums = EndsWith(t.name, kSums), counts = EndsWith(t.name, kCounts);
    if (!sums && !counts) continue;
    if (t.ggml_type != kGgmlF32)
      return InvalidInput(path + ": tensor " + t.name + " is " + gguf::GgmlTypeName(t.ggml_type) + ", expected F32");
    const std::string name = t.name.substr(0, t.name.size() - (sums ? sizeof kSums : sizeof kCounts) + 1);
    uint64_t n = 1;
    for (uint64_t d : t.ne) n *= d;
    const float* p = reinterpret_cast<const float*>(m.data() + info.data_offset + t.offset);
    ImatrixEntry& e = im.entries[name];
    if (sums) {
      e.sums.assign(p, p + n);
    } else {
      e.counts.resize(n);
      for (uint64_t i = 0; i < n; ++i) e.counts[i] = std::lround(p[i]);
    }
  }
  for (const auto& [name, e] : im.entries)
    if (e.sums.empty() || e.counts.empty() || e.sums.size() % e.counts.size() != 0)
      return InvalidInput(path + ": " + name + " needs both " + kSums + " and " + kCounts +
                          " with a whole number of columns per count");
  return im;
}

// A little-endian reader over a byte string that names the file when it runs out.
struct Bytes {
  const std::string& s;
  const std::string& path;
  size_t pos = 0;
  template <typename T>
  Status Get(T* v) {
    if (pos + sizeof(T) > s.size()) return Truncated();
    std::memcpy(v, s.data() + pos, sizeof(T));
    pos += sizeof(T);
    return Status::Ok();
  }
  Status GetString(int32_t len, std::string* out) {
    if (len < 0 || pos + (size_t)len > s.size()) return Truncated();
    out->assign(s.data() + pos, (size_t)len);
    pos += (size_t)len;
    return Status::Ok();
  }
  Status Truncated() const {
    return InvalidInput(path + ": legacy imatrix file ends early at byte " + std::to_string(pos) +
                        " (truncated or not an imatrix file)");
  }
};

StatusOr<ImportanceMatrix> ReadLegacy(const std::string& path) {
  ST_ASSIGN_OR_RETURN(std::string s, ReadFile(path));
  Bytes b{s, path};
  ImportanceMatrix im;
  im.legacy = true;
  int32_t n = 0;
  ST_RETURN_IF_ERROR(b.Get(&n));
  if (n < 1) return InvalidInput(path + ": legacy imatrix file declares " + std::to_string(n) + " entries");
  for (int32_t i = 0; i < n; ++i) {
    int32_t len = 0, ncall = 0, nval = 0;
    std::string name;
    ST_RETURN_IF_ERROR(b.Get(&len));
    ST_RETURN_IF_ERROR(b.GetString(len, &name));
    ST_RETURN_IF_ERROR(b.Get(&ncall));
    ST_RETURN_IF_ERROR(b.Get(&nval));
    if (nval < 1 || (size_t)nval > (s.size() - b.pos) / 4) return b.Truncated();
    ImatrixEntry& e = im.entries[name];
    e.sums.resize(nval);
    std::memcpy(e.sums.data(), s.data() + b.pos, (size_t)nval * 4);
    b.pos += (size_t)nval * 4;
    e.counts = {ncall};
  }
  if (b.pos < s.size()) {  // optional trailer: chunk count and dataset name
    int32_t len = 0;
    ST_RETURN_IF_ERROR(b.Get(&im.chunk_count));
    if (b.Get(&len).ok() && len > 0) {
      std::string ds;
      if (b.GetString(len, &ds).ok()) im.datasets.push_back(ds);
    }
  }
  return im;
}

}  // namespace

StatusOr<std::vector<float>> ImportanceMatrix::For(const std::string& name, int64_t ne0) const {
  auto it = entries.find(name);
  if (it == entries.end()) return std::vector<float>{};
  const ImatrixEntry& e = it->second;
  if ((int64_t)e.sums.size() != ne0)
    return InvalidInput("imatrix entry " + name + " has " + std::to_string(e.sums.size()) + " values but the tensor's rows hold " +
                        std::to_string(ne0) + "; HINT: the imatrix was computed for another model");
  std::vector<float> v(e.sums.size());
  if (legacy) {  // sums hold (sum / tokens) * ncall
    const int64_t ncall = e.counts.empty() ? 0 : e.counts[0];
    for (size_t i = 0; i < v.size(); ++i) v[i] = ncall > 0 ? e.sums[i] / ncall : e.sums[i];
  } else {
    const float count = (float)e.counts[0];
    for (size_t i = 0; i < v.size(); ++i) v[i] = count > 0.0f ? e.sums[i] / count : 1.0f;
  }
  for (float f : v)
    if (!std::isfinite(f)) return InvalidInput("imatrix entry " + name + " holds a non-finite value");
  return v;
}

StatusOr<ImportanceMatrix> ReadImatrix(const std::string& path) {
  ST_ASSIGN_OR_RETURN(MappedFile m, MappedFile::Open(path));
  const bool is_gguf = m.size() >= 4 && std::memcmp(m.data(), "GGUF", 4) == 0;
  return is_gguf ? ReadGguf(path) : ReadLegacy(path);
}

Status WriteImatrixGguf(const ImportanceMatrix& m, const std::string& path) {
  gguf::Writer w;
  w.AddString("general.type", "imatrix");
  w.AddStringArray("imatrix.datasets", m.datasets);
  w.AddU32("imatrix.chunk_count", (uint32_t)m.chunk_count);
  w.AddU32("imatrix.chunk_size", (uint32_t)m.chunk_size);
  for (const auto& [name, e] : m.entries) {
    const uint64_t experts = e.counts.size(), cols = e.sums.size() / experts;
    const std::vector<float>* sums = &e.sums;
    w.AddTensor(name + kSums, kGgmlF32, {cols, experts}, e.sums.size() * 4, [sums](std::vector<uint8_t>* out) {
      out->resize(sums->size() * 4);
      std::memcpy(out->data(), sums->data(), out->size());
      return Status::Ok();
    });
    std::vector<float> counts(e.counts.begin(), e.counts.end());
    w.AddTensor(name + kCounts, kGgmlF32, {1, experts}, experts * 4, [counts](std::vector<uint8_t>* out) {
      out->resize(counts.size() * 4);
      std::memcpy(out->data(), counts.data(), out->size());
      return Status::Ok();
    });
  }
  return w.Write(path);
}

Status WriteImatrixLegacy(const ImportanceMatrix& m, const std::string& path) {
  std::string s;
  auto put = [&s](const void* p, size_t n) { s.append(static_cast<const char*>(p), n); };
  const int32_t n = (int32_t)m.entries.size();
  put(&n, 4);
  // llama-imatrix's legacy writer: ncall = tokens rounded up to whole chunks,
  // values = sums / tokens * ncall.
  const int64_t chunk = m.chunk_size > 0 ? m.chunk_size : 1;
  for (const auto& [name, e] : m.entries) {
    const int32_t len = (int32_t)name.size();
    put(&len, 4);
    put(name.data(), name.size());
    int64_t most = 0;
    for (int64_t c : e.counts) most = std::max(most, c);
    const int32_t ncall = (int32_t)((most + chunk - 1) / chunk);
    const int32_t nval = (int32_t)e.sums.size();
    put(&ncall, 4);
    put(&nval, 4);
    const size_t per = e.sums.size() / e.counts.size();
    for (size_t i = 0; i < e.sums.size(); ++i) {
      float count = (float)e.counts[i / per], value = e.sums[i];
      if (count == 0.0f) value = count = 1.0f;
      const float out = (value / count) * (float)ncall;
      put(&out, 4);
    }
  }
  put(&m.chunk_count, 4);
  const std::string ds = m.datasets.empty() ? std::string() : m.datasets.back();
  const int32_t len = (int32_t)ds.size();
  put(&len, 4);
  put(ds.data(), ds.size());
  return WriteFileAtomic(path, s);
}

}  // namespace st::exporter
