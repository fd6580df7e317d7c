// Small helpers shared by the GoogleTest suites.
#pragma once

#include <filesystem>
#include <random>
#include <string>

namespace st::testing {

// A fresh empty directory under the build tree (or /tmp), removed at scope exit.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("ST_BINARY_DIR");
    std::random_device rd;
    path_ = std::filesystem::path(base ? base : "/tmp") / "test-tmp" / ("t" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

inline std::string SourceDir() {
  const char* s = std::getenv("ST_SOURCE_DIR");
  return s ? s : ".";
}

}  // namespace st::testing
