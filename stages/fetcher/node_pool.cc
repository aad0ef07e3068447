#include "stages/fetcher/node_pool.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace stages::fetcher {
namespace {

// Prior latency of a node without samples, so that configuration order breaks ties.
constexpr double kInitialLatencyMs = 100.0;
constexpr double kErrorWeight = 4.0;
constexpr double kInFlightWeight = 0.25;

bool countsAgainstBreaker(FailureKind kind) {
  switch (kind) {
    case FailureKind::Timeout:
    case FailureKind::Transport:
    case FailureKind::ServerError:
    case FailureKind::NodeError:
    case FailureKind::Malformed: return true;
    case FailureKind::NotFound:
    case FailureKind::RateLimited:
    case FailureKind::Suspended: return false;
  }
  return true;
}

}  // namespace

std::string_view failureKindName(FailureKind kind) noexcept {
  switch (kind) {
    case FailureKind::Timeout: return "timeout";
    case FailureKind::Transport: return "transport";
    case FailureKind::ServerError: return "server_error";
    case FailureKind::NodeError: return "node_error";
    case FailureKind::Malformed: return "malformed";
    case FailureKind::NotFound: return "not_found";
    case FailureKind::RateLimited: return "rate_limited";
    case FailureKind::Suspended: return "suspended";
  }
  return "unknown";
}

FailureKind failureKindOf(const NodeAnswer& answer) noexcept {
  switch (answer.kind) {
    case AnswerKind::NotFound: return FailureKind::NotFound;
    case AnswerKind::NodeError: return FailureKind::NodeError;
    case AnswerKind::RateLimited:
      return answer.suspended ? FailureKind::Suspended : FailureKind::RateLimited;
    case AnswerKind::ServerError: return FailureKind::ServerError;
    case AnswerKind::Blocks:  // a Blocks answer that the caller rejected (e.g. wrong heights)
    case AnswerKind::Malformed: return FailureKind::Malformed;
  }
  return FailureKind::Malformed;
}

std::string_view breakerStateName(BreakerState state) noexcept {
  switch (state) {
    case BreakerState::Closed: return "closed";
    case BreakerState::Open: return "open";
    case BreakerState::HalfOpen: return "half_open";
  }
  return "unknown";
}

bool NodeState::up(TimePoint now) const noexcept {
  return breaker != BreakerState::Open || now >= open_until;
}

NodePool::NodePool(std::vector<NodeSpec> nodes, NodePoolOptions options, Jitter jitter,
                   TimePoint now)
    : specs_(std::move(nodes)),
      states_(specs_.size()),
      options_(options),
      jitter_(jitter ? std::move(jitter) : Jitter([] { return 0.5; })) {
  for (std::size_t i = 0; i < specs_.size(); ++i) {
    states_[i].latency_ewma_ms = kInitialLatencyMs;
    states_[i].tokens = std::max(1.0, specs_[i].rate_limit_rps);
    states_[i].tokens_at = now;
  }
}

void NodePool::refill(NodeState& state, std::size_t node, TimePoint now) const {
  const double rps = specs_[node].rate_limit_rps;
  if (rps <= 0 || now <= state.tokens_at) return;
  const double elapsed = std::chrono::duration<double>(now - state.tokens_at).count();
  state.tokens = std::min(std::max(1.0, rps), state.tokens + elapsed * rps);
  state.tokens_at = now;
}

bool NodePool::canTake(std::size_t node, TimePoint now) const {
  auto& state = states_[node];
  if (state.breaker == BreakerState::Open && now < state.open_until) return false;
  if (state.breaker != BreakerState::Closed && state.probe_in_flight) return false;
  if (now < state.throttled_until) return false;
  refill(state, node, now);
  return specs_[node].rate_limit_rps <= 0 || state.tokens >= 1.0;
}

TimePoint NodePool::availableAt(std::size_t node, TimePoint now) const {
  auto& state = states_[node];
  if (state.breaker != BreakerState::Closed && state.probe_in_flight) return TimePoint::max();
  TimePoint at = now;
  if (state.breaker == BreakerState::Open) at = std::max(at, state.open_until);
  at = std::max(at, state.throttled_until);
  const double rps = specs_[node].rate_limit_rps;
  if (rps > 0) {
    refill(state, node, now);
    if (state.tokens < 1.0) {
      const auto wait = std::chrono::duration<double>((1.0 - state.tokens) / rps);
      at = std::max(at, now + std::chrono::ceil<Clock::duration>(wait));
    }
  }
  return at;
}

double NodePool::cost(const NodeState& state) const {
  return (state.latency_ewma_ms + 1.0) * (1.0 + kErrorWeight * state.error_ewma) *
         (1.0 + kInFlightWeight * static_cast<double>(state.in_flight));
}

pipeline::Result<std::size_t> NodePool::acquire(TimePoint now) {
  std::optional<std::size_t> best;
  for (std::size_t i = 0; i < states_.size(); ++i) {
    auto& state = states_[i];
    if (state.breaker == BreakerState::Open && now >= state.open_until) {
      state.breaker = BreakerState::HalfOpen;
    }
    if (!canTake(i, now)) continue;
    if (state.breaker == BreakerState::HalfOpen) {  // a due probe beats every closed node
      if (!best || states_[*best].breaker != BreakerState::HalfOpen) best = i;
      continue;
    }
    if (!best || (states_[*best].breaker == BreakerState::Closed &&
                  cost(state) < cost(states_[*best]))) {
      best = i;
    }
  }
  if (!best) {
    const auto until = nextAvailableAt(now);
    std::string message = "no node available until ";
    message += until == TimePoint::max()
                   ? std::string("a probe completes")
                   : "+" + std::to_string(std::chrono::ceil<Millis>(until - now).count()) + "ms";
    message += " (";
    for (std::size_t i = 0; i < states_.size(); ++i) {
      const auto& state = states_[i];
      if (i > 0) message += ", ";
      message += "node" + std::to_string(i) + ": ";
      if (state.breaker == BreakerState::Open) {
        message += "breaker open";
      } else if (state.breaker == BreakerState::HalfOpen) {
        message += "probing";
      } else if (now < state.throttled_until) {
        message += "rate limited by the node";
      } else {
        message += "rate limit reached";
      }
    }
    message += ")";
    return pipeline::Error{pipeline::ErrorType::Unavailable, std::move(message)};
  }
  const std::size_t node = *best;
  auto& state = states_[node];
  if (state.breaker == BreakerState::HalfOpen) state.probe_in_flight = true;
  if (specs_[node].rate_limit_rps > 0) state.tokens -= 1.0;
  ++state.in_flight;
  if (last_pick_ && *last_pick_ != node) {
    // Counted once per failure episode of the node we move away from.
    auto& previous = states_[*last_pick_];
    if (previous.last_failed) {
      ++failovers_;
      previous.last_failed = false;
    }
  }
  last_pick_ = node;
  return node;
}

TimePoint NodePool::nextAvailableAt(TimePoint now) const {
  TimePoint best = TimePoint::max();
  for (std::size_t i = 0; i < states_.size(); ++i) best = std::min(best, availableAt(i, now));
  return best;
}

void NodePool::finish(NodeState& state) {
  if (state.in_flight > 0) --state.in_flight;
}

void NodePool::onSuccess(std::size_t node, TimePoint /*now*/, Millis latency) {
  auto& state = states_.at(node);
  finish(state);
  const double a = options_.ewma_alpha;
  state.latency_ewma_ms = (1 - a) * state.latency_ewma_ms + a * static_cast<double>(latency.count());
  state.error_ewma = (1 - a) * state.error_ewma;
  state.consecutive_failures = 0;
  state.consecutive_throttles = 0;
  state.last_failed = false;
  if (state.breaker != BreakerState::Closed) {
    state.breaker = BreakerState::Closed;
    state.probe_in_flight = false;
    state.opens = 0;
    state.error_ewma = 0;
  }
}

void NodePool::open(NodeState& state, TimePoint now, Millis at_least) {
  const auto cool_down = options_.open_backoff.delay(state.opens, jitter_());
  state.breaker = BreakerState::Open;
  state.open_until = now + std::max(cool_down, at_least);
  state.probe_in_flight = false;
  ++state.opens;
}

void NodePool::onFailure(std::size_t node, TimePoint now, FailureKind kind,
                         std::optional<Millis> retry_after) {
  auto& state = states_.at(node);
  finish(state);
  ++state.errors[static_cast<std::size_t>(kind)];
  state.last_failed = true;
  const double a = options_.ewma_alpha;
  state.error_ewma = (1 - a) * state.error_ewma + a;
  const bool probing = state.breaker == BreakerState::HalfOpen;
  if (kind == FailureKind::Suspended) {
    open(state, now, retry_after.value_or(options_.suspension_default));
    return;
  }
  if (kind == FailureKind::RateLimited) {
    state.throttled_until =
        now + (retry_after ? *retry_after
                           : options_.throttle_backoff.delay(state.consecutive_throttles, jitter_()));
    ++state.consecutive_throttles;
    if (probing) state.probe_in_flight = false;  // alive, but the probe proved nothing
    return;
  }
  if (!countsAgainstBreaker(kind)) {
    if (probing) state.probe_in_flight = false;
    return;
  }
  ++state.consecutive_failures;
  if (probing || (state.breaker == BreakerState::Closed &&
                  state.consecutive_failures >= options_.failure_threshold)) {
    open(state, now, Millis(0));
  }
}

void NodePool::onAbandoned(std::size_t node) {
  auto& state = states_.at(node);
  finish(state);
  state.probe_in_flight = false;
}

bool NodePool::anyUp(TimePoint now) const {
  return std::any_of(states_.begin(), states_.end(),
                     [now](const NodeState& state) { return state.up(now); });
}

}  // namespace stages::fetcher
