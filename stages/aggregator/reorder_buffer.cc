#include "stages/aggregator/reorder_buffer.h"

#include <algorithm>

namespace stages::aggregator {

AddResult ReorderBuffer::add(BlockRecord record, SourcePosition source, const FoldedChain& chain,
                             TimePoint now) {
  auto& next_offset = next_offsets_[source.partition];
  next_offset = std::max(next_offset, source.offset + 1);

  AddResult result;
  if (auto* block = std::get_if<BlockInput>(&record)) {
    const std::uint64_t height = block->height;
    if (height < chain.nextHeight()) {
      const std::string* folded = height < chain.startHeight() ? nullptr : chain.blockIdAt(height);
      if (folded == nullptr) {
        ++counters_.too_old;
        result.admission = Admission::TooOld;
      } else if (*folded == block->block_id) {
        ++counters_.duplicates;
        result.admission = Admission::Duplicate;
      } else {
        ++counters_.forks_without_retraction;
        pending_.insert_or_assign(height, Pending{std::move(*block), source});
        result = AddResult{Admission::Retract, height};
      }
    } else if (auto it = pending_.find(height);
               it != pending_.end() && it->second.block.block_id == block->block_id) {
      // Keep the first copy's position: resuming there replays both, which is harmless.
      ++counters_.duplicates;
      result.admission = Admission::Duplicate;
    } else {
      pending_.insert_or_assign(height, Pending{std::move(*block), source});
      result.admission = Admission::Buffered;
    }
  } else {
    const auto& retraction = std::get<Retraction>(record);
    const std::uint64_t height = retraction.height;
    const std::string* folded = height < chain.nextHeight() && height >= chain.startHeight()
                                    ? chain.blockIdAt(height)
                                    : nullptr;
    auto it = pending_.find(height);
    if (folded != nullptr && *folded == retraction.block_id) {
      result = AddResult{Admission::Retract, height};
    } else if (it != pending_.end() && it->second.block.block_id == retraction.block_id) {
      pending_.erase(it);
      result.admission = Admission::RetractedPending;
    } else {
      ++counters_.stale_retractions;
      result.admission = Admission::StaleRetraction;
    }
  }
  updateGap(chain, now);
  return result;
}

std::optional<BlockInput> ReorderBuffer::popReady(const FoldedChain& chain, TimePoint now) {
  // Entries below the next height are left over from a fork the caller could not roll back.
  while (!pending_.empty() && pending_.begin()->first < chain.nextHeight()) {
    ++counters_.too_old;
    pending_.erase(pending_.begin());
  }
  if (!pending_.empty() && pending_.begin()->first == chain.nextHeight() &&
      extendsTip(pending_.begin()->second.block, chain)) {
    auto block = std::move(pending_.begin()->second.block);
    pending_.erase(pending_.begin());
    return block;
  }
  updateGap(chain, now);
  return std::nullopt;
}

bool ReorderBuffer::extendsTip(const BlockInput& block, const FoldedChain& chain) {
  if (chain.nextHeight() == chain.startHeight()) return true;  // nothing folded: any parent
  const std::string* tip = chain.blockIdAt(chain.nextHeight() - 1);
  return tip == nullptr || *tip == block.parent_id;
}

void ReorderBuffer::updateGap(const FoldedChain& chain, TimePoint now) {
  const std::uint64_t next = chain.nextHeight();
  const auto lowest = pending_.lower_bound(next);
  if (lowest == pending_.end() || (lowest->first == next && extendsTip(lowest->second.block, chain))) {
    gap_.reset();  // nothing above the tip, or the next block is ready
    return;
  }
  const bool parent_mismatch = lowest->first == next;
  if (!gap_ || gap_->height != next) {
    gap_ = Gap{next, now, parent_mismatch};
  } else {
    gap_->parent_mismatch = parent_mismatch;
  }
}

std::map<std::int32_t, std::int64_t> ReorderBuffer::resumeOffsets() const {
  auto offsets = next_offsets_;
  for (const auto& [height, pending] : pending_) {
    auto& offset = offsets[pending.source.partition];
    offset = std::min(offset, pending.source.offset);
  }
  return offsets;
}

}  // namespace stages::aggregator
