#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace pipeline::metrics {

using Counter = prometheus::Counter;
using Gauge = prometheus::Gauge;
using Histogram = prometheus::Histogram;
using Labels = std::map<std::string, std::string>;
using Buckets = prometheus::Histogram::BucketBoundaries;

/** Latency buckets from 100 µs to 30 s, for every `_seconds` histogram of the project. */
const Buckets& latencyBuckets();

/**
 * The metrics of one process: a prometheus-cpp registry plus collectables computed at scrape time
 * (process metrics, Kafka client statistics). Every family created here carries the constant label
 * `stage`, so one dashboard can show all stages.
 *
 * Lifecycle: created first by the runtime, outlives every object holding a metric reference.
 * Thread-safety: prometheus-cpp metrics are thread-safe; creating families happens at setup on
 * the loop thread. Names come from the catalogue in names.h and are resolved once, at
 * construction of the owning struct, never looked up on the hot path.
 */
class Registry {
 public:
  explicit Registry(std::string stage);

  const std::string& stage() const noexcept { return stage_; }

  Counter& counter(std::string_view name, std::string_view help, const Labels& labels = {});
  Gauge& gauge(std::string_view name, std::string_view help, const Labels& labels = {});
  Histogram& histogram(std::string_view name, std::string_view help, const Buckets& buckets,
                       const Labels& labels = {});

  /** Adds a source of metric families computed at collect time; kept while the pointer lives. */
  void addCollectable(const std::shared_ptr<prometheus::Collectable>& collectable);

  /** Every family, from the registry and every live collectable. */
  std::vector<prometheus::MetricFamily> collect() const;

  /** Prometheus text exposition format 0.0.4 of collect(). */
  std::string serialize() const;

  /**
   * Value of one counter or gauge sample (a histogram's sample count), or -1 if absent. For
   * tests and metric events; it collects everything, so never call it on a hot path.
   */
  double value(std::string_view name, const Labels& labels = {}) const;

 private:
  template <typename Builder>
  auto& family(Builder&& builder, std::string_view name, std::string_view help);

  std::string stage_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::vector<std::weak_ptr<prometheus::Collectable>> collectables_;
};

/** Content type of serialize()'s output, as Prometheus expects it. */
inline constexpr std::string_view kTextContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace pipeline::metrics
