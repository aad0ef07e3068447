#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "stages/aggregator/block_input.h"
#include "stages/aggregator/fold.h"

// Synthetic chains for the aggregator's tests: block ids whose last digit is chosen, linked by
// parent ids, with timestamps and witnesses set by the test.
namespace stages::aggregator::testing {

/** 2026-11-30T00:00:00Z in ms: day 20787 since the epoch (20787 × 86 400 000). */
inline constexpr std::int64_t kDay20787Ms = 1'795'996'800'000;

/**
 * A 64-hex block id: the zero-padded height, the branch number, filler, then `digit` followed by
 * `trailing_letters` hex letters ('a'…), so the last *digit* is `digit` even when the id ends in
 * letters.
 */
inline std::string blockId(std::uint64_t height, int branch, int digit, int trailing_letters = 1) {
  std::string id = fmt::format("{:016x}{:08x}", height, branch);
  const std::string tail = std::to_string(digit) + std::string(static_cast<std::size_t>(trailing_letters), 'a');
  id += std::string(64 - id.size() - tail.size(), 'e');
  return id + tail;
}

/** A T-address-shaped name (34 base58 characters) for witness `n`. */
inline std::string witnessName(int n) { return fmt::format("TWitness{:1>26}", n); }
inline std::string witnessHex(int n) { return fmt::format("41{:040x}", n); }

/** Builds a chain one block at a time; each block's parent is the previous one. */
class ChainBuilder {
 public:
  explicit ChainBuilder(std::uint64_t first_height, int branch = 0)
      : next_height_(first_height), branch_(branch) {}

  /** Continues `base` (its blocks up to `fork_height` − 1) on a new branch. */
  static ChainBuilder forkOf(const std::vector<BlockInput>& base, std::uint64_t fork_height, int branch) {
    ChainBuilder builder(base.front().height, branch);
    for (const auto& block : base) {
      if (block.height >= fork_height) break;
      builder.blocks_.push_back(block);
    }
    builder.next_height_ = fork_height;
    return builder;
  }

  ChainBuilder& add(std::int64_t timestamp_ms, int digit, int witness = 1, int trailing_letters = 1) {
    BlockInput block;
    block.height = next_height_++;
    block.block_id = blockId(block.height, branch_, digit, trailing_letters);
    block.parent_id = blocks_.empty() ? std::string(64, '0') : blocks_.back().block_id;
    block.timestamp_ms = timestamp_ms;
    block.witness = witnessName(witness);
    block.witness_hex = witnessHex(witness);
    block.tx_count = 10;
    block.tx_failed = 1;
    block.trx_transferred_sun = "1000000";
    block.trc20_transfers = 3;
    block.usdt_transfers = 2;
    block.usdt_volume = "5000000";
    block.last_digit = digit;
    block.is_odd = digit % 2 == 1;
    blocks_.push_back(block);
    return *this;
  }

  /** `count` blocks 3 s apart after the last one, digits cycling through `digits`. */
  ChainBuilder& addRun(int count, const std::vector<int>& digits, int witnesses = 3) {
    for (int i = 0; i < count; ++i) {
      const std::int64_t ts = blocks_.empty() ? kDay20787Ms : blocks_.back().timestamp_ms + 3000;
      add(ts, digits[static_cast<std::size_t>(i) % digits.size()],
          static_cast<int>(next_height_ % static_cast<std::uint64_t>(witnesses)) + 1);
    }
    return *this;
  }

  const std::vector<BlockInput>& blocks() const { return blocks_; }

 private:
  std::uint64_t next_height_;
  int branch_;
  std::vector<BlockInput> blocks_;
};

/** Latest value per key of a stream of outputs, as a compacted topic keeps it (nullopt = tombstone). */
using TopicView = std::map<std::string, std::optional<std::string>>;

inline void applyTo(TopicView& view, const StatOutputs& outputs) {
  for (const auto& output : outputs) view[output.key] = output.value;
}

/** The topic a fresh fold of `blocks` from `options` leaves. */
inline TopicView freshFold(const FoldOptions& options, const std::vector<BlockInput>& blocks) {
  Fold fold(options, blocks.front().height);
  TopicView view;
  for (const auto& block : blocks) applyTo(view, *fold.apply(block));
  return view;
}

/** `view` without its tombstones: what a reader of the compacted topic ends up with. */
inline TopicView live(const TopicView& view) {
  TopicView out;
  for (const auto& [key, value] : view) {
    if (value) out.emplace(key, value);
  }
  return out;
}

}  // namespace stages::aggregator::testing
