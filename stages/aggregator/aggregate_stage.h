#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/event_sink.h"
#include "pipeline/health/health.h"
#include "pipeline/kafka/record.h"
#include "pipeline/log/logging.h"
#include "pipeline/metrics/stage_metrics.h"
#include "pipeline/outcome.h"
#include "pipeline/status.h"
#include "stages/aggregator/aggregator.h"
#include "stages/aggregator/aggregator_config.h"
#include "stages/aggregator/aggregator_metrics.h"

namespace stages::aggregator {

/** The key of every checkpoint on `aggregator.state` (compaction keeps the latest). */
inline constexpr std::string_view kCheckpointKey = "aggregator";
/** Records read from the start of each `blocks` partition to find the auto start height. */
inline constexpr std::size_t kHeadRecords = 16;

/** Full names of the topics the aggregator uses. */
struct StageTopics {
  std::string blocks;
  std::string stats;
  std::string dlq;
  std::string state;
};

/** Records at one end of every partition of a topic, indexed by partition. */
using PartitionRecords = std::vector<std::vector<pipeline::kafka::Record>>;

/**
 * The blocking Kafka reads the stage makes when it takes `blocks` over: the runtime's
 * partitionCount, readHead and readTail, or fakes in tests. They run on the loop thread inside
 * the consumer's assignment callback, so they block the loop while they last (once per
 * assignment).
 */
struct KafkaReads {
  std::function<pipeline::Result<std::int32_t>(const std::string& topic)> partition_count;
  std::function<pipeline::Result<PartitionRecords>(const std::string& topic, std::size_t per_partition)>
      head;
  std::function<pipeline::Result<PartitionRecords>(const std::string& topic, std::size_t per_partition)>
      tail;
};

/** What the stage needs from its process besides Kafka reads; all outlive the stage. */
struct StagePorts {
  pipeline::EventSink& sink;
  AggregatorMetrics& metrics;
  pipeline::StageMetrics& stage_metrics;
  const pipeline::log::Logger& log;
  /** Monotonic time (the fold's gap ages, checkpoint ages, durations). */
  std::function<TimePoint()> now;
  /** Stops the process (rt.fail): exit 78 for InvalidConfig, else 1. */
  std::function<void(const pipeline::Status&)> fail;
};

/** Where the consumer starts reading an assigned partition; nullopt offset = its first record. */
struct PartitionStart {
  std::int32_t partition = 0;
  std::optional<std::int64_t> offset;
};

/**
 * The aggregator stage: `blocks` records in, through the pure Aggregator, absolute values out on
 * `stats`, checkpoints on `aggregator.state`, malformed records on `dlq`
 * (stages/aggregator/README.md describes the delivery design).
 *
 * - **One owner.** The fold needs every height, so it runs only while this process is assigned
 *   every partition of `blocks`. At the first such assignment the stage restores the latest
 *   checkpoint (or starts fresh: aggregator.start_height, else the lowest first height of the
 *   partitions); every such assignment starts each partition at the fold's resume offset. While
 *   it owns only some partitions (another member joined the group) records are deferred with
 *   retry() — the partition pauses and the record comes again — and health is unhealthy.
 * - **The checkpoint is the only truth.** Committed offsets of the group are never used to
 *   resume (assignment always sets the start offset), so a record is finished as soon as what it
 *   caused is acknowledged: done() after its `stats` outputs are acknowledged (at once when it
 *   caused none), reject() after its DLQ copy is.
 * - **Checkpoints** are taken every aggregator.checkpoint_interval_ms and on drain, and written
 *   only once every `stats` output sent before them is acknowledged, so a checkpoint never covers
 *   a lost output. A failed `stats` delivery cannot be retried per record (the fold has moved on,
 *   a resend could overwrite a newer value), nor can a fork deeper than the kept history be
 *   undone: both stop the process and no checkpoint is written after them; the restart resumes
 *   from the last checkpoint.
 * - **Backpressure:** while the reorder buffer is full, records that cannot release the fold
 *   (blocks above the missing height) are deferred with retry(), pausing their partition; the
 *   missing height and retractions are still let in.
 *
 * Loop thread only; created with std::make_shared (callbacks hold it weakly, so a delivery report
 * arriving after the stage is gone is ignored).
 */
class AggregateStage : public std::enable_shared_from_this<AggregateStage> {
 public:
  using Finish = std::function<void(pipeline::Outcome)>;

  AggregateStage(AggregatorConfig config, StageTopics topics, KafkaReads reads, StagePorts ports);

  /**
   * The consumer was assigned `partitions` of `blocks` (on_assigned). Returns where each one
   * starts when the stage now owns every partition (the fold's resume offsets), else nothing
   * (the consumer's default applies; the records are deferred anyway). A failed read or restore
   * stops the process through `fail`.
   */
  std::vector<PartitionStart> assigned(const std::vector<std::int32_t>& partitions);
  /** `partitions` were taken away (on_revoked): folding pauses until every one is back. */
  void revoked(const std::vector<std::int32_t>& partitions);

  /** One `blocks` record; `finish` runs exactly once, possibly later (see the class comment). */
  void handle(const pipeline::kafka::Record& record, Finish finish);

  /** Housekeeping, every tickInterval(): gauges, and a checkpoint when one is due. */
  void tick();
  std::chrono::milliseconds tickInterval() const;

  /** The drain hook: writes a final checkpoint once the outputs it covers are acknowledged. */
  void drain(std::function<void()> done);

  /** The `fold` health check (see stages/aggregator/README.md). */
  pipeline::health::CheckResult health() const;

 private:
  struct PendingCheckpoint {
    std::string value;
    std::uint64_t covers_before = 0;  // outputs numbered below this must be acknowledged first
  };

  bool folding() const;
  pipeline::Status startFold();
  std::optional<std::uint64_t> lowestFirstHeight(const PartitionRecords& heads);
  bool releasesTheFold(const BlockRecord& record) const;
  void countAdmission();
  void publish(StatOutputs outputs, Finish finish);
  void sendToDlq(const pipeline::kafka::Record& record, const std::string& reason, Finish finish);
  void takeCheckpoint();
  void writeCheckpointIfCovered();
  void checkDrained();
  void breakFold(const pipeline::Status& status);
  void updateGauges();

  AggregatorConfig config_;
  StageTopics topics_;
  KafkaReads reads_;
  StagePorts ports_;
  BlockInputParser parser_;
  std::optional<Aggregator> aggregator_;
  AggregatorCounters reported_;  // the aggregator's counters already added to the metrics

  std::set<std::int32_t> owned_;
  std::int32_t partition_count_ = 0;  // of `blocks`, learnt at each assignment

  std::uint64_t next_output_ = 0;             // number of the next `stats` output
  std::set<std::uint64_t> unacknowledged_;    // outputs sent and not yet acknowledged
  std::optional<PendingCheckpoint> pending_checkpoint_;
  bool checkpoint_in_flight_ = false;
  bool changed_since_checkpoint_ = false;
  TimePoint last_checkpoint_taken_{};
  // The oldest fold change no checkpoint holds yet, and the oldest one the checkpoint being
  // written holds: what point_tron_aggregator_checkpoint_age_seconds measures.
  std::optional<TimePoint> oldest_unsaved_change_;
  std::optional<TimePoint> oldest_change_being_saved_;
  bool broken_ = false;  // an output was lost or the fold failed: never checkpoint again
  std::function<void()> drain_done_;
};

}  // namespace stages::aggregator
