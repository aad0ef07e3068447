#pragma once

#include <string>
#include <vector>

#include "pipeline/config/config_source.h"
#include "pipeline/status.h"
#include "stages/fetcher/live_poll.h"
#include "stages/fetcher/node_pool.h"
#include "stages/fetcher/resume.h"
#include "stages/fetcher/sequencer.h"

namespace stages::fetcher {

/** TronGrid's base URL of a network (tron-api.md §1): mainnet, shasta, nile. */
std::string tronGridUrl(std::string_view network);

/**
 * The fetcher's configuration: every key under `fetcher.` (stages/fetcher/README.md lists them
 * with defaults). Field comments name the key.
 */
struct FetcherConfig {
  /** fetcher.network: mainnet | shasta | nile; picks the TronGrid URL when no node is given. */
  std::string network = "mainnet";
  /**
   * fetcher.node_urls (list), fetcher.node_api_keys (list, secret; `-` = no key; one entry
   * applies to every node), fetcher.node_rate_limits_rps (list; one entry applies to every node;
   * 0 = unlimited). Default: the network's TronGrid URL, no key, 10 requests/s.
   */
  std::vector<NodeSpec> nodes;
  /**
   * fetcher.range_size_blocks (1..100, 20), fetcher.max_in_flight_requests (1..64, 4),
   * fetcher.max_in_flight_bytes (1 MiB..4 GiB, 32 MiB), fetcher.block_size_estimate_bytes
   * (1000..64 MiB, 300000), fetcher.finality (realtime | confirmations | solidified; realtime),
   * fetcher.confirmations_blocks (confirmations mode only, 1..10000, 19),
   * fetcher.max_fork_depth_blocks (1..10000, 32), fetcher.retry_initial_backoff_ms (1..600000,
   * 200), fetcher.retry_max_backoff_ms (>= initial, 10000), fetcher.retry_backoff_multiplier
   * (1..10, 2), fetcher.retry_jitter_ratio (0..1, 0.2).
   */
  SequencerOptions sequencer;
  /**
   * fetcher.breaker_open_after_failures (1..1000, 3), fetcher.breaker_open_initial_ms (1..3600000,
   * 1000), fetcher.breaker_open_max_ms (>= initial, 60000), fetcher.suspension_default_ms
   * (1..3600000, 30000); jitter shared with retries.
   */
  NodePoolOptions pool;
  /** fetcher.live_poll_margin_ms (0..3000, 300), fetcher.live_poll_min_interval_ms (50..3000, 250). */
  LivePollOptions live;
  /** fetcher.start: head | resume | <height> (head); only used when blocks.raw is empty. */
  StartSetting start;
  /** fetcher.request_timeout_ms (100..600000, 10000): whole-request deadline. */
  Millis request_timeout{10'000};

  /**
   * Applies defaults and validates; the first invalid key is an InvalidConfig error naming it
   * (e.g. "fetcher.range_size_blocks: must be an integer in [1, 100] (got "150" from …)").
   * Secret values never appear in messages.
   */
  [[nodiscard]] static pipeline::Result<FetcherConfig> parse(
      const pipeline::config::ConfigSource& source);
};

}  // namespace stages::fetcher
