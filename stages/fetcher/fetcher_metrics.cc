#include "stages/fetcher/fetcher_metrics.h"

#include <string>

namespace stages::fetcher {

FetcherMetrics FetcherMetrics::create(pipeline::metrics::Registry& registry,
                                      std::size_t node_count) {
  FetcherMetrics metrics{
      .nodes = {},
      .head_height = registry.gauge("point_tron_fetcher_head_height",
                                    "Highest head height reported by any node."),
      .target_height = registry.gauge("point_tron_fetcher_target_height",
                                      "Highest height the finality mode allows to emit."),
      .last_emitted_height = registry.gauge("point_tron_fetcher_last_emitted_height",
                                            "Highest height on blocks.raw: the last block emitted (after a restart, found on the topic)."),
      .lag_blocks = registry.gauge("point_tron_fetcher_lag_blocks",
                                   "Head height minus the last emitted height."),
      .in_flight_requests = registry.gauge("point_tron_fetcher_in_flight_requests",
                                           "Node requests outstanding."),
      .in_flight_bytes = registry.gauge(
          "point_tron_fetcher_in_flight_bytes",
          "Estimated requested bytes plus buffered and unacknowledged block bytes."),
      .failovers = registry.counter("point_tron_fetcher_failovers_total",
                                    "Requests moved to another node because the previous one was unusable."),
      .forks = registry.counter("point_tron_fetcher_forks_total", "Chain forks repaired."),
      .retractions = registry.counter("point_tron_fetcher_retracted_blocks_total",
                                      "Emitted blocks retracted because a fork orphaned them."),
      .gaps_repaired = registry.counter("point_tron_fetcher_gaps_repaired_total",
                                        "Heights asked again after a partial, empty or failed answer."),
      .link_mismatches = registry.counter(
          "point_tron_fetcher_link_mismatches_total",
          "Blocks whose parentHash did not match the previously emitted blockID."),
      .fetched_bytes = registry.counter("point_tron_fetcher_fetched_bytes_total",
                                        "Response body bytes received from nodes."),
      .fetched_blocks = registry.counter("point_tron_fetcher_fetched_blocks_total",
                                         "Blocks received from nodes (duplicates excluded)."),
      .emitted_blocks = registry.counter("point_tron_fetcher_emitted_blocks_total",
                                         "Blocks handed to the producer for blocks.raw."),
  };
  for (std::size_t i = 0; i < node_count; ++i) {
    const pipeline::metrics::Labels node{{"node", std::to_string(i)}};
    NodeMetrics m;
    m.up = &registry.gauge("point_tron_fetcher_node_up",
                           "1 when the node's circuit breaker lets requests through.", node);
    m.request_duration = &registry.histogram("point_tron_fetcher_node_request_duration_seconds",
                                             "Wall time of requests to the node.",
                                             pipeline::metrics::latencyBuckets(), node);
    m.requests = &registry.counter("point_tron_fetcher_node_requests_total",
                                   "Requests sent to the node.", node);
    for (std::size_t k = 0; k < kFailureKinds; ++k) {
      auto labels = node;
      labels["error_kind"] = std::string(failureKindName(static_cast<FailureKind>(k)));
      m.errors[k] = &registry.counter("point_tron_fetcher_node_errors_total",
                                      "Failed requests to the node, by kind.", labels);
    }
    metrics.nodes.push_back(m);
  }
  return metrics;
}

}  // namespace stages::fetcher
