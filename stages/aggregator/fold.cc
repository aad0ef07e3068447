#include "stages/aggregator/fold.h"

#include <algorithm>
#include <set>

#include "stages/aggregator/stats_values.h"

namespace stages::aggregator {
namespace {

using pipeline::Error;
using pipeline::ErrorType;

void addToSum(pipeline::AmountSum& sum, std::string_view decimal) {
  // block_input validated the text; 320 bits hold any realistic sum of 80-digit amounts.
  (void)sum.addDecimal(decimal);
}

}  // namespace

// One apply(): moves the state forward by one block and records which open buckets changed, so
// each changed key is rendered exactly once, after the block is fully counted. Buckets replaced
// on the way (a day or hour that ended during a halt) are rendered when they are replaced.
class Fold::Step {
 public:
  Step(const FoldOptions& options, FoldState& state, bool render)
      : options_(options), state_(state), render_(render) {}

  void fold(const BlockInput& block) {
    const std::int64_t bucket_ms =
        state_.has_tip ? std::max(block.timestamp_ms, state_.tip_bucket_ms) : block.timestamp_ms;
    if (state_.has_tip) countMissedSlots(bucket_ms, block);

    const std::int64_t score_before = state_.score;
    state_.score += block.is_odd ? -1 : 1;
    countBlock(day(bucketIndex(bucket_ms, options_.utc_offset, kDayMs)), block);
    countBlock(hour(bucketIndex(bucket_ms, options_.utc_offset, kHourMs)), block);
    auto& figures = witness(block.witness, block.witness_hex);
    ++figures.blocks;
    updateCandles(bucket_ms, block.height, score_before);
    pushParity(block.is_odd);

    state_.next_height = block.height + 1;
    state_.has_tip = true;
    state_.tip_block_id = block.block_id;
    state_.tip_bucket_ms = bucket_ms;
    state_.tip_witness = block.witness;

    if (render_) renderChanges(block);
  }

  StatOutputs take() { return std::move(outputs_); }

 private:
  // Slots strictly between the tip's and this block's: prev + 3 s·k < this block, k ≥ 1. Each is
  // counted in the bucket of its own time and, when the learnt rotation knows who followed the
  // previous producer, against that witness. Consecutive slots teach the rotation.
  void countMissedSlots(std::int64_t bucket_ms, const BlockInput& block) {
    const std::int64_t gap = bucket_ms - state_.tip_bucket_ms;
    if (gap > 0 && gap <= kSlotMs) {
      state_.rotation[state_.tip_witness] = RotationSuccessor{block.witness, block.witness_hex};
      return;
    }
    if (gap <= kSlotMs) return;
    const std::int64_t missed = (gap - 1) / kSlotMs;
    // Points into `rotation`, which nothing below modifies. Once the rotation does not know a
    // producer's successor, the rest of the gap cannot be attributed either.
    const RotationSuccessor* scheduled = nullptr;
    std::string_view previous = state_.tip_witness;
    for (std::int64_t k = 1; k <= missed; ++k) {
      const std::int64_t slot_ms = state_.tip_bucket_ms + k * kSlotMs;
      ++day(bucketIndex(slot_ms, options_.utc_offset, kDayMs)).missed_slots;
      ++hour(bucketIndex(slot_ms, options_.utc_offset, kHourMs)).missed_slots;
      if (k == 1 || scheduled != nullptr) {
        const auto it = state_.rotation.find(std::string(previous));
        scheduled = it == state_.rotation.end() ? nullptr : &it->second;
      }
      if (scheduled != nullptr) {
        ++witness(scheduled->witness, scheduled->witness_hex).missed_slots;
        previous = scheduled->witness;
      }
    }
  }

  void countBlock(PeriodStats& stats, const BlockInput& block) {
    if (stats.blocks == 0) stats.first_height = block.height;
    ++stats.blocks;
    if (block.is_odd) ++stats.odd;
    stats.transactions += block.tx_count;
    stats.failed_transactions += block.tx_failed;
    addToSum(stats.trx_transferred_sun, block.trx_transferred_sun);
    stats.trc20_transfers += block.trc20_transfers;
    stats.usdt_transfers += block.usdt_transfers;
    addToSum(stats.usdt_volume, block.usdt_volume);
    stats.last_height = block.height;
    stats.score_close = state_.score;
  }

  // The open bucket `index`, opening it (and closing the previous one) when time moved on. Bucket
  // time never goes back, so `index` is never below the open one.
  PeriodStats& day(std::int64_t index) {
    if (!state_.day || state_.day->index < index) {
      if (state_.day && day_changed_) {
        emitDay();
      }
      state_.day = emptyBucket(index);
      state_.day_witnesses.clear();
      changed_witnesses_.clear();
    }
    day_changed_ = true;
    return *state_.day;
  }

  PeriodStats& hour(std::int64_t index) {
    if (!state_.hour || state_.hour->index < index) {
      if (state_.hour && hour_changed_ && render_) {
        emit(hourlyKey(state_.hour->index), hourlyValue(*state_.hour, options_.utc_offset));
      }
      state_.hour = emptyBucket(index);
    }
    hour_changed_ = true;
    return *state_.hour;
  }

  PeriodStats emptyBucket(std::int64_t index) const {
    PeriodStats stats;
    stats.index = index;
    // Until a block lands here, the bucket ends where the previous block left the score.
    const std::uint64_t tip = state_.next_height == 0 ? 0 : state_.next_height - 1;
    stats.first_height = tip;
    stats.last_height = tip;
    stats.score_close = state_.score;
    return stats;
  }

  WitnessDay& witness(const std::string& name, const std::string& hex) {
    auto& figures = state_.day_witnesses[name];
    if (figures.witness_hex.empty()) figures.witness_hex = hex;
    if (std::find(changed_witnesses_.begin(), changed_witnesses_.end(), name) ==
        changed_witnesses_.end()) {
      changed_witnesses_.push_back(name);
    }
    return figures;
  }

  void updateCandles(std::int64_t bucket_ms, std::uint64_t height, std::int64_t score_before) {
    for (std::size_t i = 0; i < kCandlePeriods; ++i) {
      const CandlePeriod period = kAllCandlePeriods[i];
      const std::int64_t start =
          period == CandlePeriod::Blocks20
              ? static_cast<std::int64_t>(height - height % kCandleWindowBlocks)
              : bucketStartMs(bucketIndex(bucket_ms, options_.utc_offset, candlePeriodMs(period)),
                              options_.utc_offset, candlePeriodMs(period));
      auto& candle = state_.candles[i];
      if (!candle || candle->start != start) {
        // open = the previous close, also across buckets without blocks (score did not move).
        candle = Candle{start, score_before, score_before, score_before, score_before, 0, height, height};
      }
      ++candle->volume;
      candle->close = state_.score;
      candle->high = std::max(candle->high, state_.score);
      candle->low = std::min(candle->low, state_.score);
      candle->last_height = height;
    }
  }

  void pushParity(bool is_odd) {
    auto& parity = state_.parity;
    const std::uint8_t bit = is_odd ? 1 : 0;
    if (parity.ring.size() < options_.parity_window_blocks) {
      parity.ring.push_back(bit);
    } else {
      parity.odd -= parity.ring[parity.next];
      parity.ring[parity.next] = bit;
      parity.next = (parity.next + 1) % parity.ring.size();
    }
    parity.odd += bit;
  }

  void emitDay() {
    if (!render_) return;
    emit(dailyKey(state_.day->index), dailyValue(*state_.day, options_.utc_offset));
    std::sort(changed_witnesses_.begin(), changed_witnesses_.end());
    for (const auto& name : changed_witnesses_) {
      emit(witnessKey(state_.day->index, name),
           witnessValue(state_.day->index, name, state_.day_witnesses.at(name)));
    }
  }

  void renderChanges(const BlockInput& block) {
    emit(pointsKey(block.height), pointsValue(block, state_.score));
    emitDay();
    emit(hourlyKey(state_.hour->index), hourlyValue(*state_.hour, options_.utc_offset));
    for (std::size_t i = 0; i < kCandlePeriods; ++i) {
      emit(candleKey(kAllCandlePeriods[i], state_.candles[i]->start),
           candleValue(kAllCandlePeriods[i], *state_.candles[i]));
    }
    emit(parityKey(options_.parity_window_blocks),
         parityValue(block.height, options_.parity_window_blocks, state_.parity));
  }

  void emit(std::string key, std::string value) {
    outputs_.push_back(StatOutput{std::move(key), std::move(value)});
  }

  const FoldOptions& options_;
  FoldState& state_;
  const bool render_;
  bool day_changed_ = false;
  bool hour_changed_ = false;
  std::vector<std::string> changed_witnesses_;  // of the open day
  StatOutputs outputs_;
};

Fold::Fold(FoldOptions options, std::uint64_t start_height)
    : options_(std::move(options)), start_height_(start_height) {
  state_.next_height = start_height;
  snapshots_.push_back(state_);
}

pipeline::Result<StatOutputs> Fold::apply(const BlockInput& block) {
  if (block.height != state_.next_height) {
    return Error{ErrorType::InvalidArgument, "block " + std::to_string(block.height) +
                                                 " is not the next height " +
                                                 std::to_string(state_.next_height)};
  }
  Step step(options_, state_, true);
  step.fold(block);
  auto outputs = step.take();
  Folded folded{block, {}};
  folded.keys.reserve(outputs.size());
  for (const auto& output : outputs) folded.keys.push_back(output.key);
  history_.push_back(std::move(folded));
  takeSnapshotIfDue();
  return outputs;
}

void Fold::takeSnapshotIfDue() {
  const std::uint64_t depth = options_.rollback_depth_blocks;
  if (state_.next_height - snapshots_.back().next_height >= depth) snapshots_.push_back(state_);
  // The oldest snapshot kept lies at least 2K blocks back: after undoing K blocks, the fold can
  // still undo K more below the new tip (a second fork before the new branch is complete) and
  // still knows the block ids there.
  while (snapshots_.size() >= 2 && snapshots_[1].next_height + 2 * depth <= state_.next_height) {
    snapshots_.pop_front();
  }
  while (!history_.empty() && history_.front().block.height < snapshots_.front().next_height) {
    history_.pop_front();
  }
}

const std::string* Fold::blockIdAt(std::uint64_t height) const {
  if (history_.empty() || height < history_.front().block.height || height >= state_.next_height) {
    return nullptr;
  }
  return &history_[height - history_.front().block.height].block.block_id;
}

std::vector<BlockInput> Fold::blocksSinceBase() const {
  std::vector<BlockInput> blocks;
  blocks.reserve(history_.size());
  for (const auto& folded : history_) blocks.push_back(folded.block);
  return blocks;
}

pipeline::Result<StatOutputs> Fold::retractFrom(std::uint64_t height) {
  if (height >= state_.next_height) return StatOutputs{};
  if (height < start_height_) {
    return Error{ErrorType::InvalidArgument, "retraction of height " + std::to_string(height) +
                                                 " below the start height " +
                                                 std::to_string(start_height_)};
  }
  auto base = std::find_if(snapshots_.rbegin(), snapshots_.rend(),
                           [&](const FoldState& snapshot) { return snapshot.next_height <= height; });
  if (base == snapshots_.rend()) {
    return Error{ErrorType::Unavailable,
                 "fork at height " + std::to_string(height) + " is deeper than the " +
                     std::to_string(options_.rollback_depth_blocks) +
                     " blocks kept (aggregator.rollback_depth_blocks)"};
  }

  std::set<std::string> touched;
  while (!history_.empty() && history_.back().block.height >= height) {
    for (auto& key : history_.back().keys) touched.insert(std::move(key));
    history_.pop_back();
  }
  state_ = *base;
  snapshots_.erase(base.base(), snapshots_.end());
  for (const auto& folded : history_) {
    if (folded.block.height < state_.next_height) continue;
    Step step(options_, state_, false);
    step.fold(folded.block);
  }

  const auto current = renderedState();
  StatOutputs outputs;
  outputs.reserve(touched.size());
  for (const auto& key : touched) {
    const auto it = current.find(key);
    outputs.push_back(StatOutput{key, it == current.end() ? std::nullopt : it->second});
  }
  return outputs;
}

std::map<std::string, std::optional<std::string>> Fold::renderedState() const {
  std::map<std::string, std::optional<std::string>> values;
  for (auto& output : currentValues()) values.emplace(std::move(output.key), std::move(output.value));
  return values;
}

StatOutputs Fold::currentValues() const {
  StatOutputs values;
  if (!state_.has_tip) return values;
  const auto& offset = options_.utc_offset;
  const auto add = [&](std::string key, std::string value) {
    values.push_back(StatOutput{std::move(key), std::move(value)});
  };
  add(dailyKey(state_.day->index), dailyValue(*state_.day, offset));
  for (const auto& [name, figures] : state_.day_witnesses) {
    add(witnessKey(state_.day->index, name), witnessValue(state_.day->index, name, figures));
  }
  add(hourlyKey(state_.hour->index), hourlyValue(*state_.hour, offset));
  for (std::size_t i = 0; i < kCandlePeriods; ++i) {
    add(candleKey(kAllCandlePeriods[i], state_.candles[i]->start),
        candleValue(kAllCandlePeriods[i], *state_.candles[i]));
  }
  add(parityKey(options_.parity_window_blocks),
      parityValue(state_.next_height - 1, options_.parity_window_blocks, state_.parity));
  return values;
}

pipeline::Result<Fold> Fold::restore(FoldOptions options, std::uint64_t start_height, FoldState base,
                                     const std::vector<BlockInput>& blocks) {
  Fold fold(std::move(options), start_height);
  fold.state_ = std::move(base);
  fold.snapshots_ = {fold.state_};
  for (const auto& block : blocks) {
    auto outputs = fold.apply(block);
    if (!outputs) return outputs.error();
  }
  return fold;
}

}  // namespace stages::aggregator
