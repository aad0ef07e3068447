// A loop-bound Consumer in its own process, for tests that kill it (kafka_crash_test.cc).
//
//   test_consumer <brokers> <topic> <group> <records_per_second>
//
// Records are finished asynchronously: a 10 ms timer finishes the oldest pending records at
// <records_per_second>, so many records are in flight at any moment and the first run can be
// killed half-way. The original stdout carries only the protocol, one line per event:
//   processed <partition> <offset>        a record finished with done()
//   committed <partition> <next_offset>   the broker confirmed a commit (on_committed)
// Everything else the process writes (logs) goes to stderr. All lines written in one loop turn
// leave in one write(), after that turn, so the lines of one commit callback are never split by
// a SIGKILL. SIGTERM closes the consumer (in-flight records finish first) and exits 0.
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <string>

#include <fmt/format.h>

#include "pipeline/kafka/consumer.h"
#include "pipeline/metrics/registry.h"
#include "pipeline/metrics/stage_metrics.h"
#include "pipeline/uv/handle.h"

namespace {

constexpr std::uint64_t kFinishTickMs = 10;
constexpr double kTicksPerSecond = 100.0;

// Protocol lines, collected during a loop turn and written together from a zero timer.
class Output {
 public:
  Output(uv_loop_t& loop, int fd) : fd_(fd) {
    auto timer = pipeline::uv::Timer::create(loop);
    if (timer) flush_ = std::move(*timer);
  }

  void line(std::string text) {
    buffer_ += text;
    buffer_ += '\n';
    if (!scheduled_ && flush_.valid()) {
      scheduled_ = flush_.start(0, 0, [this] { flush(); }).isOk();
    }
    if (!scheduled_) flush();
  }

  void flush() noexcept {
    scheduled_ = false;
    std::size_t written = 0;
    while (written < buffer_.size()) {
      const ssize_t n = ::write(fd_, buffer_.data() + written, buffer_.size() - written);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // the reader is gone; nothing left to tell
      written += static_cast<std::size_t>(n);
    }
    buffer_.clear();
  }

  void close() noexcept { flush_.close(); }

 private:
  int fd_;
  std::string buffer_;
  bool scheduled_ = false;
  pipeline::uv::Timer flush_;
};

struct Pending {
  std::int32_t partition;
  std::int64_t offset;
  pipeline::kafka::Completion completion;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s <brokers> <topic> <group> <records_per_second>\n", argv[0]);
    return 2;
  }
  const long rate = std::strtol(argv[4], nullptr, 10);
  if (rate <= 0) {
    std::fprintf(stderr, "records_per_second must be > 0\n");
    return 2;
  }
  // The protocol keeps the original stdout; logs (which default to stdout) move to stderr.
  const int protocol_fd = ::dup(STDOUT_FILENO);
  if (protocol_fd < 0 || ::dup2(STDERR_FILENO, STDOUT_FILENO) < 0) {
    std::perror("dup");
    return 1;
  }

  uv_loop_t loop;
  uv_loop_init(&loop);
  int exit_code = 0;
  {
    Output output(loop, protocol_fd);
    pipeline::metrics::Registry registry("test_consumer");
    pipeline::StageMetrics stage_metrics(registry);
    pipeline::kafka::KafkaConfig config;
    config.bootstrap_servers = argv[1];
    config.client_id = "pointtron-test-consumer";
    config.statistics_interval_ms = 0;
    config.rdkafka["session.timeout.ms"] = "6000";
    config.rdkafka["heartbeat.interval.ms"] = "500";

    pipeline::kafka::ConsumerOptions options{.topics = {argv[2]}, .group_id = argv[3]};
    // Never backpressure: the pace comes from the finishing timer alone.
    options.max_in_flight = 1'000'000;
    options.on_committed = [&output](const std::string&, std::int32_t partition,
                                     std::int64_t offset) {
      output.line(fmt::format("committed {} {}", partition, offset));
    };
    auto consumer =
        pipeline::kafka::Consumer::create(loop, config, std::move(options), stage_metrics,
                                          registry);
    if (!consumer) {
      std::fprintf(stderr, "consumer: %s\n", consumer.error().message.c_str());
      return 1;
    }

    std::deque<Pending> pending;
    auto finisher = pipeline::uv::Timer::create(loop);
    auto terminate = pipeline::uv::Signal::create(loop);
    if (!finisher || !terminate) {
      std::fprintf(stderr, "uv handle creation failed\n");
      return 1;
    }
    // Whole records per tick, carrying the remainder so the long-run rate is exact.
    double budget = 0;
    const double per_tick = static_cast<double>(rate) / kTicksPerSecond;
    (void)finisher->start(kFinishTickMs, kFinishTickMs, [&] {
      budget = std::min(budget + per_tick, per_tick + 1);
      while (budget >= 1 && !pending.empty()) {
        budget -= 1;
        Pending record = std::move(pending.front());
        pending.pop_front();
        output.line(fmt::format("processed {} {}", record.partition, record.offset));
        record.completion.done();
      }
    });
    (void)terminate->start(SIGTERM, [&](int) {
      terminate->close();
      (*consumer)->close(std::chrono::seconds(20), [&](pipeline::Status status) {
        if (!status) {
          std::fprintf(stderr, "close: %s\n", status.toString().c_str());
          exit_code = 1;
        }
        finisher->close();
        output.flush();
        output.close();
      });
    });
    if (auto status = (*consumer)->start([&](pipeline::kafka::Record record,
                                             pipeline::kafka::Completion completion) {
          pending.push_back({record.partition(), record.offset(), std::move(completion)});
        });
        !status) {
      std::fprintf(stderr, "start: %s\n", status.toString().c_str());
      return 1;
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    output.flush();
  }
  if (auto status = pipeline::uv::closeLoop(loop); !status) {
    std::fprintf(stderr, "%s\n", status.toString().c_str());
    exit_code = 1;
  }
  ::close(protocol_fd);
  return exit_code;
}
