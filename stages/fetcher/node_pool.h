#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/status.h"
#include "stages/fetcher/backoff.h"
#include "stages/fetcher/block.h"
#include "stages/fetcher/block_parser.h"

namespace stages::fetcher {

/** One configured TRON node. */
struct NodeSpec {
  std::string url;      // base URL, e.g. https://api.trongrid.io (no trailing /wallet)
  std::string api_key;  // TRON-PRO-API-KEY header value; secret, never logged; "" = none
  double rate_limit_rps = 0;  // requests per second this node may receive; 0 = unlimited
};

/** Why a request to a node failed: the `error_kind` label of the per-node error counter. */
enum class FailureKind {
  Timeout,      // no answer before the request deadline
  Transport,    // connection, DNS, TLS, protocol
  ServerError,  // 5xx
  NodeError,    // {"Error":...} or a 4xx that is not a rate limit
  Malformed,    // unparsable body or a block failing verification
  NotFound,     // `{}` where blocks were expected (node behind, or range refused)
  RateLimited,  // 429 / throttle; honours Retry-After
  Suspended,    // TronGrid suspension of the key or address
};
inline constexpr std::size_t kFailureKinds = 8;
std::string_view failureKindName(FailureKind kind) noexcept;

/** The failure kind a non-Blocks answer reports to the pool. */
FailureKind failureKindOf(const NodeAnswer& answer) noexcept;

enum class BreakerState { Closed, Open, HalfOpen };
std::string_view breakerStateName(BreakerState state) noexcept;

struct NodePoolOptions {
  /** Consecutive counted failures that open a closed breaker. */
  std::uint32_t failure_threshold = 3;
  /** Cool-down of an open breaker; the attempt is the number of opens since it last closed. */
  BackoffPolicy open_backoff{Millis(1'000), Millis(60'000), 2.0, 0.2};
  /** How long a node stays away after a 429 without Retry-After (attempt = consecutive 429s). */
  BackoffPolicy throttle_backoff{Millis(500), Millis(30'000), 2.0, 0.2};
  /** Suspension length when the node did not say ("suspended for 30s" usually does). */
  Millis suspension_default{30'000};
  /** Weight of the newest sample in the latency and error EWMAs, (0, 1]. */
  double ewma_alpha = 0.2;
};

/** Read-only view of a node's state, for metrics and logs. */
struct NodeState {
  BreakerState breaker = BreakerState::Closed;
  TimePoint open_until{};       // breaker Open: when a probe becomes possible
  TimePoint throttled_until{};  // Retry-After / throttle backoff
  double latency_ewma_ms = 0;   // of successful requests
  double error_ewma = 0;        // 0 = every recent request succeeded, 1 = all failed
  std::uint32_t consecutive_failures = 0;  // counted failures since the last success
  std::uint32_t opens = 0;                 // breaker opens since it last closed
  std::uint32_t consecutive_throttles = 0;
  std::uint32_t in_flight = 0;
  bool probe_in_flight = false;
  bool last_failed = false;  // the latest answer failed and no failover was counted for it yet
  double tokens = 0;
  TimePoint tokens_at{};
  std::array<std::uint64_t, kFailureKinds> errors{};  // by FailureKind

  /** Usable apart from momentary throttling: breaker not open and not suspended. */
  bool up(TimePoint now) const noexcept;
};

/**
 * The fetcher's TRON nodes: per-node token-bucket rate limit, health score, circuit breaker and
 * failover. Every request goes through acquire() and ends in exactly one of onSuccess(),
 * onFailure() or onAbandoned() for the node it was given.
 *
 * Selection: a half-open node due for its probe wins (that is how a healed node returns); else the
 * closed node with the lowest cost = latency EWMA x (1 + 4 x error EWMA) x (1 + in-flight / 4),
 * ties going to the earlier configured node. A node is skipped while its breaker is open, while
 * a probe is out, while Retry-After / throttling lasts, and when its token bucket is empty.
 *
 * Breaker: Closed --failure_threshold counted failures (Timeout, Transport, ServerError,
 * NodeError, Malformed)--> Open for open_backoff.delay(opens) --> HalfOpen: one probe --success-->
 * Closed (EWMA of errors reset: the probe proved health) | --failure--> Open, longer. A suspension
 * opens the breaker at once for max(suspension, cool-down). RateLimited keeps the node away for
 * exactly Retry-After (no jitter) or the throttle backoff, without counting against the breaker.
 * NotFound only raises the error EWMA.
 *
 * A failover is counted when the node picked differs from the previous pick and the previous one's
 * latest answer was a failure, once per failure episode (not when load merely spreads over rate
 * limits, nor when a probe alternates with the healthy node).
 *
 * Lifecycle: built from the configuration, lives as long as the fetcher. Time is passed in
 * (`now`) and jitter injected, so it is pure and deterministic. Loop thread only.
 */
class NodePool {
 public:
  NodePool(std::vector<NodeSpec> nodes, NodePoolOptions options, Jitter jitter, TimePoint now);

  std::size_t size() const noexcept { return specs_.size(); }
  const NodeSpec& spec(std::size_t node) const { return specs_.at(node); }
  const NodeState& state(std::size_t node) const { return states_.at(node); }

  /**
   * Picks the node for the next request and takes one rate-limit token from it. Errors:
   * Unavailable "no node available until +<ms>ms (node0: breaker open, …)" when no node can take
   * a request now; nextAvailableAt() gives the time to try again.
   */
  [[nodiscard]] pipeline::Result<std::size_t> acquire(TimePoint now);

  /** Earliest time acquire() may succeed: `now` if it can now. */
  TimePoint nextAvailableAt(TimePoint now) const;

  void onSuccess(std::size_t node, TimePoint now, Millis latency);
  /** `retry_after`: the node's own instruction (Retry-After header, "suspended for Ns"). */
  void onFailure(std::size_t node, TimePoint now, FailureKind kind,
                 std::optional<Millis> retry_after = std::nullopt);
  /** The request ended without an answer worth judging (cancelled at drain). */
  void onAbandoned(std::size_t node);

  /** At least one node is up (readiness). */
  bool anyUp(TimePoint now) const;
  std::uint64_t failovers() const noexcept { return failovers_; }

 private:
  void refill(NodeState& state, std::size_t node, TimePoint now) const;
  bool canTake(std::size_t node, TimePoint now) const;
  TimePoint availableAt(std::size_t node, TimePoint now) const;
  double cost(const NodeState& state) const;
  void open(NodeState& state, TimePoint now, Millis at_least);
  void finish(NodeState& state);

  std::vector<NodeSpec> specs_;
  mutable std::vector<NodeState> states_;  // token refill is bookkeeping, not observable state
  NodePoolOptions options_;
  Jitter jitter_;
  std::optional<std::size_t> last_pick_;
  std::uint64_t failovers_ = 0;
};

}  // namespace stages::fetcher
