#pragma once

#include <array>
#include <cstddef>
#include <vector>

#include "pipeline/metrics/registry.h"
#include "stages/fetcher/node_pool.h"

namespace stages::fetcher {

/** Metrics of one configured node; the `node` label is its index in fetcher.node_urls ("0", "1"…). */
struct NodeMetrics {
  pipeline::metrics::Gauge* up = nullptr;                   // point_tron_fetcher_node_up
  pipeline::metrics::Histogram* request_duration = nullptr;  // point_tron_fetcher_node_request_duration_seconds
  pipeline::metrics::Counter* requests = nullptr;            // point_tron_fetcher_node_requests_total
  /** point_tron_fetcher_node_errors_total{error_kind}, indexed by FailureKind. */
  std::array<pipeline::metrics::Counter*, kFailureKinds> errors{};

  pipeline::metrics::Counter& error(FailureKind kind) const {
    return *errors[static_cast<std::size_t>(kind)];
  }
};

/**
 * Fetcher-only metrics (the runtime already has the point_tron_stage_* set with stage="fetcher";
 * sent events there are the acknowledged blocks.raw records). Names and labels follow
 * docs/specs/instrumentation.md: no URL, height or hash as a label. Resolved once at start-up;
 * the references stay valid as long as the registry.
 */
struct FetcherMetrics {
  std::vector<NodeMetrics> nodes;
  pipeline::metrics::Gauge& head_height;          // point_tron_fetcher_head_height
  pipeline::metrics::Gauge& target_height;        // point_tron_fetcher_target_height
  pipeline::metrics::Gauge& last_emitted_height;  // point_tron_fetcher_last_emitted_height
  pipeline::metrics::Gauge& lag_blocks;           // point_tron_fetcher_lag_blocks
  pipeline::metrics::Gauge& in_flight_requests;   // point_tron_fetcher_in_flight_requests
  pipeline::metrics::Gauge& in_flight_bytes;      // point_tron_fetcher_in_flight_bytes
  pipeline::metrics::Counter& failovers;          // point_tron_fetcher_failovers_total
  pipeline::metrics::Counter& forks;              // point_tron_fetcher_forks_total
  pipeline::metrics::Counter& retractions;        // point_tron_fetcher_retracted_blocks_total
  pipeline::metrics::Counter& gaps_repaired;      // point_tron_fetcher_gaps_repaired_total
  pipeline::metrics::Counter& link_mismatches;    // point_tron_fetcher_link_mismatches_total
  pipeline::metrics::Counter& fetched_bytes;      // point_tron_fetcher_fetched_bytes_total
  pipeline::metrics::Counter& fetched_blocks;     // point_tron_fetcher_fetched_blocks_total
  pipeline::metrics::Counter& emitted_blocks;     // point_tron_fetcher_emitted_blocks_total

  static FetcherMetrics create(pipeline::metrics::Registry& registry, std::size_t node_count);
};

}  // namespace stages::fetcher
