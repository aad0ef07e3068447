#include "tests/tronsim/wall_clock.h"

#include <algorithm>
#include <chrono>

namespace tronsim {

std::int64_t anchoredFirstTimestampMs(const Chain& chain, std::int64_t height,
                                      std::int64_t now_ms) {
  const std::int64_t into_slot = (now_ms % Chain::kSlotMs + Chain::kSlotMs) % Chain::kSlotMs;
  return now_ms - into_slot - Chain::kSlotMs * chain.slotOf(height);
}

std::int64_t headDueAt(const Chain& chain, std::int64_t head, std::int64_t now_ms) {
  const std::int64_t behind_ms = now_ms - chain.timestampMs(head);
  if (behind_ms < Chain::kSlotMs) return head;
  // Every block is at least one slot after its parent, so at most behind_ms / kSlotMs are due:
  // a binary search between the two bounds costs O(log n) timestamps after a long stall.
  std::int64_t due = head;
  std::int64_t not_due = head + behind_ms / Chain::kSlotMs + 1;
  while (not_due - due > 1) {
    const std::int64_t middle = due + (not_due - due) / 2;
    (chain.timestampMs(middle) <= now_ms ? due : not_due) = middle;
  }
  return due;
}

std::int64_t msUntilNextBlock(const Chain& chain, std::int64_t head, std::int64_t now_ms) {
  return std::max<std::int64_t>(0, chain.timestampMs(head + 1) - now_ms);
}

}  // namespace tronsim
