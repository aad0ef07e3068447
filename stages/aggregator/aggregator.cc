#include "stages/aggregator/aggregator.h"

namespace stages::aggregator {

Aggregator::Aggregator(AggregatorConfig config)
    : config_(std::move(config)), buffer_(config_.reorder_buffer_max_blocks) {
  if (config_.start_height) fold_.emplace(config_.fold, *config_.start_height);
}

pipeline::Result<Aggregator> Aggregator::restore(AggregatorConfig config, std::string_view checkpoint) {
  auto decoded = decodeCheckpoint(checkpoint);
  if (!decoded) return decoded.error();
  if (decoded->utc_offset != config.fold.utc_offset ||
      decoded->parity_window_blocks != config.fold.parity_window_blocks) {
    return pipeline::Error{
        pipeline::ErrorType::InvalidConfig,
        "aggregator.utc_offset/aggregator.parity_window_blocks: the checkpoint was made with " +
            decoded->utc_offset.text + " and " + std::to_string(decoded->parity_window_blocks) +
            " blocks, the configuration says " + config.fold.utc_offset.text + " and " +
            std::to_string(config.fold.parity_window_blocks) +
            " (reset aggregator.state and replay to change them)"};
  }
  auto fold = Fold::restore(config.fold, decoded->start_height, std::move(decoded->base),
                            decoded->blocks);
  if (!fold) return pipeline::Error{pipeline::ErrorType::InvalidPayload, "checkpoint: " + fold.error().message};
  Aggregator aggregator(std::move(config));
  aggregator.fold_.emplace(std::move(*fold));
  aggregator.buffer_.resumeFrom(std::move(decoded->resume_offsets));
  return aggregator;
}

void Aggregator::startAt(std::uint64_t height) {
  if (!fold_) fold_.emplace(config_.fold, height);
}

pipeline::Result<StatOutputs> Aggregator::offer(BlockRecord record, SourcePosition source, TimePoint now) {
  if (!fold_) {
    const auto* block = std::get_if<BlockInput>(&record);
    if (block == nullptr) {
      // Nothing is folded before the start is known, so no retraction can concern the fold.
      last_admission_ = Admission::StaleRetraction;
      return StatOutputs{};
    }
    startAt(block->height);
  }
  const auto admitted = buffer_.add(std::move(record), source, *fold_, now);
  last_admission_ = admitted.admission;
  StatOutputs outputs;
  if (admitted.admission == Admission::Retract) {
    const std::uint64_t tip_before = fold_->nextHeight();
    auto undone = fold_->retractFrom(admitted.retract_from);
    if (!undone) return undone.error();
    outputs = std::move(*undone);
    if (fold_->nextHeight() < tip_before) {
      ++counters_.rollbacks;
      counters_.rolled_back_blocks += tip_before - fold_->nextHeight();
    }
  }
  while (auto block = buffer_.popReady(*fold_, now)) {
    auto folded = fold_->apply(*block);
    if (!folded) return folded.error();
    ++counters_.folded_blocks;
    outputs.insert(outputs.end(), std::make_move_iterator(folded->begin()),
                   std::make_move_iterator(folded->end()));
  }
  return outputs;
}

std::string Aggregator::checkpoint() const {
  if (!fold_) return {};
  Checkpoint checkpoint;
  checkpoint.start_height = fold_->startHeight();
  checkpoint.utc_offset = config_.fold.utc_offset;
  checkpoint.parity_window_blocks = config_.fold.parity_window_blocks;
  checkpoint.base = fold_->baseState();
  checkpoint.blocks = fold_->blocksSinceBase();
  checkpoint.resume_offsets = buffer_.resumeOffsets();
  return encodeCheckpoint(checkpoint);
}

}  // namespace stages::aggregator
