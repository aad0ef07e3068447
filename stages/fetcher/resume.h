#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/status.h"
#include "stages/fetcher/block.h"
#include "stages/fetcher/block_parser.h"
#include "stages/fetcher/sequencer.h"

namespace stages::fetcher {

/** One record read back from blocks.raw: a block, or a retraction of a block. */
struct TailRecord {
  std::int64_t height = 0;
  std::string block_id;
  bool retraction = false;
};

/**
 * The value the fetcher publishes on blocks.raw for a retraction (key: the height):
 * {"schema":"block.raw.retraction.v1","removed":true,"height":H,"block_id":"…"}. A block is
 * published as the node's bytes, unchanged.
 */
std::string retractionValue(const BlockRef& orphan);

/**
 * Reads a blocks.raw value back: a retraction, or a block (parsed and verified with `parser`).
 * Errors: InvalidPayload naming what is wrong.
 */
pipeline::Result<TailRecord> tailRecordFrom(std::string_view value, BlockParser& parser);

/**
 * What blocks.raw says was emitted. `partitions` holds, per partition, its last records in offset
 * order (every height lives in one partition, its key's). The latest record of each height wins;
 * because retractions go highest first and blocks lowest first, the live heights are a gap-free
 * prefix and the tip is the highest live height. `recent` is the gap-free run of live heights
 * ending at the tip, at most `keep` long, ascending.
 */
struct Tail {
  std::optional<BlockRef> tip;
  std::vector<BlockRef> recent;
  /**
   * Blocks already on blocks.raw above a gap (acknowledged out of order before a crash), by
   * height: the fetcher re-fetches from the gap but must not publish these again.
   */
  std::map<std::int64_t, std::string> present_above;
};
Tail analyzeTail(const std::vector<std::vector<TailRecord>>& partitions, std::size_t keep);

/** fetcher.start: where to begin when blocks.raw is empty. */
struct StartSetting {
  enum class Mode { Head, Resume, Height };
  Mode mode = Mode::Head;
  std::int64_t height = 0;  // Mode::Height
};

/**
 * The sequencer's start. A non-empty tail always wins: resuming never re-emits an acknowledged
 * height and never skips one, whatever fetcher.start says. On an empty tail: Height starts there,
 * Head at `target` (the current finality target: head, head - N, or the solidified head), Resume
 * fails. Errors: InvalidConfig for Resume on an empty blocks.raw; Unavailable for Head while the
 * target is still unknown (ask a node first).
 */
pipeline::Result<StartPoint> decideStart(const StartSetting& setting, const Tail& tail,
                                         std::optional<std::int64_t> target);

}  // namespace stages::fetcher
