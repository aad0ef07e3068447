#include "stages/fetcher/live_poll.h"

#include <algorithm>
#include <cmath>

namespace stages::fetcher {

LivePoll::LivePoll(LivePollOptions options)
    : options_(options), margin_ms_(options.initial_margin.count()) {}

void LivePoll::onNewBlock(std::int64_t block_timestamp_ms, std::int64_t now_ms) {
  const std::int64_t observed = now_ms - block_timestamp_ms;
  if (empties_ == 0) {
    margin_ms_ = margin_ms_ * 95 / 100;  // found at once: aim a little earlier next time
  } else {
    // Found after empty polls: the block became visible somewhere before now; move the margin
    // half-way towards that upper bound.
    margin_ms_ = margin_ms_ + (std::max<std::int64_t>(observed, margin_ms_) - margin_ms_) / 2;
  }
  margin_ms_ = std::clamp(margin_ms_, options_.min_margin.count(), options_.max_margin.count());
  last_block_ts_ = std::max(last_block_ts_, block_timestamp_ms);
  last_poll_ = now_ms;
  empties_ = 0;
}

void LivePoll::onEmptyPoll(std::int64_t now_ms) {
  last_poll_ = now_ms;
  ++empties_;
}

std::int64_t LivePoll::nextPollAt(std::int64_t now_ms) const {
  if (last_block_ts_ < 0 || last_poll_ < 0) return now_ms;
  const std::int64_t interval = options_.block_interval.count();
  const std::int64_t earliest = last_poll_ + options_.min_interval.count();
  // The first expected slot (plus margin) after the last poll.
  std::int64_t slot = last_block_ts_ + interval + margin_ms_;
  if (slot <= last_poll_) {
    const std::int64_t behind = last_poll_ - slot;
    slot += (behind / interval + 1) * interval;
  }
  if (empties_ == 0) return std::max(slot, earliest);
  const double step = static_cast<double>(options_.empty_step.count()) *
                      std::pow(options_.empty_backoff, static_cast<double>(empties_ - 1));
  const std::int64_t retry =
      last_poll_ + static_cast<std::int64_t>(std::min(step, static_cast<double>(interval)));
  return std::max(std::min(retry, slot), earliest);
}

}  // namespace stages::fetcher
