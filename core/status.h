// Status and StatusOr<T>: errors are values (after absl/status/statusor.h).
//
// Libraries return a Status (or a StatusOr<T> holding either a value or an error);
// only `main` turns an error into an exit code:
//   kInvalidInput -> 2 (bad usage, bad or missing input file: the user can fix it)
//   kRuntime      -> 1 (something failed while running: disk full, numeric blow-up, ...)
// A message says what was expected, what was found, where (file, field, line), and
// what to do.
//
//   StatusOr<Config> c = LoadConfig(path);
//   if (!c.ok()) return c.status();
//   ST_ASSIGN_OR_RETURN(auto cfg, LoadConfig(path));
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace st {

enum class Code { kOk = 0, kInvalidInput, kRuntime };

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status Ok() { return Status(); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // 0 success, 1 runtime failure, 2 bad usage or input.
  int exit_code() const { return code_ == Code::kOk ? 0 : code_ == Code::kInvalidInput ? 2 : 1; }
  // Prefix context ("while reading X: ") to the message, keeping the code.
  Status With(const std::string& context) const {
    return ok() ? *this : Status(code_, context + ": " + message_);
  }

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

inline Status InvalidInput(std::string message) { return Status(Code::kInvalidInput, std::move(message)); }
inline Status RuntimeError(std::string message) { return Status(Code::kRuntime, std::move(message)); }

template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(Status status) : v_(std::move(status)) { assert(!std::get<Status>(v_).ok()); }  // NOLINT
  StatusOr(T value) : v_(std::move(value)) {}                                               // NOLINT

  bool ok() const { return std::holds_alternative<T>(v_); }
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(v_); }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &std::get<T>(v_); }
  const T* operator->() const { return &std::get<T>(v_); }
  T& operator*() & { return std::get<T>(v_); }
  const T& operator*() const& { return std::get<T>(v_); }

 private:
  std::variant<Status, T> v_;
};

}  // namespace st

#define ST_CONCAT_INNER(a, b) a##b
#define ST_CONCAT(a, b) ST_CONCAT_INNER(a, b)

#define ST_RETURN_IF_ERROR(expr)          \
  do {                                    \
    ::st::Status _st_s = (expr);          \
    if (!_st_s.ok()) return _st_s;        \
  } while (0)

#define ST_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.status();            \
  lhs = std::move(tmp).value()

#define ST_ASSIGN_OR_RETURN(lhs, expr) ST_ASSIGN_OR_RETURN_IMPL(ST_CONCAT(_st_or_, __LINE__), lhs, expr)
