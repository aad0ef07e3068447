#include "stages/aggregator/aggregate_stage.h"

#include <algorithm>

#include "pipeline/dead_letter.h"
#include "stages/aggregator/stats_values.h"

namespace stages::aggregator {
namespace {

double secondsBetween(TimePoint from, TimePoint to) {
  return std::chrono::duration<double>(to - from).count();
}

}  // namespace

AggregateStage::AggregateStage(AggregatorConfig config, StageTopics topics, KafkaReads reads,
                               StagePorts ports)
    : config_(std::move(config)),
      topics_(std::move(topics)),
      reads_(std::move(reads)),
      ports_(std::move(ports)) {}

std::chrono::milliseconds AggregateStage::tickInterval() const {
  return std::chrono::milliseconds(std::min<std::int64_t>(config_.checkpoint_interval_ms, 1000));
}

bool AggregateStage::folding() const {
  return aggregator_.has_value() && partition_count_ > 0 &&
         owned_.size() == static_cast<std::size_t>(partition_count_);
}

std::vector<PartitionStart> AggregateStage::assigned(const std::vector<std::int32_t>& partitions) {
  owned_.insert(partitions.begin(), partitions.end());
  auto count = reads_.partition_count(topics_.blocks);
  if (!count) {
    breakFold(count.status());
    return {};
  }
  partition_count_ = *count;
  if (owned_.size() < static_cast<std::size_t>(partition_count_)) {
    ports_.log.warn("Assigned only some partitions of blocks; not folding until it owns all.",
                    {{"owned", owned_.size()}, {"partitions", partition_count_}});
    return {};
  }
  if (partitions.size() < static_cast<std::size_t>(partition_count_)) {
    // Partitions assigned earlier already started at the group's offsets and cannot be moved
    // from here: only an eager assignment (the runtime's default) hands over all at once.
    breakFold(pipeline::Status(pipeline::ErrorType::InvalidConfig,
                               "kafka.rdkafka.partition.assignment.strategy: the aggregator needs "
                               "an eager strategy (range or roundrobin), not cooperative-sticky"));
    return {};
  }
  if (!aggregator_) {
    if (auto status = startFold(); !status) {
      breakFold(status);
      return {};
    }
  }
  const auto resume = aggregator_->buffer().resumeOffsets();
  std::vector<PartitionStart> starts;
  for (const std::int32_t partition : partitions) {
    const auto it = resume.find(partition);
    starts.push_back({partition, it == resume.end() ? std::nullopt
                                                    : std::optional<std::int64_t>(it->second)});
  }
  const Fold* fold = aggregator_->fold();
  ports_.log.info("Folding every partition of blocks.",
                  {{"partitions", partition_count_},
                   {"next_height", fold != nullptr ? fold->nextHeight() : 0}});
  updateGauges();
  return starts;
}

void AggregateStage::revoked(const std::vector<std::int32_t>& partitions) {
  for (const std::int32_t partition : partitions) owned_.erase(partition);
}

pipeline::Status AggregateStage::startFold() {
  auto state = reads_.tail(topics_.state, 1);
  if (!state) return state.status();
  std::string_view latest;
  for (const auto& records : *state) {
    if (!records.empty()) latest = records.back().value();
  }
  // An empty latest value (a tombstone written by hand) resets the fold like an empty topic.
  if (!latest.empty()) {
    auto restored = Aggregator::restore(config_, latest);
    if (!restored) return restored.status();
    aggregator_.emplace(std::move(*restored));
    ports_.log.info("Fold restored from the checkpoint.",
                    {{"start_height", aggregator_->fold()->startHeight()},
                     {"next_height", aggregator_->fold()->nextHeight()},
                     {"checkpoint_bytes", latest.size()}});
  } else {
    aggregator_.emplace(config_);
    if (!config_.start_height) {
      auto heads = reads_.head(topics_.blocks, kHeadRecords);
      if (!heads) return heads.status();
      if (const auto lowest = lowestFirstHeight(*heads)) aggregator_->startAt(*lowest);
    }
    const Fold* fold = aggregator_->fold();
    if (fold != nullptr) {
      ports_.log.info("Fold started.", {{"start_height", fold->startHeight()}});
    } else {
      ports_.log.info("Fold starts at the first block received (blocks is empty).");
    }
  }
  last_checkpoint_taken_ = ports_.now();
  return pipeline::Status::ok();
}

std::optional<std::uint64_t> AggregateStage::lowestFirstHeight(const PartitionRecords& heads) {
  std::optional<std::uint64_t> lowest;
  for (const auto& records : heads) {
    for (const auto& record : records) {
      auto parsed = parser_.parse(record.value());
      const auto* block = parsed ? std::get_if<BlockInput>(&*parsed) : nullptr;
      if (block == nullptr) continue;  // a retraction or a record the DLQ will get
      lowest = std::min(lowest.value_or(block->height), block->height);
      break;  // heights only grow within a partition (forks aside): its first block is its lowest
    }
  }
  return lowest;
}

void AggregateStage::handle(const pipeline::kafka::Record& record, Finish finish) {
  if (broken_) {
    finish(pipeline::Outcome::Retry);  // the process is stopping; the restart replays it
    return;
  }
  if (!folding()) {
    ports_.metrics.deferred_not_owner.Increment();
    finish(pipeline::Outcome::Retry);
    return;
  }
  const TimePoint started = ports_.now();
  auto parsed = parser_.parse(record.value());
  if (!parsed) {
    sendToDlq(record, parsed.error().message, std::move(finish));
    return;
  }
  if (aggregator_->buffer().full() && !releasesTheFold(*parsed)) {
    ports_.metrics.deferred_buffer_full.Increment();
    finish(pipeline::Outcome::Retry);
    return;
  }
  auto outputs = aggregator_->offer(std::move(*parsed),
                                    {.partition = record.partition(), .offset = record.offset()},
                                    started);
  ports_.metrics.fold_duration.Observe(secondsBetween(started, ports_.now()));
  if (!outputs) {
    breakFold(outputs.status());
    finish(pipeline::Outcome::Retry);
    return;
  }
  changed_since_checkpoint_ = true;
  if (!oldest_unsaved_change_) oldest_unsaved_change_ = started;
  countAdmission();
  updateGauges();
  publish(std::move(*outputs), std::move(finish));
}

bool AggregateStage::releasesTheFold(const BlockRecord& record) const {
  const auto* block = std::get_if<BlockInput>(&record);
  const Fold* fold = aggregator_->fold();
  return block == nullptr || fold == nullptr || block->height <= fold->nextHeight();
}

void AggregateStage::countAdmission() {
  auto& metrics = ports_.metrics;
  switch (aggregator_->lastAdmission()) {
    case Admission::Duplicate: metrics.dropped_duplicate.Increment(); break;
    case Admission::TooOld: metrics.dropped_too_old.Increment(); break;
    case Admission::StaleRetraction: metrics.dropped_stale_retraction.Increment(); break;
    default: break;
  }
  if (aggregator_->lastAdmission() == Admission::Duplicate ||
      aggregator_->lastAdmission() == Admission::TooOld ||
      aggregator_->lastAdmission() == Admission::StaleRetraction) {
    ports_.stage_metrics.discarded(/*intentional=*/true).Increment();
  }
  const AggregatorCounters& now = aggregator_->counters();
  metrics.folded_blocks.Increment(static_cast<double>(now.folded_blocks - reported_.folded_blocks));
  metrics.rollbacks.Increment(static_cast<double>(now.rollbacks - reported_.rollbacks));
  metrics.rolled_back_blocks.Increment(
      static_cast<double>(now.rolled_back_blocks - reported_.rolled_back_blocks));
  reported_ = now;
}

void AggregateStage::publish(StatOutputs outputs, Finish finish) {
  if (outputs.empty()) {
    finish(pipeline::Outcome::Done);
    return;
  }
  // The record is finished once, when the last of its outputs is acknowledged.
  struct Progress {
    Finish finish;
    std::size_t remaining = 0;
    bool failed = false;
  };
  auto progress = std::make_shared<Progress>(Progress{std::move(finish), outputs.size()});
  std::weak_ptr<AggregateStage> weak = weak_from_this();
  for (auto& output : outputs) {
    const std::uint64_t number = next_output_++;
    unacknowledged_.insert(number);
    const bool tombstone = !output.value.has_value();
    ports_.sink.send(
        {.topic = topics_.stats,
         .key = std::move(output.key),
         .value = tombstone ? std::string() : std::move(*output.value),
         .tombstone = tombstone},
        [weak, number, tombstone, progress](const pipeline::Status& status, const pipeline::Delivery&) {
          auto self = weak.lock();
          if (!self) return;
          self->unacknowledged_.erase(number);
          if (status) {
            (tombstone ? self->ports_.metrics.output_tombstones : self->ports_.metrics.output_values)
                .Increment();
          } else {
            progress->failed = true;
            self->breakFold(pipeline::Status(
                status.error().type, "a stats record was not delivered, so the statistics on stats "
                                     "and the fold differ; resuming from the last checkpoint: " +
                                         status.error().message));
          }
          if (--progress->remaining == 0) {
            progress->finish(progress->failed ? pipeline::Outcome::Retry : pipeline::Outcome::Done);
          }
          self->writeCheckpointIfCovered();
        });
  }
}

void AggregateStage::sendToDlq(const pipeline::kafka::Record& record, const std::string& reason,
                               Finish finish) {
  pipeline::countRejected(record, reason, ports_.stage_metrics, ports_.log, "invalid_payload");
  ports_.sink.send(pipeline::deadLetter(record, reason, topics_.dlq),
                   [finish = std::move(finish)](const pipeline::Status& status,
                                                const pipeline::Delivery&) {
                     finish(status ? pipeline::Outcome::Reject : pipeline::Outcome::Retry);
                   });
}

void AggregateStage::tick() {
  updateGauges();
  if (ports_.now() - last_checkpoint_taken_ >=
      std::chrono::milliseconds(config_.checkpoint_interval_ms)) {
    takeCheckpoint();
  }
}

void AggregateStage::takeCheckpoint() {
  if (broken_ || !aggregator_ || pending_checkpoint_ || checkpoint_in_flight_ ||
      !changed_since_checkpoint_) {
    return;
  }
  std::string value = aggregator_->checkpoint();
  if (value.empty()) return;  // the start height is not known yet: nothing to keep
  last_checkpoint_taken_ = ports_.now();
  changed_since_checkpoint_ = false;
  oldest_change_being_saved_ = oldest_unsaved_change_;
  oldest_unsaved_change_.reset();
  pending_checkpoint_ = PendingCheckpoint{std::move(value), next_output_};
  writeCheckpointIfCovered();
}

void AggregateStage::writeCheckpointIfCovered() {
  if (broken_ || checkpoint_in_flight_ || !pending_checkpoint_) return;
  if (!unacknowledged_.empty() && *unacknowledged_.begin() < pending_checkpoint_->covers_before) {
    return;  // an output the checkpoint reflects may still be lost
  }
  const std::size_t bytes = pending_checkpoint_->value.size();
  checkpoint_in_flight_ = true;
  std::weak_ptr<AggregateStage> weak = weak_from_this();
  ports_.sink.send({.topic = topics_.state,
                    .key = std::string(kCheckpointKey),
                    .value = std::move(pending_checkpoint_->value)},
                   [weak, bytes](const pipeline::Status& status, const pipeline::Delivery&) {
                     auto self = weak.lock();
                     if (!self) return;
                     self->checkpoint_in_flight_ = false;
                     if (status) {
                       self->oldest_change_being_saved_.reset();
                       self->ports_.metrics.checkpoints.Increment();
                       self->ports_.metrics.checkpoint_bytes.Set(static_cast<double>(bytes));
                     } else {
                       // Counted by the producer; the next tick writes a newer one.
                       self->changed_since_checkpoint_ = true;
                       self->oldest_unsaved_change_ = self->oldest_change_being_saved_;
                       self->oldest_change_being_saved_.reset();
                       self->ports_.log.warnEvery("checkpoint", {}, "Writing a checkpoint failed.",
                                                  {{"error", status.error().message}});
                       if (self->drain_done_) self->broken_ = true;  // stop trying: the restart replays
                     }
                     self->checkDrained();
                   });
  pending_checkpoint_.reset();
}

void AggregateStage::drain(std::function<void()> done) {
  drain_done_ = std::move(done);
  takeCheckpoint();
  checkDrained();
}

void AggregateStage::checkDrained() {
  if (!drain_done_) return;
  if (!broken_ && aggregator_) {
    if (pending_checkpoint_ || checkpoint_in_flight_) return;
    if (changed_since_checkpoint_) {
      takeCheckpoint();
      if (pending_checkpoint_ || checkpoint_in_flight_) return;
    }
  }
  auto done = std::move(drain_done_);
  drain_done_ = nullptr;
  done();
}

void AggregateStage::breakFold(const pipeline::Status& status) {
  if (broken_) return;
  broken_ = true;
  pending_checkpoint_.reset();
  ports_.fail(status);
  checkDrained();
}

void AggregateStage::updateGauges() {
  auto& metrics = ports_.metrics;
  const TimePoint now = ports_.now();
  // Only changes not yet durable age: an idle fold whose state is all checkpointed reports 0.
  const auto oldest = oldest_change_being_saved_ ? oldest_change_being_saved_ : oldest_unsaved_change_;
  metrics.checkpoint_age.Set(oldest ? secondsBetween(*oldest, now) : 0.0);
  if (!aggregator_) return;
  const auto& buffer = aggregator_->buffer();
  metrics.reorder_buffer.Set(static_cast<double>(buffer.depth()));
  const auto& gap = buffer.gap();
  metrics.gap_height.Set(gap ? static_cast<double>(gap->height) : 0.0);
  metrics.gap_age.Set(gap ? secondsBetween(gap->since, now) : 0.0);
  if (const Fold* fold = aggregator_->fold(); fold != nullptr) {
    if (fold->nextHeight() > fold->startHeight()) {
      metrics.folded_height.Set(static_cast<double>(fold->nextHeight() - 1));
    }
    const FoldState& state = fold->state();
    metrics.parity_z_score.Set(parityZScore(state.parity.odd, state.parity.ring.size()));
    metrics.score.Set(static_cast<double>(state.score));
    const PeriodStats day = state.day.value_or(PeriodStats{});
    metrics.day_odd_blocks.Set(static_cast<double>(day.odd));
    metrics.day_even_blocks.Set(static_cast<double>(day.blocks - day.odd));
    const auto producers = std::ranges::count_if(
        state.day_witnesses, [](const auto& entry) { return entry.second.blocks > 0; });
    metrics.day_witnesses.Set(static_cast<double>(producers));
    metrics.day_missed_slots.Set(static_cast<double>(day.missed_slots));
  }
}

pipeline::health::CheckResult AggregateStage::health() const {
  using pipeline::health::State;
  if (broken_) return {State::Unhealthy, "the fold stopped; the process is stopping"};
  if (owned_.empty()) return {State::Degraded, "no partition of " + topics_.blocks + " assigned"};
  if (!folding()) {
    return {State::Unhealthy,
            "owns " + std::to_string(owned_.size()) + " of " + std::to_string(partition_count_) +
                " partitions of " + topics_.blocks +
                ": the fold needs every one, so another aggregator in the group stalls both "
                "(run exactly one)"};
  }
  const Fold* fold = aggregator_->fold();
  if (fold == nullptr) return {State::Healthy, "waiting for the first block"};
  if (const auto& gap = aggregator_->buffer().gap()) {
    const double age = secondsBetween(gap->since, ports_.now());
    if (age * 1000.0 > static_cast<double>(config_.max_gap_age_ms)) {
      return {State::Degraded,
              "waiting " + std::to_string(static_cast<std::int64_t>(age)) + " s for height " +
                  std::to_string(gap->height) +
                  (gap->parent_mismatch ? " (a block is there but does not extend the tip: its "
                                          "fork's retraction is missing)"
                                        : "") +
                  "; " + std::to_string(aggregator_->buffer().depth()) + " blocks buffered"};
    }
  }
  return {State::Healthy, "next height " + std::to_string(fold->nextHeight())};
}

}  // namespace stages::aggregator
