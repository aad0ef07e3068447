#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "pipeline/status.h"
#include "pipeline/uv/handle.h"
#include "tests/tronsim/chain.h"

namespace tronsim {

struct NodeOptions {
  ChainOptions chain;
  /** The head at start: the highest visible block. Catch-up mode keeps it until setHead(). */
  std::int64_t head = 1000;
  /** > 0: live mode, the head advances by one block every live_interval_ms. */
  std::uint64_t live_interval_ms = 0;
  /**
   * Live mode on the wall clock (wall_clock.h), whatever live_interval_ms says: at construction
   * chain.first_timestamp_ms is replaced so that the head's slot is the current one, and each
   * later block appears when the clock reaches its timestamp (the chain's 3 s slots).
   */
  bool wall_clock = false;
  /** Solidified head = head - solidity_lag (java-tron's 27-SR rule gives 18). */
  std::int64_t solidity_lag = 18;
  /** Non-empty: recorded-responses mode, every API answer comes from files under this directory
   *  (docs/tronsim.md, "Recorded responses"). */
  std::string recorded_dir;
};

/** The result of fork(). */
struct ForkResult {
  std::int64_t from_height = 0;  // first height on the new branch
  int branch = 0;
  std::int64_t head = 0;         // head after the optional advance
};

/**
 * The simulated node's state: the chain, its head and its solidified head, plus the recorded
 * responses of recorded mode. Heights above the head do not exist yet for the API, even though
 * the chain can render them.
 *
 * Lifecycle: construct -> start() (arms the live timer in live mode) -> stop() or destruction.
 * Loop thread only (the chain itself is thread-safe).
 */
class Node {
 public:
  Node(uv_loop_t& loop, NodeOptions options);
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  /** Errors: Io if the live timer cannot be created or started. */
  [[nodiscard]] pipeline::Status start();
  void stop() noexcept;

  const NodeOptions& options() const noexcept { return options_; }
  Chain& chain() noexcept { return *chain_; }
  const Chain& chain() const noexcept { return *chain_; }

  bool live() const noexcept { return options_.wall_clock || options_.live_interval_ms > 0; }
  std::int64_t firstHeight() const noexcept { return options_.chain.first_height; }
  std::int64_t head() const noexcept { return head_; }
  /** head - solidity_lag; below firstHeight() means no block is solidified yet. */
  std::int64_t solidHead() const noexcept { return head_ - options_.solidity_lag; }
  /** The top of the view of `/wallet/` (solid = false) or `/walletsolidity/` (solid = true). */
  std::int64_t viewHead(bool solid) const noexcept { return solid ? solidHead() : head(); }
  /** True when `height` exists in that view. */
  bool visible(std::int64_t height, bool solid) const noexcept {
    return height >= firstHeight() && height <= viewHead(solid);
  }

  /**
   * Sets the head (any mode; live mode keeps advancing from there). Clamped to >= first - 1. On
   * the wall clock a head ahead of the clock stays until the clock reaches the next block; one
   * behind it catches up to the clock at the next due time.
   */
  void setHead(std::int64_t height) noexcept;
  void advance(std::int64_t blocks = 1) noexcept { setHead(head_ + blocks); }

  /**
   * Replaces the top `depth` blocks: chain.fork(head - depth + 1), then advances the head by
   * `advance` blocks. Errors: InvalidArgument if depth < 1 or reaches below firstHeight().
   */
  [[nodiscard]] pipeline::Result<ForkResult> fork(std::int64_t depth, std::int64_t advance = 0);

  /**
   * Production times: height → wall-clock ms since the epoch at which the head first reached it
   * while running (setHead, advance, the live timer), i.e. the moment the API began serving it;
   * a fork() re-stamps the heights it replaced. Heights that existed at start have none. Only
   * the kProducedTimesKept highest heights are kept. GET /admin/blocks serves it, so a client
   * can measure its delay from the moment a block existed.
   */
  const std::map<std::int64_t, std::int64_t>& producedAtMs() const noexcept {
    return produced_at_ms_;
  }
  static constexpr std::int64_t kProducedTimesKept = 100'000;

  /** Called after every head change (tests, logs). */
  void setOnHeadChanged(std::function<void(std::int64_t head)> callback) {
    on_head_changed_ = std::move(callback);
  }

  bool recordedMode() const noexcept { return !options_.recorded_dir.empty(); }
  /**
   * Recorded mode: the file <recorded_dir>/<api>/<endpoint>/<key>.json, or, with an empty key,
   * <recorded_dir>/<api>/<endpoint>.json. nullopt when it does not exist or cannot be read, or
   * when `key` could escape the directory.
   */
  std::optional<std::string> recorded(std::string_view api, std::string_view endpoint,
                                      std::string_view key) const;

 private:
  uv_loop_t& loop_;
  NodeOptions options_;
  std::unique_ptr<Chain> chain_;
  std::int64_t head_ = 0;
  pipeline::uv::Timer live_timer_;
  std::function<void(std::int64_t)> on_head_changed_;
  std::map<std::int64_t, std::int64_t> produced_at_ms_;

  void stampProduced(std::int64_t from, std::int64_t to);
  // Wall-clock mode: produces the blocks that are due and re-arms the timer for the next one.
  [[nodiscard]] pipeline::Status produceDueBlocks();
};

}  // namespace tronsim
