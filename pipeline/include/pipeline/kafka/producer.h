#pragma once

#include <uv.h>

#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>

#include "pipeline/event_sink.h"
#include "pipeline/health/health.h"
#include "pipeline/kafka/kafka_config.h"
#include "pipeline/kafka/loop_queue.h"
#include "pipeline/kafka/statistics.h"
#include "pipeline/metrics/stage_metrics.h"
#include "pipeline/uv/handle.h"

struct rd_kafka_s;
struct rd_kafka_message_s;

namespace pipeline::kafka {

/**
 * The process's one idempotent Kafka producer, served on the libuv loop. Implements EventSink:
 * every send() ends in exactly one delivery callback on the loop thread (acknowledged, or the
 * error). A full local queue never fails a send: the event waits in a backlog until librdkafka
 * has room. Broker state feeds a health check (Unhealthy while no broker is reachable).
 *
 * Lifecycle: create() -> send()... -> flush(deadline) -> destruction (outstanding events are
 * purged; their callbacks run with an error before the destructor returns). Owned by the Runtime.
 * Loop thread only.
 */
class Producer : public EventSink {
 public:
  [[nodiscard]] static Result<std::unique_ptr<Producer>> create(uv_loop_t& loop,
                                                                const KafkaConfig& config,
                                                                StageMetrics& stage_metrics,
                                                                metrics::Registry& registry);
  ~Producer() override;
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  void send(Event event, DeliveryCallback on_delivery) override;

  /** Whether an event counts as the stage's output (point_tron_stage_sent_*) or the runtime's. */
  enum class Accounting { StageOutput, Telemetry };
  void send(Accounting accounting, Event event, DeliveryCallback on_delivery);

  /**
   * Names the topics this producer will write to. librdkafka 2.0 learns a topic's partitions
   * at its next periodic scan after the topic is first named, so the first event to an
   * undeclared topic can wait about a second; declared topics are looked up at once.
   */
  void declareTopics(const std::vector<std::string>& topics);

  /** Events handed to send() whose callback has not run yet (backlog included). */
  std::size_t outstanding() const noexcept { return outstanding_; }

  /**
   * Serves delivery reports until nothing is outstanding or `deadline` passes, then calls `done`
   * once: ok, or Timeout naming how many events are still unacknowledged.
   */
  void flush(std::chrono::milliseconds deadline, std::function<void(Status)> done);

  /** Unhealthy while every broker is down (since the last successful contact). */
  health::CheckResult healthCheck() const;

  /** Called once if librdkafka raises a fatal error (the producer cannot continue). */
  void onFatal(std::function<void(Status)> handler) { on_fatal_ = std::move(handler); }

  rd_kafka_s* handle() noexcept { return rk_.get(); }

 private:
  struct Pending;
  struct KafkaDeleter {
    void operator()(rd_kafka_s* rk) const noexcept;
  };

  Producer(uv_loop_t& loop, StageMetrics& stage_metrics, metrics::Registry& registry);
  bool produce(std::unique_ptr<Pending>& pending);  // false: local queue full, keep it
  void complete(std::unique_ptr<Pending> pending, const Status& status, const Delivery& delivery);
  void drainBacklog() noexcept;
  void checkFlush() noexcept;
  static void onDelivery(rd_kafka_s* rk, const rd_kafka_message_s* message, void* opaque);
  static void onError(rd_kafka_s* rk, int error, const char* reason, void* opaque);
  static int onStatistics(rd_kafka_s* rk, char* json, size_t length, void* opaque);

  uv_loop_t& loop_;
  StageMetrics& stage_metrics_;
  ClientMetrics client_metrics_;
  metrics::Counter& delivery_errors_;
  std::unique_ptr<rd_kafka_s, KafkaDeleter> rk_;
  std::unique_ptr<LoopQueue> queue_;
  std::deque<std::unique_ptr<Pending>> backlog_;
  std::deque<std::pair<std::unique_ptr<Pending>, Status>> failed_;  // reported on the next turn
  uv::Idle deferred_;
  std::size_t outstanding_ = 0;
  bool brokers_down_ = false;
  std::string last_broker_error_;
  std::function<void(Status)> on_fatal_;
  std::function<void(Status)> flush_done_;
  uv::Timer flush_deadline_;
};

}  // namespace pipeline::kafka
