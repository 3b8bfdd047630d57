#ifndef SMTPSCAN_SMTP_HEAP_OPTIONAL_H_
#define SMTPSCAN_SMTP_HEAP_OPTIONAL_H_

#include <memory>
#include <ostream>
#include <utility>

#include "absl/types/optional.h"

namespace smtpscan::smtp {

// An optional value kept on the heap: one pointer wide when empty, with the
// value semantics of absl::optional (copies copy the value, == compares
// values). For the members of a result that most conversations never fill
// (HELO, STARTTLS, the replies inside TLS, --probe's): inline, each would
// cost its full size in every open connection and in every move of the
// result, set or not. The subset of absl::optional's interface that the
// results use, under the same names, so that code reads the same.
template <typename T>
class HeapOptional {
 public:
  using value_type = T;

  HeapOptional() = default;
  HeapOptional(absl::nullopt_t) {}  // NOLINT: implicit, as absl::optional
  HeapOptional(const T& value)      // NOLINT
      : value_(std::make_unique<T>(value)) {}
  HeapOptional(T&& value)  // NOLINT
      : value_(std::make_unique<T>(std::move(value))) {}
  HeapOptional(const HeapOptional& other)
      : value_(other.value_ ? std::make_unique<T>(*other.value_) : nullptr) {}
  HeapOptional(HeapOptional&&) noexcept = default;

  HeapOptional& operator=(const HeapOptional& other) {
    if (this != &other) {
      if (other.value_) {
        *this = *other.value_;
      } else {
        reset();
      }
    }
    return *this;
  }
  HeapOptional& operator=(HeapOptional&&) noexcept = default;
  HeapOptional& operator=(absl::nullopt_t) {
    reset();
    return *this;
  }
  // Reuses the box when there is one.
  HeapOptional& operator=(const T& value) {
    if (value_) {
      *value_ = value;
    } else {
      value_ = std::make_unique<T>(value);
    }
    return *this;
  }
  HeapOptional& operator=(T&& value) {
    if (value_) {
      *value_ = std::move(value);
    } else {
      value_ = std::make_unique<T>(std::move(value));
    }
    return *this;
  }

  template <typename... Args>
  T& emplace(Args&&... args) {
    value_ = std::make_unique<T>(std::forward<Args>(args)...);
    return *value_;
  }
  void reset() { value_.reset(); }

  bool has_value() const { return value_ != nullptr; }
  explicit operator bool() const { return has_value(); }

  // REQUIRES: has_value() (checked in debug builds by unique_ptr).
  T& operator*() { return *value_; }
  const T& operator*() const { return *value_; }
  T* operator->() { return value_.get(); }
  const T* operator->() const { return value_.get(); }
  T& value() { return *value_; }
  const T& value() const { return *value_; }

  friend bool operator==(const HeapOptional& a, const HeapOptional& b) {
    if (a.has_value() != b.has_value()) return false;
    return !a.has_value() || *a == *b;
  }
  friend bool operator==(const HeapOptional& a, absl::nullopt_t) {
    return !a.has_value();
  }
  friend bool operator==(const HeapOptional& a, const T& b) {
    return a.has_value() && *a == b;
  }

 private:
  std::unique_ptr<T> value_;
};

// For test failure messages.
template <typename T>
std::ostream& operator<<(std::ostream& os, const HeapOptional<T>& v) {
  if (!v.has_value()) return os << "(nullopt)";
  if constexpr (requires { os << *v; }) {
    return os << *v;
  } else {
    return os << "(set)";
  }
}

}  // namespace smtpscan::smtp

#endif  // SMTPSCAN_SMTP_HEAP_OPTIONAL_H_
