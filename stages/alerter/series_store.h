#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/status.h"
#include "stages/alerter/alert.h"

namespace stages::alerter {

/** One entry of a metric.v1 batch. `value` is empty for JSON null (NaN and infinities). */
struct MetricPoint {
  std::string name;
  LabelSet labels;
  std::optional<double> value;
};

/** A decoded metric.v1 message (schemas/metric.v1.schema.json). */
struct MetricBatch {
  std::int64_t ts_ms = 0;
  std::string stage;
  std::string instance;
  std::vector<MetricPoint> metrics;
};

/**
 * Decodes and validates one metric.v1 message. Returns ErrorType::InvalidPayload naming the
 * first offending field, e.g. "metrics[3].labels.reason: expected a string".
 */
pipeline::Result<MetricBatch> parseMetricBatch(std::string_view json);

/** One sample: a batch's time stamp and the series' value in it. */
struct Point {
  std::int64_t ts_ms = 0;
  double value = 0;
};

/** One time series: its labels (the metric's labels plus `stage` and `instance`; no name). */
struct Series {
  LabelSet labels;
  std::deque<Point> points;  // ascending ts_ms, never empty while stored
};

struct SeriesStoreOptions {
  /** Samples older than this (relative to the newest sample, and to `now` in prune()) go. */
  std::int64_t retention_ms = 15 * 60 * 1000;
  /** New series beyond this count are refused (counted in refused_series) until prune() frees
   * room; series already stored keep updating. */
  std::size_t max_series = 10000;
  /** Beyond this, a series drops its oldest sample (counted in evicted_samples): a range longer
   * than max_samples_per_series × publish interval then sees a truncated window. */
  std::size_t max_samples_per_series = 1024;
  /** When set, only these metric names are stored (RuleSet::metricNames()); others are ignored
   * (counted in ignored_points). */
  std::optional<std::set<std::string, std::less<>>> only_names;
};

/** Cumulative counters, for the alerter's metrics. */
struct SeriesStoreStats {
  std::uint64_t batches = 0;           // batches ingested
  std::uint64_t rejected_batches = 0;  // ingest(json) calls that failed validation
  std::uint64_t samples = 0;           // samples appended
  std::uint64_t null_points = 0;       // entries with a null value (skipped)
  std::uint64_t ignored_points = 0;    // entries whose name is not in only_names
  std::uint64_t out_of_order = 0;      // samples not newer than the series' last (redeliveries)
  std::uint64_t refused_series = 0;    // samples refused because max_series was reached
  std::uint64_t evicted_samples = 0;   // oldest samples dropped by max_samples_per_series
  std::uint64_t pruned_series = 0;     // series dropped by prune() or retention
};

/**
 * The recent samples of every metric the pipeline's processes publish (topic `metrics`), which
 * the rule expressions are evaluated against. A series is keyed by metric name and its labels;
 * the batch's `stage` and `instance` are added as labels (a metric label of the same name is kept
 * as `exported_stage` / `exported_instance`, as Prometheus does), and labels with an empty value
 * are dropped (in Prometheus an empty label is no label).
 *
 * Memory is bounded by max_series × max_samples_per_series samples. Samples must arrive in time
 * order per series: a sample not newer than the series' last one (a Kafka redelivery) is ignored.
 *
 * Lifecycle: create, then ingest() as batches arrive and prune(now) periodically (the evaluator
 * ignores samples older than its windows anyway). Not thread-safe: use it on one thread.
 */
class SeriesStore {
 public:
  explicit SeriesStore(std::int64_t retention_ms);
  explicit SeriesStore(SeriesStoreOptions options);

  /**
   * Parses and stores one metric.v1 message. On ErrorType::InvalidPayload nothing is stored and
   * the message names the offending field.
   */
  pipeline::Status ingest(std::string_view json);
  /** Stores an already decoded batch (entries with an invalid name are stored as they are). */
  void ingest(const MetricBatch& batch);

  /** Drops samples at or before now_ms - retention_ms, and series left without samples. */
  void prune(std::int64_t now_ms);

  /** Calls `fn` for every series of metric `name`, in label order. */
  void forEach(std::string_view name, const std::function<void(const Series&)>& fn) const;

  /** The earliest batch time stamp ever ingested: how far back the store's history reaches. */
  std::optional<std::int64_t> firstBatchMs() const noexcept { return first_batch_ms_; }

  std::size_t seriesCount() const noexcept { return series_count_; }
  std::size_t sampleCount() const noexcept;
  const SeriesStoreStats& stats() const noexcept { return stats_; }
  const SeriesStoreOptions& options() const noexcept { return options_; }

 private:
  void append(const std::string& name, LabelSet labels, std::int64_t ts_ms, double value);

  SeriesStoreOptions options_;
  std::map<std::string, std::map<LabelSet, Series>, std::less<>> by_name_;
  std::size_t series_count_ = 0;
  std::optional<std::int64_t> first_batch_ms_;
  SeriesStoreStats stats_;
};

}  // namespace stages::alerter
