#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/config/config_source.h"
#include "pipeline/event_sink.h"
#include "pipeline/health/health.h"
#include "pipeline/http/server.h"
#include "pipeline/kafka/consumer.h"
#include "pipeline/kafka/kafka_config.h"
#include "pipeline/kafka/producer.h"
#include "pipeline/kafka/topics.h"
#include "pipeline/log/logging.h"
#include "pipeline/metrics/registry.h"
#include "pipeline/metrics/stage_metrics.h"
#include "pipeline/outcome.h"
#include "pipeline/status.h"

namespace pipeline {

/** Process exit codes of every stage (sysexits.h for configuration). */
inline constexpr int kExitClean = 0;
inline constexpr int kExitFatal = 1;
inline constexpr int kExitUsage = 64;
inline constexpr int kExitConfig = 78;

/** What a stage tells runStage about itself. */
struct StageDefinition {
  std::string name;                   // fetcher, decoder, … : the `service` and `stage` labels
  std::uint16_t default_http_port = 0;  // admin (and API) listener default, see docs/specs/stage.md
  std::string description;            // one line for --help
};

/** The runtime's own configuration keys (docs/specs/configuration.md). */
struct RuntimeConfig {
  kafka::KafkaConfig kafka;
  kafka::TopicSizing topic_sizing;
  /** Create missing catalogue topics at start (kafka.create_topics). */
  bool create_topics = true;
  /** Admin HTTP listener (http.listen_address, http.port). Loopback unless told otherwise. */
  std::string http_listen_address = "127.0.0.1";
  std::uint16_t http_port = 0;
  /** Interval of metric.v1 batches to the metrics topic; 0 disables (metrics.publish_interval_ms). */
  std::int64_t metrics_publish_interval_ms = 5000;
  /** Identifies this process among instances of a stage (instance.id; default host name). */
  std::string instance_id;
  /** Upper bound of the whole drain on SIGTERM (shutdown.drain_timeout_ms). */
  std::int64_t drain_timeout_ms = 15000;

  [[nodiscard]] static Result<RuntimeConfig> parse(const config::ConfigSource& source,
                                                   const StageDefinition& stage);
};

/** What Runtime::consume needs besides the handler. */
struct ConsumeOptions {
  std::vector<std::string> topics;    // full names (Runtime::topic())
  std::string group_id;               // default: "<prefix><stage>"
  std::size_t max_in_flight = 1000;
  std::function<void(std::vector<kafka::TopicPartition>&)> on_assigned;
  std::function<void(const std::vector<kafka::TopicPartition>&)> on_revoked;
};

/**
 * Everything a stage gets from the runtime (docs/specs/stage.md): the loop, configuration, logs,
 * metrics, health, the admin HTTP server (a stage may add routes), the process's one producer
 * (as EventSink), Kafka consumers bound to the loop, and the drain sequence.
 *
 * Lifecycle: built by runStage() before the stage's setup runs, destroyed after the drain.
 * Loop thread only. The stage must not keep references past its setup's captured objects.
 */
class Runtime {
 public:
  using SyncHandler = std::function<Outcome(const kafka::Record&)>;
  /** A drain step: do the work, then call `done` (once, on the loop thread). */
  using DrainHook = std::function<void(std::function<void()> done)>;

  virtual ~Runtime() = default;

  virtual uv_loop_t& loop() = 0;
  virtual const StageDefinition& stage() const = 0;
  virtual const config::ConfigSource& config() const = 0;
  virtual const RuntimeConfig& settings() const = 0;
  virtual const log::Logger& log() const = 0;
  virtual metrics::Registry& metrics() = 0;
  virtual StageMetrics& stageMetrics() = 0;
  virtual health::Registry& health() = 0;
  virtual http::Server& http() = 0;
  /** The process's producer; Kafka errors show in health and metrics, never throw. */
  virtual EventSink& sink() = 0;

  /** Full topic name of a catalogue topic (prefix applied). */
  std::string topic(std::string_view base) const { return settings().kafka.topic(base); }

  /**
   * Starts a group consumer whose records go to `handler` on the loop thread; it is drained and
   * closed by the runtime at shutdown and reported in /health. Errors: InvalidConfig, Kafka.
   */
  [[nodiscard]] virtual Status consume(ConsumeOptions options, kafka::Consumer::Handler handler) = 0;
  /** The synchronous form: the handler's Outcome finishes the record at once. */
  [[nodiscard]] Status consume(ConsumeOptions options, SyncHandler handler);

  /** Adds a drain step, run after consumers closed and before the producer flush. */
  virtual void onDrain(DrainHook hook) = 0;

  /** Keeps a stage object alive until after the drain (destroyed before the runtime's parts). */
  virtual void keep(std::shared_ptr<void> object) = 0;

  /**
   * Starts the drain; the process exits 0. Safe from any callback, a consumer's own included:
   * the consumers close on the next loop turn.
   */
  virtual void stop() = 0;
  /** Logs `status`, starts the drain as stop() does; the process exits 1 (78 for InvalidConfig). */
  virtual void fail(const Status& status) = 0;
};

/** The stage's wiring: called once, after the runtime is up and before the loop runs. */
using StageSetup = std::function<Status(Runtime&)>;

/**
 * The whole life of a stage process: arguments (--config FILE, --print-config, --help,
 * --version) → configuration → logging → loop → topics (waiting up to 2 min for Kafka) → admin
 * HTTP (/health, /health/live, /health/ready, /metrics) → producer → signals → timers → setup →
 * unknown-key check → run → ordered drain
 * on SIGTERM/SIGINT (readiness off, consumers drain and close, drain hooks, producer flush,
 * HTTP stop, handles closed) → exit code: 0 clean, 78 bad configuration, 64 bad usage,
 * 1 fatal. A second signal during the drain exits at once with 1.
 */
int runStage(int argc, char** argv, const StageDefinition& stage, const StageSetup& setup);

}  // namespace pipeline
