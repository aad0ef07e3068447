#include "stages/fetcher/sequencer.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace stages::fetcher {
namespace {

constexpr double kSizeEwmaAlpha = 0.1;

}  // namespace

std::string_view finalityModeName(FinalityMode mode) noexcept {
  switch (mode) {
    case FinalityMode::Realtime: return "realtime";
    case FinalityMode::Confirmations: return "confirmations";
    case FinalityMode::Solidified: return "solidified";
  }
  return "unknown";
}

Sequencer::Sequencer(SequencerOptions options, StartPoint start, Jitter jitter)
    : options_(options),
      jitter_(jitter ? std::move(jitter) : Jitter([] { return 0.5; })),
      next_(start.next_height),
      frontier_(start.next_height),
      block_size_ewma_(static_cast<double>(std::max<std::uint64_t>(1, options.block_size_estimate_bytes))) {
  options_.range_size = std::clamp<std::uint32_t>(options_.range_size, 1, 100);
  options_.max_in_flight_requests = std::max<std::uint32_t>(1, options_.max_in_flight_requests);
  // Only a gap-free run ending right below next_height is usable for the walk-back.
  std::int64_t expected = start.next_height - 1;
  for (auto it = start.recent.rbegin(); it != start.recent.rend(); ++it) {
    if (it->height != expected || recent_.size() > options_.max_fork_depth) break;
    recent_.push_front(*it);
    --expected;
  }
}

std::int64_t Sequencer::target() const noexcept {
  switch (options_.finality) {
    case FinalityMode::Realtime: return head_;
    case FinalityMode::Confirmations:
      return head_ < 0 ? -1 : std::max<std::int64_t>(-1, head_ - options_.confirmations);
    case FinalityMode::Solidified: return solid_head_;
  }
  return -1;
}

void Sequencer::setHeadHeight(std::int64_t head) { head_ = std::max(head_, head); }

void Sequencer::setSolidifiedHeadHeight(std::int64_t height) {
  solid_head_ = std::max(solid_head_, height);
  head_ = std::max(head_, height);
}

void Sequencer::onHead(const ParsedBlock& block) {
  setHeadHeight(block.height);
  if (options_.finality == FinalityMode::Realtime && block.height == frontier_ &&
      block.height >= next_ && !buffer_.contains(block.height)) {
    ++frontier_;
    take(block);
    release();
  }
}

void Sequencer::onSolidifiedHead(const ParsedBlock& block) {
  setSolidifiedHeadHeight(block.height);
  if (options_.finality == FinalityMode::Solidified && block.height == frontier_ &&
      block.height >= next_ && !buffer_.contains(block.height)) {
    ++frontier_;
    take(block);
    release();
  }
}

std::uint64_t Sequencer::estimate(std::int64_t blocks) const {
  return static_cast<std::uint64_t>(std::llround(block_size_ewma_ * static_cast<double>(blocks)));
}

std::uint64_t Sequencer::estimatedRequested() const {
  std::uint64_t total = 0;
  for (const auto& [id, pending] : pending_) total += pending.estimated_bytes;
  return total;
}

std::uint64_t Sequencer::bytesInFlight() const noexcept {
  return estimatedRequested() + buffered_bytes_ + unacked_bytes_;
}

std::optional<BlockRef> Sequencer::tip() const {
  if (recent_.empty()) return std::nullopt;
  return recent_.back();
}

bool Sequencer::caughtUp() const noexcept {
  return next_ > target() && pending_.empty() && redo_.empty() && !fork_;
}

std::int64_t Sequencer::lagBlocks() const noexcept {
  if (head_ < 0) return 0;
  return std::max<std::int64_t>(0, head_ - (next_ - 1));
}

TimePoint Sequencer::backoff(std::uint32_t attempt, TimePoint now) {
  return now + options_.retry_backoff.delay(attempt, jitter_());
}

std::vector<FetchRequest> Sequencer::plan(TimePoint now) {
  std::vector<FetchRequest> requests;
  if (!status_.isOk()) return requests;
  if (fork_ && !fork_->requested && now >= fork_->not_before) {
    const std::int64_t height = fork_->branch.back().height - 1;
    const std::uint64_t id = next_id_++;
    pending_[id] = Pending{height, height + 1, fork_->attempt, 0, true};
    fork_->requested = true;
    requests.push_back(FetchRequest{id, height, height + 1, true});
  }
  const std::int64_t limit = target() + 1;  // exclusive
  auto ranges = [&] {
    return static_cast<std::size_t>(std::count_if(pending_.begin(), pending_.end(),
                                                  [](const auto& p) { return !p.second.walk_back; }));
  };
  while (ranges() < options_.max_in_flight_requests && unacked_bytes_ < options_.max_in_flight_bytes) {
    // Due re-asks first (they are all below the frontier), lowest first; else new heights.
    std::int64_t start = 0;
    std::int64_t end = 0;
    std::uint32_t attempt = 0;
    auto due = std::find_if(redo_.begin(), redo_.end(),
                            [now](const auto& r) { return now >= r.second.not_before; });
    const bool from_redo = due != redo_.end();
    if (from_redo) {
      start = due->first;
      end = due->second.end;
      attempt = due->second.attempt;
    } else {
      if (frontier_ >= limit) break;
      start = frontier_;
      end = std::min<std::int64_t>(limit, frontier_ + options_.range_size);
    }
    const std::uint64_t used = bytesInFlight();
    const std::uint64_t room = used >= options_.max_in_flight_bytes ? 0 : options_.max_in_flight_bytes - used;
    std::int64_t fits = static_cast<std::int64_t>(static_cast<double>(room) / block_size_ewma_);
    if (fits <= 0) {
      // Only the head-of-line request may exceed the cap, by one block, and only from within it:
      // a second one waits until acknowledgements bring the total back under the cap.
      // (If nothing outstanding can free bytes any more, it goes anyway: never a deadlock.)
      const bool will_free = unacked_bytes_ > 0 || ranges() > 0;
      if (start != next_ || (used > options_.max_in_flight_bytes && will_free)) break;
      fits = 1;
    }
    end = std::min(end, start + fits);
    if (from_redo) {
      const Redo rest = due->second;
      redo_.erase(due);
      if (end < rest.end) redo_[end] = Redo{rest.end, rest.attempt, rest.not_before};
    } else {
      frontier_ = end;
    }
    const std::uint64_t id = next_id_++;
    pending_[id] = Pending{start, end, attempt, estimate(end - start), false};
    requests.push_back(FetchRequest{id, start, end, false});
  }
  return requests;
}

void Sequencer::addRedo(std::int64_t start, std::int64_t end, std::uint32_t attempt,
                        TimePoint not_before) {
  if (start >= end) return;
  stats_.gaps_repaired += static_cast<std::uint64_t>(end - start);
  redo_[start] = Redo{end, attempt, not_before};
}

bool Sequencer::take(ParsedBlock block) {
  if (block.height < next_ || buffer_.contains(block.height)) {
    ++stats_.duplicates_ignored;
    return false;
  }
  ++stats_.received_blocks;
  const auto size = static_cast<double>(block.raw_json.size());
  block_size_ewma_ = std::max(1.0, (1 - kSizeEwmaAlpha) * block_size_ewma_ + kSizeEwmaAlpha * size);
  buffered_bytes_ += block.raw_json.size();
  buffer_.emplace(block.height, std::move(block));
  return true;
}

bool Sequencer::onBlocks(std::uint64_t id, std::vector<ParsedBlock> blocks, TimePoint now) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return false;
  const Pending pending = it->second;
  pending_.erase(it);
  if (pending.walk_back) {
    onWalkBack(pending, blocks, now);
    release();
    return true;
  }
  bool progress = false;
  for (auto& block : blocks) {
    if (block.height < pending.start || block.height >= pending.end) {
      ++stats_.out_of_range_ignored;
      continue;
    }
    progress = take(std::move(block)) || progress;
  }
  // Heights of the range that are still nowhere (a partial answer) are asked again: at once when
  // the node made progress (it was merely short), after a backoff when it gave nothing.
  const TimePoint when = progress ? now : backoff(pending.attempt, now);
  std::int64_t run = -1;
  for (std::int64_t h = std::max(pending.start, next_); h <= pending.end; ++h) {
    const bool missing = h < pending.end && !buffer_.contains(h) &&
                         !(fork_ && !fork_->branch.empty() && h == fork_->branch.front().height);
    if (missing && run < 0) run = h;
    if (!missing && run >= 0) {
      addRedo(run, h, pending.attempt + 1, when);
      run = -1;
    }
  }
  release();
  return true;
}

// Removes request `id`; a walk-back probe that found nothing is handed to the walk-back logic.
// Returns the range request to re-plan, or nothing (unknown id, or a walk-back probe).
std::optional<Sequencer::Pending> Sequencer::takeRange(std::uint64_t id, TimePoint now,
                                                       bool& known) {
  auto it = pending_.find(id);
  known = it != pending_.end();
  if (!known) return std::nullopt;
  const Pending pending = it->second;
  pending_.erase(it);
  if (pending.walk_back) {
    std::vector<ParsedBlock> none;
    onWalkBack(pending, none, now);
    return std::nullopt;
  }
  return pending;
}

bool Sequencer::onEmpty(std::uint64_t id, TimePoint now) {
  bool known = false;
  auto taken = takeRange(id, now, known);
  if (!taken) return known;
  const Pending& pending = *taken;
  const std::int64_t start = std::max(pending.start, next_);
  const std::int64_t mid = start + (pending.end - start + 1) / 2;
  const TimePoint when = backoff(pending.attempt, now);
  addRedo(start, mid, pending.attempt + 1, when);
  addRedo(mid, pending.end, pending.attempt + 1, when);
  return true;
}

bool Sequencer::onFailure(std::uint64_t id, TimePoint now) {
  bool known = false;
  auto taken = takeRange(id, now, known);
  if (!taken) return known;
  const Pending& pending = *taken;
  addRedo(std::max(pending.start, next_), pending.end, pending.attempt + 1,
          backoff(pending.attempt, now));
  return true;
}

bool Sequencer::onCancelled(std::uint64_t id, TimePoint not_before) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return false;
  const Pending pending = it->second;
  pending_.erase(it);
  if (pending.walk_back) {
    if (fork_) {
      fork_->requested = false;
      fork_->not_before = not_before;
    }
    return true;
  }
  const std::int64_t start = std::max(pending.start, next_);
  if (start < pending.end) redo_[start] = Redo{pending.end, pending.attempt, not_before};
  return true;
}

std::vector<Output> Sequencer::takeOutput() {
  std::vector<Output> out;
  out.swap(output_);
  return out;
}

void Sequencer::onDelivered(std::uint64_t bytes) {
  unacked_bytes_ -= std::min(bytes, unacked_bytes_);
}

TimePoint Sequencer::nextDueAt(TimePoint now) const {
  TimePoint at = TimePoint::max();
  for (const auto& [start, redo] : redo_) {
    if (redo.not_before > now) at = std::min(at, redo.not_before);
  }
  if (fork_ && !fork_->requested && fork_->not_before > now) at = std::min(at, fork_->not_before);
  return at;
}

const BlockRef* Sequencer::recentAt(std::int64_t height) const {
  if (recent_.empty() || height < recent_.front().height || height > recent_.back().height) {
    return nullptr;
  }
  return &recent_[static_cast<std::size_t>(height - recent_.front().height)];
}

void Sequencer::emit(ParsedBlock block) {
  recent_.push_back(block.ref());
  while (recent_.size() > static_cast<std::size_t>(options_.max_fork_depth) + 1) recent_.pop_front();
  next_ = block.height + 1;
  frontier_ = std::max(frontier_, next_);
  unacked_bytes_ += block.raw_json.size();
  ++stats_.emitted_blocks;
  output_.push_back(Output{Output::Type::Block, std::move(block)});
}

void Sequencer::release() {
  while (!fork_ && status_.isOk() && !buffer_.empty() && buffer_.begin()->first == next_) {
    auto node = buffer_.extract(buffer_.begin());
    buffered_bytes_ -= node.mapped().raw_json.size();
    if (!recent_.empty() && node.mapped().parent_id != recent_.back().block_id) {
      ++stats_.link_mismatches;
      startFork(std::move(node.mapped()));
      return;
    }
    emit(std::move(node.mapped()));
  }
}

void Sequencer::startFork(ParsedBlock block) {
  fork_ = Fork{};
  fork_->branch.push_back(std::move(block));
  if (recent_.empty() || recentAt(fork_->branch.back().height - 1) == nullptr) {
    status_ = pipeline::Status(pipeline::ErrorType::Internal,
                               "fork below the oldest remembered block at height " +
                                   std::to_string(fork_->branch.back().height));
  }
}

void Sequencer::abandonFork(TimePoint now) {
  // Nodes disagree (or the walk-back probe failed too often): drop the branch and ask for the
  // first height again; the invariant needs next_ back in the re-ask list.
  const std::uint32_t attempt = fork_->attempt;
  fork_.reset();
  addRedo(next_, next_ + 1, attempt + 1, backoff(attempt, now));
}

void Sequencer::onWalkBack(const Pending& pending, std::vector<ParsedBlock>& blocks, TimePoint now) {
  if (!fork_) return;
  fork_->requested = false;
  auto found = std::find_if(blocks.begin(), blocks.end(),
                            [&](const ParsedBlock& b) { return b.height == pending.start; });
  if (found == blocks.end()) {
    ++fork_->attempt;
    fork_->not_before = backoff(fork_->attempt - 1, now);
    return;
  }
  ParsedBlock block = std::move(*found);
  if (fork_->branch.back().parent_id != block.block_id) {
    ++stats_.link_mismatches;
    abandonFork(now);
    return;
  }
  const BlockRef* emitted = recentAt(block.height);
  if (emitted != nullptr && emitted->block_id == block.block_id) {
    if (block.height == recent_.back().height) {  // the branch links to the tip after all
      abandonFork(now);
      return;
    }
    // Fork point found: retract (highest first), then the new branch (lowest first).
    ++stats_.forks;
    while (recent_.back().height > block.height) {
      Output retraction{Output::Type::Retraction, ParsedBlock{}};
      retraction.block.height = recent_.back().height;
      retraction.block.block_id = recent_.back().block_id;
      output_.push_back(std::move(retraction));
      ++stats_.retractions;
      recent_.pop_back();
    }
    auto branch = std::move(fork_->branch);
    fork_.reset();
    for (auto it = branch.rbegin(); it != branch.rend(); ++it) emit(std::move(*it));
    return;
  }
  // Still on the new branch: keep walking, within the depth we remember.
  fork_->branch.push_back(std::move(block));
  fork_->attempt = 0;
  fork_->not_before = now;
  const std::int64_t below = fork_->branch.back().height - 1;
  const std::int64_t depth = recent_.back().height - below;
  if (recentAt(below) == nullptr || depth > static_cast<std::int64_t>(options_.max_fork_depth)) {
    status_ = pipeline::Status(
        pipeline::ErrorType::Internal,
        "fork deeper than fetcher.max_fork_depth_blocks=" + std::to_string(options_.max_fork_depth) +
            " below height " + std::to_string(recent_.back().height));
  }
}

}  // namespace stages::fetcher
