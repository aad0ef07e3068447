#include "stages/decoder/decode_stage.h"

#include <charconv>
#include <chrono>

#include "pipeline/dead_letter.h"

namespace stages::decoder {

Provenance provenanceOf(const pipeline::kafka::Record& record, std::int64_t decoded_at_ms) {
  Provenance provenance;
  provenance.decoded_at_ms = decoded_at_ms;
  if (const auto fetched = record.header(kFetchedAtHeader)) {
    std::int64_t ms = 0;
    const auto* end = fetched->data() + fetched->size();
    const auto [ptr, ec] = std::from_chars(fetched->data(), end, ms);
    if (ec == std::errc() && ptr == end && !fetched->empty()) provenance.fetched_at_ms = ms;
  }
  if (const auto source = record.header(kSourceHeader)) provenance.source = std::string(*source);
  return provenance;
}

DecodeStage::DecodeStage(DecoderOptions options, pipeline::EventSink& sink, OutputTopics topics,
                         DecoderMetrics& metrics, pipeline::StageMetrics& stage_metrics,
                         const pipeline::log::Logger& log, WallClock wall_clock)
    : decoder_(options),
      sink_(sink),
      topics_(std::move(topics)),
      metrics_(metrics),
      stage_metrics_(stage_metrics),
      log_(log),
      wall_clock_(std::move(wall_clock)) {}

void DecodeStage::handle(const pipeline::kafka::Record& record, Finish finish) {
  const auto started = std::chrono::steady_clock::now();
  const DecodeResult result = decoder_.decode(record.value());
  metrics_.decode_duration.Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  if (!result) {
    sendToDlq(record, result.error(), std::move(finish));
    return;
  }
  sendBlock(record, result, std::move(finish));
}

void DecodeStage::sendBlock(const pipeline::kafka::Record& record, const DecodeResult& result,
                            Finish finish) {
  if (result.isBlock()) {
    const auto& block = result.block();
    metrics_.decoded_blocks.Increment();
    metrics_.decoded_bytes.Increment(static_cast<double>(block.size_bytes));
    for (const auto& entry : block.tx_by_type) {
      metrics_.transactionsOf(entry.type).Increment(static_cast<double>(entry.count));
    }
  } else {
    metrics_.retractions.Increment();
  }
  // The fetcher keys blocks.raw by the decimal height; an unkeyed record gets that key here so
  // block.v1 lands where readers of `blocks` look for the height.
  std::string key(record.key());
  if (key.empty()) {
    key = std::to_string(result.isBlock() ? result.block().height : result.retraction().height);
  }
  sink_.send({.topic = topics_.blocks,
              .key = std::move(key),
              .value = blockV1Json(result, provenanceOf(record, wall_clock_()))},
             [finish = std::move(finish)](const pipeline::Status& status, const pipeline::Delivery&) {
               // A failed delivery is counted by the runtime; the record comes again after a backoff.
               finish(status ? pipeline::Outcome::Done : pipeline::Outcome::Retry);
             });
}

void DecodeStage::sendToDlq(const pipeline::kafka::Record& record, const DecodeError& error,
                            Finish finish) {
  metrics_.rejectedFor(error.reason).Increment();
  std::string reason = error.describe();
  pipeline::countRejected(record, reason, stage_metrics_, log_, rejectReasonName(error.reason));
  sink_.send(pipeline::deadLetter(record, std::move(reason), topics_.dlq),
             [finish = std::move(finish)](const pipeline::Status& status, const pipeline::Delivery&) {
               finish(status ? pipeline::Outcome::Reject : pipeline::Outcome::Retry);
             });
}

}  // namespace stages::decoder
