#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "pipeline/event_sink.h"
#include "pipeline/health/health.h"
#include "pipeline/kafka/consumer.h"
#include "pipeline/kafka/record.h"
#include "pipeline/kafka/tail.h"
#include "pipeline/log/logging.h"
#include "pipeline/metrics/stage_metrics.h"
#include "pipeline/outcome.h"
#include "stages/persister/persister_metrics.h"
#include "stages/persister/records.h"
#include "stages/persister/store.h"

namespace stages::persister {

/** Full names of the topics the persister reads and the DLQ it writes. */
struct PersisterTopics {
  std::string blocks;
  std::string stats;
  std::string metrics;
  std::string dlq;
};

/**
 * Turns consumed records into SQLite transactions with exactly-once effect.
 *
 * Records are parsed as they arrive and collected into one batch; flush() writes the batch's
 * changes together with the next offset of every partition it covers in one transaction
 * (Store::write). Only after that commit are the records finished (Done, or Reject for records
 * that went to the DLQ), so Kafka never moves past anything SQLite does not hold; if the write
 * fails every record of the batch is finished with Retry and comes again.
 *
 * The offsets in SQLite are the authority: assign() points every assigned partition at its
 * stored offset (or the beginning when it has none), and a record below a partition's committed
 * offset (a re-delivery of something already written) is finished at once without writing.
 *
 * A value that can never be stored goes to the DLQ at once; it stays part of the batch (its
 * offset is covered by the batch's commit) and the batch is written only after every such DLQ
 * send of it was acknowledged, so a crash cannot lose a dead letter. A failed DLQ send fails the
 * whole batch (Retry).
 *
 * The owner decides when to flush (size and delay bounds: see Persister). Loop thread only; the
 * store, sink, metrics and logger outlive it.
 */
class BatchWriter {
 public:
  using Finish = std::function<void(pipeline::Outcome)>;
  /** Called once per failure the process cannot recover from (a corrupt database). */
  using FatalHandler = std::function<void(const pipeline::Status&)>;

  BatchWriter(Store& store, PersisterTopics topics, pipeline::EventSink& sink,
              PersisterMetrics& metrics, pipeline::StageMetrics& stage_metrics,
              const pipeline::log::Logger& log, FatalHandler on_fatal);

  /** The offset ranges of a topic's partitions (pipeline::kafka::offsetRanges). */
  using OffsetRanges = std::function<pipeline::Result<std::vector<pipeline::kafka::OffsetRange>>(
      const std::string& topic)>;
  /** With this, assign() checks stored offsets against the topics: an offset past a partition's
   * end belongs to a topic that was deleted and created again (or a broker whose data was
   * wiped), and that partition is read from the beginning instead of skipping its first records
   * as replays. Without it (tests), stored offsets are trusted. */
  void checkOffsetsWith(OffsetRanges ranges) { offset_ranges_ = std::move(ranges); }

  /** Sets each partition's start offset from SQLite (kafka::Consumer's on_assigned). */
  void assign(std::vector<pipeline::kafka::TopicPartition>& partitions);

  /** Parses `record` into the batch; `finish` runs once the batch committed or failed. */
  void add(const pipeline::kafka::Record& record, Finish finish);

  /** Writes the batch now, or as soon as its dead letters are acknowledged. No-op when empty. */
  void flush();

  /** Records in the current batch. */
  std::size_t size() const noexcept { return entries_.size(); }
  bool empty() const noexcept { return entries_.empty(); }

  /** `sqlite`: unhealthy while the last write failed with an I/O error (disk full, read-only),
   * degraded while it failed for a lock; healthy after any commit. */
  pipeline::health::CheckResult health() const;

 private:
  struct Entry {
    Finish finish;
    pipeline::Outcome on_commit = pipeline::Outcome::Done;
  };
  using PartitionKey = std::pair<std::string, std::int32_t>;

  std::optional<Input> inputOf(std::string_view topic) const;
  void sendToDlq(const pipeline::kafka::Record& record, const std::string& reason);
  void write();
  // Finishes every record of the batch with Retry and starts a new batch.
  void failBatch();
  // Empties the batch (a new generation) and hands its records to the caller to finish.
  std::vector<Entry> takeBatch();

  Store& store_;
  PersisterTopics topics_;
  pipeline::EventSink& sink_;
  PersisterMetrics& metrics_;
  pipeline::StageMetrics& stage_metrics_;
  const pipeline::log::Logger& log_;
  FatalHandler on_fatal_;
  RecordParser parser_;

  // The batch being collected.
  WriteBatch batch_;
  std::vector<Entry> entries_;
  std::map<PartitionKey, std::int64_t> batch_offsets_;  // next offset per partition
  std::array<std::uint64_t, 3> batch_inputs_{};         // records per Input
  std::uint64_t batch_retractions_ = 0;
  std::uint64_t batch_tombstones_ = 0;
  std::size_t dead_letters_pending_ = 0;
  bool dead_letter_failed_ = false;
  bool flush_wanted_ = false;
  // DLQ callbacks may run after the batch they belong to failed, or after this writer is gone
  // (the producer reports unacknowledged events at shutdown): they check both.
  std::uint64_t batch_generation_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);

  std::map<PartitionKey, std::int64_t> committed_;  // next offset per partition, as in SQLite
  OffsetRanges offset_ranges_;
  pipeline::health::CheckResult health_{pipeline::health::State::Healthy, "No write failed."};
  bool fatal_ = false;
};

}  // namespace stages::persister
