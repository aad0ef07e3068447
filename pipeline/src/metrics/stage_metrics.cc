#include "pipeline/metrics/stage_metrics.h"

#include "pipeline/metrics/names.h"

namespace pipeline {

std::string_view phaseName(Phase phase) noexcept {
  switch (phase) {
    case Phase::Receiving: return "receiving";
    case Phase::Processing: return "processing";
    case Phase::Sending: return "sending";
  }
  return "processing";
}

StageMetrics::StageMetrics(metrics::Registry& registry)
    : received(registry.counter(metrics::names::kStageReceivedEvents,
                                "Events this stage consumed from Kafka.")),
      received_bytes(registry.counter(metrics::names::kStageReceivedBytes,
                                      "Value bytes of the events this stage consumed.")),
      sent(registry.counter(metrics::names::kStageSentEvents,
                            "Events this stage produced that the broker acknowledged.")),
      sent_bytes(registry.counter(metrics::names::kStageSentBytes,
                                  "Value bytes of the events the broker acknowledged.")),
      processing_duration(registry.histogram(metrics::names::kStageProcessingDuration,
                                              "Handler wall time per consumed event.",
                                              metrics::latencyBuckets())),
      in_flight(registry.gauge(metrics::names::kStageInFlightEvents,
                               "Consumed events whose processing has not completed.")),
      bugs(registry.counter(metrics::names::kBugs,
                            "Conditions that should never happen but were survived.")),
      health_status(registry.gauge(metrics::names::kHealthStatus,
                                   "Overall health: 1 healthy, 0.5 degraded, 0 unhealthy.")) {
  // Every error_type x phase series exists from the start, so rate() works from the first scrape.
  for (std::size_t type = 0; type < kErrorTypes; ++type) {
    for (std::size_t phase = 0; phase < kPhases; ++phase) {
      errors_[type][phase] = &registry.counter(
          metrics::names::kStageErrors, "Errors by class and phase.",
          {{"error_type", std::string(errorTypeName(static_cast<ErrorType>(type)))},
           {"phase", std::string(phaseName(static_cast<Phase>(phase)))}});
    }
  }
  for (bool intentional : {false, true}) {
    discarded_[intentional ? 1 : 0] = &registry.counter(
        metrics::names::kStageDiscardedEvents,
        "Events dropped or sent to the DLQ; intentional=false means bad input.",
        {{"intentional", intentional ? "true" : "false"}});
  }
}

metrics::Counter& StageMetrics::error(ErrorType type, Phase phase) {
  return *errors_[static_cast<std::size_t>(type)][static_cast<std::size_t>(phase)];
}

metrics::Counter& StageMetrics::discarded(bool intentional) {
  return *discarded_[intentional ? 1 : 0];
}

}  // namespace pipeline
