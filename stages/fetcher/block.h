#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace stages::fetcher {

/** Monotonic time of the fetcher's pure logic; the wiring passes uv_now()-derived values. */
using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Millis = std::chrono::milliseconds;

/**
 * Source of uniform random numbers in [0, 1) for jitter. Injected so tests are deterministic;
 * the wiring passes a seeded std::mt19937_64 wrapped in a lambda.
 */
using Jitter = std::function<double()>;

/** A height and the blockID the fetcher emitted (or read back) for it. */
struct BlockRef {
  std::int64_t height = 0;
  std::string block_id;  // 64 lower-case hex, as the node wrote it

  friend bool operator==(const BlockRef&, const BlockRef&) = default;
};

/**
 * One block as received from a node. `raw_json` is the exact bytes of the block object in the
 * response (surrounding whitespace trimmed) and is what goes to blocks.raw unchanged.
 */
struct ParsedBlock {
  std::int64_t height = 0;
  std::string block_id;
  std::string parent_id;
  std::int64_t timestamp_ms = 0;
  std::string raw_json;
  /** Index in the node pool of the node that answered (the record's `source` header). */
  std::size_t node = 0;

  BlockRef ref() const { return BlockRef{height, block_id}; }
};

}  // namespace stages::fetcher
