#pragma once

/**
 * Structured JSON logging on spdlog.
 *
 * Every line is one JSON object:
 *   {"timestamp":"2026-11-25T19:17:53.123Z","level":"info","service":"decoder",
 *    "component":"consumer","message":"Consumer started.","topic":"pointtron.blocks","partitions":3}
 * `timestamp` is UTC, ISO-8601 with milliseconds. `component` appears only for a named Logger.
 * Fields follow the message in the order given. A field whose key collides with one of the
 * envelope keys above is written as `field_<key>` so that no key appears twice.
 *
 * Messages are capitalised sentences ending in a period; variable data goes into fields with
 * snake_case keys (`error`, never `err`). A field whose key is secret (config::isSecretKey) is
 * written as "<redacted>", whatever its value.
 *
 * Why synchronous: one process is one libuv loop, log volume is low (rate-limited errors, start-up
 * and state changes), and a synchronous logger keeps lines in order with the events around them,
 * never drops a line on overflow, and has nothing left in a queue when the process exits or
 * aborts. The logger flushes at warn and above; the stdout sink flushes every line. It also lets
 * the JSON formatter take a call's fields from the calling thread (see logging.cc), which an
 * async logger, formatting on its worker thread, could not.
 *
 * init() also installs the logger as spdlog's default, so a stray `spdlog::info("…")` still
 * produces a valid JSON line (with no fields).
 */

#include <spdlog/common.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "pipeline/config/config_source.h"
#include "pipeline/status.h"

namespace pipeline::log {

enum class Level { Trace, Debug, Info, Warn, Error, Critical };

/** "trace", "debug", "info", "warn", "error" or "critical": the value of the `level` field. */
std::string_view levelName(Level level) noexcept;

/**
 * Parses a level name, case-insensitively.
 * Returns ErrorType::InvalidConfig naming the bad value and the accepted names.
 */
[[nodiscard]] Result<Level> parseLevel(std::string_view name);

/** Where and how much to log. Built by fromConfig() in a process, by hand in tests. */
struct LogOptions {
  /** Stage name, written as `service` on every line; required. */
  std::string service;
  /** Lines below this level are dropped. Key log.level; default info. */
  Level level = Level::Info;
  /** Write to stdout (the container log). Key log.stdout_enabled; default true. */
  bool stdout_enabled = true;
  /** Also write to this rotating file when non-empty (parent directories are created). Key
   *  log.file_path; default empty. */
  std::string file_path;
  /** Rotate the file when it would exceed this size. Key log.file_max_size_bytes; default
   *  100 MiB. */
  std::size_t file_max_size_bytes = 100 * 1024 * 1024;
  /** Rotated files kept besides the current one. Key log.file_max_files; default 5. */
  std::size_t file_max_files = 5;
  /** More sinks, e.g. an ostream_sink_mt that tests read back. Not configurable. */
  std::vector<spdlog::sink_ptr> extra_sinks;

  /**
   * Reads the log.* keys above. Returns the config getters' InvalidConfig errors, e.g.
   * `log.level: must be one of trace, debug, info, warn, error, critical (got "loud" from ...)`.
   */
  [[nodiscard]] static Result<LogOptions> fromConfig(const config::ConfigSource& config,
                                                     std::string service);
};

/**
 * Builds the process-wide logger from `options` and makes it current for every Logger (including
 * ones created earlier) and for spdlog's default logger. Calling it again replaces the previous
 * logger, after flushing it. Call from the start-up thread before other threads log.
 * Errors: InvalidConfig for an empty service, no destination at all, or a zero file size/count;
 * Io when the log file cannot be opened (message names the path).
 * Before init(), lines go to stdout at info with service "pointtron".
 */
[[nodiscard]] Status init(const LogOptions& options);

/** Flushes every sink of the current logger. Thread-safe. */
void flush();

/** One `key: value` pair of a log line. Holds views: build it inside the logging call. */
class Field {
 public:
  using Value = std::variant<std::string_view, std::int64_t, std::uint64_t, double, bool>;

  Field(std::string_view key, std::string_view value) : key_(key), value_(value) {}
  Field(std::string_view key, const char* value) : key_(key), value_(std::string_view(value)) {}
  Field(std::string_view key, const std::string& value)
      : key_(key), value_(std::string_view(value)) {}
  Field(std::string_view key, bool value) : key_(key), value_(value) {}
  template <typename T>
    requires(std::is_integral_v<T> && !std::is_same_v<T, bool>)
  Field(std::string_view key, T value) : key_(key), value_(widen(value)) {}
  template <typename T>
    requires std::is_floating_point_v<T>
  Field(std::string_view key, T value) : key_(key), value_(static_cast<double>(value)) {}

  std::string_view key() const noexcept { return key_; }
  const Value& value() const noexcept { return value_; }

 private:
  template <typename T>
  static Value widen(T value) {
    if constexpr (std::is_signed_v<T>) {
      return static_cast<std::int64_t>(value);
    } else {
      return static_cast<std::uint64_t>(value);
    }
  }

  std::string_view key_;
  Value value_;
};

using Fields = std::initializer_list<Field>;

/** How often a repeated message may be logged: at most `max_per_interval` per `interval`. */
struct RateLimit {
  std::chrono::milliseconds interval{10000};
  std::uint32_t max_per_interval = 1;
};

/**
 * Counts repeats of message keys in fixed windows. A window for a key opens at the first admitted
 * occurrence and lasts `interval`; within it at most `max_per_interval` occurrences are admitted
 * and the rest are counted as suppressed. The first occurrence after the window closes opens a
 * new window and reports how many were suppressed since the last admitted one.
 *
 * Keys must come from a bounded set (an error_type, a fixed message id), because every key ever
 * seen keeps a small entry. Thread-safe (one mutex). Shared by Logger copies via shared_ptr.
 */
class RateLimiter {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  /** `clock` is injectable so tests can move time by hand. */
  explicit RateLimiter(Clock clock = nullptr);

  /**
   * nullopt when this occurrence must be suppressed; otherwise the number of occurrences of
   * `key` suppressed since the previous admitted one (0 when none).
   */
  std::optional<std::uint64_t> admit(std::string_view key, RateLimit limit);

 private:
  struct Window {
    std::chrono::steady_clock::time_point start;
    std::uint32_t admitted = 0;
    std::uint64_t suppressed = 0;
  };

  Clock clock_;
  std::mutex mutex_;
  std::map<std::string, Window, std::less<>> windows_;
};

/**
 * The handle every stage logs through: a component name plus the process-wide sinks.
 *
 * Lifecycle: cheap to create and copy; create one per component (`Logger("kafka_consumer")`) at
 * any time, even before init(): each call uses whatever logger init() installed last. Copies share
 * the RateLimiter, so `*Every` keys are scoped to the Logger they were created from.
 * Thread-safe: may be called from any thread (librdkafka callbacks included); calls never throw.
 */
class Logger {
 public:
  /** `component` is written as the `component` field when non-empty. */
  explicit Logger(std::string component = {}, std::shared_ptr<RateLimiter> limiter = nullptr);

  const std::string& component() const noexcept { return component_; }

  /** False when `level` is filtered out; use it to skip computing expensive fields. */
  bool enabled(Level level) const noexcept;

  void log(Level level, std::string_view message, Fields fields = {}) const noexcept;
  void trace(std::string_view message, Fields fields = {}) const noexcept {
    log(Level::Trace, message, fields);
  }
  void debug(std::string_view message, Fields fields = {}) const noexcept {
    log(Level::Debug, message, fields);
  }
  void info(std::string_view message, Fields fields = {}) const noexcept {
    log(Level::Info, message, fields);
  }
  void warn(std::string_view message, Fields fields = {}) const noexcept {
    log(Level::Warn, message, fields);
  }
  void error(std::string_view message, Fields fields = {}) const noexcept {
    log(Level::Error, message, fields);
  }
  void critical(std::string_view message, Fields fields = {}) const noexcept {
    log(Level::Critical, message, fields);
  }

  /**
   * Logs unless `key` was already logged `limit.max_per_interval` times in the current window.
   * When it logs after suppressing repeats, it adds `"suppressed": <count>`. A line filtered out
   * by level does not use up the budget.
   */
  void logEvery(Level level, std::string_view key, RateLimit limit, std::string_view message,
                Fields fields = {}) const noexcept;
  void warnEvery(std::string_view key, RateLimit limit, std::string_view message,
                 Fields fields = {}) const noexcept {
    logEvery(Level::Warn, key, limit, message, fields);
  }
  void errorEvery(std::string_view key, RateLimit limit, std::string_view message,
                  Fields fields = {}) const noexcept {
    logEvery(Level::Error, key, limit, message, fields);
  }

 private:
  void write(Level level, std::string_view message, Fields fields,
             std::optional<std::uint64_t> suppressed) const noexcept;

  std::string component_;
  std::shared_ptr<RateLimiter> limiter_;
};

}  // namespace pipeline::log
