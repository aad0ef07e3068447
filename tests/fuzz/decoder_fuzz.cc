// The block decoder on arbitrary bytes, with and without txID verification: it must return a
// block, a retraction or a DecodeError, never crash; whatever it accepts must render as block.v1.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "stages/decoder/block_decoder.h"

using stages::decoder::BlockDecoder;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static BlockDecoder plain;
  static BlockDecoder verifying({.network = stages::decoder::Network::Shasta, .verify_tx_ids = true});
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  for (BlockDecoder* decoder : {&plain, &verifying}) {
    auto result = decoder->decode(input);
    if (result) {
      (void)stages::decoder::blockV1Json(result, {.fetched_at_ms = 1, .decoded_at_ms = 2});
    } else {
      (void)result.error().describe();
    }
  }
  return 0;
}
