#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/status.h"
#include "stages/aggregator/fold.h"

namespace stages::aggregator {

/** Version of the checkpoint value; a reader refuses any other. */
inline constexpr std::uint64_t kCheckpointVersion = 1;

/**
 * What the aggregator stores on `aggregator.state` after its outputs are acknowledged: the fold
 * (its oldest kept snapshot plus the blocks folded since, so a fork right after a restart can
 * still be rolled back) and, per `blocks` partition, the lowest offset not reflected in it.
 * Buffered-but-unfolded records are not stored: the wiring seeks each partition to its offset
 * and the replay rebuilds the reorder buffer; records folded already come again as duplicates.
 *
 * The value is compact JSON (private to the aggregator, not a topic contract), starting with
 * `"version"`. The settings that shape the state (utc_offset, parity window) are stored so a
 * changed configuration is detected instead of silently mixing buckets.
 */
struct Checkpoint {
  std::uint64_t start_height = 0;
  UtcOffset utc_offset;
  std::uint32_t parity_window_blocks = 0;
  FoldState base;
  std::vector<BlockInput> blocks;
  std::map<std::int32_t, std::int64_t> resume_offsets;

  friend bool operator==(const Checkpoint&, const Checkpoint&) = default;
};

std::string encodeCheckpoint(const Checkpoint& checkpoint);

/**
 * Errors: InvalidPayload naming the first field that is missing or wrong, or an unknown version.
 */
[[nodiscard]] pipeline::Result<Checkpoint> decodeCheckpoint(std::string_view value);

}  // namespace stages::aggregator
