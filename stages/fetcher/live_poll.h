#pragma once

#include <cstdint>

#include "stages/fetcher/block.h"

namespace stages::fetcher {

struct LivePollOptions {
  /** TRON's slot length (BLOCK_PRODUCED_INTERVAL). */
  Millis block_interval{3'000};
  /** First guess of how long after its slot a block is visible on the node. */
  Millis initial_margin{300};
  Millis min_margin{50};
  Millis max_margin{2'000};
  /** Never poll the same node faster than this. */
  Millis min_interval{250};
  /** First retry after a poll that found nothing new; grows by empty_backoff per empty poll. */
  Millis empty_step{250};
  double empty_backoff = 1.5;
};

/**
 * When to poll for the next head in live mode. Not a fixed timer: the next poll is aimed at the
 * next 3 s slot after the last block's own timestamp plus a margin for propagation, so a new
 * block is seen about `margin` after it was produced. The margin adapts: a poll that finds the
 * block at once shrinks it by 5 % (try earlier); a block found only after empty polls pulls it
 * towards the delay actually observed. After an empty poll the retry step grows (250 ms, 375 ms,
 * …) but never beyond the next expected slot, so a missed slot (6 s gap) costs few polls.
 *
 * Times are wall-clock milliseconds since the epoch (block timestamps are). Pure value type.
 */
class LivePoll {
 public:
  explicit LivePoll(LivePollOptions options = {});

  /** A poll at `now_ms` found a new head whose header timestamp is `block_timestamp_ms`. */
  void onNewBlock(std::int64_t block_timestamp_ms, std::int64_t now_ms);
  /** A poll at `now_ms` found no new head. */
  void onEmptyPoll(std::int64_t now_ms);

  /** Wall time of the next poll; `now_ms` itself when nothing is known yet. */
  std::int64_t nextPollAt(std::int64_t now_ms) const;

  Millis margin() const noexcept { return Millis(margin_ms_); }
  std::uint32_t emptyPolls() const noexcept { return empties_; }

 private:
  LivePollOptions options_;
  std::int64_t margin_ms_;
  std::int64_t last_block_ts_ = -1;
  std::int64_t last_poll_ = -1;
  std::uint32_t empties_ = 0;
};

}  // namespace stages::fetcher
