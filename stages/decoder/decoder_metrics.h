#pragma once

#include <array>
#include <string_view>
#include <unordered_map>

#include "pipeline/metrics/registry.h"
#include "stages/decoder/block_decoder.h"

namespace stages::decoder {

/**
 * Decoder-only metrics (the runtime already has the point_tron_stage_* set with stage="decoder";
 * sent events there are acknowledged `blocks` and `dlq` records). Labels are bounded: `reason` is
 * a RejectReason name, `type` a contract type of java-tron's ContractType enum or "Other".
 * Resolved once at start-up; the references stay valid as long as the registry.
 */
struct DecoderMetrics {
  pipeline::metrics::Counter& decoded_blocks;      // point_tron_decoder_decoded_blocks_total
  pipeline::metrics::Counter& retractions;         // point_tron_decoder_retractions_total
  pipeline::metrics::Counter& decoded_bytes;       // point_tron_decoder_decoded_bytes_total
  pipeline::metrics::Histogram& decode_duration;   // point_tron_decoder_decode_duration_seconds
  /** point_tron_decoder_rejected_blocks_total{reason}, indexed by RejectReason. */
  std::array<pipeline::metrics::Counter*, kRejectReasons> rejected{};
  /** point_tron_decoder_transactions_total{type}: one series per known type, and "Other". */
  std::unordered_map<std::string_view, pipeline::metrics::Counter*> transactions_by_type;
  pipeline::metrics::Counter* other_transactions = nullptr;

  pipeline::metrics::Counter& rejectedFor(RejectReason reason) const {
    return *rejected[static_cast<std::size_t>(reason)];
  }
  /** The counter of a contract type name; unknown names share the "Other" series. */
  pipeline::metrics::Counter& transactionsOf(std::string_view type) const;

  static DecoderMetrics create(pipeline::metrics::Registry& registry);
};

}  // namespace stages::decoder
