#pragma once

#include <string>
#include <string_view>

#include "pipeline/event_sink.h"
#include "pipeline/kafka/record.h"
#include "pipeline/log/logging.h"
#include "pipeline/metrics/stage_metrics.h"

namespace pipeline {

/**
 * The DLQ event of a record that can never be processed (docs/specs/stage.md §2.5–2.6): its key
 * and value unchanged, with the headers `error` (`reason`, one line), `source_topic`,
 * `source_partition` and `source_offset`. The stage sends it to `dlq_topic` and finishes the
 * record in the send's callback: reject() once acknowledged, retry() if the send failed.
 */
Event deadLetter(const kafka::Record& record, std::string reason, std::string dlq_topic);

/**
 * Accounts for a rejected record the same way in every stage: an InvalidPayload error in the
 * processing phase, an unintentional discard, and a warning (at most one per 10 s per
 * `log_key`) naming the reason and where the record came from.
 */
void countRejected(const kafka::Record& record, std::string_view reason, StageMetrics& metrics,
                   const log::Logger& log, std::string_view log_key);

}  // namespace pipeline
