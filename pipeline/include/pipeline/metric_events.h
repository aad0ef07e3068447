#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <prometheus/metric_family.h>

namespace pipeline {

/**
 * Serialises metric families as one `metric.v1` batch for the `metrics` topic, so the alerter
 * evaluates the same figures Prometheus scrapes, without Prometheus:
 *
 *   {"schema":"metric.v1","ts":<ms>,"stage":"decoder","instance":"host-1",
 *    "metrics":[{"name":"point_tron_stage_received_events_total","labels":{"topic":"x"},"value":3},…]}
 *
 * Counters and gauges give one entry per series; a histogram gives `<name>_count` and
 * `<name>_sum` (buckets stay in Prometheus). The constant `stage` label is not repeated.
 */
std::string metricEventBatch(const std::vector<prometheus::MetricFamily>& families,
                             std::string_view stage, std::string_view instance,
                             std::chrono::system_clock::time_point now);

}  // namespace pipeline
