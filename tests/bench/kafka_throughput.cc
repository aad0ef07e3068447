// Throughput of the loop-bound Producer and Consumer against a real broker, for
// ops/bench/kafka_throughput.sh (which also runs kcat on the same payloads; see
// docs/performance.md). A plain driver rather than Google Benchmark: one run moves hundreds of
// megabytes through a broker, so repetitions and statistics are the script's business.
//
//   kafka_throughput payload --size S --count N          N payload lines for kcat -P, on stdout
//   kafka_throughput create-topic --topic T [--partitions P]
//   kafka_throughput delete-topic --topic T
//   kafka_throughput produce --topic T --size S --count N
//   kafka_throughput consume --topic T --count N
// Common: --brokers host:port (default 127.0.0.1:9092); --rdkafka key=value (repeatable) passes a
// librdkafka property through kafka.rdkafka, to try a setting without rebuilding.
//
// produce/consume print one line on stdout:
//   RESULT op=produce size=2048 count=200000 bytes=409600000 seconds=1.234 msgs_per_s=... MB_per_s=...
// where seconds is measured in-process: first send -> last acknowledgement, or first record ->
// last record (the group join before it goes to stderr). MB are 10^6 bytes of payload.
#include <librdkafka/rdkafka.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "pipeline/kafka/admin.h"
#include "pipeline/kafka/consumer.h"
#include "pipeline/kafka/producer.h"
#include "pipeline/metrics/registry.h"
#include "pipeline/metrics/stage_metrics.h"
#include "pipeline/uv/handle.h"

namespace {

using Clock = std::chrono::steady_clock;
using pipeline::Status;

constexpr std::size_t kDistinctPayloads = 64;
// Events handed to send() per loop turn while producing, so delivery reports are served between
// chunks as they would be in a stage.
constexpr std::size_t kSendChunk = 1000;
// Unacknowledged events the driver allows: librdkafka's default queue limits
// (queue.buffering.max.messages, queue.buffering.max.kbytes), where kcat -P blocks too. Sending
// everything at once would park the rest in the Producer's backlog and measure the allocator.
constexpr std::size_t kWindowMessages = 100000;
constexpr std::size_t kWindowBytes = std::size_t{1} << 30;

struct Options {
  std::string command;
  std::string brokers = "127.0.0.1:9092";
  std::string topic;
  std::size_t size = 2048;
  std::size_t count = 1000;
  int partitions = 1;
  std::map<std::string, std::string> rdkafka;  // --rdkafka key=value, for experiments
};

[[noreturn]] void usage(const char* message) {
  std::fprintf(stderr, "kafka_throughput: %s (see the comment at the top of kafka_throughput.cc)\n",
               message);
  std::exit(2);
}

Options parse(int argc, char** argv) {
  if (argc < 2) usage("missing command");
  Options options;
  options.command = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--brokers") {
      options.brokers = value;
    } else if (flag == "--topic") {
      options.topic = value;
    } else if (flag == "--size") {
      options.size = std::stoul(value);
    } else if (flag == "--count") {
      options.count = std::stoul(value);
    } else if (flag == "--partitions") {
      options.partitions = std::stoi(value);
    } else if (flag == "--rdkafka" && value.find('=') != std::string::npos) {
      options.rdkafka[value.substr(0, value.find('='))] = value.substr(value.find('=') + 1);
    } else {
      usage(("unknown flag " + flag).c_str());
    }
  }
  if ((argc - 2) % 2 != 0) usage("flags take one value each");
  return options;
}

// kDistinctPayloads printable payloads of `size` bytes without newlines (windows of one random
// block at different starts); message i carries payload i % kDistinctPayloads, in our producer and
// in the kcat input file alike.
std::vector<std::string> payloads(std::size_t size) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string block(size + kDistinctPayloads, ' ');
  std::uint64_t state = 0x9E3779B97F4A7C15ull;
  for (auto& c : block) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    c = kAlphabet[state % 64];
  }
  std::vector<std::string> out;
  for (std::size_t i = 0; i < kDistinctPayloads; ++i) out.push_back(block.substr(i, size));
  return out;
}

pipeline::kafka::KafkaConfig kafkaConfig(const Options& options) {
  pipeline::kafka::KafkaConfig config;
  config.bootstrap_servers = options.brokers;
  config.client_id = "pointtron-bench";
  config.rdkafka = options.rdkafka;
  return config;
}

void printResult(const char* op, const Options& options, std::size_t bytes, double seconds) {
  std::printf(
      "RESULT op=%s size=%zu count=%zu bytes=%zu seconds=%.3f msgs_per_s=%.0f MB_per_s=%.1f\n", op,
      options.size, options.count, bytes, seconds, static_cast<double>(options.count) / seconds,
      static_cast<double>(bytes) / seconds / 1e6);
  std::fflush(stdout);
}

int writePayloads(const Options& options) {
  const auto all = payloads(options.size);
  for (std::size_t i = 0; i < options.count; ++i) {
    const auto& payload = all[i % all.size()];
    if (std::fwrite(payload.data(), 1, payload.size(), stdout) != payload.size() ||
        std::fputc('\n', stdout) == EOF) {
      std::perror("write");
      return 1;
    }
  }
  return std::fflush(stdout) == 0 ? 0 : 1;
}

int createTopic(const Options& options) {
  auto status = pipeline::kafka::ensureTopics(
      kafkaConfig(options), {{.name = options.topic, .partitions = options.partitions}},
      std::chrono::seconds(30));
  if (!status) std::fprintf(stderr, "%s\n", status.toString().c_str());
  return status ? 0 : 1;
}

// The admin layer only creates topics; deleting is a benchmark chore, done with librdkafka here.
int deleteTopic(const Options& options) {
  char error[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "bootstrap.servers", options.brokers.c_str(), error,
                        sizeof(error)) != RD_KAFKA_CONF_OK) {
    std::fprintf(stderr, "%s\n", error);
    rd_kafka_conf_destroy(conf);
    return 1;
  }
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof(error));
  if (rk == nullptr) {
    std::fprintf(stderr, "%s\n", error);
    rd_kafka_conf_destroy(conf);
    return 1;
  }
  rd_kafka_DeleteTopic_t* topic = rd_kafka_DeleteTopic_new(options.topic.c_str());
  rd_kafka_queue_t* queue = rd_kafka_queue_new(rk);
  rd_kafka_DeleteTopics(rk, &topic, 1, nullptr, queue);
  rd_kafka_event_t* event = rd_kafka_queue_poll(queue, 30000);
  int rc = 1;
  if (event == nullptr) {
    std::fprintf(stderr, "delete %s: no answer\n", options.topic.c_str());
  } else {
    const auto* result = rd_kafka_event_DeleteTopics_result(event);
    std::size_t n = 0;
    const rd_kafka_topic_result_t** topics =
        result != nullptr ? rd_kafka_DeleteTopics_result_topics(result, &n) : nullptr;
    if (rd_kafka_event_error(event) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      std::fprintf(stderr, "delete %s: %s\n", options.topic.c_str(),
                   rd_kafka_event_error_string(event));
    } else if (n == 1 && rd_kafka_topic_result_error(topics[0]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      std::fprintf(stderr, "delete %s: %s\n", options.topic.c_str(),
                   rd_kafka_err2str(rd_kafka_topic_result_error(topics[0])));
    } else {
      rc = 0;
    }
    rd_kafka_event_destroy(event);
  }
  rd_kafka_queue_destroy(queue);
  rd_kafka_DeleteTopic_destroy(topic);
  rd_kafka_destroy(rk);
  return rc;
}

// Runs `body` on a fresh loop with the metrics a stage would have, then closes the loop.
template <typename Body>
int onLoop(Body body) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  int rc = 0;
  {
    pipeline::metrics::Registry registry("bench");
    pipeline::StageMetrics stage_metrics(registry);
    rc = body(loop, registry, stage_metrics);
  }
  if (auto status = pipeline::uv::closeLoop(loop); !status) {
    std::fprintf(stderr, "%s\n", status.toString().c_str());
    rc = 1;
  }
  return rc;
}

int produce(const Options& options) {
  return onLoop([&](uv_loop_t& loop, pipeline::metrics::Registry& registry,
                    pipeline::StageMetrics& stage_metrics) {
    auto producer =
        pipeline::kafka::Producer::create(loop, kafkaConfig(options), stage_metrics, registry);
    if (!producer) {
      std::fprintf(stderr, "%s\n", producer.error().message.c_str());
      return 1;
    }
    // As kcat creates its topic handle before producing (see Producer::declareTopics).
    (*producer)->declareTopics({options.topic});
    auto sender = pipeline::uv::Idle::create(loop);
    if (!sender) return 1;
    const auto all = payloads(options.size);
    std::size_t sent = 0;
    std::size_t acknowledged = 0;
    std::size_t failed = 0;
    std::string first_error;
    Clock::time_point finished;
    std::function<void()> on_delivery_refill;
    auto on_delivery = [&](const Status& status, const pipeline::Delivery&) {
      if (!status) {
        if (failed++ == 0) first_error = status.toString();
      }
      on_delivery_refill();
      if (++acknowledged == options.count) {
        finished = Clock::now();
        uv_stop(&loop);  // the producer's wake-up poll would keep the loop running
      }
    };
    const std::size_t window =
        std::max<std::size_t>(1, std::min(kWindowMessages, kWindowBytes / options.size));
    auto pump = [&] {
      for (std::size_t n = 0;
           n < kSendChunk && sent < options.count && (*producer)->outstanding() < window;
           ++n, ++sent) {
        (*producer)->send({.topic = options.topic, .value = all[sent % all.size()]}, on_delivery);
      }
      if (sent == options.count || (*producer)->outstanding() >= window) sender->stop();
    };
    // Refill from delivery reports once half the window drained.
    on_delivery_refill = [&] {
      if (sent < options.count && !sender->active() && (*producer)->outstanding() <= window / 2) {
        (void)sender->start(pump);
      }
    };
    const auto started = Clock::now();
    (void)sender->start(pump);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (failed > 0 || acknowledged != options.count) {
      std::fprintf(stderr, "%zu of %zu deliveries failed: %s\n", failed, options.count,
                   first_error.c_str());
      return 1;
    }
    printResult("produce", options, options.size * options.count,
                std::chrono::duration<double>(finished - started).count());
    return 0;
  });
}

int consume(const Options& options) {
  return onLoop([&](uv_loop_t& loop, pipeline::metrics::Registry& registry,
                    pipeline::StageMetrics& stage_metrics) {
    pipeline::kafka::ConsumerOptions consumer_options{
        .topics = {options.topic},
        .group_id = fmt::format("pointtron-bench-{}-{}", ::getpid(),
                                Clock::now().time_since_epoch().count())};
    auto consumer = pipeline::kafka::Consumer::create(loop, kafkaConfig(options),
                                                      std::move(consumer_options), stage_metrics,
                                                      registry);
    if (!consumer) {
      std::fprintf(stderr, "%s\n", consumer.error().message.c_str());
      return 1;
    }
    std::size_t received = 0;
    std::size_t bytes = 0;
    Clock::time_point first;
    Clock::time_point last;
    bool closed = false;
    const auto started = Clock::now();
    auto status = (*consumer)->start([&](pipeline::kafka::Record record,
                                         pipeline::kafka::Completion completion) {
      if (received == 0) first = Clock::now();
      bytes += record.value().size();
      completion.done();
      if (++received == options.count) {
        last = Clock::now();
        (*consumer)->close(std::chrono::seconds(10), [&](Status) {
          closed = true;
          uv_stop(&loop);
        });
      }
    });
    if (!status) {
      std::fprintf(stderr, "%s\n", status.toString().c_str());
      return 1;
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    if (!closed) {
      std::fprintf(stderr, "consumer stopped after %zu of %zu records\n", received, options.count);
      return 1;
    }
    printResult("consume", options, bytes, std::chrono::duration<double>(last - first).count());
    std::fprintf(stderr, "consume: %.3f s from start() to the first record (group join, fetch)\n",
                 std::chrono::duration<double>(first - started).count());
    return 0;
  });
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse(argc, argv);
  if (options.command == "payload") return writePayloads(options);
  if (options.topic.empty()) usage("--topic is required");
  if (options.command == "create-topic") return createTopic(options);
  if (options.command == "delete-topic") return deleteTopic(options);
  if (options.command == "produce") return produce(options);
  if (options.command == "consume") return consume(options);
  usage("unknown command");
}
