#pragma once

#include <array>

#include "pipeline/metrics/registry.h"
#include "pipeline/status.h"

namespace pipeline {

/** Where in a stage an error happened: the `phase` label of point_tron_stage_errors_total. */
enum class Phase { Receiving, Processing, Sending };

/**
 * The standard metric set every stage has (docs/specs/stage.md), resolved once at construction.
 * The runtime counts received/sent/in-flight events itself; stages count their own errors and
 * discards through error() and discarded(). Owned by the Runtime; thread-safe (prometheus-cpp).
 */
struct StageMetrics {
  explicit StageMetrics(metrics::Registry& registry);

  metrics::Counter& received;             // events consumed from Kafka
  metrics::Counter& received_bytes;       // their value bytes
  metrics::Counter& sent;                 // events acknowledged by the broker
  metrics::Counter& sent_bytes;           // their value bytes
  metrics::Histogram& processing_duration;  // handler wall time per event
  metrics::Gauge& in_flight;              // consumed, not yet completed
  metrics::Counter& bugs;                 // broken invariants survived (e.g. a handler threw)
  metrics::Gauge& health_status;          // 1 healthy, 0.5 degraded, 0 unhealthy

  metrics::Counter& error(ErrorType type, Phase phase);
  metrics::Counter& discarded(bool intentional);

 private:
  static constexpr std::size_t kErrorTypes = static_cast<std::size_t>(ErrorType::Internal) + 1;
  static constexpr std::size_t kPhases = 3;
  std::array<std::array<metrics::Counter*, kPhases>, kErrorTypes> errors_{};
  std::array<metrics::Counter*, 2> discarded_{};
};

std::string_view phaseName(Phase phase) noexcept;

}  // namespace pipeline
