// Errors as values, shared by salvage/ and reconcile/.
//
// Expected failures (a damaged byte, a missing file, a bad CRC) travel as Error
// values inside Result<T> / Status; exceptions are for bugs, caught at the CLI
// boundary (cli/) and turned into exit code 4. Error::message is one line that
// names the thing that failed ("cyrus.index: header CRC mismatch").
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace mr {

enum class Code {
  kOk = 0,
  kInvalidArgument,  // bad usage or bad input given by the operator
  kNotFound,
  kCorrupt,          // the data is there but does not parse / check
  kUnsupported,      // a version or feature we do not handle
  kIoError,          // read/write failed (EIO, ENOSPC, EACCES, ...)
  kExists,
  kCannotOpen,       // the source cannot be opened at all (exit 3)
  kInternal,
};

const char* CodeName(Code c);

struct Error {
  Code code = Code::kInternal;
  std::string message;
};

// Builds an Error from errno: "<what>: <strerror(errno)>".
Error ErrnoError(const std::string& what, int err);

class Status {
 public:
  Status() = default;
  Status(Error e) : err_(std::move(e)) {}  // NOLINT: implicit by design
  static Status Ok() { return {}; }
  bool ok() const { return !err_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Error& error() const { assert(err_); return *err_; }
  Code code() const { return err_ ? err_->code : Code::kOk; }
  const std::string& message() const { static const std::string empty; return err_ ? err_->message : empty; }

 private:
  std::optional<Error> err_;
};

template <class T>
class Result {
 public:
  Result(T v) : v_(std::in_place_index<0>, std::move(v)) {}  // NOLINT
  Result(Error e) : v_(std::in_place_index<1>, std::move(e)) {}  // NOLINT
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  const Error& error() const { assert(!ok()); return std::get<1>(v_); }
  Status status() const { return ok() ? Status() : Status(error()); }

 private:
  std::variant<T, Error> v_;
};

}  // namespace mr
