#include "stages/decoder/decoder_config.h"

namespace stages::decoder {

pipeline::Result<DecoderConfig> DecoderConfig::parse(const pipeline::config::ConfigSource& source) {
  DecoderConfig config;
  auto network = source.getChoice("decoder.network", "mainnet", {"mainnet", "shasta", "nile"});
  if (!network) return network.status();
  // getChoice accepts any case and returns the listed spelling.
  config.decode.network = parseNetwork(*network).value_or(Network::Mainnet);
  auto verify = source.getBool("decoder.verify_tx_ids", false);
  if (!verify) return verify.status();
  config.decode.verify_tx_ids = *verify;
  return config;
}

}  // namespace stages::decoder
