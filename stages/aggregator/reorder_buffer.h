#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>

#include "stages/aggregator/block_input.h"
#include "stages/aggregator/fold.h"

namespace stages::aggregator {

/** Monotonic time of the aggregator's pure logic; the wiring passes uv_now()-derived values. */
using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;

/** Where a record came from on the `blocks` topic. */
struct SourcePosition {
  std::int32_t partition = 0;
  std::int64_t offset = 0;
};

/** What add() did with a record. */
enum class Admission {
  Buffered,         // a block kept until its height is next
  Duplicate,        // the same height and block_id is already folded or buffered: dropped
  TooOld,           // a block below the kept history (or the start height): cannot be compared, dropped
  Retract,          // the caller must call Fold::retractFrom(retract_from) before folding on
  RetractedPending, // a retraction removed a buffered block
  StaleRetraction,  // a retraction of a block that is neither folded nor buffered: ignored
};

struct AddResult {
  Admission admission = Admission::Buffered;
  std::uint64_t retract_from = 0;  // Admission::Retract only
};

/** The height folding waits for, and since when (the gap age is now − since). */
struct Gap {
  std::uint64_t height = 0;
  TimePoint since;
  /**
   * True when a block at `height` is buffered but does not extend the folded tip (its parent is
   * not the tip): the fork's retraction has not arrived yet.
   */
  bool parent_mismatch = false;
};

struct ReorderCounters {
  std::uint64_t duplicates = 0;
  std::uint64_t too_old = 0;
  std::uint64_t stale_retractions = 0;
  std::uint64_t forks_without_retraction = 0;
};

/**
 * Turns `blocks` records, arriving from several partitions in any interleaving, into the chain in
 * strict height order for the Fold.
 *
 * The wiring calls add() for every record (with the Fold as the FoldedChain), performs the
 * retraction it may ask for, then folds popReady() blocks until it returns nullopt.
 *
 * Per height, records come in partition order (same key, same partition): old block, its
 * retraction, the replacement. Across heights any order is possible, so:
 * - a block at or above the next height is buffered (a later record of the same height replaces
 *   an earlier one); a repeat of a buffered or folded (height, block_id) is a Duplicate;
 * - a retraction of a folded block asks for a rollback to below its height. The blocks above it
 *   are dropped with it (they descend from an orphan); a retraction of a buffered block removes
 *   it; any other retraction is stale (already handled, e.g. after a lower retraction);
 * - a block at a folded height with a different block_id and no retraction first is a fork as
 *   well: the latest record of a key is the chain's, so the folded block is orphaned. The caller
 *   rolls back to below it and the block is buffered to be folded next;
 * - the next block is released only when its parent_id is the folded tip's block_id, so a
 *   replacement that arrived before the retraction of a lower height waits for it.
 *
 * The depth is bounded only by the wiring: full() says when to pause consumption. The record the
 * fold waits for must still be let in (pause every partition but the one holding the gap's key),
 * or the buffer can never drain.
 *
 * Plain object, one thread.
 */
class ReorderBuffer {
 public:
  explicit ReorderBuffer(std::size_t max_blocks) : max_blocks_(max_blocks) {}

  AddResult add(BlockRecord record, SourcePosition source, const FoldedChain& chain, TimePoint now);

  /** The next block to fold (removed from the buffer), or nullopt while it is missing. */
  std::optional<BlockInput> popReady(const FoldedChain& chain, TimePoint now);

  /** The height folding is waiting for while later blocks are buffered; nullopt when not stuck. */
  const std::optional<Gap>& gap() const { return gap_; }
  std::size_t depth() const { return pending_.size(); }
  /** True at or above aggregator.reorder_buffer_max_blocks: pause consumption. */
  bool full() const { return pending_.size() >= max_blocks_; }
  const ReorderCounters& counters() const { return counters_; }

  /**
   * Per partition seen, the lowest offset whose record is not reflected in the fold yet: the
   * lowest buffered record's, or one past the last record added. A checkpoint stores these next to
   * the fold state; after a restart the wiring seeks there and the replay rebuilds the buffer
   * (records already folded come again as Duplicates).
   */
  std::map<std::int32_t, std::int64_t> resumeOffsets() const;

  /**
   * Starts from a restored checkpoint's resume offsets: what lies below them is reflected in the
   * fold already, so resumeOffsets() keeps them for partitions that deliver nothing new.
   */
  void resumeFrom(std::map<std::int32_t, std::int64_t> offsets) { next_offsets_ = std::move(offsets); }

 private:
  struct Pending {
    BlockInput block;
    SourcePosition source;
  };

  void updateGap(const FoldedChain& chain, TimePoint now);
  static bool extendsTip(const BlockInput& block, const FoldedChain& chain);

  std::size_t max_blocks_;
  std::map<std::uint64_t, Pending> pending_;          // by height
  std::map<std::int32_t, std::int64_t> next_offsets_; // per partition: last added + 1
  std::optional<Gap> gap_;
  ReorderCounters counters_;
};

}  // namespace stages::aggregator
