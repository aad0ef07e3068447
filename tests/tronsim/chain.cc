// tronsim's deterministic chain (chain.h).
//
// What is real and what is not:
// - blockID = int64_be(height) ‖ 24 bytes of a pseudo-hash: sha256("tronsim\0" ‖ seed ‖ branch ‖
//   height)[8:32]. A real blockID hashes the serialized header, which contains parentHash, so
//   computing any block would need every block before it; the pseudo-hash keeps every height
//   O(1) while parentHash(h) == blockID(h-1) still holds on every branch.
// - txID = sha256(raw_data bytes), raw_data_hex = real protobuf of Transaction.raw, txTrieRoot =
//   real Merkle root (transactions.h), ref_block_bytes/hash = the real reference to block h-19..21.
// - witness_signature and transaction signatures are random 65-byte strings (not valid ECDSA).

#include "tests/tronsim/chain.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstring>
#include <thread>

#include "tests/tronsim/base58.h"
#include "tests/tronsim/crypto.h"
#include "tests/tronsim/transactions.h"

namespace tronsim {
namespace {

constexpr std::int64_t kCheckpointBlocks = 64;
constexpr std::uint64_t kSaltMissed = 0x6d69737365642d73ULL;
constexpr std::uint64_t kSaltBlock = 0x626c6f636b2d7478ULL;
constexpr std::uint64_t kSaltSignature = 0x7769742d7369676eULL;
constexpr std::uint64_t kSaltWitness = 0x7769746e65737365ULL;
constexpr std::int64_t kRefDistanceMin = 19;  // transactions reference a solidified block
constexpr std::int64_t kRefDistanceMax = 21;

void putBe64(std::uint8_t* out, std::uint64_t value) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<std::uint8_t>(value);
    value >>= 8;
  }
}

struct ProfileRange {
  int min;
  int max;
};

ProfileRange transactionRange(Profile profile) {
  switch (profile) {
    case Profile::Mainnet: return {200, 280};  // × ≈ 1.15 KB ≈ 230–320 KB
    case Profile::Small: return {0, 10};
    case Profile::Empty: return {0, 0};
  }
  return {0, 0};
}

}  // namespace

std::optional<Profile> parseProfile(std::string_view name) {
  if (name == "mainnet") return Profile::Mainnet;
  if (name == "small") return Profile::Small;
  if (name == "empty") return Profile::Empty;
  return std::nullopt;
}

const char* profileName(Profile profile) {
  switch (profile) {
    case Profile::Mainnet: return "mainnet";
    case Profile::Small: return "small";
    case Profile::Empty: return "empty";
  }
  return "mainnet";
}

struct Chain::Rendered {
  std::string block;   // full getblockbynum JSON
  std::string header;  // detail=false form
};

struct Chain::Snapshot {
  std::int64_t height = 0;
  int branch = 0;
  std::int64_t slot = 0;
  Id id{};
  Id parent{};
  std::vector<RefBlock> refs;
};

Chain::Chain(ChainOptions options) : options_(options) {
  options_.missed_slot_rate = std::clamp(options_.missed_slot_rate, 0.0, 0.9);
  witnesses_.reserve(kWitnessCount);
  for (int i = 0; i < kWitnessCount; ++i) {
    std::uint8_t input[24];
    std::memcpy(input, "witness\0", 8);
    putBe64(input + 8, options_.seed);
    putBe64(input + 16, static_cast<std::uint64_t>(i));
    const Hash256 h = sha256(input, sizeof input);
    std::array<std::uint8_t, 21> address{};
    address[0] = 0x41;
    std::memcpy(address.data() + 1, h.data(), 20);
    witnesses_.push_back(address);
  }
  missed_before_.push_back(0);
}

int Chain::branchLocked(std::int64_t height) const {
  return static_cast<int>(std::count_if(fork_heights_.begin(), fork_heights_.end(),
                                        [&](std::int64_t f) { return f <= height; }));
}

bool Chain::slotMissed(std::int64_t slot) const {
  if (options_.missed_slot_rate <= 0) return false;
  Rng rng(mixSeed(options_.seed, kSaltMissed, static_cast<std::uint64_t>(slot)));
  return rng.unit() < options_.missed_slot_rate;
}

std::int64_t Chain::slotLocked(std::int64_t height) const {
  const std::int64_t k = height - options_.first_height;
  if (k <= 0) return k;
  // Block k+1 is in the first slot after block k's that is not missed.
  auto advance = [this](std::int64_t slot, std::int64_t blocks) {
    for (std::int64_t i = 0; i < blocks; ++i) {
      ++slot;
      while (slotMissed(slot)) ++slot;
    }
    return slot;
  };
  const auto checkpoint = static_cast<std::size_t>(k / kCheckpointBlocks);
  while (missed_before_.size() <= checkpoint) {
    const auto base = static_cast<std::int64_t>(missed_before_.size() - 1) * kCheckpointBlocks;
    const std::int64_t slot = advance(base + missed_before_.back(), kCheckpointBlocks);
    missed_before_.push_back(slot - (base + kCheckpointBlocks));
  }
  const auto base = static_cast<std::int64_t>(checkpoint) * kCheckpointBlocks;
  return advance(base + missed_before_[checkpoint], k - base);
}

Chain::Id Chain::idFor(std::int64_t height, int branch) const {
  std::uint8_t input[32];
  std::memcpy(input, "tronsim\0", 8);
  putBe64(input + 8, options_.seed);
  putBe64(input + 16, static_cast<std::uint64_t>(branch));
  putBe64(input + 24, static_cast<std::uint64_t>(height));
  const Hash256 h = sha256(input, sizeof input);
  Id id{};
  putBe64(id.data(), static_cast<std::uint64_t>(height));
  std::memcpy(id.data() + 8, h.data() + 8, 24);
  return id;
}

std::size_t Chain::witnessIndex(std::int64_t slot) const {
  const std::int64_t offset = static_cast<std::int64_t>(options_.seed % kWitnessCount);
  const std::int64_t index = ((slot + offset) % kWitnessCount + kWitnessCount) % kWitnessCount;
  return static_cast<std::size_t>(index);
}

std::string Chain::blockId(std::int64_t height) const {
  int branch = 0;
  {
    std::lock_guard lock(mutex_);
    branch = branchLocked(height);
  }
  const Id id = idFor(height, branch);
  return toHex(id.data(), id.size());
}

std::int64_t Chain::slotOf(std::int64_t height) const {
  std::lock_guard lock(mutex_);
  return slotLocked(height);
}

std::int64_t Chain::timestampMs(std::int64_t height) const {
  return options_.first_timestamp_ms + kSlotMs * slotOf(height);
}

std::string Chain::witnessHex(std::int64_t height) const {
  const auto& w = witnesses_[witnessIndex(slotOf(height))];
  return toHex(w.data(), w.size());
}

std::string Chain::witnessBase58(std::int64_t height) const {
  const auto& w = witnesses_[witnessIndex(slotOf(height))];
  return base58CheckEncode(std::string_view(reinterpret_cast<const char*>(w.data()), w.size()));
}

std::vector<std::string> Chain::witnessesHex() const {
  std::vector<std::string> out;
  out.reserve(witnesses_.size());
  for (const auto& w : witnesses_) out.push_back(toHex(w.data(), w.size()));
  return out;
}

int Chain::fork(std::int64_t from_height) {
  std::lock_guard lock(mutex_);
  fork_heights_.push_back(from_height);
  return static_cast<int>(fork_heights_.size());
}

int Chain::branchOf(std::int64_t height) const {
  std::lock_guard lock(mutex_);
  return branchLocked(height);
}

Chain::Snapshot Chain::snapshot(std::int64_t height) const {
  // Everything that depends on fork() is read under one lock, so a block is rendered from one
  // consistent view even when fork() runs concurrently; hashing happens outside the lock.
  Snapshot snap;
  snap.height = height;
  int parent_branch = 0;
  std::array<int, kRefDistanceMax - kRefDistanceMin + 1> ref_branches{};
  std::array<std::int64_t, kRefDistanceMax - kRefDistanceMin + 1> ref_heights{};
  {
    std::lock_guard lock(mutex_);
    snap.branch = branchLocked(height);
    parent_branch = branchLocked(height - 1);
    snap.slot = slotLocked(height);
    for (std::size_t i = 0; i < ref_heights.size(); ++i) {
      const std::int64_t distance = kRefDistanceMin + static_cast<std::int64_t>(i);
      ref_heights[i] = std::max<std::int64_t>(0, height - distance);
      ref_branches[i] = branchLocked(ref_heights[i]);
    }
  }
  snap.id = idFor(height, snap.branch);
  snap.parent = idFor(height - 1, parent_branch);
  snap.refs.reserve(ref_heights.size());
  for (std::size_t i = 0; i < ref_heights.size(); ++i) {
    snap.refs.push_back(RefBlock{ref_heights[i], idFor(ref_heights[i], ref_branches[i])});
  }
  return snap;
}

std::shared_ptr<Chain::Rendered> Chain::render(const Snapshot& snap, bool visible) const {
  const std::int64_t timestamp = options_.first_timestamp_ms + kSlotMs * snap.slot;
  const auto range = transactionRange(options_.profile);
  BlockInputs inputs;
  inputs.seed = options_.seed;
  inputs.block_seed = mixSeed(options_.seed, kSaltBlock, static_cast<std::uint64_t>(snap.height),
                              static_cast<std::uint64_t>(snap.branch));
  inputs.timestamp_ms = timestamp;
  inputs.min_transactions = range.min;
  inputs.max_transactions = range.max;
  inputs.refs = snap.refs;
  const GeneratedTransactions generated = generateTransactions(inputs);

  std::array<std::uint8_t, 65> signature{};
  Rng rng(mixSeed(options_.seed, kSaltSignature, static_cast<std::uint64_t>(snap.height),
                  static_cast<std::uint64_t>(snap.branch)));
  for (std::size_t i = 0; i < 64; i += 8) putBe64(signature.data() + i, rng.next());
  signature[64] = static_cast<std::uint8_t>(rng.below(2));
  const auto& witness = witnesses_[witnessIndex(snap.slot)];

  auto rendered = std::make_shared<Rendered>();
  std::string& out = rendered->block;
  out.reserve(640 + generated.transactions.size() * 1400);
  out.append("{\"blockID\":");
  appendQuotedHex(out, snap.id.data(), snap.id.size());
  out.append(",\"block_header\":{\"raw_data\":{\"number\":");
  appendInt(out, snap.height);
  out.append(",\"txTrieRoot\":");
  appendQuotedHex(out, generated.tx_trie_root.data(), generated.tx_trie_root.size());
  out.append(",\"witness_address\":");
  appendAddressJson(out, witness, visible);
  out.append(",\"parentHash\":");
  appendQuotedHex(out, snap.parent.data(), snap.parent.size());
  if (options_.block_version != 0) {  // proto3 default: omitted
    out.append(",\"version\":");
    appendInt(out, options_.block_version);
  }
  out.append(",\"timestamp\":");
  appendInt(out, timestamp);
  out.append("},\"witness_signature\":");
  appendQuotedHex(out, signature.data(), signature.size());
  out.push_back('}');
  rendered->header.reserve(out.size() + 1);
  rendered->header.append(out).push_back('}');
  if (!generated.transactions.empty()) {  // no transactions: the key is absent
    out.append(",\"transactions\":");
    appendTransactionsJson(out, generated.transactions, visible);
  }
  out.push_back('}');
  return rendered;
}

pipeline::Result<std::size_t> Chain::prerender(std::int64_t from, std::int64_t to,
                                               std::size_t max_bytes, unsigned threads) {
  from = std::max(from, options_.first_height);
  if (to < from) return std::size_t{0};
  const auto count = static_cast<std::size_t>(to - from + 1);
  std::vector<std::shared_ptr<const Rendered>> blocks(count);
  auto keep = [&](std::size_t index) {
    auto block = render(snapshot(from + static_cast<std::int64_t>(index)), /*visible=*/false);
    block->block.shrink_to_fit();  // render() reserves for the largest transactions
    const std::size_t bytes = block->block.size() + block->header.size();
    blocks[index] = std::move(block);
    return bytes;
  };
  auto tooLarge = [&](std::size_t bytes) {
    return pipeline::Error{
        pipeline::ErrorType::InvalidArgument,
        fmt::format("{} blocks ({}..{}) need about {:.0f} MB, more than the bound of {:.0f} MB",
                    count, from, to, static_cast<double>(bytes) / 1e6,
                    static_cast<double>(max_bytes) / 1e6)};
  };
  const std::size_t first_bytes = keep(0);
  if (first_bytes > max_bytes / count) return tooLarge(first_bytes * count);

  // Interleaved heights, so every thread gets the same mix of block sizes.
  std::atomic<std::size_t> total{first_bytes};
  std::atomic<std::size_t> done{1};
  std::atomic<bool> over{false};
  auto work = [&](std::size_t offset, std::size_t stride) {
    for (std::size_t index = 1 + offset; index < count && !over.load(); index += stride) {
      if (total.fetch_add(keep(index)) > max_bytes) over = true;
      ++done;
    }
  };
  const std::size_t workers = std::max(1u, threads);
  std::vector<std::thread> pool;
  for (std::size_t t = 1; t < workers; ++t) pool.emplace_back(work, t, workers);
  work(0, workers);
  for (auto& thread : pool) thread.join();
  if (over) return tooLarge(total.load() / done.load() * count);
  prerendered_from_ = from;
  prerendered_ = std::move(blocks);
  return total.load();
}

std::shared_ptr<const Chain::Rendered> Chain::prerendered(std::int64_t height,
                                                          bool visible) const {
  if (visible || height < prerendered_from_ ||
      height - prerendered_from_ >= static_cast<std::int64_t>(prerendered_.size()) ||
      branchOf(height) != 0) {
    return nullptr;
  }
  return prerendered_[static_cast<std::size_t>(height - prerendered_from_)];
}

std::shared_ptr<const Chain::Rendered> Chain::rendered(std::int64_t height, bool visible) const {
  if (auto kept = prerendered(height, visible)) return kept;
  const Snapshot snap = snapshot(height);
  if (options_.render_cache_blocks > 0) {
    std::lock_guard lock(cache_mutex_);
    for (auto it = cache_.begin(); it != cache_.end(); ++it) {
      if (it->height == height && it->branch == snap.branch && it->visible == visible) {
        cache_.splice(cache_.begin(), cache_, it);
        return cache_.front().rendered;
      }
    }
  }
  auto result = render(snap, visible);
  if (options_.render_cache_blocks > 0) {
    std::lock_guard lock(cache_mutex_);
    for (const auto& entry : cache_) {  // another thread rendered it meanwhile
      if (entry.height == height && entry.branch == snap.branch && entry.visible == visible) {
        return entry.rendered;
      }
    }
    cache_.push_front(CacheEntry{height, snap.branch, visible, result});
    while (cache_.size() > options_.render_cache_blocks) cache_.pop_back();
  }
  return result;
}

std::string Chain::blockJson(std::int64_t height, bool visible) const {
  if (height < options_.first_height) return "{}";
  return rendered(height, visible)->block;
}

std::shared_ptr<const std::string> Chain::blockJsonShared(std::int64_t height,
                                                          bool visible) const {
  if (height < options_.first_height) return std::make_shared<const std::string>("{}");
  auto r = rendered(height, visible);
  return std::shared_ptr<const std::string>(r, &r->block);
}

std::string Chain::headerJson(std::int64_t height, bool visible) const {
  if (height < options_.first_height) return "{}";
  return rendered(height, visible)->header;
}

}  // namespace tronsim
