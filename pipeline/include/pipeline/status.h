#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace pipeline {

/**
 * Bounded classification of every error the runtime reports. The same value is the `error_type`
 * label of point_tron_stage_errors_total, so logs and metrics always agree.
 */
enum class ErrorType {
  InvalidConfig,   // configuration that can never work: exit code 78
  InvalidArgument, // a caller passed something unusable (bad HTTP parameter, bad option)
  InvalidPayload,  // data from outside the process that cannot be decoded
  Io,              // file system, socket
  Kafka,           // librdkafka reported an error
  Http,            // HTTP transport or protocol failure
  Timeout,         // a deadline passed
  Unavailable,     // a dependency is not usable right now; retry later
  Internal,        // a broken invariant
};

std::string_view errorTypeName(ErrorType type) noexcept;

/** An error: its class and a one-line, human-readable message (never containing a secret). */
struct Error {
  ErrorType type = ErrorType::Internal;
  std::string message;
};

/** Result of an operation that returns nothing: ok, or an Error. */
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT: implicit by design
  Status(ErrorType type, std::string message) : Status(Error{type, std::move(message)}) {}

  static Status ok() { return Status(); }

  bool isOk() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  const Error& error() const noexcept { return error_; }
  /** "<error_type>: <message>", for logs. */
  std::string toString() const;

 private:
  Error error_;
  bool ok_ = true;
};

/**
 * A value or an Error, with the surface of C++23's std::expected (has_value, operator*, error())
 * so it can be swapped for the standard type later.
 */
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit
  Result(Error error) : state_(std::in_place_index<1>, std::move(error)) {}  // NOLINT: implicit
  Result(Status status) : state_(std::in_place_index<1>, status.error()) {}  // NOLINT: implicit

  bool has_value() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& operator*() & { return std::get<0>(state_); }
  const T& operator*() const& { return std::get<0>(state_); }
  T&& operator*() && { return std::get<0>(std::move(state_)); }
  T* operator->() { return &std::get<0>(state_); }
  const T* operator->() const { return &std::get<0>(state_); }
  T& value() & { return std::get<0>(state_); }
  T&& value() && { return std::get<0>(std::move(state_)); }

  const Error& error() const { return std::get<1>(state_); }
  Status status() const { return has_value() ? Status::ok() : Status(error()); }

 private:
  std::variant<T, Error> state_;
};

}  // namespace pipeline
