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
#include "pipeline/kafka/producer.h"
#include "pipeline/metrics/registry.h"
#include "pipeline/metrics/stage_metrics.h"
#include "tests/support/kafka_env.h"
#include "tests/support/loop_runner.h"
#include "tests/support/raw_http.h"

namespace testsupport::fetcher {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

milliseconds left(Clock::time_point give_up) {
  return std::max(milliseconds(0),
                  std::chrono::duration_cast<milliseconds>(give_up - Clock::now()));
}

}  // namespace

std::string tronsimPath() { return POINTTRON_TRONSIM_PATH; }

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
  } else {
    record.tombstone = true;
  }
  std::int64_t height = 0;
  auto [ptr, ec] = std::from_chars(record.key.data(), record.key.data() + record.key.size(), height);
  if (ec == std::errc() && ptr == record.key.data() + record.key.size()) record.height = height;
  record.retraction = record.value.starts_with(R"({"schema":"block.raw.retraction.v1")");
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(message, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char* name = nullptr;
    const void* value = nullptr;
    std::size_t size = 0;
    for (std::size_t i = 0;
         rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
         ++i) {
      record.headers[name] =
          value == nullptr ? std::string() : std::string(static_cast<const char*>(value), size);
    }
    if (auto it = record.headers.find("fetched_at_ms"); it != record.headers.end()) {
      std::int64_t ms = 0;
      const std::string& text = it->second;
      if (std::from_chars(text.data(), text.data() + text.size(), ms).ec == std::errc()) {
        record.fetched_at_ms = ms;
      }
    }
    if (auto it = record.headers.find("source"); it != record.headers.end()) {
      record.source = it->second;
    }
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

std::vector<pipeline::Delivery> produceAll(std::vector<pipeline::Event> events) {
  LoopRunner runner;
  pipeline::metrics::Registry registry("test");
  pipeline::StageMetrics stage_metrics(registry);
  auto producer =
      pipeline::kafka::Producer::create(runner.loop(), testKafkaConfig(), stage_metrics, registry);
  if (!producer) {
    ADD_FAILURE() << producer.error().message;
    return {};
  }
  std::vector<pipeline::Delivery> deliveries(events.size());
  std::size_t acknowledged = 0;
  for (std::size_t i = 0; i < events.size(); ++i) {
    (*producer)->send(std::move(events[i]),
                      [&, i](const pipeline::Status& status, const pipeline::Delivery& delivery) {
                        EXPECT_TRUE(status.isOk()) << status.toString();
                        deliveries[i] = delivery;
                        ++acknowledged;
                      });
  }
  EXPECT_TRUE(runner.runUntil([&] { return acknowledged == deliveries.size(); },
                              std::chrono::seconds(60)))
      << acknowledged << " of " << deliveries.size() << " events acknowledged";
  return deliveries;
}

std::string uniquePrefix(const std::string& name) { return uniqueTopic(name) + "."; }

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(values.size())));
  return values[std::min(values.size() - 1, rank == 0 ? 0 : rank - 1)];
}

}  // namespace testsupport::fetcher
