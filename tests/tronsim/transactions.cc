#include "tests/tronsim/transactions.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <string_view>

#include "tests/tronsim/base58.h"

namespace tronsim {

const Address kUsdtContract = {0x41, 0xa6, 0x14, 0xf8, 0x03, 0xb6, 0xfd, 0x78, 0x09, 0x86, 0xa4,
                               0x2c, 0x78, 0xec, 0x9c, 0x7f, 0x77, 0xe6, 0xde, 0xd1, 0x3c};

namespace {

// ---- protobuf encoding (wire types 0 = varint, 2 = length-delimited) ----

void putVarint(std::string& out, std::uint64_t value) {
  char buf[10];
  int n = 0;
  while (value >= 0x80) {
    buf[n++] = static_cast<char>((value & 0x7f) | 0x80);
    value >>= 7;
  }
  buf[n++] = static_cast<char>(value);
  out.append(buf, static_cast<std::size_t>(n));
}

void putTag(std::string& out, unsigned field, unsigned wire_type) {
  putVarint(out, (static_cast<std::uint64_t>(field) << 3) | wire_type);
}

/** proto3: a zero scalar is not written. */
void putVarintField(std::string& out, unsigned field, std::uint64_t value) {
  if (value == 0) return;
  putTag(out, field, 0);
  putVarint(out, value);
}

void putBytesField(std::string& out, unsigned field, const void* data, std::size_t size) {
  if (size == 0) return;
  putTag(out, field, 2);
  putVarint(out, size);
  out.append(static_cast<const char*>(data), size);
}

void putBytesField(std::string& out, unsigned field, std::string_view bytes) {
  putBytesField(out, field, bytes.data(), bytes.size());
}

void putAddressField(std::string& out, unsigned field, const Address& address) {
  putBytesField(out, field, address.data(), address.size());
}

// ---- contract types ----

struct KindInfo {
  const char* name;
  int proto_type;  // Transaction.Contract.ContractType
};

KindInfo kindInfo(ContractKind kind) {
  switch (kind) {
    case ContractKind::AccountCreate: return {"AccountCreateContract", 0};
    case ContractKind::Transfer: return {"TransferContract", 1};
    case ContractKind::TransferAsset: return {"TransferAssetContract", 2};
    case ContractKind::VoteWitness: return {"VoteWitnessContract", 4};
    case ContractKind::TriggerSmartContract: return {"TriggerSmartContract", 31};
    case ContractKind::FreezeBalanceV2: return {"FreezeBalanceV2Contract", 54};
    case ContractKind::UnfreezeBalanceV2: return {"UnfreezeBalanceV2Contract", 55};
    case ContractKind::WithdrawExpireUnfreeze: return {"WithdrawExpireUnfreezeContract", 56};
    case ContractKind::DelegateResource: return {"DelegateResourceContract", 57};
    case ContractKind::UnDelegateResource: return {"UnDelegateResourceContract", 58};
  }
  return {"TransferContract", 1};
}

constexpr std::string_view kTypeUrlPrefix = "type.googleapis.com/protocol.";

/** Weights per 1000 of the mainnet mix (tron-api.md §8, the targets). */
struct KindWeight {
  ContractKind kind;
  int weight;
};
constexpr KindWeight kMix[] = {
    {ContractKind::TriggerSmartContract, 640}, {ContractKind::Transfer, 250},
    {ContractKind::TransferAsset, 25},         {ContractKind::DelegateResource, 25},
    {ContractKind::UnDelegateResource, 20},    {ContractKind::FreezeBalanceV2, 15},
    {ContractKind::VoteWitness, 8},            {ContractKind::AccountCreate, 7},
    {ContractKind::UnfreezeBalanceV2, 5},      {ContractKind::WithdrawExpireUnfreeze, 5},
};

ContractKind pickKind(Rng& rng) {
  int r = static_cast<int>(rng.below(1000));
  for (const auto& entry : kMix) {
    if (r < entry.weight) return entry.kind;
    r -= entry.weight;
  }
  return ContractKind::Transfer;
}

// ---- accounts ----

constexpr std::uint64_t kAccountPool = 1u << 20;
constexpr std::uint64_t kHotAccounts = 2000;  // exchanges and bots: a fifth of all activity
constexpr std::uint64_t kContractPool = 64;    // DEXes, games, other TRC-20s

Address accountAddress(std::uint64_t seed, std::uint64_t salt, std::uint64_t index) {
  Rng rng(mixSeed(seed, salt, index));
  Address address{};
  address[0] = 0x41;
  for (int word = 0; word < 3; ++word) {
    const std::uint64_t v = rng.next();
    for (int i = 0; i < 8 && 1 + word * 8 + i < 21; ++i) {
      address[static_cast<std::size_t>(1 + word * 8 + i)] = static_cast<std::uint8_t>(v >> (8 * i));
    }
  }
  return address;
}

Address pickAccount(std::uint64_t seed, Rng& rng) {
  const std::uint64_t index = rng.chance(0.2) ? rng.below(kHotAccounts) : rng.below(kAccountPool);
  return accountAddress(seed, 1, index);
}

/** Log-uniform in [lo, hi]: amounts span many orders of magnitude on mainnet. */
std::int64_t logUniform(Rng& rng, double lo, double hi) {
  const double v = std::exp(std::log(lo) + rng.unit() * (std::log(hi) - std::log(lo)));
  return static_cast<std::int64_t>(v);
}

/** An int64 amount in [2^53, 2^63-1]: exact only if parsed as an integer. */
std::int64_t hugeAmount(Rng& rng) {
  const std::uint64_t lo = 1ULL << 53;
  const std::uint64_t hi = (1ULL << 63) - 1;
  return static_cast<std::int64_t>(lo + rng.below(hi - lo + 1));
}

void appendWord(std::string& out, std::uint64_t low64) {
  char word[32] = {};
  for (int i = 0; i < 8; ++i) word[31 - i] = static_cast<char>(low64 >> (8 * i));
  out.append(word, 32);
}

/** The 32-byte ABI word of an address; `with_41` puts 0x41 in byte 11 as many wallets do. */
void appendAddressWord(std::string& out, const Address& address, bool with_41) {
  char word[32] = {};
  if (with_41) word[11] = 0x41;
  std::memcpy(word + 12, address.data() + 1, 20);
  out.append(word, 32);
}

void randomBytes(Rng& rng, std::uint8_t* out, std::size_t size) {
  for (std::size_t i = 0; i < size; i += 8) {
    const std::uint64_t v = rng.next();
    for (std::size_t j = 0; j < 8 && i + j < size; ++j) {
      out[i + j] = static_cast<std::uint8_t>(v >> (8 * j));
    }
  }
}

constexpr std::int64_t kFeeLimits[] = {15'000'000, 30'000'000, 50'000'000, 100'000'000,
                                       150'000'000, 225'000'000};
constexpr std::uint32_t kAssetIds[] = {1002000, 1005026, 1004031, 1000226, 1002881, 1003406};

void fillContract(std::uint64_t seed, Rng& rng, Transaction& tx) {
  tx.owner = pickAccount(seed, rng);
  switch (tx.kind) {
    case ContractKind::Transfer:
      tx.other = pickAccount(seed, rng);
      tx.amount = rng.chance(0.01) ? hugeAmount(rng) : logUniform(rng, 1, 2e12);
      if (rng.chance(0.01)) tx.signature_count = 2;
      break;
    case ContractKind::TransferAsset:
      tx.other = pickAccount(seed, rng);
      tx.asset_id = kAssetIds[rng.below(std::size(kAssetIds))];
      tx.amount = logUniform(rng, 1, 1e13);
      break;
    case ContractKind::TriggerSmartContract: {
      tx.fee_limit = kFeeLimits[rng.below(std::size(kFeeLimits))];
      if (rng.chance(0.01)) tx.signature_count = 2;
      const double r = rng.unit();
      tx.data.reserve(100);
      if (r < 0.88) {  // USDT: transfer(address,uint256), sometimes transferFrom
        tx.other = kUsdtContract;
        const bool with_41 = rng.chance(0.33);
        const std::uint64_t amount = rng.chance(0.005)
                                         ? rng.next()
                                         : static_cast<std::uint64_t>(logUniform(rng, 1e3, 5e12));
        if (r < 0.84) {
          tx.data.append("\xa9\x05\x9c\xbb", 4);
          appendAddressWord(tx.data, pickAccount(seed, rng), with_41);
        } else {
          tx.data.append("\x23\xb8\x72\xdd", 4);
          appendAddressWord(tx.data, pickAccount(seed, rng), with_41);
          appendAddressWord(tx.data, pickAccount(seed, rng), with_41);
        }
        appendWord(tx.data, amount);
        const double fail = rng.unit();
        if (fail < 0.03) {
          tx.ret = ContractRet::Revert;
        } else if (fail < 0.05) {
          tx.ret = ContractRet::OutOfEnergy;
        }
      } else {  // another contract: a random method with 1–4 words, sometimes paying TRX
        tx.other = accountAddress(seed, 2, rng.below(kContractPool));
        std::uint8_t selector[4];
        randomBytes(rng, selector, 4);
        tx.data.append(reinterpret_cast<const char*>(selector), 4);
        const auto words = rng.range(1, 4);
        for (std::int64_t i = 0; i < words; ++i) appendWord(tx.data, rng.below(1ULL << 40));
        if (rng.chance(0.3)) tx.amount = logUniform(rng, 1e5, 1e11);  // call_value
        if (rng.chance(0.04)) tx.ret = ContractRet::Revert;
      }
      break;
    }
    case ContractKind::DelegateResource:
    case ContractKind::UnDelegateResource:
      tx.other = pickAccount(seed, rng);
      tx.amount = logUniform(rng, 1e6, 1e12);
      tx.resource = rng.chance(0.9) ? 1 : 0;
      if (rng.chance(0.8)) tx.permission_id = static_cast<int>(rng.range(2, 4));
      break;
    case ContractKind::FreezeBalanceV2:
    case ContractKind::UnfreezeBalanceV2:
      tx.amount = logUniform(rng, 1e6, 1e12);
      tx.resource = static_cast<std::uint8_t>(rng.below(3));
      if (rng.chance(0.1)) tx.permission_id = static_cast<int>(rng.range(2, 4));
      break;
    case ContractKind::WithdrawExpireUnfreeze:
      break;
    case ContractKind::VoteWitness:
      tx.other = accountAddress(seed, 3, rng.below(27));  // an SR candidate
      tx.amount = logUniform(rng, 1, 1e8);
      break;
    case ContractKind::AccountCreate:
      tx.other = accountAddress(seed, 1, rng.below(kAccountPool));
      break;
  }
}

/** The contract's parameter.value message, serialized. */
void serializeValue(const Transaction& tx, std::string& out) {
  const auto amount = static_cast<std::uint64_t>(tx.amount);
  switch (tx.kind) {
    case ContractKind::Transfer:
      putAddressField(out, 1, tx.owner);
      putAddressField(out, 2, tx.other);
      putVarintField(out, 3, amount);
      break;
    case ContractKind::TransferAsset: {
      const std::string name = std::to_string(tx.asset_id);
      putBytesField(out, 1, name);
      putAddressField(out, 2, tx.owner);
      putAddressField(out, 3, tx.other);
      putVarintField(out, 4, amount);
      break;
    }
    case ContractKind::TriggerSmartContract:
      putAddressField(out, 1, tx.owner);
      putAddressField(out, 2, tx.other);
      putVarintField(out, 3, amount);
      putBytesField(out, 4, tx.data);
      break;
    case ContractKind::DelegateResource:
    case ContractKind::UnDelegateResource:
      putAddressField(out, 1, tx.owner);
      putVarintField(out, 2, tx.resource);
      putVarintField(out, 3, amount);
      putAddressField(out, 4, tx.other);
      break;
    case ContractKind::FreezeBalanceV2:
    case ContractKind::UnfreezeBalanceV2:
      putAddressField(out, 1, tx.owner);
      putVarintField(out, 2, amount);
      putVarintField(out, 3, tx.resource);
      break;
    case ContractKind::WithdrawExpireUnfreeze:
      putAddressField(out, 1, tx.owner);
      break;
    case ContractKind::VoteWitness: {
      putAddressField(out, 1, tx.owner);
      std::string vote;
      putAddressField(vote, 1, tx.other);
      putVarintField(vote, 2, amount);
      putBytesField(out, 2, vote);
      break;
    }
    case ContractKind::AccountCreate:
      putAddressField(out, 1, tx.owner);
      putAddressField(out, 2, tx.other);
      break;
  }
}

/** Transaction.raw: ref_block_bytes=1, ref_block_hash=4, expiration=8, contract=11,
 * timestamp=14, fee_limit=18. */
void serializeRaw(Transaction& tx, std::string& value_buf, std::string& any_buf,
                  std::string& contract_buf) {
  const KindInfo info = kindInfo(tx.kind);
  value_buf.clear();
  serializeValue(tx, value_buf);
  any_buf.clear();
  putTag(any_buf, 1, 2);
  putVarint(any_buf, kTypeUrlPrefix.size() + std::strlen(info.name));
  any_buf.append(kTypeUrlPrefix);
  any_buf.append(info.name);
  putBytesField(any_buf, 2, value_buf);
  contract_buf.clear();
  putVarintField(contract_buf, 1, static_cast<std::uint64_t>(info.proto_type));
  putBytesField(contract_buf, 2, any_buf);
  putVarintField(contract_buf, 5, static_cast<std::uint64_t>(tx.permission_id));

  std::string& raw = tx.raw;
  raw.clear();
  raw.reserve(contract_buf.size() + 48);
  putBytesField(raw, 1, tx.ref_block_bytes.data(), tx.ref_block_bytes.size());
  putBytesField(raw, 4, tx.ref_block_hash.data(), tx.ref_block_hash.size());
  putVarintField(raw, 8, static_cast<std::uint64_t>(tx.expiration));
  putBytesField(raw, 11, contract_buf);
  if (tx.has_timestamp) putVarintField(raw, 14, static_cast<std::uint64_t>(tx.timestamp));
  putVarintField(raw, 18, static_cast<std::uint64_t>(tx.fee_limit));
}

}  // namespace

std::string serializeTransactionRaw(const Transaction& tx) {
  Transaction copy = tx;
  std::string value_buf, any_buf, contract_buf;
  serializeRaw(copy, value_buf, any_buf, contract_buf);
  return std::move(copy.raw);
}

namespace {

Hash256 leafOf(const Transaction& tx, std::string& buf) {
  buf.clear();
  putBytesField(buf, 1, tx.raw);
  for (std::size_t i = 0; i < tx.signature_count; ++i) {
    putBytesField(buf, 2, tx.signatures[i].data(), tx.signatures[i].size());
  }
  std::string result;
  putVarintField(result, 3, static_cast<std::uint64_t>(tx.ret));
  putTag(buf, 5, 2);
  putVarint(buf, result.size());
  buf.append(result);
  return sha256(buf);
}

// ---- JSON ----

const char* resourceName(std::uint8_t resource) {
  return resource == 1 ? "ENERGY" : resource == 2 ? "TRON_POWER" : "BANDWIDTH";
}

void appendResource(std::string& out, std::uint8_t resource) {
  if (resource == 0) return;  // BANDWIDTH is the proto3 default: omitted
  out.append(",\"resource\":\"");
  out.append(resourceName(resource));
  out.push_back('"');
}

void appendValueJson(std::string& out, const Transaction& tx, bool visible) {
  // Key orders as java-tron printed them in fixtures/tron-blocks/mainnet-60954080.json.
  switch (tx.kind) {
    case ContractKind::Transfer:
      out.append("{\"amount\":");
      appendInt(out, tx.amount);
      out.append(",\"owner_address\":");
      appendAddressJson(out, tx.owner, visible);
      out.append(",\"to_address\":");
      appendAddressJson(out, tx.other, visible);
      break;
    case ContractKind::TransferAsset: {
      const std::string name = std::to_string(tx.asset_id);
      out.append("{\"amount\":");
      appendInt(out, tx.amount);
      out.append(",\"asset_name\":");
      if (visible) {
        out.push_back('"');
        out.append(name);
        out.push_back('"');
      } else {
        appendQuotedHex(out, name.data(), name.size());
      }
      out.append(",\"owner_address\":");
      appendAddressJson(out, tx.owner, visible);
      out.append(",\"to_address\":");
      appendAddressJson(out, tx.other, visible);
      break;
    }
    case ContractKind::TriggerSmartContract:
      out.append("{\"data\":");
      appendQuotedHex(out, tx.data.data(), tx.data.size());
      out.append(",\"owner_address\":");
      appendAddressJson(out, tx.owner, visible);
      out.append(",\"contract_address\":");
      appendAddressJson(out, tx.other, visible);
      if (tx.amount != 0) {
        out.append(",\"call_value\":");
        appendInt(out, tx.amount);
      }
      break;
    case ContractKind::DelegateResource:
    case ContractKind::UnDelegateResource:
      out.append("{\"balance\":");
      appendInt(out, tx.amount);
      appendResource(out, tx.resource);
      out.append(",\"receiver_address\":");
      appendAddressJson(out, tx.other, visible);
      out.append(",\"owner_address\":");
      appendAddressJson(out, tx.owner, visible);
      break;
    case ContractKind::FreezeBalanceV2:
    case ContractKind::UnfreezeBalanceV2:
      out.append(tx.kind == ContractKind::FreezeBalanceV2 ? "{\"frozen_balance\":"
                                                          : "{\"unfreeze_balance\":");
      appendInt(out, tx.amount);
      appendResource(out, tx.resource);
      out.append(",\"owner_address\":");
      appendAddressJson(out, tx.owner, visible);
      break;
    case ContractKind::WithdrawExpireUnfreeze:
      out.append("{\"owner_address\":");
      appendAddressJson(out, tx.owner, visible);
      break;
    case ContractKind::VoteWitness:
      out.append("{\"owner_address\":");
      appendAddressJson(out, tx.owner, visible);
      out.append(",\"votes\":[{\"vote_address\":");
      appendAddressJson(out, tx.other, visible);
      out.append(",\"vote_count\":");
      appendInt(out, tx.amount);
      out.append("}]");
      break;
    case ContractKind::AccountCreate:
      out.append("{\"owner_address\":");
      appendAddressJson(out, tx.owner, visible);
      out.append(",\"account_address\":");
      appendAddressJson(out, tx.other, visible);
      break;
  }
  out.push_back('}');
}

void appendTransactionJson(std::string& out, const Transaction& tx, bool visible) {
  const KindInfo info = kindInfo(tx.kind);
  out.append("{\"ret\":[{\"contractRet\":\"");
  out.append(contractRetName(tx.ret));
  out.append("\"}],\"signature\":[");
  for (std::size_t i = 0; i < tx.signature_count; ++i) {
    if (i != 0) out.push_back(',');
    appendQuotedHex(out, tx.signatures[i].data(), tx.signatures[i].size());
  }
  out.append("],\"txID\":");
  appendQuotedHex(out, tx.txid.data(), tx.txid.size());
  out.append(",\"raw_data\":{\"contract\":[{\"parameter\":{\"value\":");
  appendValueJson(out, tx, visible);
  out.append(",\"type_url\":\"");
  out.append(kTypeUrlPrefix);
  out.append(info.name);
  out.append("\"},\"type\":\"");
  out.append(info.name);
  out.push_back('"');
  if (tx.permission_id != 0) {
    out.append(",\"Permission_id\":");
    appendInt(out, tx.permission_id);
  }
  out.append("}],\"ref_block_bytes\":");
  appendQuotedHex(out, tx.ref_block_bytes.data(), tx.ref_block_bytes.size());
  out.append(",\"ref_block_hash\":");
  appendQuotedHex(out, tx.ref_block_hash.data(), tx.ref_block_hash.size());
  out.append(",\"expiration\":");
  appendInt(out, tx.expiration);
  if (tx.fee_limit != 0) {
    out.append(",\"fee_limit\":");
    appendInt(out, tx.fee_limit);
  }
  if (tx.has_timestamp) {
    out.append(",\"timestamp\":");
    appendInt(out, tx.timestamp);
  }
  out.append("},\"raw_data_hex\":");
  appendQuotedHex(out, tx.raw.data(), tx.raw.size());
  out.push_back('}');
}

}  // namespace

std::uint64_t mixSeed(std::uint64_t a, std::uint64_t b, std::uint64_t c, std::uint64_t d) {
  Rng rng(a);
  std::uint64_t h = rng.next() ^ b;
  h = Rng(h).next() ^ c;
  h = Rng(h).next() ^ d;
  return Rng(h).next();
}

const char* contractTypeName(ContractKind kind) { return kindInfo(kind).name; }

const char* contractRetName(ContractRet ret) {
  switch (ret) {
    case ContractRet::Success: return "SUCCESS";
    case ContractRet::Revert: return "REVERT";
    case ContractRet::OutOfEnergy: return "OUT_OF_ENERGY";
  }
  return "SUCCESS";
}

GeneratedTransactions generateTransactions(const BlockInputs& inputs) {
  GeneratedTransactions result;
  Rng rng(inputs.block_seed);
  const auto count = inputs.max_transactions <= 0
                         ? 0
                         : rng.range(inputs.min_transactions, inputs.max_transactions);
  if (count == 0 || inputs.refs.empty()) return result;
  result.transactions.resize(static_cast<std::size_t>(count));
  std::vector<Hash256> leaves;
  leaves.reserve(result.transactions.size());
  std::string value_buf, any_buf, contract_buf, leaf_buf;
  for (auto& tx : result.transactions) {
    tx.kind = pickKind(rng);
    fillContract(inputs.seed, rng, tx);
    const RefBlock& ref = inputs.refs[rng.below(inputs.refs.size())];
    tx.ref_block_bytes = {static_cast<std::uint8_t>(ref.height >> 8),
                          static_cast<std::uint8_t>(ref.height)};
    std::memcpy(tx.ref_block_hash.data(), ref.id.data() + 8, 8);
    tx.timestamp = inputs.timestamp_ms - 500 - rng.range(0, 8000);
    tx.expiration = (tx.timestamp / 1000) * 1000 + 60'000;
    tx.has_timestamp = !rng.chance(0.02);
    // As in the real block, a few plain transfers and (un)delegations carry a fee_limit too.
    const bool may_have_fee_limit = tx.kind == ContractKind::Transfer ||
                                    tx.kind == ContractKind::DelegateResource ||
                                    tx.kind == ContractKind::UnDelegateResource;
    if (may_have_fee_limit && rng.chance(0.03)) tx.fee_limit = kFeeLimits[rng.below(3)];
    for (std::size_t i = 0; i < tx.signature_count; ++i) {
      randomBytes(rng, tx.signatures[i].data(), 64);
      tx.signatures[i][64] = static_cast<std::uint8_t>(rng.below(2));
    }
    serializeRaw(tx, value_buf, any_buf, contract_buf);
    tx.txid = sha256(tx.raw);
    leaves.push_back(leafOf(tx, leaf_buf));
  }
  result.tx_trie_root = merkleRoot(std::move(leaves));
  return result;
}

Hash256 merkleRoot(std::vector<Hash256> leaves) {
  if (leaves.empty()) return Hash256{};
  std::uint8_t pair[64];
  while (leaves.size() > 1) {
    std::size_t out = 0;
    for (std::size_t i = 0; i < leaves.size(); i += 2) {
      if (i + 1 == leaves.size()) {  // odd one out: promoted unchanged
        leaves[out++] = leaves[i];
      } else {
        std::memcpy(pair, leaves[i].data(), 32);
        std::memcpy(pair + 32, leaves[i + 1].data(), 32);
        leaves[out++] = sha256(pair, sizeof pair);
      }
    }
    leaves.resize(out);
  }
  return leaves.front();
}

Hash256 transactionLeaf(const std::string& raw, const std::vector<std::string>& signatures,
                        int contract_ret) {
  std::string buf;
  putBytesField(buf, 1, raw);
  for (const auto& s : signatures) putBytesField(buf, 2, s);
  std::string result;
  putVarintField(result, 3, static_cast<std::uint64_t>(contract_ret));
  putTag(buf, 5, 2);
  putVarint(buf, result.size());
  buf.append(result);
  return sha256(buf);
}

void appendAddressJson(std::string& out, const Address& address, bool visible) {
  out.push_back('"');
  if (visible) {
    out.append(base58CheckEncode(
        std::string_view(reinterpret_cast<const char*>(address.data()), address.size())));
  } else {
    appendHex(out, address.data(), address.size());
  }
  out.push_back('"');
}

void appendTransactionsJson(std::string& out, const std::vector<Transaction>& transactions,
                            bool visible) {
  out.push_back('[');
  for (std::size_t i = 0; i < transactions.size(); ++i) {
    if (i != 0) out.push_back(',');
    appendTransactionJson(out, transactions[i], visible);
  }
  out.push_back(']');
}

}  // namespace tronsim
