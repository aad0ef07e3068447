#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/status.h"

namespace tronsim {

/** How much a generated block contains (docs/tronsim.md). */
enum class Profile {
  Mainnet,  // 200–300 transactions, ≈ 220–320 KB compact JSON, mainnet's contract mix
  Small,    // 0–10 transactions
  Empty,    // no transactions (the `transactions` key is absent, as on a real node)
};

/** "mainnet" / "small" / "empty" → Profile; nullopt for anything else. */
std::optional<Profile> parseProfile(std::string_view name);
/** The inverse of parseProfile. */
const char* profileName(Profile profile);

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
  /** block_header.raw_data.version (mainnet 2024: 29; 0 = omitted, as for 2018 blocks). */
  std::int32_t block_version = 31;
  /** Rendered blocks kept in the LRU cache (per (height, branch, visible)); 0 disables it. */
  std::size_t render_cache_blocks = 64;
};

/**
 * A deterministic TRON chain. Every block — id, parent link, witness, timestamp, transactions —
 * is computed from the options, the height and the branch the height is on, so any height can be
 * asked for in any order and the same seed always gives the same bytes.
 *
 * Forks: fork(from_height) puts every height >= from_height on a new branch (new ids, new
 * contents; parentHash of from_height still links to the unchanged block below). Thread-safe:
 * the server may render blocks from several threads while fork() is called from another.
 *
 * blockID's 24 hash bytes are a pseudo-hash of (seed, branch, height), not the header hash (a real
 * hash chain would make height h cost h blocks); txID, raw_data_hex and txTrieRoot are real.
 */
class Chain {
 public:
  static constexpr int kWitnessCount = 27;
  static constexpr std::int64_t kSlotMs = 3000;

  explicit Chain(ChainOptions options);

  const ChainOptions& options() const noexcept { return options_; }

  /** The 64-hex blockID of `height` on its current branch: 16 hex of the height, then hash. */
  std::string blockId(std::int64_t height) const;
  std::int64_t timestampMs(std::int64_t height) const;
  /** Hex address (41…, 42 chars) of the witness that produced `height`. */
  std::string witnessHex(std::int64_t height) const;
  /** The same witness as a base58check T-address (what visible=true shows). */
  std::string witnessBase58(std::int64_t height) const;
  /** The 27 witnesses' hex addresses in schedule order (fixed by the seed). */
  std::vector<std::string> witnessesHex() const;
  /**
   * The 3 s slot of `height`, counted from first_height's slot (0); heights below first_height
   * are extrapolated without misses. timestampMs = first_timestamp_ms + kSlotMs * slot.
   */
  std::int64_t slotOf(std::int64_t height) const;

  /**
   * The block as a node renders it for getblockbynum (compact JSON, keys in java-tron's order, no
   * trailing newline). `visible` = base58 addresses (T…) as with `visible=true`. Heights below
   * first_height give `{}` (here, in headerJson and in blockJsonShared).
   */
  std::string blockJson(std::int64_t height, bool visible = false) const;
  /** The header-only form that `getblock` with detail=false returns. */
  std::string headerJson(std::int64_t height, bool visible = false) const;
  /** blockJson without copying the (≈ 250 KB) string out of the render cache. */
  std::shared_ptr<const std::string> blockJsonShared(std::int64_t height,
                                                     bool visible = false) const;

  /**
   * Renders heights [from, to] of branch 0 with hex addresses (the form the fetcher asks for)
   * once, on `threads` threads, and keeps them for the chain's lifetime: serving them is then a
   * copy instead of ≈ 0.5 ms of rendering per mainnet block. Other forms, and heights a later
   * fork() moves to another branch, are rendered on demand as before. Call it before the chain is
   * shared with other threads. Returns the bytes kept. Errors: InvalidArgument, nothing kept, when
   * the blocks would take more than `max_bytes` (refused after one block if the first block times
   * the count already exceeds it).
   */
  [[nodiscard]] pipeline::Result<std::size_t> prerender(std::int64_t from, std::int64_t to,
                                                        std::size_t max_bytes, unsigned threads);

  /** Puts every height >= from_height on a new branch. Returns the new branch number. */
  int fork(std::int64_t from_height);
  /** The branch `height` is on (0 before any fork). */
  int branchOf(std::int64_t height) const;

 private:
  using Id = std::array<std::uint8_t, 32>;
  struct Rendered;
  struct Snapshot;
  struct CacheEntry {
    std::int64_t height;
    int branch;
    bool visible;
    std::shared_ptr<const Rendered> rendered;
  };

  int branchLocked(std::int64_t height) const;
  std::int64_t slotLocked(std::int64_t height) const;
  bool slotMissed(std::int64_t slot) const;
  Id idFor(std::int64_t height, int branch) const;
  std::size_t witnessIndex(std::int64_t slot) const;
  Snapshot snapshot(std::int64_t height) const;
  std::shared_ptr<const Rendered> rendered(std::int64_t height, bool visible) const;
  std::shared_ptr<Rendered> render(const Snapshot& snap, bool visible) const;
  std::shared_ptr<const Rendered> prerendered(std::int64_t height, bool visible) const;

  ChainOptions options_;
  std::vector<std::array<std::uint8_t, 21>> witnesses_;  // kWitnessCount, fixed by the seed
  mutable std::mutex mutex_;
  std::vector<std::int64_t> fork_heights_;  // ascending order of calls; branch = count <= height
  // missed_before_[i]: missed slots before the block first_height + i * kCheckpointBlocks (a
  // checkpoint every 64 blocks, grown on demand; the blocks between are walked from it).
  mutable std::vector<std::int64_t> missed_before_;
  mutable std::mutex cache_mutex_;
  mutable std::list<CacheEntry> cache_;  // most recently used first
  // prerender(): branch-0, hex-address blocks from prerendered_from_ on; written before the
  // chain is shared, read-only afterwards (so read without a lock).
  std::int64_t prerendered_from_ = 0;
  std::vector<std::shared_ptr<const Rendered>> prerendered_;
};

}  // namespace tronsim
