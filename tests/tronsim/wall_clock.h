#pragma once

#include <cstdint>

#include "pipeline/clock.h"

#include "tests/tronsim/chain.h"

namespace tronsim {

// Block production on the wall clock (`tronsim serve --wall-clock`), the way a real node
// produces: the chain's slots are anchored to the moment the node starts, and each later block
// appears when the clock reaches its own timestamp, so a missed slot leaves a 6 s gap before the
// next one. The schedule is pure functions of the chain and a time passed in (ms since the
// epoch), so tests give the time; Node passes wallClockMs().

/**
 * The first_timestamp_ms that puts `height` in the slot containing `now_ms`: its timestamp
 * becomes now_ms rounded down to a multiple of Chain::kSlotMs, as mainnet's are (its slots count
 * from a genesis on that grid), so `height` is the block of the current slot. The result depends
 * on the chain's seed, first height and missed-slot rate only, never on its current timestamps.
 */
std::int64_t anchoredFirstTimestampMs(const Chain& chain, std::int64_t height,
                                      std::int64_t now_ms);

/**
 * The highest height >= head whose timestamp is <= now_ms: the head once every block that is due
 * by now_ms has been produced. `head` itself when it is ahead of the clock.
 */
std::int64_t headDueAt(const Chain& chain, std::int64_t head, std::int64_t now_ms);

/** Milliseconds from now_ms until the block after `head` is due; 0 when it already is. */
std::int64_t msUntilNextBlock(const Chain& chain, std::int64_t head, std::int64_t now_ms);

/** The system clock in ms since the epoch: the now_ms that Node passes to the functions above. */
using pipeline::wallClockMs;

}  // namespace tronsim
