#include "stages/persister/batch_writer.h"

#include <chrono>

#include "pipeline/dead_letter.h"

namespace stages::persister {
namespace {

double wallSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

BatchWriter::BatchWriter(Store& store, PersisterTopics topics, pipeline::EventSink& sink,
                         PersisterMetrics& metrics, pipeline::StageMetrics& stage_metrics,
                         const pipeline::log::Logger& log, FatalHandler on_fatal)
    : store_(store),
      topics_(std::move(topics)),
      sink_(sink),
      metrics_(metrics),
      stage_metrics_(stage_metrics),
      log_(log),
      on_fatal_(std::move(on_fatal)) {}

std::optional<Input> BatchWriter::inputOf(std::string_view topic) const {
  if (topic == topics_.blocks) return Input::Blocks;
  if (topic == topics_.stats) return Input::Stats;
  if (topic == topics_.metrics) return Input::Metrics;
  return std::nullopt;
}

void BatchWriter::assign(std::vector<pipeline::kafka::TopicPartition>& partitions) {
  auto stored = store_.offsets();
  if (!stored) {
    // Without the stored offsets no position is safe; starting from the beginning is (writes are
    // idempotent), only slower.
    stage_metrics_.error(stored.error().type, pipeline::Phase::Receiving).Increment();
    log_.error("Reading stored offsets failed; reading assigned partitions from the beginning.",
               {{"error", stored.status().toString()}});
  }
  std::map<PartitionKey, std::int64_t> known;
  if (stored) {
    for (const auto& offset : *stored) known[{offset.topic, offset.partition}] = offset.next_offset;
  }
  // Ranges are asked once per topic, only when some stored offset needs checking.
  std::map<std::string, std::optional<std::vector<pipeline::kafka::OffsetRange>>> ranges;
  const auto pastTheEnd = [&](const std::string& topic, std::int32_t partition, std::int64_t offset) {
    if (!offset_ranges_) return false;
    auto [it, fresh] = ranges.try_emplace(topic);
    if (fresh) {
      auto fetched = offset_ranges_(topic);
      if (fetched) {
        it->second = std::move(*fetched);
      } else {
        log_.warn("Could not check the stored offsets against the topic; trusting them.",
                  {{"topic", topic}, {"error", fetched.status().toString()}});
      }
    }
    return it->second && static_cast<std::size_t>(partition) < it->second->size() &&
           offset > (*it->second)[static_cast<std::size_t>(partition)].high;
  };
  for (auto& partition : partitions) {
    auto found = known.find({partition.topic, partition.partition});
    if (found != known.end() && pastTheEnd(partition.topic, partition.partition, found->second)) {
      log_.warn("Stored offset is past the end of the partition: the topic was recreated or the "
                "broker lost its data. Reading the partition from its beginning (writes are "
                "idempotent).",
                {{"topic", partition.topic},
                 {"partition", static_cast<std::int64_t>(partition.partition)},
                 {"stored_offset", found->second}});
      committed_.erase(found->first);
      found = known.end();
    }
    if (found != known.end()) {
      partition.offset = found->second;
      committed_[found->first] = found->second;
    } else {
      // Never seen by SQLite: from its first record (stats is compacted and must be read whole;
      // blocks and metrics keep what retention left).
      partition.offset = pipeline::kafka::TopicPartition::kOffsetBeginning;
    }
  }
}

void BatchWriter::add(const pipeline::kafka::Record& record, Finish finish) {
  const PartitionKey key{std::string(record.topic()), record.partition()};
  if (const auto committed = committed_.find(key);
      committed != committed_.end() && record.offset() < committed->second) {
    metrics_.replayed_records.Increment();
    stage_metrics_.discarded(/*intentional=*/true).Increment();
    finish(pipeline::Outcome::Done);
    return;
  }
  auto& next = batch_offsets_[key];
  next = std::max(next, record.offset() + 1);
  const auto input = inputOf(record.topic());
  Entry entry{.finish = std::move(finish)};
  auto mutation = input ? parser_.parse(*input, record.key(), record.value())
                        : pipeline::Result<Mutation>(pipeline::Error{
                              pipeline::ErrorType::InvalidPayload, "unexpected_topic"});
  if (mutation) {
    if (std::holds_alternative<BlockRetraction>(*mutation)) ++batch_retractions_;
    if (std::holds_alternative<StatsDeletion>(*mutation)) ++batch_tombstones_;
    ++batch_inputs_[static_cast<std::size_t>(*input)];
    batch_.mutations.push_back(std::move(*mutation));
  } else {
    entry.on_commit = pipeline::Outcome::Reject;
    sendToDlq(record, mutation.error().message);
  }
  entries_.push_back(std::move(entry));
}

void BatchWriter::sendToDlq(const pipeline::kafka::Record& record, const std::string& reason) {
  pipeline::countRejected(record, reason, stage_metrics_, log_, "invalid_payload");
  ++dead_letters_pending_;
  sink_.send(pipeline::deadLetter(record, reason, topics_.dlq),
             [this, alive = std::weak_ptr<bool>(alive_), generation = batch_generation_](
                 const pipeline::Status& status, const pipeline::Delivery&) {
               if (alive.expired() || generation != batch_generation_) return;
               --dead_letters_pending_;
               if (!status) dead_letter_failed_ = true;
               if (dead_letters_pending_ == 0 && flush_wanted_) flush();
             });
}

void BatchWriter::flush() {
  if (entries_.empty()) return;
  if (dead_letters_pending_ > 0) {
    flush_wanted_ = true;
    return;
  }
  if (dead_letter_failed_ || fatal_) {
    failBatch();
    return;
  }
  write();
}

void BatchWriter::write() {
  for (const auto& [key, next] : batch_offsets_) {
    batch_.offsets.push_back({.topic = key.first, .partition = key.second, .next_offset = next});
  }
  const auto started = std::chrono::steady_clock::now();
  auto written = store_.write(batch_);
  metrics_.commit_duration.Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  if (!written) {
    const pipeline::Error& error = written.error();
    stage_metrics_.error(error.type, pipeline::Phase::Processing).Increment();
    metrics_.failed_batches.Increment();
    if (error.type == pipeline::ErrorType::Internal) {
      fatal_ = true;
      health_ = {pipeline::health::State::Unhealthy, "The database is unusable: " + error.message};
      failBatch();
      on_fatal_(pipeline::Status(error));
      return;
    }
    health_ = {error.type == pipeline::ErrorType::Unavailable ? pipeline::health::State::Degraded
                                                              : pipeline::health::State::Unhealthy,
               "Writing failed; records are retried: " + error.message};
    log_.errorEvery(pipeline::errorTypeName(error.type), {}, "Writing a batch failed; retrying.",
                    {{"error", pipeline::Status(error).toString()}, {"records", entries_.size()}});
    failBatch();
    return;
  }
  health_ = {pipeline::health::State::Healthy, "The last batch was committed."};
  metrics_.batches.Increment();
  metrics_.last_commit_time.Set(wallSeconds());
  if (written->latest_block_height) {
    metrics_.block_height.Set(static_cast<double>(*written->latest_block_height));
  }
  metrics_.retractions.Increment(static_cast<double>(batch_retractions_));
  metrics_.tombstones.Increment(static_cast<double>(batch_tombstones_));
  metrics_.pruned_rows.Increment(static_cast<double>(written->pruned_rows));
  for (std::size_t i = 0; i < batch_inputs_.size(); ++i) {
    metrics_.writtenFor(static_cast<Input>(i)).Increment(static_cast<double>(batch_inputs_[i]));
  }
  for (const auto& offset : batch_.offsets) {
    committed_[{offset.topic, offset.partition}] = offset.next_offset;
  }
  for (auto& entry : takeBatch()) entry.finish(entry.on_commit);
}

void BatchWriter::failBatch() {
  for (auto& entry : takeBatch()) entry.finish(pipeline::Outcome::Retry);
}

std::vector<BatchWriter::Entry> BatchWriter::takeBatch() {
  std::vector<Entry> entries = std::move(entries_);
  entries_.clear();
  batch_ = {};
  batch_offsets_.clear();
  batch_inputs_ = {};
  batch_retractions_ = 0;
  batch_tombstones_ = 0;
  dead_letters_pending_ = 0;
  dead_letter_failed_ = false;
  flush_wanted_ = false;
  ++batch_generation_;
  return entries;
}

pipeline::health::CheckResult BatchWriter::health() const { return health_; }

}  // namespace stages::persister
