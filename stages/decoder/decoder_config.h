#pragma once

#include "pipeline/config/config_source.h"
#include "pipeline/status.h"
#include "stages/decoder/block_decoder.h"

namespace stages::decoder {

/**
 * The decoder's configuration: every key under `decoder.` (stages/decoder/README.md lists them
 * with defaults). Field comments name the key.
 */
struct DecoderConfig {
  /**
   * decoder.network (mainnet | shasta | nile; mainnet): whose USDT contract counts as usdt_*.
   * decoder.verify_tx_ids (bool; false): check txID == sha256(raw_data_hex) for every transaction.
   */
  DecoderOptions decode;

  /** Applies defaults and validates; an invalid value is an InvalidConfig error naming the key. */
  [[nodiscard]] static pipeline::Result<DecoderConfig> parse(const pipeline::config::ConfigSource& source);
};

}  // namespace stages::decoder
