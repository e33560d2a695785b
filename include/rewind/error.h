#pragma once
// Errors for loading and linking, and a small expected-like result type (C++20 has no
// std::expected).

#include <cstddef>
#include <string>
#include <utility>
#include <variant>

namespace rw {

struct Error {
  static constexpr size_t kNoOffset = static_cast<size_t>(-1);

  enum class Kind {
    Malformed,    // the bytes (or text) are not a well-formed module
    Invalid,      // well-formed but fails validation
    Unsupported,  // uses a feature rewind does not implement (e.g. SIMD)
    Unlinkable,   // an import could not be satisfied
    Uninstantiable,  // instantiation trapped (segment out of bounds, start function trap)
    Other,
  };

  Kind kind = Kind::Other;
  std::string message;
  size_t offset = kNoOffset;  // byte offset in the module binary, or text position

  std::string to_string() const;  // "malformed at 0x1f: unexpected end of section"
};

template <class T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Error error) : v_(std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  T& operator*() & { return std::get<0>(v_); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

}  // namespace rw
