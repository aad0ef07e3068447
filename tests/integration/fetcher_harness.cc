#include "tests/integration/fetcher_harness.h"

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <time.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "pipeline/kafka/admin.h"
#include "pipeline/kafka/kafka_config.h"
#include "tests/support/kafka_env.h"
#include "tests/support/raw_http.h"

extern char** environ;

namespace testsupport::fetcher {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// The integer after `"<name>":` in a JSON text (flat scan; good for our small admin answers).
std::optional<std::int64_t> jsonInt(std::string_view text, std::string_view name) {
  const std::string needle = fmt::format("\"{}\":", name);
  const auto at = text.find(needle);
  if (at == std::string_view::npos) return std::nullopt;
  std::size_t begin = at + needle.size();
  while (begin < text.size() && (text[begin] == ' ' || text[begin] == '"')) ++begin;
  std::int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data() + begin, text.data() + text.size(), value);
  if (ec != std::errc()) return std::nullopt;
  return value;
}

milliseconds left(Clock::time_point give_up) {
  return std::max(milliseconds(0),
                  std::chrono::duration_cast<milliseconds>(give_up - Clock::now()));
}

// The port in the first line containing `message` (a JSON log line with a "port" field).
std::optional<std::uint16_t> waitForPort(ChildProcess& child, ChildLog& log,
                                         std::string_view message, milliseconds deadline) {
  std::optional<std::uint16_t> port;
  child.readUntil(
      [&](std::string_view line) {
        log.add(line);
        if (line.find(message) == std::string_view::npos) return false;
        auto value = jsonInt(line, "port");
        if (value && *value > 0 && *value < 65536) port = static_cast<std::uint16_t>(*value);
        return port.has_value();
      },
      deadline);
  return port;
}

}  // namespace

std::string fetcherPath() {
#ifdef POINTTRON_FETCHER_PATH
  return POINTTRON_FETCHER_PATH;
#else
  return "";
#endif
}

std::string tronsimPath() { return POINTTRON_TRONSIM_PATH; }

std::int64_t wallMs() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::optional<HttpAnswer> httpRequest(std::uint16_t port, std::string_view method,
                                      std::string_view path, std::string_view body,
                                      milliseconds timeout) {
  RawConnection connection(port, timeout);
  if (!connection.connected()) return std::nullopt;
  std::string request = fmt::format(
      "{} {} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n", method, path, port);
  if (!body.empty() || method == "POST") {
    request += fmt::format("Content-Type: application/json\r\nContent-Length: {}\r\n",
                           body.size());
  }
  request += "\r\n";
  request += body;
  if (!connection.send(request)) return std::nullopt;
  auto response = connection.readResponse();
  if (!response) return std::nullopt;
  return HttpAnswer{response->status, std::move(response->body)};
}

void ChildLog::collect(ChildProcess& child) {
  child.readUntil(
      [&](std::string_view line) {
        add(line);
        return false;
      },
      milliseconds(0));
}

void ChildLog::add(std::string_view line) {
  lines_.emplace_back(line);
  if (lines_.size() > keep_ * 2) lines_.erase(lines_.begin(), lines_.end() - keep_);
}

std::string ChildLog::text() const {
  std::string out;
  const std::size_t from = lines_.size() > keep_ ? lines_.size() - keep_ : 0;
  for (std::size_t i = from; i < lines_.size(); ++i) out += "  | " + lines_[i] + "\n";
  return out;
}

std::int64_t TronsimStats::apiRequests() const {
  std::int64_t total = 0;
  for (const auto& [path, count] : by_path) {
    if (path.starts_with("/wallet")) total += count;
  }
  return total;
}

std::unique_ptr<Tronsim> Tronsim::start(const std::vector<std::string>& args) {
  std::vector<std::string> argv{tronsimPath(), "serve", "--port", "0"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto child = ChildProcess::spawn(argv);
  if (!child) return nullptr;
  std::unique_ptr<Tronsim> self(new Tronsim());
  auto port = waitForPort(*child, self->log_, "Listening.", std::chrono::seconds(20));
  self->child_ = std::move(child);
  if (!port) {
    self->log_.collect(*self->child_);
    ADD_FAILURE() << "tronsim did not report its port: " << fmt::format("{}", fmt::join(argv, " "))
                  << "\n" << self->log_.text();
    return nullptr;
  }
  self->port_ = *port;
  return self;
}

std::string Tronsim::url() const { return fmt::format("http://127.0.0.1:{}", port_); }

std::optional<TronsimStats> Tronsim::stats() {
  auto answer = httpRequest(port_, "GET", "/admin/stats");
  if (!answer || answer->status != 200) return std::nullopt;
  TronsimStats stats;
  const std::string& body = answer->body;
  stats.requests = jsonInt(body, "requests").value_or(-1);
  stats.faults = jsonInt(body, "faults").value_or(-1);
  const auto by_path = body.find("\"by_path\":{");
  if (by_path != std::string::npos) {
    std::size_t at = by_path + 11;
    while (at < body.size() && body[at] == '"') {
      const auto name_end = body.find('"', at + 1);
      if (name_end == std::string::npos) break;
      const std::string name = body.substr(at + 1, name_end - at - 1);
      std::int64_t count = 0;
      auto [ptr, ec] = std::from_chars(body.data() + name_end + 2, body.data() + body.size(), count);
      if (ec != std::errc()) break;
      stats.by_path[name] = count;
      at = static_cast<std::size_t>(ptr - body.data());
      if (at < body.size() && body[at] == ',') ++at;
    }
  }
  return stats;
}

std::optional<std::int64_t> Tronsim::head() { return headField("head"); }

std::optional<std::int64_t> Tronsim::solidHead() { return headField("solid_head"); }

std::optional<std::int64_t> Tronsim::headField(std::string_view name) {
  auto answer = httpRequest(port_, "GET", "/admin/head");
  if (!answer || answer->status != 200) return std::nullopt;
  return jsonInt(answer->body, name);
}

bool Tronsim::setFaults(const std::string& json) {
  auto answer = httpRequest(port_, "POST", "/admin/faults", json);
  EXPECT_TRUE(answer && answer->status == 200)
      << "POST /admin/faults " << json << ": " << (answer ? answer->body : "no answer");
  return answer && answer->status == 200;
}

bool Tronsim::clearFaults() {
  auto answer = httpRequest(port_, "DELETE", "/admin/faults");
  return answer && answer->status == 200;
}

std::optional<ForkAnswer> Tronsim::fork(int depth) {
  auto answer = httpRequest(port_, "POST", "/admin/fork", fmt::format(R"({{"depth":{}}})", depth));
  if (!answer || answer->status != 200) return std::nullopt;
  auto from = jsonInt(answer->body, "from_height");
  auto head = jsonInt(answer->body, "head");
  if (!from || !head) return std::nullopt;
  return ForkAnswer{*from, *head};
}

std::optional<std::string> Tronsim::blockByNum(std::int64_t height) {
  auto answer = httpRequest(port_, "POST", "/wallet/getblockbynum",
                            fmt::format(R"({{"num":{}}})", height));
  if (!answer || answer->status != 200) return std::nullopt;
  std::string body = std::move(answer->body);
  while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.pop_back();
  return body;
}

std::string Tronsim::log() {
  if (child_) log_.collect(*child_);
  return log_.text();
}

std::unique_ptr<Fetcher> Fetcher::start(const std::map<std::string, std::string>& env) {
  const std::string path = fetcherPath();
  if (path.empty()) {
    ADD_FAILURE() << "pointtron-fetcher is not built: stages/fetcher/main.cc is missing, so "
                     "this build has no pointtron-fetcher target (POINTTRON_FETCHER_PATH unset).";
    return nullptr;
  }
  // env(1) execs the fetcher in the same process, so the pid and signals are the fetcher's.
  std::vector<std::string> argv{"/usr/bin/env"};
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    const std::string name(text.substr(0, text.find('=')));
    if (name.starts_with("POINTTRON_") && name.find("__") != std::string::npos &&
        !env.contains(name)) {
      argv.push_back("-u");
      argv.push_back(name);
    }
  }
  std::map<std::string, std::string> all = env;
  all.try_emplace("POINTTRON_HTTP__PORT", "0");
  for (const auto& [name, value] : all) argv.push_back(name + "=" + value);
  argv.push_back(path);
  auto child = ChildProcess::spawn(argv);
  if (!child) return nullptr;
  std::unique_ptr<Fetcher> self(new Fetcher());
  auto port = waitForPort(*child, self->log_, "Admin HTTP listening.", std::chrono::seconds(30));
  self->child_ = std::move(child);
  if (!port) {
    self->log_.collect(*self->child_);
    auto status = self->child_->waitExit(milliseconds(100));
    ADD_FAILURE() << "pointtron-fetcher did not report its admin port"
                  << (status ? fmt::format(" (wait status {})", *status) : std::string())
                  << "; its output:\n"
                  << self->log_.text();
    return nullptr;
  }
  self->http_port_ = *port;
  return self;
}

Fetcher::~Fetcher() = default;

std::string Fetcher::metricsText() {
  auto answer = httpRequest(http_port_, "GET", "/metrics");
  if (!answer || answer->status != 200) return "";
  return answer->body;
}

std::optional<double> Fetcher::metric(const std::string& name,
                                      const std::map<std::string, std::string>& labels) {
  const std::string text = metricsText();
  std::size_t line_start = 0;
  while (line_start < text.size()) {
    std::size_t line_end = text.find('\n', line_start);
    if (line_end == std::string::npos) line_end = text.size();
    const std::string_view line(text.data() + line_start, line_end - line_start);
    line_start = line_end + 1;
    if (line.empty() || line[0] == '#' || !line.starts_with(name)) continue;
    std::size_t at = name.size();
    std::map<std::string, std::string> found;
    if (at < line.size() && line[at] == '{') {
      const auto close = line.find('}', at);
      if (close == std::string_view::npos) continue;
      std::string_view inner = line.substr(at + 1, close - at - 1);
      while (!inner.empty()) {
        const auto eq = inner.find("=\"");
        const auto quote = inner.find('"', eq + 2);
        if (eq == std::string_view::npos || quote == std::string_view::npos) break;
        found[std::string(inner.substr(0, eq))] = std::string(inner.substr(eq + 2, quote - eq - 2));
        inner.remove_prefix(std::min(inner.size(), quote + 2));  // past `",`
      }
      at = close + 1;
    }
    if (at >= line.size() || line[at] != ' ') continue;
    const bool match = std::all_of(labels.begin(), labels.end(), [&](const auto& label) {
      auto it = found.find(label.first);
      return it != found.end() && it->second == label.second;
    });
    if (!match) continue;
    return std::strtod(std::string(line.substr(at + 1)).c_str(), nullptr);
  }
  return std::nullopt;
}

std::optional<int> Fetcher::kill() {
  child_->signal(SIGKILL);
  child_->readToEnd([&](std::string_view line) { log_.add(line); }, std::chrono::seconds(10));
  return child_->waitExit(std::chrono::seconds(10));
}

std::optional<int> Fetcher::stop() {
  child_->signal(SIGTERM);
  child_->readToEnd([&](std::string_view line) { log_.add(line); }, std::chrono::seconds(30));
  return child_->waitExit(milliseconds(100));
}

bool Fetcher::running() {
  // Takes the lines printed so far; true = stdout ended, which is the process's last act.
  return !child_->readToEnd([&](std::string_view line) { log_.add(line); }, milliseconds(0));
}

std::string Fetcher::log() {
  if (child_) log_.collect(*child_);
  return log_.text();
}

TopicReader::TopicReader(std::string topic) : topic_(std::move(topic)) {}

TopicReader::~TopicReader() {
  if (rk_ != nullptr) {
    rd_kafka_consumer_close(rk_);
    rd_kafka_destroy(rk_);
  }
}

bool TopicReader::connect(Clock::time_point give_up) {
  const auto config = testKafkaConfig();
  std::int32_t partitions = 0;
  for (;;) {
    auto count = pipeline::kafka::partitionCount(config, topic_, std::min(left(give_up), milliseconds(2000)));
    if (count) {
      partitions = *count;
      break;
    }
    error_ = count.error().message;
    if (Clock::now() >= give_up) return false;
    // The topic does not exist yet (the fetcher creates it at start): ask again shortly.
    struct timespec pause{0, 100'000'000};
    ::nanosleep(&pause, nullptr);
  }
  auto conf = pipeline::kafka::makeConf(config, {{"client.id", "fetcher-test-reader"},
                                                 {"fetch.wait.max.ms", "10"}},
                                        {{"group.id", uniqueGroup("reader")},
                                         {"enable.auto.commit", "false"},
                                         {"enable.partition.eof", "false"}});
  if (!conf) {
    error_ = conf.error().message;
    return false;
  }
  char error[512];
  rk_ = rd_kafka_new(RD_KAFKA_CONSUMER, conf->get(), error, sizeof(error));
  if (rk_ == nullptr) {
    error_ = error;
    return false;
  }
  (void)conf.value().release();
  partitions_ = partitions;
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
  for (std::int32_t p = 0; p < partitions; ++p) {
    rd_kafka_topic_partition_list_add(list, topic_.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  }
  const auto err = rd_kafka_assign(rk_, list);
  rd_kafka_topic_partition_list_destroy(list);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    error_ = rd_kafka_err2str(err);
    return false;
  }
  return true;
}

void TopicReader::add(rd_kafka_message_t* message) {
  SeenRecord record;
  record.partition = message->partition;
  record.offset = message->offset;
  record.received_wall_ms = wallMs();
  next_offset_[message->partition] = message->offset + 1;
  if (message->key != nullptr) {
    record.key.assign(static_cast<const char*>(message->key), message->key_len);
  }
  if (message->payload != nullptr) {
    record.value.assign(static_cast<const char*>(message->payload), message->len);
  }
  std::int64_t height = 0;
  auto [ptr, ec] = std::from_chars(record.key.data(), record.key.data() + record.key.size(), height);
  if (ec == std::errc() && ptr == record.key.data() + record.key.size()) record.height = height;
  record.retraction = record.value.starts_with(R"({"schema":"block.raw.retraction.v1")");
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(message, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    auto header = [headers](const char* name) -> std::optional<std::string_view> {
      const void* value = nullptr;
      std::size_t size = 0;
      if (rd_kafka_header_get_last(headers, name, &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR ||
          value == nullptr) {
        return std::nullopt;
      }
      return std::string_view(static_cast<const char*>(value), size);
    };
    if (auto text = header("fetched_at_ms")) {
      std::int64_t ms = 0;
      if (std::from_chars(text->data(), text->data() + text->size(), ms).ec == std::errc()) {
        record.fetched_at_ms = ms;
      }
    }
    if (auto text = header("source")) record.source = std::string(*text);
  }
  if (record.retraction) {
    ++retractions_;
  } else if (record.height >= 0) {
    block_heights_.insert(record.height);
  }
  records_.push_back(std::move(record));
}

bool TopicReader::readUntil(const std::function<bool()>& done, milliseconds deadline) {
  const auto give_up = Clock::now() + deadline;
  if (rk_ == nullptr && !connect(give_up)) return false;
  for (;;) {
    // Drain what is available, then check the condition.
    int timeout = static_cast<int>(std::min<std::int64_t>(100, left(give_up).count()));
    while (rd_kafka_message_t* message = rd_kafka_consumer_poll(rk_, timeout)) {
      if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        add(message);
      } else if (message->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        error_ = rd_kafka_message_errstr(message);
      }
      rd_kafka_message_destroy(message);
      timeout = 0;
    }
    if (done()) return true;
    if (Clock::now() >= give_up) return false;
  }
}

bool TopicReader::readAll(milliseconds deadline) {
  const auto give_up = Clock::now() + deadline;
  if (rk_ == nullptr && !connect(give_up)) return false;
  std::map<std::int32_t, std::int64_t> end;
  for (std::int32_t p = 0; p < partitions_; ++p) {
    std::int64_t low = 0;
    std::int64_t high = 0;
    const auto err = rd_kafka_query_watermark_offsets(
        rk_, topic_.c_str(), p, &low, &high, static_cast<int>(std::max<std::int64_t>(1, left(give_up).count())));
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      error_ = fmt::format("end offset of partition {}: {}", p, rd_kafka_err2str(err));
      return false;
    }
    end[p] = high;
  }
  return readUntil(
      [&] {
        for (const auto& [partition, high] : end) {
          auto it = next_offset_.find(partition);
          if (high > 0 && (it == next_offset_.end() || it->second < high)) return false;
        }
        return true;
      },
      left(give_up));
}

std::int64_t TopicReader::contiguousEnd(std::int64_t from) {
  if (contiguous_from_ != from) {
    contiguous_from_ = from;
    contiguous_end_ = from;
  }
  while (block_heights_.contains(contiguous_end_)) ++contiguous_end_;
  return contiguous_end_;
}

std::map<std::string, std::string> fetcherEnv(const std::string& topic_prefix,
                                              const std::vector<std::string>& node_urls,
                                              int data_partitions) {
  return {
      {"POINTTRON_KAFKA__BOOTSTRAP_SERVERS", testBrokers()},
      {"POINTTRON_KAFKA__TOPIC_PREFIX", topic_prefix},
      {"POINTTRON_KAFKA__DATA_PARTITIONS", std::to_string(data_partitions)},
      {"POINTTRON_METRICS__PUBLISH_INTERVAL_MS", "0"},
      {"POINTTRON_INSTANCE__ID", "fetcher-test"},
      {"POINTTRON_FETCHER__NODE_URLS", fmt::format("{}", fmt::join(node_urls, ","))},
  };
}

std::string uniquePrefix(const std::string& name) { return uniqueTopic(name) + "."; }

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(values.size())));
  return values[std::min(values.size() - 1, rank == 0 ? 0 : rank - 1)];
}

}  // namespace testsupport::fetcher
