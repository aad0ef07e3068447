#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "pipeline/event_sink.h"
#include "pipeline/kafka/record.h"
#include "pipeline/log/logging.h"
#include "pipeline/metrics/stage_metrics.h"
#include "pipeline/outcome.h"
#include "stages/decoder/block_decoder.h"
#include "stages/decoder/decoder_metrics.h"

namespace stages::decoder {

/** Record headers the fetcher writes on blocks.raw and block.v1 carries on. */
inline constexpr std::string_view kFetchedAtHeader = "fetched_at_ms";
inline constexpr std::string_view kSourceHeader = "source";

/** Full names of the topics the decoder writes. */
struct OutputTopics {
  std::string blocks;
  std::string dlq;
};

/**
 * blocks.raw record → block.v1 on `blocks` (same key), or the original record to the DLQ.
 *
 * Each record is finished exactly once, in the delivery callback of its one output
 * (docs/specs/stage.md §2.4–2.6): a decoded block or retraction → Done once `blocks`
 * acknowledged it, Retry if the send failed; a block that can never decode → the original key,
 * value and headers `error`, `source_topic`, `source_partition`, `source_offset` to `dlq`, then
 * Reject (Retry if that send failed). Records of one partition keep their order because every
 * output of a key goes to the same partition through the idempotent producer, and the consumer
 * stores offsets only over contiguous finished records.
 *
 * Loop thread only (the EventSink calls back there). Owns its BlockDecoder; the sink, metrics and
 * logger are the runtime's and outlive it.
 */
class DecodeStage {
 public:
  /** Milliseconds since the Unix epoch: decoded_at_ms. */
  using WallClock = std::function<std::int64_t()>;
  /** Finishes the record (the runtime's Completion, or a test's recorder). */
  using Finish = std::function<void(pipeline::Outcome)>;

  DecodeStage(DecoderOptions options, pipeline::EventSink& sink, OutputTopics topics,
              DecoderMetrics& metrics, pipeline::StageMetrics& stage_metrics,
              const pipeline::log::Logger& log, WallClock wall_clock);

  /** Decodes `record` and sends its one output; `finish` runs later, from the send's callback. */
  void handle(const pipeline::kafka::Record& record, Finish finish);

 private:
  void sendBlock(const pipeline::kafka::Record& record, const DecodeResult& result, Finish finish);
  void sendToDlq(const pipeline::kafka::Record& record, const DecodeError& error, Finish finish);

  BlockDecoder decoder_;
  pipeline::EventSink& sink_;
  OutputTopics topics_;
  DecoderMetrics& metrics_;
  pipeline::StageMetrics& stage_metrics_;
  const pipeline::log::Logger& log_;
  WallClock wall_clock_;
};

/** The record's provenance headers: fetched_at_ms (null when absent or not an integer), source. */
Provenance provenanceOf(const pipeline::kafka::Record& record, std::int64_t decoded_at_ms);

}  // namespace stages::decoder
