#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace tronsim {

/** How much a generated block contains (docs/tronsim.md). */
enum class Profile {
  Mainnet,  // 200–300 transactions, ≈ 220–320 KB compact JSON, mainnet's contract mix
  Small,    // 0–10 transactions
  Empty,    // no transactions (the `transactions` key is absent, as on a real node)
};

struct ChainOptions {
  /** Everything generated is a pure function of (seed, height, branch). */
  std::uint64_t seed = 1;
  Profile profile = Profile::Mainnet;
  /** The lowest height the chain has; heights below it answer `{}`. */
  std::int64_t first_height = 1;
  /** Timestamp of first_height's slot, ms since the epoch (3 s slots follow). */
  std::int64_t first_timestamp_ms = 1'700'000'000'000;
  /** Probability that a slot is missed (its witness produces nothing, the next block is 6 s on). */
  double missed_slot_rate = 0.01;
};

/**
 * A deterministic TRON chain. Every block — id, parent link, witness, timestamp, transactions —
 * is computed from the options, the height and the branch the height is on, so any height can be
 * asked for in any order and the same seed always gives the same bytes.
 *
 * Forks: fork(from_height) puts every height >= from_height on a new branch (new ids, new
 * contents; parentHash of from_height still links to the unchanged block below). Thread-safe:
 * the server may render blocks from several threads while fork() is called from another.
 */
class Chain {
 public:
  explicit Chain(ChainOptions options);

  const ChainOptions& options() const noexcept { return options_; }

  /** The 64-hex blockID of `height` on its current branch: 16 hex of the height, then hash. */
  std::string blockId(std::int64_t height) const;
  std::int64_t timestampMs(std::int64_t height) const;
  /** Hex address (41…, 42 chars) of the witness that produced `height`. */
  std::string witnessHex(std::int64_t height) const;

  /**
   * The block as a node renders it for getblockbynum (compact JSON, keys in java-tron's order, no
   * trailing newline). `visible` = base58 addresses (T…) as with `visible=true`.
   */
  std::string blockJson(std::int64_t height, bool visible = false) const;
  /** The header-only form that `getblock` with detail=false returns. */
  std::string headerJson(std::int64_t height, bool visible = false) const;

  /** Puts every height >= from_height on a new branch. Returns the new branch number. */
  int fork(std::int64_t from_height);
  /** The branch `height` is on (0 before any fork). */
  int branchOf(std::int64_t height) const;

 private:
  ChainOptions options_;
  mutable std::mutex mutex_;
  std::vector<std::int64_t> fork_heights_;  // ascending order of calls; branch = count <= height
  mutable std::vector<std::int64_t> missed_before_;  // cumulative missed slots, grown on demand
};

}  // namespace tronsim
