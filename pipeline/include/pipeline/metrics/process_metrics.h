#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <string>

namespace pipeline::metrics {

/**
 * process_* metrics read from /proc/self at collect time (RSS, virtual memory, CPU seconds,
 * start time, open and max file descriptors), as the Prometheus client libraries name them.
 * Stateless apart from the stage label; safe to collect from any thread.
 */
class ProcessMetrics : public prometheus::Collectable {
 public:
  explicit ProcessMetrics(std::string stage) : stage_(std::move(stage)) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::string stage_;
};

}  // namespace pipeline::metrics
