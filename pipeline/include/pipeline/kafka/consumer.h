#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/health/health.h"
#include "pipeline/kafka/kafka_config.h"
#include "pipeline/kafka/loop_queue.h"
#include "pipeline/kafka/record.h"
#include "pipeline/kafka/statistics.h"
#include "pipeline/metrics/stage_metrics.h"
#include "pipeline/outcome.h"
#include "pipeline/uv/handle.h"

struct rd_kafka_s;
struct rd_kafka_topic_partition_list_s;

namespace pipeline::kafka {

class Consumer;
struct PartitionState;

/**
 * The handler's promise to finish one record: call exactly one of done(), reject() or retry(),
 * at any later time, on the loop thread. Dropping it unfinished counts as retry() (the record is
 * re-delivered, never lost). Finishing after the partition was revoked or the consumer closed is
 * a harmless no-op: the new owner re-processes the record.
 */
class Completion {
 public:
  Completion() = default;
  Completion(Completion&& other) noexcept = default;
  Completion& operator=(Completion&& other) noexcept;
  Completion(const Completion&) = delete;
  Completion& operator=(const Completion&) = delete;
  ~Completion();

  /** A copyable owner, for callbacks that must be std::function (e.g. delivery callbacks). */
  static std::shared_ptr<Completion> share(Completion completion) {
    return std::make_shared<Completion>(std::move(completion));
  }

  void done() { finish(Outcome::Done); }
  void reject() { finish(Outcome::Reject); }
  void retry() { finish(Outcome::Retry); }
  void finish(Outcome outcome);

 private:
  friend class Consumer;
  Completion(std::weak_ptr<PartitionState> partition, std::int64_t offset,
             std::chrono::steady_clock::time_point started)
      : partition_(std::move(partition)), offset_(offset), started_(started) {}
  std::weak_ptr<PartitionState> partition_;
  std::int64_t offset_ = -1;
  std::chrono::steady_clock::time_point started_;
};

/**
 * A partition with a start offset; kOffsetStored means "from the group's committed offset",
 * kOffsetBeginning "from the oldest record still in the partition".
 */
struct TopicPartition {
  static constexpr std::int64_t kOffsetStored = -1000;    // RD_KAFKA_OFFSET_STORED
  static constexpr std::int64_t kOffsetBeginning = -2;    // RD_KAFKA_OFFSET_BEGINNING
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t offset = kOffsetStored;
};

struct ConsumerOptions {
  std::vector<std::string> topics;
  std::string group_id;
  /** Records consumed and not yet finished; above it every partition pauses (backpressure). */
  std::size_t max_in_flight = 1000;
  std::chrono::milliseconds retry_initial_backoff{100};
  std::chrono::milliseconds retry_max_backoff{30000};
  /** Where a group without a committed offset starts: "earliest" so no block is skipped. */
  std::string auto_offset_reset = "earliest";
  /** Called on assignment before fetching starts; may set each partition's start offset. */
  std::function<void(std::vector<TopicPartition>&)> on_assigned;
  /** Called when partitions are taken away (rebalance or close). */
  std::function<void(const std::vector<TopicPartition>&)> on_revoked;
  /** The `client` label of this consumer's Kafka metrics; distinct per consumer of a process. */
  std::string metrics_client = "consumer";
  /** Called when the broker confirmed a commit: (topic, partition, next offset). */
  std::function<void(const std::string&, std::int32_t, std::int64_t)> on_committed;
};

/**
 * A group consumer whose records are delivered on the libuv loop thread, with at-least-once
 * delivery: a record's offset is stored (and later committed) only when it and every earlier
 * record of its partition were finished with done() or reject(). retry() pauses the partition,
 * waits a capped exponential backoff, seeks back to the record and resumes, so records of a
 * partition are never processed out of order past a failure. Backpressure: more than
 * max_in_flight unfinished records pause all partitions until half of them finished.
 *
 * Lifecycle: create() -> start(handler) -> close(deadline, on_closed) -> destruction. close()
 * stops delivering, waits for in-flight records until the deadline, commits stored offsets and
 * leaves the group (rd_kafka_consumer_close_queue served on the loop). Owned by the Runtime or a
 * test; every method on the loop thread.
 */
class Consumer {
 public:
  using Handler = std::function<void(Record record, Completion completion)>;

  [[nodiscard]] static Result<std::unique_ptr<Consumer>> create(uv_loop_t& loop,
                                                                const KafkaConfig& config,
                                                                ConsumerOptions options,
                                                                StageMetrics& stage_metrics,
                                                                metrics::Registry& registry);
  ~Consumer();
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  /** Subscribes and starts delivering records to `handler` (which must not throw). */
  [[nodiscard]] Status start(Handler handler);

  /** See the class comment; `on_closed` runs exactly once, on the loop thread. */
  void close(std::chrono::milliseconds deadline, std::function<void(Status)> on_closed);

  std::size_t inFlight() const noexcept { return in_flight_; }
  std::size_t assignedPartitions() const noexcept { return partitions_.size(); }

  /** Unhealthy after a fatal error or while no broker is reachable. */
  health::CheckResult healthCheck() const;

  /** Called once if librdkafka raises a fatal error. */
  void onFatal(std::function<void(Status)> handler) { on_fatal_ = std::move(handler); }

 private:
  friend class Completion;
  struct KafkaDeleter {
    void operator()(rd_kafka_s* rk) const noexcept;
  };
  using PartitionKey = std::pair<std::string, std::int32_t>;

  Consumer(uv_loop_t& loop, ConsumerOptions options, StageMetrics& stage_metrics,
           metrics::Registry& registry);
  bool serveOne() noexcept;
  void deliver(rd_kafka_message_s* message) noexcept;
  void finish(PartitionState& partition, std::int64_t offset, Outcome outcome,
              std::chrono::steady_clock::time_point started) noexcept;
  void scheduleRetry(PartitionState& partition, std::int64_t offset) noexcept;
  void rewind(PartitionState& partition) noexcept;
  void updatePause(PartitionState& partition) noexcept;
  void updateBackpressure() noexcept;
  void assign(rd_kafka_topic_partition_list_s* partitions) noexcept;
  void revoke(rd_kafka_topic_partition_list_s* partitions) noexcept;
  void checkClosing() noexcept;
  static void onRebalance(rd_kafka_s* rk, int error, rd_kafka_topic_partition_list_s* partitions,
                          void* opaque);
  static void onCommit(rd_kafka_s* rk, int error, rd_kafka_topic_partition_list_s* offsets,
                       void* opaque);
  void failFatally() noexcept;
  static void onError(rd_kafka_s* rk, int error, const char* reason, void* opaque);
  static int onStatistics(rd_kafka_s* rk, char* json, size_t length, void* opaque);

  uv_loop_t& loop_;
  ConsumerOptions options_;
  StageMetrics& stage_metrics_;
  ClientMetrics client_metrics_;
  metrics::Counter& rebalances_;
  metrics::Gauge& assigned_gauge_;
  std::unique_ptr<rd_kafka_s, KafkaDeleter> rk_;
  std::unique_ptr<LoopQueue> queue_;
  Handler handler_;
  std::map<PartitionKey, std::shared_ptr<PartitionState>> partitions_;
  std::size_t in_flight_ = 0;
  bool backpressure_ = false;
  bool brokers_down_ = false;
  std::string last_error_;
  std::optional<Status> fatal_;
  std::function<void(Status)> on_fatal_;

  enum class CloseState { Open, Draining, Leaving, Closed };
  CloseState close_state_ = CloseState::Open;
  std::function<void(Status)> on_closed_;
  Status close_status_;
  bool abandon_in_flight_ = false;  // the close deadline passed with records unfinished
  uv::Timer close_deadline_;
  uv::Idle close_notify_;
};

}  // namespace pipeline::kafka
