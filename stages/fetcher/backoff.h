#pragma once

#include <cstdint>

#include "stages/fetcher/block.h"

namespace stages::fetcher {

/**
 * Capped exponential backoff with jitter: the delay before retry number `attempt` (0-based) is
 * min(max, initial * multiplier^attempt), multiplied by a factor drawn uniformly from
 * [1 - jitter_ratio, 1]. The cap is therefore never exceeded and, with jitter_ratio < 1, the delay
 * never drops to zero, so instances that failed together spread out without hammering the node.
 * A plain value type; pure.
 */
struct BackoffPolicy {
  Millis initial{200};
  Millis max{30'000};
  double multiplier = 2.0;
  double jitter_ratio = 0.2;  // 0 disables jitter

  /** `uniform` is a draw from [0, 1) (Jitter). */
  Millis delay(std::uint32_t attempt, double uniform) const noexcept;
};

}  // namespace stages::fetcher
