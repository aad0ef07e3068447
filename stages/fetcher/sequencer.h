#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <vector>

#include "pipeline/status.h"
#include "stages/fetcher/backoff.h"
#include "stages/fetcher/block.h"

namespace stages::fetcher {

/** Which blocks count as final enough to emit (fetcher.finality). */
enum class FinalityMode {
  Realtime,       // up to the head; forks are repaired with retractions
  Confirmations,  // up to head - confirmations
  Solidified,     // up to the node's solidified head (/walletsolidity/getnowblock)
};
std::string_view finalityModeName(FinalityMode mode) noexcept;

struct SequencerOptions {
  /** Blocks per getblockbylimitnext request, 1..100 (the node refuses more with `{}`). */
  std::uint32_t range_size = 20;
  /** Range requests outstanding at once (a fork walk-back probe comes on top). */
  std::uint32_t max_in_flight_requests = 4;
  /** Soft cap on estimated bytes requested + bytes buffered + bytes emitted but not acknowledged.
   * 32 MiB keeps a catch-up as fast as 64 MiB did (the broker is the bound) with a fetcher peak
   * RSS of ~100 MB instead of ~140 MB (docs/performance.md). */
  std::uint64_t max_in_flight_bytes = 32ull << 20;
  /** Size assumed for a block before any was seen; then an EWMA of the sizes seen. */
  std::uint64_t block_size_estimate_bytes = 300'000;
  FinalityMode finality = FinalityMode::Realtime;
  /** Confirmations mode: emit only heights <= head - confirmations. */
  std::uint32_t confirmations = 0;
  /** Deepest fork that can be repaired; also how many emitted (height, id) pairs are kept. */
  std::uint32_t max_fork_depth = 32;
  /** Delay before a range is asked again after a failure or an empty answer. */
  BackoffPolicy retry_backoff{Millis(200), Millis(10'000), 2.0, 0.2};
};

/**
 * Where the sequencer starts: the first height to emit and what was emitted right below it
 * (ascending, the last one at next_height - 1; empty when nothing was emitted before, in which
 * case the first block's parentHash cannot be checked).
 */
struct StartPoint {
  std::int64_t next_height = 0;
  std::vector<BlockRef> recent;
};

/** One getblockbylimitnext call to make: heights [start, end). */
struct FetchRequest {
  std::uint64_t id = 0;
  std::int64_t start = 0;
  std::int64_t end = 0;
  /** A single-height probe of the fork walk-back (ask a full node, not a range-limited one). */
  bool walk_back = false;
};

/**
 * What to publish on blocks.raw, in this order. A retraction names an emitted height and block
 * that are orphaned; it is followed (after any further retractions) by the new branch.
 */
struct Output {
  enum class Type { Block, Retraction };
  Type type = Type::Block;
  /** Block: the whole block. Retraction: height and block_id of the orphaned block only. */
  ParsedBlock block;
};

/** Counters for metrics; monotonic. */
struct SequencerStats {
  std::uint64_t emitted_blocks = 0;
  std::uint64_t received_blocks = 0;   // blocks taken from answers (duplicates excluded)
  std::uint64_t duplicates_ignored = 0;  // already buffered or emitted
  std::uint64_t out_of_range_ignored = 0;
  std::uint64_t gaps_repaired = 0;     // heights asked again: partial, empty or failed answers
  std::uint64_t link_mismatches = 0;   // parentHash != previous blockID seen at emission
  std::uint64_t forks = 0;             // forks repaired
  std::uint64_t retractions = 0;       // orphaned heights retracted
};

/**
 * The fetcher's ordering core, pure: it says which height ranges to request, takes the answers
 * in any order, and releases blocks strictly in height order, each checked to link (parentHash)
 * to the block emitted before it.
 *
 * Flow: plan(now) → FetchRequests → the wiring asks nodes → onBlocks()/onEmpty()/onFailure()/
 * onCancelled() → takeOutput() → publish → onDelivered(bytes) once the broker acknowledged.
 * Head knowledge comes from onHead()/onSolidifiedHead()/setHeadHeight(); the target (highest
 * height allowed) follows the finality mode.
 *
 * Invariant: every height in [nextHeight(), frontier) is in exactly one place: buffered, inside
 * an outstanding request, or in the re-ask list. So no height is skipped and none is emitted
 * twice (except the new branch after retractions).
 *
 * Forks: when the block at nextHeight() does not link to the last emitted block, the sequencer
 * walks back one height at a time (walk_back requests) until the new chain's block equals what was
 * emitted at that height (the fork point). It then emits one Retraction per orphaned height,
 * HIGHEST FIRST, and the new branch lowest first. Highest-first keeps what was emitted a gap-free
 * prefix at every moment, so after a crash the highest live height read back from blocks.raw is
 * a correct resume point (resume.h). If the walk-back reaches a height whose block equals what
 * was emitted but does not link to the block above it (nodes on different forks answered), the
 * collected branch is dropped and nextHeight() is asked again after a backoff. A fork deeper than
 * max_fork_depth (or below the first known emitted height) makes status() an Internal error: the
 * stage must stop rather than emit an inconsistent chain. The same repair runs in every finality
 * mode: in Confirmations/Solidified mode a fork means finality was misjudged, and stalling
 * forever would be worse.
 *
 * Memory: a request is planned only while estimated requested bytes + buffered bytes +
 * unacknowledged emitted bytes stay within max_in_flight_bytes (a range is shortened to fit).
 * The one exception keeps progress possible: when the cap is exactly reached, the request that
 * contains nextHeight() may still be made for a single block, so the total stays within the cap
 * plus one block (estimated sizes; a block larger than the estimate adds its difference).
 *
 * Lifecycle: constructed from a StartPoint; lives as long as the fetcher. Time is passed in,
 * jitter injected. Loop thread only; no exceptions.
 */
class Sequencer {
 public:
  Sequencer(SequencerOptions options, StartPoint start, Jitter jitter);

  /** The full node's head; lower values than already known are ignored (a node behind). */
  void setHeadHeight(std::int64_t head);
  /**
   * The head block itself (getnowblock). In Realtime mode it is also taken as the answer for
   * its height when that is the next height nobody asked for yet, which saves a request per block
   * in live mode.
   */
  void onHead(const ParsedBlock& block);
  /** The solidified head (/walletsolidity/getnowblock); used as the target in Solidified mode. */
  void onSolidifiedHead(const ParsedBlock& block);
  void setSolidifiedHeadHeight(std::int64_t height);

  /** Requests to make now, within the request and byte caps. */
  std::vector<FetchRequest> plan(TimePoint now);

  /** Blocks answered for request `id`; false if `id` is unknown (late or cancelled). */
  bool onBlocks(std::uint64_t id, std::vector<ParsedBlock> blocks, TimePoint now);
  /** The node answered `{}`: the range is asked again later, split in halves. */
  bool onEmpty(std::uint64_t id, TimePoint now);
  /** The request failed (transport, timeout, error body, malformed): asked again after a backoff. */
  bool onFailure(std::uint64_t id, TimePoint now);
  /** The request was not sent (no node available): asked again at `not_before`, no backoff. */
  bool onCancelled(std::uint64_t id, TimePoint not_before);

  /** Blocks and retractions ready to publish, in order; clears them. */
  std::vector<Output> takeOutput();
  /** The broker acknowledged emitted bytes (Output block raw_json sizes). */
  void onDelivered(std::uint64_t bytes);

  /**
   * Earliest time after `now` at which a delayed re-ask becomes due (TimePoint::max() if none).
   * Work held back by the caps is released by events instead (answers, onDelivered), so the
   * wiring calls plan() after every event and at this time.
   */
  TimePoint nextDueAt(TimePoint now) const;

  std::int64_t nextHeight() const noexcept { return next_; }
  std::optional<BlockRef> tip() const;
  /** Highest height allowed by the finality mode; -1 while unknown. */
  std::int64_t target() const noexcept;
  std::int64_t headHeight() const noexcept { return head_; }
  /** Everything up to the target is emitted and nothing is outstanding: poll for the head. */
  bool caughtUp() const noexcept;
  /** Blocks between the last emitted height and the head (the lag), 0 when unknown. */
  std::int64_t lagBlocks() const noexcept;
  std::size_t requestsInFlight() const noexcept { return pending_.size(); }
  std::uint64_t bytesInFlight() const noexcept;
  std::uint64_t unacknowledgedBytes() const noexcept { return unacked_bytes_; }
  bool forkInProgress() const noexcept { return fork_.has_value(); }
  const SequencerStats& stats() const noexcept { return stats_; }
  /** Ok, or Internal once a fork could not be repaired (the stage must stop). */
  const pipeline::Status& status() const noexcept { return status_; }

 private:
  struct Pending {
    std::int64_t start = 0;
    std::int64_t end = 0;
    std::uint32_t attempt = 0;
    std::uint64_t estimated_bytes = 0;
    bool walk_back = false;
  };
  struct Redo {
    std::int64_t end = 0;
    std::uint32_t attempt = 0;
    TimePoint not_before{};
  };
  struct Fork {
    std::vector<ParsedBlock> branch;  // the new chain, descending heights
    std::uint32_t attempt = 0;
    TimePoint not_before{};
    bool requested = false;
  };

  std::uint64_t estimate(std::int64_t blocks) const;
  std::uint64_t estimatedRequested() const;
  void addRedo(std::int64_t start, std::int64_t end, std::uint32_t attempt, TimePoint not_before);
  bool take(ParsedBlock block);
  void release();
  void emit(ParsedBlock block);
  void startFork(ParsedBlock block);
  void onWalkBack(const Pending& pending, std::vector<ParsedBlock>& blocks, TimePoint now);
  std::optional<Pending> takeRange(std::uint64_t id, TimePoint now, bool& known);
  void abandonFork(TimePoint now);
  const BlockRef* recentAt(std::int64_t height) const;
  TimePoint backoff(std::uint32_t attempt, TimePoint now);

  SequencerOptions options_;
  Jitter jitter_;
  std::int64_t next_;
  std::int64_t frontier_;  // lowest height never requested
  std::int64_t head_ = -1;
  std::int64_t solid_head_ = -1;
  std::deque<BlockRef> recent_;  // emitted, ascending, at most max_fork_depth + 1
  std::map<std::int64_t, ParsedBlock> buffer_;
  std::uint64_t buffered_bytes_ = 0;
  std::uint64_t unacked_bytes_ = 0;
  double block_size_ewma_;
  std::map<std::uint64_t, Pending> pending_;
  std::map<std::int64_t, Redo> redo_;  // by start height
  std::optional<Fork> fork_;
  std::vector<Output> output_;
  std::uint64_t next_id_ = 1;
  SequencerStats stats_;
  pipeline::Status status_;
};

}  // namespace stages::fetcher
