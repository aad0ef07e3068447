#pragma once

#include <functional>
#include <optional>
#include <ostream>

namespace stages::decoder {

/**
 * `pointtron-decoder --decode FILE [--network mainnet|shasta|nile] [--verify-tx-ids]`: decodes a
 * saved node answer (one block object, or getblockbylimitnext's `{"block":[…]}`) and prints one
 * block.v1 line per block on `out`; no Kafka. All or nothing: if any block is rejected, nothing is
 * printed on `out` and one line naming the file, the block and the reason goes to `err`.
 *
 * Returns nullopt when `argv` does not ask for --decode (the caller runs the stage), else the
 * exit code: 0 decoded, 1 unreadable file or rejected block, 64 bad usage.
 * `now_ms` gives decoded_at_ms.
 */
std::optional<int> runDecodeCommand(int argc, const char* const* argv, std::ostream& out,
                                    std::ostream& err, const std::function<std::int64_t()>& now_ms);

}  // namespace stages::decoder
