#include "data/shards/shard_io.h"

#include <filesystem>

#include <hdf5.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <numeric>

#include "core/hash.h"

namespace st::data {
namespace {

// Closes an HDF5 handle on scope exit.
struct H5Handle {
  hid_t id = -1;
  herr_t (*close)(hid_t) = nullptr;
  H5Handle(hid_t i, herr_t (*c)(hid_t)) : id(i), close(c) {}
  ~H5Handle() {
    if (id >= 0 && close) close(id);
  }
  H5Handle(const H5Handle&) = delete;
  H5Handle& operator=(const H5Handle&) = delete;
  bool ok() const { return id >= 0; }
};

void QuietHdf5() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

bool WriteAttrI64(hid_t obj, const char* name, int64_t v) {
  H5Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  H5Handle attr(H5Acreate2(obj, name, H5T_STD_I64LE, space.id, H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  return attr.ok() && H5Awrite(attr.id, H5T_NATIVE_INT64, &v) >= 0;
}

bool WriteAttrStr(hid_t obj, const char* name, const std::string& v) {
  H5Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.id, v.empty() ? 1 : v.size());
  H5Tset_strpad(type.id, H5T_STR_NULLPAD);
  H5Tset_cset(type.id, H5T_CSET_UTF8);
  H5Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  H5Handle attr(H5Acreate2(obj, name, type.id, space.id, H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  std::string buf = v.empty() ? std::string(1, '\0') : v;
  return attr.ok() && H5Awrite(attr.id, type.id, buf.data()) >= 0;
}

bool ReadAttrI64(hid_t obj, const char* name, int64_t* v) {
  if (H5Aexists(obj, name) <= 0) return false;
  H5Handle attr(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose);
  return attr.ok() && H5Aread(attr.id, H5T_NATIVE_INT64, v) >= 0;
}

bool ReadAttrStr(hid_t obj, const char* name, std::string* v) {
  if (H5Aexists(obj, name) <= 0) return false;
  H5Handle attr(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose);
  H5Handle type(H5Aget_type(attr.id), H5Tclose);
  if (H5Tget_class(type.id) != H5T_STRING || H5Tis_variable_str(type.id) > 0) return false;
  size_t n = H5Tget_size(type.id);
  std::string buf(n, '\0');
  if (H5Aread(attr.id, type.id, buf.data()) < 0) return false;
  buf.resize(std::strlen(buf.c_str()));
  *v = buf;
  return true;
}

bool WriteDataset(hid_t file, const char* name, hid_t file_type, hid_t mem_type, int64_t rows, int64_t cols,
                  const void* data) {
  hsize_t dims[2] = {(hsize_t)rows, (hsize_t)cols};
  H5Handle space(H5Screate_simple(2, dims, nullptr), H5Sclose);
  H5Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  H5Pset_obj_track_times(dcpl.id, false);  // no timestamps: a rebuild is byte-identical
  if (rows > 0) {
    hsize_t chunk[2] = {(hsize_t)std::min<int64_t>(rows, 64), (hsize_t)cols};
    H5Pset_chunk(dcpl.id, 2, chunk);
    H5Pset_shuffle(dcpl.id);
    H5Pset_deflate(dcpl.id, 4);
  }
  H5Handle ds(H5Dcreate2(file, name, file_type, space.id, H5P_DEFAULT, dcpl.id, H5P_DEFAULT), H5Dclose);
  if (!ds.ok()) return false;
  return rows == 0 || H5Dwrite(ds.id, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0;
}

constexpr hsize_t kUserBlock = 512;
constexpr char kSealTag[] = "slicetune-shard-sha256 ";

// SHA-256 of the file's bytes after the user block.
StatusOr<std::string> BodySha256(std::FILE* f, const std::string& path) {
  if (std::fseek(f, (long)kUserBlock, SEEK_SET) != 0) return InvalidInput(path + ": shorter than its checksum block");
  Sha256Stream h;
  std::vector<char> buf(1 << 20);
  size_t got;
  while ((got = std::fread(buf.data(), 1, buf.size(), f)) > 0) h.Update(std::string_view(buf.data(), got));
  if (std::ferror(f)) return RuntimeError(path + ": read error");
  return h.FinishHex();
}

Status SealUserBlock(const std::string& tmp) {
  std::FILE* f = std::fopen(tmp.c_str(), "r+b");
  if (!f) return RuntimeError(tmp + ": cannot reopen to write its checksum");
  auto sha = BodySha256(f, tmp);
  std::string block = sha.ok() ? std::string(kSealTag) + *sha + "\n" : "";
  block.resize(kUserBlock, '\0');
  const bool ok = sha.ok() && std::fseek(f, 0, SEEK_SET) == 0 && std::fwrite(block.data(), 1, block.size(), f) == block.size() &&
                  std::fflush(f) == 0 && ::fsync(::fileno(f)) == 0;
  std::fclose(f);
  if (!sha.ok()) return sha.status();
  return ok ? Status::Ok() : RuntimeError(tmp + ": cannot write its checksum block; is the disk full?");
}

Status CheckUserBlock(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return InvalidInput(path + ": cannot open (" + std::strerror(errno) + ")");
  std::string block(kUserBlock, '\0');
  const size_t got = std::fread(block.data(), 1, block.size(), f);
  const std::string tag = kSealTag;
  if (got != kUserBlock || block.compare(0, tag.size(), tag) != 0) {
    std::fclose(f);
    return InvalidInput(path + ": no slicetune checksum block at its start: not a shard of this version (format 3) or "
                        "damaged; rebuild the shards with `slicetune data build`");
  }
  auto sha = BodySha256(f, path);
  std::fclose(f);
  if (!sha.ok()) return sha.status();
  const std::string want = block.substr(tag.size(), 64);
  if (*sha != want)
    return InvalidInput(path + ": contents do not match the checksum in its header (sha256 " + sha->substr(0, 12) +
                        "..., recorded " + want.substr(0, 12) + "...): the file is damaged or was changed; rebuild the "
                        "shards with `slicetune data build`");
  return Status::Ok();
}

}  // namespace

int64_t ShardData::num_target_tokens() const {
  return std::accumulate(loss_mask.begin(), loss_mask.end(), int64_t{0});
}

Status WriteShard(const std::string& path, const ShardData& s) {
  QuietHdf5();
  if (s.seq_len <= 0 || s.input_ids.size() % s.seq_len != 0 || s.loss_mask.size() != s.input_ids.size())
    return RuntimeError("WriteShard: inconsistent shard shapes for " + path);
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  {
    H5Handle fcpl(H5Pcreate(H5P_FILE_CREATE), H5Pclose);
    H5Pset_obj_track_times(fcpl.id, false);  // nor on the root group
    H5Pset_userblock(fcpl.id, kUserBlock);   // filled with the checksum below
    H5Handle file(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, fcpl.id, H5P_DEFAULT), H5Fclose);
    if (!file.ok()) return RuntimeError(tmp + ": cannot create HDF5 file");
    const int64_t n = s.num_sequences();
    std::vector<int32_t> pos = s.position_ids;
    if (pos.empty())
      for (int64_t i = 0; i < n * s.seq_len; ++i) pos.push_back((int32_t)(i % s.seq_len));
    if (pos.size() != s.input_ids.size()) return RuntimeError("WriteShard: position_ids do not match input_ids for " + path);
    bool ok = WriteDataset(file.id, "input_ids", H5T_STD_I32LE, H5T_NATIVE_INT32, n, s.seq_len, s.input_ids.data()) &&
              WriteDataset(file.id, "position_ids", H5T_STD_I32LE, H5T_NATIVE_INT32, n, s.seq_len, pos.data()) &&
              WriteDataset(file.id, "loss_mask", H5T_STD_U8LE, H5T_NATIVE_UINT8, n, s.seq_len, s.loss_mask.data()) &&
              WriteAttrStr(file.id, "format", "slicetune-shard") &&
              WriteAttrI64(file.id, "format_version", kShardFormatVersion) &&
              WriteAttrI64(file.id, "seq_len", s.seq_len) && WriteAttrI64(file.id, "num_sequences", n) &&
              WriteAttrI64(file.id, "num_target_tokens", s.num_target_tokens()) &&
              WriteAttrI64(file.id, "num_real_tokens", s.num_real_tokens) &&
              WriteAttrI64(file.id, "pad_id", s.pad_id) &&
              WriteAttrStr(file.id, "tokenizer_sha256", s.tokenizer_sha256) && WriteAttrStr(file.id, "split", s.split);
    if (!ok || H5Fflush(file.id, H5F_SCOPE_GLOBAL) < 0) {
      std::remove(tmp.c_str());
      return RuntimeError(tmp + ": HDF5 write failed; is the disk full?");
    }
  }
  if (Status st = SealUserBlock(tmp); !st.ok()) {
    std::remove(tmp.c_str());
    return st;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return RuntimeError(path + ": rename from temporary failed");
  }
  return Status::Ok();
}

StatusOr<ShardData> ReadShard(const std::string& path) {
  QuietHdf5();
  ST_RETURN_IF_ERROR(CheckUserBlock(path));
  if (H5Fis_hdf5(path.c_str()) <= 0)
    return InvalidInput(path + ": not an HDF5 file; expected a shard written by `slicetune data build`");
  H5Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!file.ok()) return InvalidInput(path + ": cannot open HDF5 file (truncated or corrupt?)");
  std::string format;
  int64_t version = 0;
  if (!ReadAttrStr(file.id, "format", &format) || format != "slicetune-shard")
    return InvalidInput(path + ": attribute 'format' is not 'slicetune-shard'; HINT: is this a slicetune shard?");
  if (!ReadAttrI64(file.id, "format_version", &version) || version != kShardFormatVersion)
    return InvalidInput(path + ": shard format_version " + std::to_string(version) + ", this build reads version " +
                        std::to_string(kShardFormatVersion) + "; rebuild the shards with `slicetune data build`");
  ShardData s;
  int64_t n = 0;
  if (!ReadAttrI64(file.id, "seq_len", &s.seq_len) || !ReadAttrI64(file.id, "num_sequences", &n) ||
      !ReadAttrI64(file.id, "pad_id", &s.pad_id) || !ReadAttrI64(file.id, "num_real_tokens", &s.num_real_tokens) ||
      !ReadAttrStr(file.id, "tokenizer_sha256", &s.tokenizer_sha256) || !ReadAttrStr(file.id, "split", &s.split))
    return InvalidInput(path + ": missing shard attributes (seq_len, num_sequences, pad_id, tokenizer_sha256, split)");
  // The declared shape decides the allocation: it must fit what the file can hold
  // (deflate expands at most ~1032x) before anything is allocated.
  std::error_code ec;
  const uint64_t file_bytes = std::filesystem::file_size(path, ec);
  if (n < 0 || s.seq_len < 1 || s.seq_len > (1 << 24) || n > (int64_t{1} << 40) / s.seq_len ||
      (uint64_t)(n * s.seq_len) > (ec ? 0 : file_bytes) * 1100 + 4096)
    return InvalidInput(path + ": declares " + std::to_string(n) + " sequences of " + std::to_string(s.seq_len) +
                        " tokens, more than its " + std::to_string(file_bytes) + " bytes can hold (corrupt?)");
  auto read = [&](const char* name, hid_t mem_type, void* out) -> Status {
    H5Handle ds(H5Dopen2(file.id, name, H5P_DEFAULT), H5Dclose);
    if (!ds.ok()) return InvalidInput(path + ": missing dataset /" + name);
    // Stored as the integers the writer wrote (HDF5's conversions from other
    // types over a corrupted file are where its reader goes wrong).
    H5Handle type(H5Dget_type(ds.id), H5Tclose);
    if (!type.ok() || H5Tget_class(type.id) != H5T_INTEGER || H5Tget_size(type.id) != H5Tget_size(mem_type))
      return InvalidInput(path + ": dataset /" + name + " is not stored as " + std::to_string(H5Tget_size(mem_type)) +
                          "-byte integers (corrupt?)");
    H5Handle space(H5Dget_space(ds.id), H5Sclose);
    hsize_t dims[2] = {0, 0};
    if (H5Sget_simple_extent_ndims(space.id) != 2 || H5Sget_simple_extent_dims(space.id, dims, nullptr) < 0 ||
        (int64_t)dims[0] != n || (int64_t)dims[1] != s.seq_len)
      return InvalidInput(path + ": dataset /" + name + " expected shape [" + std::to_string(n) + ", " +
                          std::to_string(s.seq_len) + "]");
    if (n > 0 && H5Dread(ds.id, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0)
      return InvalidInput(path + ": cannot read dataset /" + name + " (corrupt?)");
    return Status::Ok();
  };
  s.input_ids.resize(n * s.seq_len);
  s.loss_mask.resize(n * s.seq_len);
  ST_RETURN_IF_ERROR(read("input_ids", H5T_NATIVE_INT32, s.input_ids.data()));
  ST_RETURN_IF_ERROR(read("loss_mask", H5T_NATIVE_UINT8, s.loss_mask.data()));
  s.position_ids.resize(n * s.seq_len);
  ST_RETURN_IF_ERROR(read("position_ids", H5T_NATIVE_INT32, s.position_ids.data()));
  return s;
}

}  // namespace st::data
