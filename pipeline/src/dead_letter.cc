#include "pipeline/dead_letter.h"

#include <utility>

namespace pipeline {

Event deadLetter(const kafka::Record& record, std::string reason, std::string dlq_topic) {
  return Event{.topic = std::move(dlq_topic),
               .key = std::string(record.key()),
               .value = std::string(record.value()),
               .headers = {{"error", std::move(reason)},
                           {"source_topic", std::string(record.topic())},
                           {"source_partition", std::to_string(record.partition())},
                           {"source_offset", std::to_string(record.offset())}}};
}

void countRejected(const kafka::Record& record, std::string_view reason, StageMetrics& metrics,
                   const log::Logger& log, std::string_view log_key) {
  metrics.error(ErrorType::InvalidPayload, Phase::Processing).Increment();
  metrics.discarded(/*intentional=*/false).Increment();
  log.warnEvery(log_key, {}, "Record rejected to the DLQ.",
                {{"error", "invalid_payload: " + std::string(reason)},
                 {"topic", record.topic()},
                 {"partition", record.partition()},
                 {"offset", record.offset()}});
}

}  // namespace pipeline
