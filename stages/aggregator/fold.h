#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/amount_sum.h"
#include "pipeline/status.h"
#include "stages/aggregator/block_input.h"
#include "stages/aggregator/time_buckets.h"

namespace stages::aggregator {

/** One message for the `stats` topic: the key and its absolute value; nullopt is a tombstone. */
struct StatOutput {
  std::string key;
  std::optional<std::string> value;

  friend bool operator==(const StatOutput&, const StatOutput&) = default;
};
using StatOutputs = std::vector<StatOutput>;

struct FoldOptions {
  /** aggregator.utc_offset: the offset of day, hour and candle buckets. */
  UtcOffset utc_offset;
  /** aggregator.parity_window_blocks: W of `parity:<W>`. */
  std::uint32_t parity_window_blocks = 1000;
  /** aggregator.rollback_depth_blocks: the deepest retraction that can be undone (K). */
  std::uint32_t rollback_depth_blocks = 64;
};

/** Figures of one day or hour (stats.daily.v1 / stats.hourly.v1). */
struct PeriodStats {
  std::int64_t index = 0;  // day or hour number in offset-shifted time
  std::uint64_t blocks = 0;
  std::uint64_t odd = 0;
  std::uint64_t transactions = 0;
  std::uint64_t failed_transactions = 0;
  pipeline::AmountSum trx_transferred_sun;
  std::uint64_t trc20_transfers = 0;
  std::uint64_t usdt_transfers = 0;
  pipeline::AmountSum usdt_volume;
  std::uint64_t missed_slots = 0;
  /**
   * The bucket's first and last block. A bucket that only holds missed slots (a halt longer than
   * the bucket) has no block: both are then the last block before it, whose score is score_close.
   */
  std::uint64_t first_height = 0;
  std::uint64_t last_height = 0;
  std::int64_t score_close = 0;

  friend bool operator==(const PeriodStats&, const PeriodStats&) = default;
};

/** One OHLCV candle of the score (stats.candle.v1). */
struct Candle {
  std::int64_t start = 0;  // ms since the epoch, or a height for the block window
  std::int64_t open = 0;
  std::int64_t high = 0;
  std::int64_t low = 0;
  std::int64_t close = 0;
  std::uint64_t volume = 0;
  std::uint64_t first_height = 0;
  std::uint64_t last_height = 0;

  friend bool operator==(const Candle&, const Candle&) = default;
};

/** Blocks and missed slots of one witness on the open day (stats.witness.v1). */
struct WitnessDay {
  std::string witness_hex;
  std::uint64_t blocks = 0;
  std::uint64_t missed_slots = 0;

  friend bool operator==(const WitnessDay&, const WitnessDay&) = default;
};

/** The witness observed producing the slot right after another one's. */
struct RotationSuccessor {
  std::string witness;
  std::string witness_hex;

  friend bool operator==(const RotationSuccessor&, const RotationSuccessor&) = default;
};

/** The last `window` parities as a ring, with the odd count. */
struct ParityWindow {
  std::vector<std::uint8_t> ring;  // 1 = odd; size = blocks in the window until it is full
  std::size_t next = 0;            // where the next parity goes once the ring is full
  std::uint64_t odd = 0;

  friend bool operator==(const ParityWindow&, const ParityWindow&) = default;
};

/**
 * Everything a fold needs to continue after the last folded block: only the buckets still open
 * (statistics are bucketed by block time, which only moves forward, so an older bucket can never
 * change again). Plain copyable value; it is what snapshots and checkpoints hold.
 */
struct FoldState {
  std::uint64_t next_height = 0;  // the height the next block must have
  bool has_tip = false;           // false until the first block is folded
  std::string tip_block_id;
  /** Bucket time of the tip: its timestamp, clamped to never go below the previous one's. */
  std::int64_t tip_bucket_ms = 0;
  std::string tip_witness;
  std::int64_t score = 0;
  std::optional<PeriodStats> day;
  std::optional<PeriodStats> hour;
  /** Witness figures of `day`, by T-address. */
  std::map<std::string, WitnessDay> day_witnesses;
  std::array<std::optional<Candle>, kCandlePeriods> candles;
  ParityWindow parity;
  /** Learnt schedule: witness → the one seen producing the next slot (by T-address). */
  std::map<std::string, RotationSuccessor> rotation;

  friend bool operator==(const FoldState&, const FoldState&) = default;
};

/** What the reorder buffer needs to know of the folded chain. */
class FoldedChain {
 public:
  virtual ~FoldedChain() = default;
  /** The height the next folded block must have. */
  virtual std::uint64_t nextHeight() const = 0;
  /** The first height the fold counts from (aggregator.start_height). */
  virtual std::uint64_t startHeight() const = 0;
  /**
   * The block_id folded at `height`, or nullptr when `height` is not folded or is older than the
   * retained history (at least 2 × rollback_depth_blocks heights below nextHeight() while no
   * rollback is in progress).
   */
  virtual const std::string* blockIdAt(std::uint64_t height) const = 0;
};

/**
 * The deterministic fold of the chain into statistics (docs/statistics.md). apply() folds the next
 * height and returns the absolute value of every `stats` key the block changed; retractFrom()
 * undoes the last blocks and returns what makes the topic right again.
 *
 * Rollback: the last K = rollback_depth_blocks blocks can always be undone, and after undoing K
 * blocks K more below the new tip. The fold keeps state snapshots taken every K blocks (at most
 * four, the oldest at least 2K blocks back) and the blocks folded since the oldest (2K..3K
 * blocks), each with the keys it touched. Undoing restores the newest snapshot at
 * or below the fork and re-folds the kept blocks up to it without output, then re-emits every key
 * the undone blocks touched: its value in the restored state, or a tombstone when the restored
 * state no longer has it (a points key above the fork, a bucket only the undone blocks opened).
 *
 * Output order within one call is fixed (buckets closed on the way, then points, daily, hourly,
 * witnesses by address, candles 1m…1d then 20b, parity), values are byte-deterministic.
 *
 * Plain object, any single thread; copyable (tests compare copies).
 */
class Fold final : public FoldedChain {
 public:
  /** Folds from `start_height` (the first block counted: score 0 before it). */
  Fold(FoldOptions options, std::uint64_t start_height);

  /**
   * Folds `block`, which must be at nextHeight() (the reorder buffer checked its parent).
   * Errors: InvalidArgument for any other height (nothing changes).
   */
  [[nodiscard]] pipeline::Result<StatOutputs> apply(const BlockInput& block);

  /**
   * Removes every folded block at `height` and above. Nothing to do when `height` ≥ nextHeight().
   * Errors (nothing changes): InvalidArgument below startHeight(); Unavailable when the fork is
   * deeper than the kept history (more than rollback_depth_blocks) — fatal for the stage.
   */
  [[nodiscard]] pipeline::Result<StatOutputs> retractFrom(std::uint64_t height);

  /** The current value of every key the state still holds (used after restore and in tests). */
  StatOutputs currentValues() const;

  std::uint64_t nextHeight() const override { return state_.next_height; }
  std::uint64_t startHeight() const override { return start_height_; }
  const std::string* blockIdAt(std::uint64_t height) const override;

  const FoldState& state() const { return state_; }
  const FoldOptions& options() const { return options_; }

  /** The oldest kept snapshot and the blocks folded since: what a checkpoint stores. */
  const FoldState& baseState() const { return snapshots_.front(); }
  std::vector<BlockInput> blocksSinceBase() const;

  /**
   * Rebuilds a fold from a checkpoint's base state and the blocks folded after it (re-folded
   * here). Errors: InvalidArgument when the blocks do not continue the base state.
   */
  [[nodiscard]] static pipeline::Result<Fold> restore(FoldOptions options, std::uint64_t start_height,
                                                      FoldState base,
                                                      const std::vector<BlockInput>& blocks);

 private:
  struct Folded {
    BlockInput block;
    std::vector<std::string> keys;  // every key its apply() emitted
  };
  class Step;

  void takeSnapshotIfDue();
  std::map<std::string, std::optional<std::string>> renderedState() const;

  FoldOptions options_;
  std::uint64_t start_height_ = 0;
  FoldState state_;
  std::deque<FoldState> snapshots_;  // ascending next_height; front() ≤ next_height − 2K
  std::deque<Folded> history_;       // blocks from snapshots_.front().next_height on
};

}  // namespace stages::aggregator
