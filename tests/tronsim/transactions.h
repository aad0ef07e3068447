#pragma once

// Generation of a block's transactions for tronsim (internal to tronsim; chain.h is the API).
//
// Every transaction is a real protobuf `Transaction.raw` (java-tron's Tron.proto field numbers), so
// `raw_data_hex` decodes to exactly the JSON's `raw_data`, `txID` = sha256(raw bytes), and the
// block's `txTrieRoot` is the real Merkle root (leaves sha256 of the serialized Transaction {raw_data=1,
// signature=2, ret=5}; an odd node is promoted; no transactions → 32 zero bytes).

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "tests/tronsim/crypto.h"

namespace tronsim {

/** A 21-byte TRON address: 0x41 then 20 bytes. */
using Address = std::array<std::uint8_t, 21>;

/** splitmix64: a tiny, fast, well-mixed generator; everything random in tronsim comes from it. */
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  /** Uniform in [0, n); n > 0. */
  std::uint64_t below(std::uint64_t n) { return next() % n; }
  /** Uniform in [lo, hi]. */
  std::int64_t range(std::int64_t lo, std::int64_t hi) {
    return lo + static_cast<std::int64_t>(below(static_cast<std::uint64_t>(hi - lo) + 1));
  }
  /** Uniform in [0, 1). */
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  /** True with probability p. */
  bool chance(double p) { return unit() < p; }

 private:
  std::uint64_t state_;
};

/** Mixes several values into one well-distributed 64-bit seed. */
std::uint64_t mixSeed(std::uint64_t a, std::uint64_t b, std::uint64_t c = 0, std::uint64_t d = 0);

enum class ContractKind : std::uint8_t {
  AccountCreate,
  Transfer,
  TransferAsset,
  VoteWitness,
  TriggerSmartContract,
  FreezeBalanceV2,
  UnfreezeBalanceV2,
  WithdrawExpireUnfreeze,
  DelegateResource,
  UnDelegateResource,
};
/** "TransferContract", … as in the JSON `type` field. */
const char* contractTypeName(ContractKind kind);

/** Transaction.Result.contractResult values used here. */
enum class ContractRet : std::uint8_t { Success = 1, Revert = 2, OutOfEnergy = 10 };
const char* contractRetName(ContractRet ret);

/** The block a transaction references (TransactionCapsule.setReference). */
struct RefBlock {
  std::int64_t height = 0;
  std::array<std::uint8_t, 32> id{};
};

/** What transactions of one block depend on. */
struct BlockInputs {
  std::uint64_t seed = 0;   // chain seed: fixes the account pool
  std::uint64_t block_seed = 0;  // mixes seed, height and branch: fixes the contents
  std::int64_t timestamp_ms = 0;  // the block's timestamp
  int min_transactions = 0;
  int max_transactions = 0;
  std::vector<RefBlock> refs;  // candidates for ref_block_*, at least one
};

struct Transaction {
  ContractKind kind = ContractKind::Transfer;
  ContractRet ret = ContractRet::Success;
  std::uint8_t signature_count = 1;
  std::uint8_t resource = 0;  // 0 BANDWIDTH (omitted), 1 ENERGY, 2 TRON_POWER
  int permission_id = 0;      // omitted when 0
  bool has_timestamp = true;
  std::int64_t timestamp = 0;
  std::int64_t expiration = 0;
  std::int64_t fee_limit = 0;  // omitted when 0
  std::int64_t amount = 0;     // amount / balance / frozen_balance / call_value / vote_count
  std::uint32_t asset_id = 0;  // TRC-10 id (TransferAsset)
  std::array<std::uint8_t, 2> ref_block_bytes{};
  std::array<std::uint8_t, 8> ref_block_hash{};
  Address owner{};
  Address other{};     // to / contract / receiver / account / vote address
  std::string data;    // TriggerSmartContract calldata bytes
  std::array<std::array<std::uint8_t, 65>, 2> signatures{};
  std::string raw;     // serialized Transaction.raw
  Hash256 txid{};
};

struct GeneratedTransactions {
  std::vector<Transaction> transactions;
  Hash256 tx_trie_root{};  // all zeros when there are none
};

GeneratedTransactions generateTransactions(const BlockInputs& inputs);

/** Transaction.raw as protobuf bytes (what raw_data_hex shows), from the fields of `tx`. */
std::string serializeTransactionRaw(const Transaction& tx);

/** Merkle root as java-tron's BlockCapsule.calcMerkleRoot over the given leaves. */
Hash256 merkleRoot(std::vector<Hash256> leaves);
/** The Merkle leaf of a transaction: sha256(serialize(Transaction{raw, signatures, ret})). */
Hash256 transactionLeaf(const std::string& raw, const std::vector<std::string>& signatures,
                        int contract_ret);

/** Appends `"41…"` hex or `"T…"` base58 (quotes included). */
void appendAddressJson(std::string& out, const Address& address, bool visible);
/** Appends the transactions as a JSON array (`[…]`), compact, java-tron key order. */
void appendTransactionsJson(std::string& out, const std::vector<Transaction>& transactions,
                            bool visible);

/** The USDT TRC-20 contract on mainnet, TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t. */
extern const Address kUsdtContract;

}  // namespace tronsim
