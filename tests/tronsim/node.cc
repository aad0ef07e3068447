#include "tests/tronsim/node.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "tests/tronsim/wall_clock.h"

namespace tronsim {

using pipeline::ErrorType;

namespace {

// Keys come from request bodies: only characters that cannot leave the directory.
bool safeKey(std::string_view key) noexcept {
  if (key.size() > 200) return false;
  return std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           c == '-' || c == '_';
  });
}

std::int64_t startHead(const NodeOptions& options) {
  return std::max(options.head, options.chain.first_height - 1);
}

NodeOptions anchoredToWallClock(NodeOptions options) {
  if (options.wall_clock) {
    options.chain.first_timestamp_ms =
        anchoredFirstTimestampMs(Chain(options.chain), startHead(options), wallClockMs());
  }
  return options;
}

}  // namespace

Node::Node(uv_loop_t& loop, NodeOptions options)
    : loop_(loop),
      options_(anchoredToWallClock(std::move(options))),
      chain_(std::make_unique<Chain>(options_.chain)),
      head_(startHead(options_)) {}

pipeline::Status Node::start() {
  if (!live()) return pipeline::Status::ok();
  auto timer = pipeline::uv::Timer::create(loop_);
  if (!timer) return timer.status();
  live_timer_ = std::move(*timer);
  if (options_.wall_clock) return produceDueBlocks();
  return live_timer_.start(options_.live_interval_ms, options_.live_interval_ms,
                           [this] { advance(1); });
}

pipeline::Status Node::produceDueBlocks() {
  // The timer counts from the loop's cached time: refresh it, or the block comes early by
  // however long this loop iteration has run.
  uv_update_time(&loop_);
  const std::int64_t now_ms = wallClockMs();
  const std::int64_t due = headDueAt(*chain_, head_, now_ms);
  if (due > head_) setHead(due);
  // The loop's clock (monotonic) and the wall clock may disagree by a millisecond: a timer that
  // fires early finds nothing due and is re-armed for the rest, so never less than 1 ms.
  const auto delay_ms = std::max<std::int64_t>(1, msUntilNextBlock(*chain_, head_, now_ms));
  // start() replaces the callback that is running: re-arming is the last thing it does.
  return live_timer_.start(static_cast<std::uint64_t>(delay_ms), 0, [this] {
    (void)produceDueBlocks();  // cannot fail: the timer exists and the delay is valid
  });
}

void Node::stop() noexcept { live_timer_.close(); }

void Node::setHead(std::int64_t height) noexcept {
  const std::int64_t previous = head_;
  head_ = std::max(height, firstHeight() - 1);
  stampProduced(previous + 1, head_);
  if (on_head_changed_) on_head_changed_(head_);
}

void Node::stampProduced(std::int64_t from, std::int64_t to) {
  from = std::max(from, to - kProducedTimesKept + 1);  // a jump of millions stamps only the top
  if (from > to) return;
  const std::int64_t now_ms = wallClockMs();
  for (std::int64_t height = from; height <= to; ++height) {
    produced_at_ms_.insert_or_assign(height, now_ms);
  }
  while (static_cast<std::int64_t>(produced_at_ms_.size()) > kProducedTimesKept) {
    produced_at_ms_.erase(produced_at_ms_.begin());
  }
}

pipeline::Result<ForkResult> Node::fork(std::int64_t depth, std::int64_t advance_by) {
  if (depth < 1) {
    return pipeline::Error{ErrorType::InvalidArgument,
                           fmt::format("depth: must be >= 1 (got {})", depth)};
  }
  const std::int64_t from = head_ - depth + 1;
  if (from < firstHeight()) {
    return pipeline::Error{
        ErrorType::InvalidArgument,
        fmt::format("depth: {} reaches below the first height {} (head {})", depth,
                    firstHeight(), head_)};
  }
  if (advance_by < 0) {
    return pipeline::Error{ErrorType::InvalidArgument,
                           fmt::format("advance: must be >= 0 (got {})", advance_by)};
  }
  ForkResult result;
  result.from_height = from;
  result.branch = chain_->fork(from);
  stampProduced(from, head_);
  if (advance_by > 0) advance(advance_by);
  result.head = head_;
  return result;
}

std::optional<std::string> Node::recorded(std::string_view api, std::string_view endpoint,
                                          std::string_view key) const {
  if (!recordedMode() || !safeKey(api) || !safeKey(endpoint) || !safeKey(key)) {
    return std::nullopt;
  }
  const std::string path =
      key.empty() ? fmt::format("{}/{}/{}.json", options_.recorded_dir, api, endpoint)
                  : fmt::format("{}/{}/{}/{}.json", options_.recorded_dir, api, endpoint, key);
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream content;
  content << in.rdbuf();
  if (!in && !in.eof()) return std::nullopt;
  return std::move(content).str();
}

}  // namespace tronsim
