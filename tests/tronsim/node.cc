#include "tests/tronsim/node.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>

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

}  // namespace

Node::Node(uv_loop_t& loop, NodeOptions options)
    : loop_(loop),
      options_(std::move(options)),
      chain_(std::make_unique<Chain>(options_.chain)),
      head_(std::max(options_.head, options_.chain.first_height - 1)) {}

pipeline::Status Node::start() {
  if (!live()) return pipeline::Status::ok();
  auto timer = pipeline::uv::Timer::create(loop_);
  if (!timer) return timer.status();
  live_timer_ = std::move(*timer);
  return live_timer_.start(options_.live_interval_ms, options_.live_interval_ms,
                           [this] { advance(1); });
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
  const std::int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count();
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
