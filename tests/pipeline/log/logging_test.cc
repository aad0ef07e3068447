#include "pipeline/log/logging.h"

#include <gtest/gtest.h>
#include <simdjson.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

namespace pipeline::log {
namespace {

// One parsed log line: string members verbatim, every other member as minified JSON.
struct LogLine {
  std::map<std::string, std::string> strings;
  std::map<std::string, std::string> others;
  std::vector<std::string> keys;  // in the order written

  bool has(const std::string& key) const { return strings.contains(key) || others.contains(key); }
  std::string str(const std::string& key) const {
    auto it = strings.find(key);
    return it == strings.end() ? "<missing string " + key + ">" : it->second;
  }
  std::string raw(const std::string& key) const {
    auto it = others.find(key);
    return it == others.end() ? "<missing value " + key + ">" : it->second;
  }
};

// Parses one line with simdjson; any failure is a test failure (and an empty LogLine).
LogLine parseLine(const std::string& line) {
  LogLine out;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (auto error = parser.parse(simdjson::padded_string(line)).get(doc); error) {
    ADD_FAILURE() << "not JSON (" << simdjson::error_message(error) << "): " << line;
    return out;
  }
  simdjson::dom::object object;
  if (doc.get_object().get(object)) {
    ADD_FAILURE() << "not a JSON object: " << line;
    return out;
  }
  for (auto member : object) {
    const std::string key(member.key);
    EXPECT_FALSE(out.has(key)) << "duplicate key " << key << " in " << line;
    out.keys.push_back(key);
    std::string_view text;
    if (member.value.get_string().get(text) == simdjson::SUCCESS) {
      out.strings[key] = std::string(text);
    } else {
      out.others[key] = simdjson::minify(member.value);
    }
  }
  return out;
}

// "2026-11-25T19:17:53.123Z": checked by hand because std::regex trips GCC 12 warnings under
// the sanitizer build.
bool isIsoUtcMillis(std::string_view text) {
  constexpr std::string_view kShape = "dddd-dd-ddTdd:dd:dd.dddZ";
  if (text.size() != kShape.size()) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const bool ok = kShape[i] == 'd' ? (text[i] >= '0' && text[i] <= '9') : text[i] == kShape[i];
    if (!ok) return false;
  }
  return true;
}

std::vector<std::string> splitLines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  EXPECT_TRUE(text.empty() || text.back() == '\n') << "last line not terminated";
  return lines;
}

// Captures everything logged during a test in memory; stdout stays quiet.
class LoggingTest : public ::testing::Test {
 protected:
  void SetUp() override { initWith(Level::Trace); }

  void TearDown() override {
    // The ostream sink holds a reference to out_: swap it out before out_ is destroyed.
    LogOptions quiet;
    quiet.service = "test";
    quiet.stdout_enabled = false;
    quiet.extra_sinks.push_back(std::make_shared<spdlog::sinks::null_sink_mt>());
    ASSERT_TRUE(init(quiet).isOk());
  }

  void initWith(Level level) {
    LogOptions options;
    options.service = "decoder";
    options.level = level;
    options.stdout_enabled = false;
    options.extra_sinks.push_back(std::make_shared<spdlog::sinks::ostream_sink_mt>(out_));
    Status status = init(options);
    ASSERT_TRUE(status.isOk()) << status.toString();
  }

  std::vector<LogLine> lines() {
    flush();
    std::vector<LogLine> parsed;
    for (const auto& line : splitLines(out_.str())) parsed.push_back(parseLine(line));
    return parsed;
  }

  std::ostringstream out_;
};

// A structured call yields one JSON object with the envelope first, then typed fields.
TEST_F(LoggingTest, WritesOneJsonObjectPerLine) {
  Logger logger;
  logger.info("Consumer started.",
              {{"topic", std::string("pointtron.blocks")},
               {"partitions", 3},
               {"offset", std::int64_t{-2}},
               {"lag_events", std::uint64_t{18446744073709551615u}},
               {"ratio", 0.25},
               {"assigned", true}});
  auto parsed = lines();
  ASSERT_EQ(1u, parsed.size());
  const LogLine& line = parsed[0];
  EXPECT_EQ((std::vector<std::string>{"timestamp", "level", "service", "message", "topic",
                                      "partitions", "offset", "lag_events", "ratio", "assigned"}),
            line.keys);
  EXPECT_TRUE(isIsoUtcMillis(line.str("timestamp"))) << line.str("timestamp");
  EXPECT_EQ("info", line.str("level"));
  EXPECT_EQ("decoder", line.str("service"));
  EXPECT_EQ("Consumer started.", line.str("message"));
  EXPECT_EQ("pointtron.blocks", line.str("topic"));
  EXPECT_EQ("3", line.raw("partitions"));
  EXPECT_EQ("-2", line.raw("offset"));
  EXPECT_EQ("18446744073709551615", line.raw("lag_events"));
  EXPECT_EQ("0.25", line.raw("ratio"));
  EXPECT_EQ("true", line.raw("assigned"));
}

// The timestamp is the current time in UTC, not local time.
TEST_F(LoggingTest, TimestampIsUtc) {
  // The logger's clock: std::time() reads the kernel's coarse clock, which may still show the
  // previous second when the logger's precise one has passed it.
  const auto now = [] { return std::chrono::system_clock::to_time_t(std::chrono::system_clock::now()); };
  const std::time_t before = now();
  Logger().info("Tick.");
  const std::time_t after = now();
  auto parsed = lines();
  ASSERT_EQ(1u, parsed.size());
  std::tm utc{};
  ASSERT_NE(nullptr, strptime(parsed[0].str("timestamp").c_str(), "%Y-%m-%dT%H:%M:%S", &utc));
  const std::time_t logged = timegm(&utc);
  EXPECT_LE(before, logged);
  EXPECT_GE(after, logged);
}

// Quotes, newlines, control characters, format braces and UTF-8 still give one valid line each.
TEST_F(LoggingTest, AwkwardMessagesStayOneValidLine) {
  const std::vector<std::string> messages = {
      "Said \"hi\" and left.", "Line one.\nLine two.\r\n", "Tab\there, back\\slash.",
      std::string("Nul \0 and bell \a.", 17), "Braces {} {0} {:>10} %v %s.", "Ünïcödé ✓ 区块.",
      "{\"looks\":\"like json\"}", ""};
  Logger logger("weird");
  for (const auto& message : messages) {
    logger.warn(message, {{"detail", message}});
  }
  auto parsed = lines();
  ASSERT_EQ(messages.size(), parsed.size());
  for (std::size_t i = 0; i < messages.size(); ++i) {
    EXPECT_EQ(messages[i], parsed[i].str("message")) << i;
    EXPECT_EQ(messages[i], parsed[i].str("detail")) << i;
    EXPECT_EQ("warn", parsed[i].str("level"));
  }
}

// A named Logger adds "component"; the unnamed one does not.
TEST_F(LoggingTest, NamedLoggerAddsComponent) {
  Logger("kafka.consumer").info("Assigned.");
  Logger().info("Plain.");
  auto parsed = lines();
  ASSERT_EQ(2u, parsed.size());
  EXPECT_EQ("kafka.consumer", parsed[0].str("component"));
  EXPECT_FALSE(parsed[1].has("component"));
}

// Fields with secret keys are written as "<redacted>" whatever their type; the value never leaks.
TEST_F(LoggingTest, RedactsSecretFields) {
  Logger().info("Connecting.", {{"url", "http://node"},
                                {"api_key", "hunter2"},
                                {"kafka.rdkafka.sasl.password", "hunter2"},
                                {"session_token", 42},
                                {"token_file", "/run/secrets/token"}});
  flush();
  EXPECT_EQ(std::string::npos, out_.str().find("hunter2"));
  auto parsed = lines();
  ASSERT_EQ(1u, parsed.size());
  EXPECT_EQ("http://node", parsed[0].str("url"));
  EXPECT_EQ("<redacted>", parsed[0].str("api_key"));
  EXPECT_EQ("<redacted>", parsed[0].str("kafka.rdkafka.sasl.password"));
  EXPECT_EQ("<redacted>", parsed[0].str("session_token"));
  EXPECT_EQ("/run/secrets/token", parsed[0].str("token_file"));
}

// A field named like an envelope key is renamed so that no key appears twice.
TEST_F(LoggingTest, RenamesFieldsThatCollideWithEnvelope) {
  Logger().error("Failed.", {{"message", "inner"}, {"level", 3}});
  auto parsed = lines();
  ASSERT_EQ(1u, parsed.size());
  EXPECT_EQ("Failed.", parsed[0].str("message"));
  EXPECT_EQ("error", parsed[0].str("level"));
  EXPECT_EQ("inner", parsed[0].str("field_message"));
  EXPECT_EQ("3", parsed[0].raw("field_level"));
}

// Lines below the configured level are dropped; enabled() agrees.
TEST_F(LoggingTest, FiltersByLevel) {
  initWith(Level::Warn);
  Logger logger;
  EXPECT_FALSE(logger.enabled(Level::Info));
  EXPECT_TRUE(logger.enabled(Level::Warn));
  logger.trace("T.");
  logger.debug("D.");
  logger.info("I.");
  logger.warn("W.");
  logger.error("E.");
  logger.critical("C.");
  auto parsed = lines();
  ASSERT_EQ(3u, parsed.size());
  EXPECT_EQ("warn", parsed[0].str("level"));
  EXPECT_EQ("error", parsed[1].str("level"));
  EXPECT_EQ("critical", parsed[2].str("level"));
}

// Level names parse case-insensitively; a bad name is an InvalidConfig error naming it.
TEST(LogLevelTest, ParsesLevelNames) {
  EXPECT_EQ(Level::Trace, *parseLevel("trace"));
  EXPECT_EQ(Level::Warn, *parseLevel("WARN"));
  EXPECT_FALSE(parseLevel("warning").has_value());  // one spelling per level, as log.level
  EXPECT_EQ(Level::Critical, *parseLevel("Critical"));
  EXPECT_EQ("error", levelName(Level::Error));
  auto bad = parseLevel("verbose");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(ErrorType::InvalidConfig, bad.error().type);
  EXPECT_EQ("unknown log level \"verbose\" (expected trace, debug, info, warn, error or critical)",
            bad.error().message);
}

// Log options come from log.* keys; a bad level names the key and the variable that set it.
TEST(LogOptionsTest, ReadsOptionsFromConfig) {
  auto config = config::ConfigSource::load("", {{"POINTTRON_LOG__LEVEL", "Debug"},
                                                {"POINTTRON_LOG__STDOUT_ENABLED", "no"},
                                                {"POINTTRON_LOG__FILE_PATH", "/var/log/x.log"},
                                                {"POINTTRON_LOG__FILE_MAX_FILES", "3"}});
  ASSERT_TRUE(config.has_value());
  auto options = LogOptions::fromConfig(*config, "persister");
  ASSERT_TRUE(options.has_value()) << options.error().message;
  EXPECT_EQ("persister", options->service);
  EXPECT_EQ(Level::Debug, options->level);
  EXPECT_FALSE(options->stdout_enabled);
  EXPECT_EQ("/var/log/x.log", options->file_path);
  EXPECT_EQ(3u, options->file_max_files);
  EXPECT_EQ(100u * 1024 * 1024, options->file_max_size_bytes);
  EXPECT_TRUE(config->checkUnknown().isOk());

  auto bad_config = config::ConfigSource::load("", {{"POINTTRON_LOG__LEVEL", "loud"}});
  ASSERT_TRUE(bad_config.has_value());
  auto bad = LogOptions::fromConfig(*bad_config, "persister");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ("log.level: must be one of trace, debug, info, warn, error, critical (got \"loud\" "
            "from POINTTRON_LOG__LEVEL)",
            bad.error().message);
}

// init() rejects options that cannot produce a usable logger.
TEST(LogInitTest, RejectsUnusableOptions) {
  LogOptions no_service;
  EXPECT_EQ(ErrorType::InvalidConfig, init(no_service).error().type);

  LogOptions nowhere;
  nowhere.service = "fetcher";
  nowhere.stdout_enabled = false;
  EXPECT_EQ(ErrorType::InvalidConfig, init(nowhere).error().type);

  LogOptions bad_file;
  bad_file.service = "fetcher";
  bad_file.stdout_enabled = false;
  bad_file.file_path = "/dev/null/cannot/exist.log";
  Status status = init(bad_file);
  ASSERT_FALSE(status.isOk());
  EXPECT_EQ(ErrorType::Io, status.error().type);
  EXPECT_NE(std::string::npos, status.error().message.find("/dev/null/cannot/exist.log"))
      << status.error().message;
}

// A plain spdlog call after init() still produces a JSON line, with the service.
TEST_F(LoggingTest, SpdlogDefaultLoggerWritesJson) {
  spdlog::info("Raw {} call with \"quotes\".", 1);
  auto parsed = lines();
  ASSERT_EQ(1u, parsed.size());
  EXPECT_EQ("Raw 1 call with \"quotes\".", parsed[0].str("message"));
  EXPECT_EQ("decoder", parsed[0].str("service"));
}

// A Logger created before init() writes to the sinks installed later.
TEST(LogInitTest, LoggerCreatedBeforeInitUsesNewSinks) {
  Logger early("early");
  std::ostringstream out;
  LogOptions options;
  options.service = "aggregator";
  options.stdout_enabled = false;
  options.extra_sinks.push_back(std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
  ASSERT_TRUE(init(options).isOk());
  early.info("After init.");
  flush();
  const std::string text = out.str();
  options.extra_sinks = {std::make_shared<spdlog::sinks::null_sink_mt>()};
  ASSERT_TRUE(init(options).isOk());  // detach `out` before it goes out of scope
  auto lines = splitLines(text);
  ASSERT_EQ(1u, lines.size());
  EXPECT_EQ("aggregator", parseLine(lines[0]).str("service"));
  EXPECT_EQ("early", parseLine(lines[0]).str("component"));
}

// Concurrent callers each get whole, valid lines carrying their own fields.
TEST_F(LoggingTest, ConcurrentCallersWriteWholeLines) {
  constexpr int kThreads = 4;
  constexpr int kLinesPerThread = 200;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t] {
      Logger logger("worker" + std::to_string(t));
      for (int i = 0; i < kLinesPerThread; ++i) {
        logger.info("Working \"hard\".", {{"thread", t}, {"i", i}});
      }
    });
  }
  for (auto& thread : threads) thread.join();
  auto parsed = lines();
  ASSERT_EQ(static_cast<std::size_t>(kThreads * kLinesPerThread), parsed.size());
  std::map<std::string, int> next_i;
  for (const auto& line : parsed) {
    const std::string component = line.str("component");
    EXPECT_EQ("worker" + line.raw("thread"), component);
    EXPECT_EQ(std::to_string(next_i[component]++), line.raw("i"));  // per-thread order kept
  }
}

// A clock the test moves by hand.
struct FakeClock {
  std::chrono::steady_clock::time_point now{};
  RateLimiter::Clock function() {
    return [this] { return now; };
  }
};

// Repeats within the interval are dropped; the next line after it carries the skipped count.
TEST_F(LoggingTest, RateLimitsRepeatsAndReportsSuppressedCount) {
  FakeClock clock;
  Logger logger("kafka", std::make_shared<RateLimiter>(clock.function()));
  const RateLimit every10s{std::chrono::seconds(10)};
  for (int i = 0; i < 5; ++i) {
    logger.errorEvery("broker_down", every10s, "Broker unreachable.", {{"attempt", i}});
    clock.now += std::chrono::seconds(1);
  }
  logger.errorEvery("other_key", every10s, "Other error.");  // keys are independent
  clock.now += std::chrono::seconds(5);                       // t = 10 s: window over
  logger.errorEvery("broker_down", every10s, "Broker unreachable.", {{"attempt", 5}});
  clock.now += std::chrono::seconds(10);
  logger.errorEvery("broker_down", every10s, "Broker unreachable.", {{"attempt", 6}});

  auto parsed = lines();
  ASSERT_EQ(4u, parsed.size());
  EXPECT_EQ("0", parsed[0].raw("attempt"));
  EXPECT_FALSE(parsed[0].has("suppressed"));
  EXPECT_EQ("Other error.", parsed[1].str("message"));
  EXPECT_EQ("5", parsed[2].raw("attempt"));
  EXPECT_EQ("4", parsed[2].raw("suppressed"));
  EXPECT_EQ("6", parsed[3].raw("attempt"));
  EXPECT_FALSE(parsed[3].has("suppressed"));
}

// max_per_interval lets a burst through before suppressing; filtered levels use no budget.
TEST_F(LoggingTest, RateLimitAllowsBurstAndIgnoresFilteredLevels) {
  initWith(Level::Info);
  FakeClock clock;
  Logger logger("x", std::make_shared<RateLimiter>(clock.function()));
  const RateLimit three{std::chrono::seconds(1), 3};
  for (int i = 0; i < 5; ++i) logger.logEvery(Level::Debug, "k", three, "Hidden.");
  for (int i = 0; i < 5; ++i) logger.warnEvery("k", three, "Shown.", {{"i", i}});
  clock.now += std::chrono::seconds(1);
  logger.warnEvery("k", three, "Shown.", {{"i", 5}});
  auto parsed = lines();
  ASSERT_EQ(4u, parsed.size());
  EXPECT_EQ("0", parsed[0].raw("i"));
  EXPECT_EQ("2", parsed[2].raw("i"));
  EXPECT_EQ("5", parsed[3].raw("i"));
  EXPECT_EQ("2", parsed[3].raw("suppressed"));
}

// The rotating file sink writes JSON lines to the file and rotates when it is full.
TEST(LogFileTest, RotatingFileReceivesLines) {
  const auto dir = std::filesystem::path(::testing::TempDir()) /
                   ("logging_test_rotate_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  LogOptions options;
  options.service = "persister";
  options.stdout_enabled = false;
  options.file_path = (dir / "sub" / "persister.log").string();  // parent directories created
  options.file_max_size_bytes = 1024;
  options.file_max_files = 2;
  ASSERT_TRUE(init(options).isOk());
  for (int i = 0; i < 20; ++i) {
    Logger().info("Committed batch of blocks to the database.", {{"batch", i}});
  }
  flush();
  LogOptions quiet;
  quiet.service = "test";
  quiet.stdout_enabled = false;
  quiet.extra_sinks.push_back(std::make_shared<spdlog::sinks::null_sink_mt>());
  ASSERT_TRUE(init(quiet).isOk());  // closes the file

  const auto current = dir / "sub" / "persister.log";
  const auto rotated = dir / "sub" / "persister.1.log";
  ASSERT_TRUE(std::filesystem::exists(current));
  ASSERT_TRUE(std::filesystem::exists(rotated));
  EXPECT_LE(std::filesystem::file_size(current), 1024u);
  std::ifstream in(current);
  std::stringstream text;
  text << in.rdbuf();
  auto file_lines = splitLines(text.str());
  ASSERT_FALSE(file_lines.empty());
  const LogLine last = parseLine(file_lines.back());
  EXPECT_EQ("persister", last.str("service"));
  EXPECT_EQ("19", last.raw("batch"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace pipeline::log
