#include "core/file_io.h"

#include <signal.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

namespace st {
namespace fs = std::filesystem;

StatusOr<std::string> ReadFile(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return InvalidInput(path + ": file not found");
  if (fs::is_directory(path, ec)) return InvalidInput(path + ": expected a file, found a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidInput(path + ": cannot open for reading (" + std::strerror(errno) + ")");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return RuntimeError(path + ": read error");
  return ss.str();
}

Status WriteFileAtomic(const std::string& path, std::string_view bytes) {
  AtomicFile f;
  ST_RETURN_IF_ERROR(f.Open(path));
  ST_RETURN_IF_ERROR(f.Write(bytes.data(), bytes.size()));
  return f.Commit();
}

Status MakeDirs(const std::string& path) {
  if (path.empty()) return Status::Ok();
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) return RuntimeError(path + ": cannot create directory (" + ec.message() + ")");
  return Status::Ok();
}

Status CheckWritableDir(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    return InvalidInput(dir + ": cannot write here (" + ec.message() +
                        "); HINT: choose another output_dir or fix the folder's permissions");
  const std::string probe = (fs::path(dir) / (".slicetune-write-check-" + std::to_string(::getpid()))).string();
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return InvalidInput(dir + ": cannot write here (" + std::strerror(errno) +
                        "); HINT: choose another output_dir or fix the folder's permissions");
  ::close(fd);
  ::unlink(probe.c_str());
  return Status::Ok();
}

bool PathExists(const std::string& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

AtomicFile::~AtomicFile() {
  if (f_) {
    std::fclose(f_);
    std::remove(tmp_.c_str());
  }
}

namespace {

// Temporaries "<path>.tmp-<pid>" left by a process that was killed (SIGKILL,
// power loss) are removed when the next writer of <path> starts; a live
// process's temporary is left alone.
void RemoveStaleTemporaries(const std::string& path) {
  const fs::path p(path);
  const fs::path dir = p.parent_path().empty() ? fs::path(".") : p.parent_path();
  const std::string prefix = p.filename().string() + ".tmp-";
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    const std::string pid_text = name.substr(prefix.size());
    if (pid_text.empty() || pid_text.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = (pid_t)std::stol(pid_text);
    if (pid == ::getpid() || (::kill(pid, 0) != 0 && errno == ESRCH)) {
      std::error_code rm;
      fs::remove_all(it->path(), rm);
    }
  }
}

}  // namespace

Status AtomicFile::Open(const std::string& path) {
  path_ = path;
  RemoveStaleTemporaries(path);
  fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) ST_RETURN_IF_ERROR(MakeDirs(parent.string()));
  tmp_ = path + ".tmp-" + std::to_string(::getpid());
  f_ = std::fopen(tmp_.c_str(), "wb");
  if (!f_) return RuntimeError(tmp_ + ": cannot create (" + std::strerror(errno) + ")");
  return Status::Ok();
}

Status AtomicFile::Write(const void* data, size_t n) {
  if (!f_) return RuntimeError("AtomicFile::Write before Open");
  if (n && std::fwrite(data, 1, n, f_) != n)
    return RuntimeError(tmp_ + ": write failed (" + std::strerror(errno) + "); is the disk full?");
  written_ += n;
  return Status::Ok();
}

Status AtomicFile::WriteZeros(size_t n) {
  static const char zeros[256] = {};
  while (n) {
    size_t k = n < sizeof(zeros) ? n : sizeof(zeros);
    ST_RETURN_IF_ERROR(Write(zeros, k));
    n -= k;
  }
  return Status::Ok();
}

Status AtomicFile::Commit() {
  if (!f_) return RuntimeError("AtomicFile::Commit before Open");
  bool ok = std::fflush(f_) == 0 && ::fsync(::fileno(f_)) == 0;
  ok = (std::fclose(f_) == 0) && ok;
  f_ = nullptr;
  if (!ok) {
    std::remove(tmp_.c_str());
    return RuntimeError(tmp_ + ": flush failed (" + std::strerror(errno) + "); is the disk full?");
  }
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0) {
    std::remove(tmp_.c_str());
    return RuntimeError(path_ + ": rename from temporary failed (" + std::strerror(errno) + ")");
  }
  return Status::Ok();
}

AtomicDir::~AtomicDir() {
  std::error_code ec;
  if (!tmp_.empty()) fs::remove_all(tmp_, ec);
}

Status AtomicDir::Open(const std::string& path) {
  path_ = path;
  RemoveStaleTemporaries(path);
  tmp_ = path + ".tmp-" + std::to_string(::getpid());
  std::error_code ec;
  fs::remove_all(tmp_, ec);
  return MakeDirs(tmp_);
}

std::string AtomicDir::operator/(const std::string& name) const { return (fs::path(tmp_) / name).string(); }

// The new directory replaces the old one in a single step: renameat2's
// RENAME_EXCHANGE swaps the two names atomically (Linux 3.15+), so a process killed
// at any point leaves either the complete old contents or the complete new ones at
// `path`, never neither. The old contents, now under the temporary name, are then
// removed (or, after a kill, by the next writer: RemoveStaleTemporaries).
Status AtomicDir::Commit() {
  std::error_code ec;
  if (fs::exists(fs::symlink_status(path_, ec))) {
    if (::renameat2(AT_FDCWD, tmp_.c_str(), AT_FDCWD, path_.c_str(), RENAME_EXCHANGE) != 0)
      return RuntimeError(path_ + ": cannot swap the new contents into place (" + std::strerror(errno) + ")");
    fs::remove_all(tmp_, ec);  // the old contents
  } else {
    fs::rename(tmp_, path_, ec);
    if (ec) return RuntimeError(path_ + ": cannot move the new contents into place (" + ec.message() + ")");
  }
  tmp_.clear();
  return Status::Ok();
}

MappedFile::~MappedFile() {
  if (data_ && size_) ::munmap(const_cast<uint8_t*>(data_), size_);
}

MappedFile::MappedFile(MappedFile&& o) noexcept : path_(std::move(o.path_)), data_(o.data_), size_(o.size_) {
  o.data_ = nullptr;
  o.size_ = 0;
}

MappedFile& MappedFile::operator=(MappedFile&& o) noexcept {
  if (this != &o) {
    if (data_ && size_) ::munmap(const_cast<uint8_t*>(data_), size_);
    path_ = std::move(o.path_);
    data_ = o.data_;
    size_ = o.size_;
    o.data_ = nullptr;
    o.size_ = 0;
  }
  return *this;
}

void MappedFile::DontNeed(const uint8_t* p, size_t n) const {
  const uintptr_t page = (uintptr_t)::sysconf(_SC_PAGESIZE);
  const uintptr_t begin = ((uintptr_t)p + page - 1) / page * page, end = ((uintptr_t)p + n) / page * page;
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

StatusOr<MappedFile> MappedFile::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return InvalidInput(path + ": file not found");
    return InvalidInput(path + ": cannot open (" + std::strerror(errno) + ")");
  }
  struct stat sb;
  if (::fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    ::close(fd);
    return InvalidInput(path + ": not a regular file");
  }
  MappedFile m;
  m.path_ = path;
  m.size_ = static_cast<size_t>(sb.st_size);
  if (m.size_ > 0) {
    void* p = ::mmap(nullptr, m.size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      ::close(fd);
      m.size_ = 0;
      return RuntimeError(path + ": mmap failed (" + std::strerror(errno) + ")");
    }
    m.data_ = static_cast<const uint8_t*>(p);
  }
  ::close(fd);
  return m;
}

}  // namespace st
