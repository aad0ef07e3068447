#include "pipeline/log/logging.h"

#include <fmt/format.h>
#include <spdlog/formatter.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <ctime>

#include "pipeline/json.h"

namespace pipeline::log {
namespace {

constexpr std::string_view kDefaultService = "pointtron";

// What a Logger call adds to the line besides spdlog's own message. spdlog's log_msg has no room
// for structured data, so the calling thread parks it here for the duration of the (synchronous)
// spdlog call; the formatter runs on that same thread for every sink. A plain spdlog::info() call
// finds it empty.
struct CallContext {
  std::string_view component;
  const std::string* fields = nullptr;  // `,"key":value...`, already serialised
};
thread_local CallContext t_call;

class CallScope {
 public:
  CallScope(std::string_view component, const std::string& fields) {
    t_call = CallContext{component, &fields};
  }
  ~CallScope() { t_call = CallContext{}; }
  CallScope(const CallScope&) = delete;
  CallScope& operator=(const CallScope&) = delete;
};

spdlog::level::level_enum toSpdlog(Level level) {
  switch (level) {
    case Level::Trace: return spdlog::level::trace;
    case Level::Debug: return spdlog::level::debug;
    case Level::Info: return spdlog::level::info;
    case Level::Warn: return spdlog::level::warn;
    case Level::Error: return spdlog::level::err;
    case Level::Critical: return spdlog::level::critical;
  }
  return spdlog::level::info;
}

std::string_view spdlogLevelName(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace: return "trace";
    case spdlog::level::debug: return "debug";
    case spdlog::level::info: return "info";
    case spdlog::level::warn: return "warn";
    case spdlog::level::err: return "error";
    case spdlog::level::critical: return "critical";
    default: return "info";
  }
}

bool isEnvelopeKey(std::string_view key) {
  return key == "timestamp" || key == "level" || key == "service" || key == "component" ||
         key == "message";
}

void appendTimestamp(std::string& out, std::chrono::system_clock::time_point time) {
  const auto since_epoch = time.time_since_epoch();
  const auto seconds = std::chrono::floor<std::chrono::seconds>(since_epoch);
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - seconds);
  const std::time_t whole = static_cast<std::time_t>(seconds.count());
  std::tm utc{};
  gmtime_r(&whole, &utc);
  fmt::format_to(std::back_inserter(out), "\"{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z\"",
                 utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min,
                 utc.tm_sec, millis.count());
}

// Renders the whole line. The service is fixed per logger, so it is quoted once up front.
class JsonFormatter final : public spdlog::formatter {
 public:
  explicit JsonFormatter(std::string quoted_service) : quoted_service_(std::move(quoted_service)) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string line;
    line.reserve(128 + msg.payload.size());
    line += "{\"timestamp\":";
    appendTimestamp(line, msg.time);
    line += ",\"level\":\"";
    line += spdlogLevelName(msg.level);
    line += "\",\"service\":";
    line += quoted_service_;
    if (!t_call.component.empty()) {
      line += ",\"component\":";
      json::appendString(line, t_call.component);
    }
    line += ",\"message\":";
    json::appendString(line, std::string_view(msg.payload.data(), msg.payload.size()));
    if (t_call.fields != nullptr) line += *t_call.fields;
    line += "}\n";
    dest.append(line.data(), line.data() + line.size());
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>(quoted_service_);
  }

 private:
  std::string quoted_service_;
};

std::shared_ptr<spdlog::logger> makeLogger(std::string_view service,
                                           std::vector<spdlog::sink_ptr> sinks, Level level) {
  auto logger = std::make_shared<spdlog::logger>(std::string(service), sinks.begin(), sinks.end());
  logger->set_formatter(std::make_unique<JsonFormatter>(json::quote(service)));
  logger->set_level(toSpdlog(level));
  logger->flush_on(spdlog::level::warn);
  return logger;
}

// The logger every Logger uses, swapped atomically by init() so that Loggers may exist (and log
// from other threads) before and across re-initialisation.
std::atomic<std::shared_ptr<spdlog::logger>> g_logger;

std::shared_ptr<spdlog::logger> current() {
  auto logger = g_logger.load();
  if (logger) return logger;
  auto fallback = makeLogger(kDefaultService, {std::make_shared<spdlog::sinks::stdout_sink_mt>()},
                             Level::Info);
  std::shared_ptr<spdlog::logger> expected;
  // Another thread may have won the race; use whichever logger got installed.
  if (g_logger.compare_exchange_strong(expected, fallback)) return fallback;
  return expected;
}

void appendFields(std::string& out, Fields fields, std::optional<std::uint64_t> suppressed) {
  json::Writer writer;
  writer.beginObject();
  for (const Field& field : fields) {
    if (isEnvelopeKey(field.key())) {
      writer.key(fmt::format("field_{}", field.key()));
    } else {
      writer.key(field.key());
    }
    if (config::isSecretKey(field.key())) {
      writer.value(config::kRedacted);
      continue;
    }
    std::visit([&writer](const auto& value) { writer.value(value); }, field.value());
  }
  if (suppressed.has_value() && *suppressed > 0) writer.field("suppressed", *suppressed);
  writer.endObject();
  // Splice the members into the envelope: drop the braces, keep a leading comma.
  const std::string& object = writer.str();
  if (object.size() > 2) {
    out.push_back(',');
    out.append(object, 1, object.size() - 2);
  }
}

char asciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

}  // namespace

std::string_view levelName(Level level) noexcept { return spdlogLevelName(toSpdlog(level)); }

Result<Level> parseLevel(std::string_view name) {
  std::string lower(name);
  for (char& c : lower) c = asciiLower(c);
  static constexpr Level kAll[] = {Level::Trace, Level::Debug, Level::Info,
                                   Level::Warn,  Level::Error, Level::Critical};
  for (Level level : kAll) {
    if (lower == levelName(level)) return level;
  }
  return Error{ErrorType::InvalidConfig,
               fmt::format("unknown log level {} (expected trace, debug, info, warn, error or "
                           "critical)",
                           json::quote(name))};
}

Result<LogOptions> LogOptions::fromConfig(const config::ConfigSource& config,
                                          std::string service) {
  LogOptions options;
  options.service = std::move(service);
  auto level = config.getChoice("log.level", "info",
                                {"trace", "debug", "info", "warn", "error", "critical"});
  if (!level) return level.error();
  options.level = *parseLevel(*level);
  auto to_stdout = config.getBool("log.stdout_enabled", true);
  if (!to_stdout) return to_stdout.error();
  options.stdout_enabled = *to_stdout;
  auto path = config.getString("log.file_path", "");
  if (!path) return path.error();
  options.file_path = std::move(*path);
  auto max_size = config.getUint("log.file_max_size_bytes", options.file_max_size_bytes, 1024,
                                 std::uint64_t{1} << 40);
  if (!max_size) return max_size.error();
  options.file_max_size_bytes = static_cast<std::size_t>(*max_size);
  auto max_files = config.getUint("log.file_max_files", options.file_max_files, 1, 1000);
  if (!max_files) return max_files.error();
  options.file_max_files = static_cast<std::size_t>(*max_files);
  return options;
}

Status init(const LogOptions& options) {
  if (options.service.empty()) {
    return Status(ErrorType::InvalidConfig, "log: the service name must not be empty");
  }
  std::vector<spdlog::sink_ptr> sinks = options.extra_sinks;
  if (options.stdout_enabled) sinks.push_back(std::make_shared<spdlog::sinks::stdout_sink_mt>());
  if (!options.file_path.empty()) {
    if (options.file_max_size_bytes == 0 || options.file_max_files == 0) {
      return Status(ErrorType::InvalidConfig,
                    "log.file_max_size_bytes and log.file_max_files must be at least 1");
    }
    // spdlog reports file errors by exception; convert at this boundary (style.md §5.1).
    try {
      sinks.push_back(std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
          options.file_path, options.file_max_size_bytes, options.file_max_files));
    } catch (const std::exception& e) {
      return Status(ErrorType::Io, fmt::format("cannot open log file \"{}\": {}",
                                               options.file_path, e.what()));
    }
  }
  if (sinks.empty()) {
    return Status(ErrorType::InvalidConfig,
                  "log: no destination (enable log.stdout_enabled or set log.file_path)");
  }

  auto logger = makeLogger(options.service, std::move(sinks), options.level);
  if (auto previous = g_logger.exchange(logger)) previous->flush();
  spdlog::set_default_logger(logger);
  return Status::ok();
}

void flush() { current()->flush(); }

RateLimiter::RateLimiter(Clock clock) : clock_(std::move(clock)) {
  if (!clock_) clock_ = [] { return std::chrono::steady_clock::now(); };
}

std::optional<std::uint64_t> RateLimiter::admit(std::string_view key, RateLimit limit) {
  const auto now = clock_();
  std::lock_guard lock(mutex_);
  auto it = windows_.find(key);
  if (it == windows_.end()) {
    windows_.emplace(std::string(key), Window{now, 1, 0});
    return 0;
  }
  Window& window = it->second;
  if (now - window.start >= limit.interval) {
    const std::uint64_t suppressed = window.suppressed;
    window = Window{now, 1, 0};
    return suppressed;
  }
  if (window.admitted < limit.max_per_interval) {
    ++window.admitted;
    // Suppression only starts once the budget is spent, so nothing is pending here.
    return 0;
  }
  ++window.suppressed;
  return std::nullopt;
}

Logger::Logger(std::string component, std::shared_ptr<RateLimiter> limiter)
    : component_(std::move(component)),
      limiter_(limiter ? std::move(limiter) : std::make_shared<RateLimiter>()) {}

bool Logger::enabled(Level level) const noexcept {
  try {
    return current()->should_log(toSpdlog(level));
  } catch (...) {
    return false;
  }
}

void Logger::log(Level level, std::string_view message, Fields fields) const noexcept {
  write(level, message, fields, std::nullopt);
}

void Logger::logEvery(Level level, std::string_view key, RateLimit limit,
                      std::string_view message, Fields fields) const noexcept {
  if (!enabled(level)) return;
  try {
    const auto suppressed = limiter_->admit(key, limit);
    if (!suppressed.has_value()) return;
    write(level, message, fields, suppressed);
  } catch (...) {
    // Logging must never take the process down (it runs inside loop callbacks).
  }
}

void Logger::write(Level level, std::string_view message, Fields fields,
                   std::optional<std::uint64_t> suppressed) const noexcept {
  try {
    auto logger = current();
    const auto spd_level = toSpdlog(level);
    if (!logger->should_log(spd_level)) return;
    std::string rendered;
    appendFields(rendered, fields, suppressed);
    CallScope scope(component_, rendered);
    logger->log(spdlog::source_loc{}, spd_level,
                spdlog::string_view_t(message.data(), message.size()));
  } catch (...) {
    // Out of memory while formatting: dropping the line is the only safe choice here.
  }
}

}  // namespace pipeline::log
