// File helpers: whole-file reads, read-only memory maps, and atomic writes.
//
// Every output slicetune writes goes through AtomicFile: bytes go to
// "<path>.tmp-<pid>" in the same directory and are renamed over <path> only on
// Commit(). An AtomicFile destroyed without Commit() removes its temporary, so a
// failure leaves no half-written shard, checkpoint or GGUF behind.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "core/status.h"

namespace st {

StatusOr<std::string> ReadFile(const std::string& path);
// Writes `bytes` to `path` atomically (temporary name + rename).
Status WriteFileAtomic(const std::string& path, std::string_view bytes);
// Creates a directory and its parents; fine if it exists.
Status MakeDirs(const std::string& path);
bool PathExists(const std::string& path);
// Creates `dir` when missing and proves a file can be made in it (created and
// removed), so a run fails in its first second, with the folder and the system's
// reason (read-only file system, permission, disk full), not after hours of work.
Status CheckWritableDir(const std::string& dir);

class AtomicFile {
 public:
  AtomicFile() = default;
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  Status Open(const std::string& path);
  Status Write(const void* data, size_t n);
  Status WriteZeros(size_t n);
  uint64_t bytes_written() const { return written_; }
  const std::string& temp_path() const { return tmp_; }
  // Flushes, fsyncs and renames the temporary over the final path.
  Status Commit();

 private:
  std::string path_, tmp_;
  std::FILE* f_ = nullptr;
  uint64_t written_ = 0;
};

// A directory built under a temporary sibling name ("<path>.tmp-<pid>") and put
// in place by Commit(), replacing what was at `path`; destroyed uncommitted, it
// removes its temporary. Readers never see a half-built model or shard set.
class AtomicDir {
 public:
  AtomicDir() = default;
  ~AtomicDir();
  AtomicDir(const AtomicDir&) = delete;
  AtomicDir& operator=(const AtomicDir&) = delete;

  Status Open(const std::string& path);
  const std::string& temp_path() const { return tmp_; }
  std::string operator/(const std::string& name) const;  // a path inside the temporary
  Status Commit();

 private:
  std::string path_, tmp_;
};

// Read-only memory map of a whole file.
class MappedFile {
 public:
  MappedFile() = default;
  ~MappedFile();
  MappedFile(MappedFile&& o) noexcept;
  MappedFile& operator=(MappedFile&& o) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  static StatusOr<MappedFile> Open(const std::string& path);
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // Tells the kernel the pages fully inside [p, p + n) are not needed any more, so
  // they leave the resident set (they are re-read from the file if touched again).
  void DontNeed(const uint8_t* p, size_t n) const;

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace st
