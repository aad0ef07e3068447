#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "pipeline/status.h"
#include "stages/aggregator/aggregator_config.h"
#include "stages/aggregator/block_input.h"
#include "stages/aggregator/checkpoint.h"
#include "stages/aggregator/fold.h"
#include "stages/aggregator/reorder_buffer.h"

namespace stages::aggregator {

/** What the fold did since the Aggregator was built (a restore starts again from zero). */
struct AggregatorCounters {
  std::uint64_t folded_blocks = 0;       // blocks applied, re-folds after a rollback included
  std::uint64_t rollbacks = 0;           // forks undone
  std::uint64_t rolled_back_blocks = 0;  // folded blocks those rollbacks removed
};

/**
 * The aggregator's pure core, what the wiring drives: `blocks` records in (any partition order),
 * `stats` outputs out, checkpoints for `aggregator.state`.
 *
 * Wiring contract:
 * - parse each record's value with BlockInputParser; a parse error goes to the DLQ (reject);
 * - offer() the parsed record with its partition and offset; send the returned outputs to `stats`
 *   (key = StatOutput::key, value or a tombstone) in order, through the one idempotent producer;
 * - once every output sent so far is acknowledged, checkpoint() may be written to
 *   `aggregator.state`; a consumed record can be finished (offset stored) once a written
 *   checkpoint's resumeOffsets() are past it;
 * - on start, read the latest `aggregator.state` value: restore() it and seek each partition to
 *   its resume offset (buffer().resumeOffsets(); partitions without one: the earliest record);
 * - pause consumption while buffer().full(), except the partition holding gap()->height's key;
 * - report buffer().gap() (height, age), depth() and counters() as metrics;
 * - an error from offer() is fatal (a fork deeper than aggregator.rollback_depth_blocks):
 *   rt.fail() — restarting from the last checkpoint cannot fix it either, so alert.
 *
 * Start height: the configured one, else the checkpoint's, else (`auto`) the first block
 * offered. With `auto` the first run should start with a consumer group that reads each
 * partition from its beginning, and the wiring may call startAt() with the lowest first height of
 * all partitions instead (records below the start are dropped as TooOld).
 *
 * One thread; owns its Fold and ReorderBuffer.
 */
class Aggregator {
 public:
  explicit Aggregator(AggregatorConfig config);

  /**
   * Restores from a checkpoint value. Errors: InvalidPayload for an unreadable value;
   * InvalidConfig when aggregator.utc_offset or aggregator.parity_window_blocks differ from the
   * checkpoint's (the open buckets would mix two definitions: reset `aggregator.state` and replay
   * to change them).
   */
  [[nodiscard]] static pipeline::Result<Aggregator> restore(AggregatorConfig config,
                                                            std::string_view checkpoint);

  /** Fixes the start height before the first block (no effect once started). */
  void startAt(std::uint64_t height);

  /**
   * Takes one record; returns the outputs it caused (possibly none: buffered, duplicate).
   * Errors: Unavailable for a fork deeper than the kept history (fatal).
   */
  [[nodiscard]] pipeline::Result<StatOutputs> offer(BlockRecord record, SourcePosition source,
                                                    TimePoint now);

  /** The checkpoint value of the current state (empty before the start height is known). */
  std::string checkpoint() const;

  const ReorderBuffer& buffer() const { return buffer_; }
  /** The fold, once the start height is known. */
  const Fold* fold() const { return fold_ ? &*fold_ : nullptr; }
  /** Admission of the last offered record (for per-outcome counters). */
  Admission lastAdmission() const { return last_admission_; }
  const AggregatorCounters& counters() const { return counters_; }

 private:
  AggregatorConfig config_;
  std::optional<Fold> fold_;
  ReorderBuffer buffer_;
  Admission last_admission_ = Admission::Buffered;
  AggregatorCounters counters_;
};

}  // namespace stages::aggregator
