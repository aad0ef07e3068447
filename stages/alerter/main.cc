// pointtron-alerter: metric events → rules → alert states on `alerts` and notifications to the
// configured receivers (docs/alerting.md).
#include "pipeline/clock.h"
#include "pipeline/kafka/tail.h"
#include "pipeline/kafka/topics.h"
#include "pipeline/runtime.h"
#include "stages/alerter/alerter.h"
#include "stages/alerter/alerter_config.h"

int main(int argc, char** argv) {
  return pipeline::runStage(
      argc, argv,
      {.name = "alerter",
       .default_http_port = 9104,
       .description = "Evaluates alert rules over metric events and notifies receivers."},
      [](pipeline::Runtime& rt) -> pipeline::Status {
        auto config = stages::alerter::AlerterConfig::parse(rt.config());
        if (!config) return config.status();
        const pipeline::kafka::KafkaConfig kafka = rt.settings().kafka;
        const std::string state_topic = rt.topic(pipeline::kafka::topics::kAlerterState);
        auto read_state = [kafka, state_topic]() -> pipeline::Result<std::optional<std::string>> {
          auto tails = pipeline::kafka::readTail(kafka, state_topic, 1, std::chrono::seconds(30));
          if (!tails) return tails.error();
          for (const auto& partition : *tails) {
            if (!partition.empty() && !partition.back().value().empty()) {
              return std::optional<std::string>(std::string(partition.back().value()));
            }
          }
          return std::optional<std::string>();
        };
        const std::string metrics_topic = rt.topic(pipeline::kafka::topics::kMetrics);
        auto metrics_end = [kafka, metrics_topic] {
          return pipeline::kafka::offsetRanges(kafka, metrics_topic, std::chrono::seconds(30));
        };
        auto alerter = stages::alerter::Alerter::create(rt, std::move(*config), read_state, metrics_end,
                                                         pipeline::wallClockMs);
        if (!alerter) return alerter.status();
        rt.keep(*alerter);
        return (*alerter)->start();
      });
}
