#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "pipeline/config/config_source.h"
#include "pipeline/status.h"
#include "stages/aggregator/fold.h"

namespace stages::aggregator {

/**
 * The aggregator's configuration: every key under `aggregator.` (stages/aggregator/README.md and
 * docs/specs/configuration.md list them). Field comments name the key.
 */
struct AggregatorConfig {
  /**
   * aggregator.start_height: `auto` (nullopt: the first height the aggregator sees) or a height.
   * Only used without a checkpoint; a checkpoint's start height always wins.
   */
  std::optional<std::uint64_t> start_height;
  /**
   * aggregator.utc_offset (±HH:MM within ±14:00, +00:00), aggregator.parity_window_blocks
   * (1..1000000, 1000), aggregator.rollback_depth_blocks (1..100000, 64; keep it ≥ the fetcher's
   * fetcher.max_fork_depth_blocks).
   */
  FoldOptions fold;
  /** aggregator.reorder_buffer_max_blocks (1..10000000, 10000): pause consumption at this depth. */
  std::size_t reorder_buffer_max_blocks = 10'000;
  /**
   * aggregator.checkpoint_interval_ms (100..3600000, 1000): how often the state is written to
   * `aggregator.state` (once the outputs it covers are acknowledged); a restart replays at most
   * about this much.
   */
  std::int64_t checkpoint_interval_ms = 1000;
  /** aggregator.max_gap_age_ms (1000..86400000, 60000): a missing height older than this makes
   *  the `fold` health check degraded. */
  std::int64_t max_gap_age_ms = 60'000;

  /**
   * Applies defaults and validates; the first invalid key is an InvalidConfig error naming it
   * (e.g. `aggregator.utc_offset: must be within -14:00..+14:00 (got "+15:00")`).
   */
  [[nodiscard]] static pipeline::Result<AggregatorConfig> parse(
      const pipeline::config::ConfigSource& source);
};

}  // namespace stages::aggregator
