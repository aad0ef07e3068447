#pragma once

#include <array>
#include <string_view>

#include "pipeline/metrics/registry.h"
#include "stages/persister/records.h"

namespace stages::persister {

/** The API routes, a bounded `route` label. */
enum class Route {
  BlocksStats,
  BlocksHistory,
  BlocksPoints,
  BlocksPointsTrend,
  Kline,
  KlineIndicators,
  KlineStats,
  Witnesses,
  SystemStatus,
};
inline constexpr std::size_t kRoutes = 9;
std::string_view routePath(Route route) noexcept;

/**
 * Persister-only metrics (the runtime already has point_tron_stage_* with stage="persister";
 * received events there are records of blocks, stats and metrics). Labels are bounded: `topic`
 * is an input's base name (blocks, stats, metrics), `route` an API path. Resolved once at
 * start-up; the references stay valid as long as the registry.
 */
struct PersisterMetrics {
  /** point_tron_persister_written_records_total{topic}, indexed by Input. */
  std::array<pipeline::metrics::Counter*, 3> written_records{};
  pipeline::metrics::Counter& batches;            // point_tron_persister_batches_total
  pipeline::metrics::Counter& failed_batches;     // point_tron_persister_failed_batches_total
  pipeline::metrics::Histogram& commit_duration;  // point_tron_persister_commit_duration_seconds
  pipeline::metrics::Counter& retractions;        // point_tron_persister_retractions_total
  pipeline::metrics::Counter& tombstones;         // point_tron_persister_tombstones_total
  pipeline::metrics::Counter& pruned_rows;        // point_tron_persister_pruned_rows_total
  pipeline::metrics::Counter& replayed_records;   // point_tron_persister_replayed_records_total
  pipeline::metrics::Gauge& last_commit_time;     // point_tron_persister_last_commit_timestamp_seconds
  pipeline::metrics::Gauge& block_height;         // point_tron_persister_block_height
  pipeline::metrics::Counter& auth_failures;      // point_tron_persister_api_auth_failures_total
  pipeline::metrics::Counter& cached_answers;     // point_tron_persister_api_cached_answers_total
  pipeline::metrics::Gauge& database_healthy;     // point_tron_persister_database_healthy
  pipeline::metrics::Gauge& disk_free_bytes;      // point_tron_persister_disk_free_bytes
  pipeline::metrics::Gauge& disk_free_ratio;      // point_tron_persister_disk_free_ratio
  /** point_tron_persister_api_query_duration_seconds{route}, indexed by Route. */
  std::array<pipeline::metrics::Histogram*, kRoutes> query_duration{};

  pipeline::metrics::Counter& writtenFor(Input input) const {
    return *written_records[static_cast<std::size_t>(input)];
  }
  pipeline::metrics::Histogram& queryDurationOf(Route route) const {
    return *query_duration[static_cast<std::size_t>(route)];
  }

  static PersisterMetrics create(pipeline::metrics::Registry& registry);
};

}  // namespace stages::persister
