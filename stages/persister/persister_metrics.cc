#include "stages/persister/persister_metrics.h"

#include <string>

namespace stages::persister {

std::string_view routePath(Route route) noexcept {
  switch (route) {
    case Route::BlocksStats: return "/api/blocks/stats";
    case Route::BlocksHistory: return "/api/blocks/history";
    case Route::BlocksPoints: return "/api/blocks/points";
    case Route::BlocksPointsTrend: return "/api/blocks/points/trend";
    case Route::Kline: return "/api/blocks/kline";
    case Route::KlineIndicators: return "/api/blocks/kline/indicators";
    case Route::KlineStats: return "/api/blocks/kline/stats";
    case Route::Witnesses: return "/api/witnesses";
    case Route::SystemStatus: return "/api/system/status";
  }
  return "";
}

PersisterMetrics PersisterMetrics::create(pipeline::metrics::Registry& registry) {
  PersisterMetrics metrics{
      .batches = registry.counter("point_tron_persister_batches_total",
                                  "Batches committed to SQLite (rows and offsets in one transaction)."),
      .failed_batches = registry.counter("point_tron_persister_failed_batches_total",
                                         "Batches whose transaction failed; their records are retried."),
      .commit_duration = registry.histogram("point_tron_persister_commit_duration_seconds",
                                            "Time to write and commit one batch.",
                                            pipeline::metrics::latencyBuckets()),
      .retractions = registry.counter("point_tron_persister_retractions_total",
                                      "block.v1 retractions committed."),
      .tombstones = registry.counter("point_tron_persister_tombstones_total",
                                     "stats tombstones committed (rows deleted)."),
      .pruned_rows = registry.counter("point_tron_persister_pruned_rows_total",
                                      "Per-block rows deleted by persister.block_retention_days."),
      .replayed_records = registry.counter(
          "point_tron_persister_replayed_records_total",
          "Records below the partition's committed offset, finished without writing."),
      .last_commit_time = registry.gauge("point_tron_persister_last_commit_timestamp_seconds",
                                         "Wall-clock time of the last committed batch."),
      .block_height = registry.gauge("point_tron_persister_block_height",
                                     "Highest block height in the database after the last commit."),
      .auth_failures = registry.counter("point_tron_persister_api_auth_failures_total",
                                        "API requests refused for a missing or wrong token."),
      .cached_answers = registry.counter(
          "point_tron_persister_api_cached_answers_total",
          "API requests answered from the answer cache (same request, no commit since, < 1 s old)."),
      .database_healthy = registry.gauge(
          "point_tron_persister_database_healthy",
          "1 while the database takes writes, 0.5 while a write waits for a lock, 0 after an I/O error."),
      .disk_free_bytes = registry.gauge("point_tron_persister_disk_free_bytes",
                                        "Bytes available to the persister on the database's file system."),
      .disk_free_ratio = registry.gauge("point_tron_persister_disk_free_ratio",
                                        "Share of the database's file system available to the persister (0-1)."),
  };
  constexpr std::string_view kWrittenHelp = "Records committed to SQLite, by input topic.";
  for (const auto& [input, name] : {std::pair{Input::Blocks, "blocks"},
                                    std::pair{Input::Stats, "stats"},
                                    std::pair{Input::Metrics, "metrics"}}) {
    metrics.written_records[static_cast<std::size_t>(input)] = &registry.counter(
        "point_tron_persister_written_records_total", kWrittenHelp, {{"topic", name}});
  }
  for (std::size_t i = 0; i < kRoutes; ++i) {
    metrics.query_duration[i] = &registry.histogram(
        "point_tron_persister_api_query_duration_seconds",
        "Time to answer one API request, on the loop thread.", pipeline::metrics::latencyBuckets(),
        {{"route", std::string(routePath(static_cast<Route>(i)))}});
  }
  return metrics;
}

}  // namespace stages::persister
