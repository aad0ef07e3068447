#include "tests/tronsim/transactions.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

namespace tronsim {
namespace {

using simdjson::dom::element;

std::string readFixture(const std::string& name) {
  std::ifstream in(std::string(POINTTRON_SOURCE_DIR) + "/tests/fixtures/tron-blocks/" + name,
                   std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Address address(element e) {
  const auto bytes = fromHex(std::string_view(e));
  Address out{};
  EXPECT_TRUE(bytes && bytes->size() == out.size());
  if (bytes && bytes->size() == out.size()) std::memcpy(out.data(), bytes->data(), out.size());
  return out;
}

template <std::size_t N>
std::array<std::uint8_t, N> fixedHex(element e) {
  const auto bytes = fromHex(std::string_view(e));
  std::array<std::uint8_t, N> out{};
  EXPECT_TRUE(bytes && bytes->size() == N);
  if (bytes && bytes->size() == N) std::memcpy(out.data(), bytes->data(), N);
  return out;
}

std::int64_t optionalInt(element object, std::string_view key) {
  std::int64_t value = 0;
  if (object.get_object().at_key(key).get(value) != simdjson::SUCCESS) return 0;
  return value;
}

// The serializer behind raw_data_hex reproduces java-tron's bytes for every real transaction of
// the kinds tronsim generates, so txIDs and raw_data_hex of generated blocks are realistic.
TEST(TransactionsTest, RawSerializationMatchesRealMainnetTransactions) {
  const std::map<std::string, ContractKind> kinds = {
      {"TransferContract", ContractKind::Transfer},
      {"TransferAssetContract", ContractKind::TransferAsset},
      {"TriggerSmartContract", ContractKind::TriggerSmartContract},
      {"DelegateResourceContract", ContractKind::DelegateResource},
      {"UnDelegateResourceContract", ContractKind::UnDelegateResource},
  };
  const std::string json = readFixture("mainnet-60954080.json");
  simdjson::dom::parser parser;
  element root;
  ASSERT_EQ(parser.parse(json).get(root), simdjson::SUCCESS);
  int compared = 0;
  for (element t : root["transactions"].get_array()) {
    element raw = t["raw_data"];
    element contract = raw["contract"].at(0);
    const auto kind = kinds.find(std::string(std::string_view(contract["type"])));
    if (kind == kinds.end()) continue;
    element value = contract["parameter"]["value"];
    Transaction tx;
    tx.kind = kind->second;
    tx.owner = address(value["owner_address"]);
    switch (tx.kind) {
      case ContractKind::Transfer:
        tx.other = address(value["to_address"]);
        tx.amount = optionalInt(value, "amount");
        break;
      case ContractKind::TransferAsset: {
        tx.other = address(value["to_address"]);
        tx.amount = optionalInt(value, "amount");
        tx.asset_id = static_cast<std::uint32_t>(
            std::stoul(*fromHex(std::string_view(value["asset_name"]))));
        break;
      }
      case ContractKind::TriggerSmartContract:
        tx.other = address(value["contract_address"]);
        tx.amount = optionalInt(value, "call_value");
        tx.data = *fromHex(std::string_view(value["data"]));
        break;
      default: {  // (Un)DelegateResource
        tx.other = address(value["receiver_address"]);
        tx.amount = optionalInt(value, "balance");
        std::string_view resource;
        if (value["resource"].get(resource) == simdjson::SUCCESS) {
          tx.resource = resource == "ENERGY" ? 1 : 2;
        }
        break;
      }
    }
    tx.permission_id = static_cast<int>(optionalInt(contract, "Permission_id"));
    tx.ref_block_bytes = fixedHex<2>(raw["ref_block_bytes"]);
    tx.ref_block_hash = fixedHex<8>(raw["ref_block_hash"]);
    tx.expiration = optionalInt(raw, "expiration");
    tx.timestamp = optionalInt(raw, "timestamp");
    tx.has_timestamp = tx.timestamp != 0;
    tx.fee_limit = optionalInt(raw, "fee_limit");
    const std::string bytes = serializeTransactionRaw(tx);
    EXPECT_EQ(toHex(bytes), std::string_view(t["raw_data_hex"]))
        << std::string_view(t["txID"]);
    ++compared;
  }
  EXPECT_EQ(compared, 207);  // all but the one CreateSmartContract
}

TEST(TransactionsTest, MerkleRootPromotesTheOddNode) {
  EXPECT_EQ(merkleRoot({}), Hash256{});
  const Hash256 a = sha256("a"), b = sha256("b"), c = sha256("c");
  EXPECT_EQ(merkleRoot({a}), a);
  std::string ab(reinterpret_cast<const char*>(a.data()), 32);
  ab.append(reinterpret_cast<const char*>(b.data()), 32);
  const Hash256 hab = sha256(ab);
  EXPECT_EQ(merkleRoot({a, b}), hab);
  std::string habc(reinterpret_cast<const char*>(hab.data()), 32);
  habc.append(reinterpret_cast<const char*>(c.data()), 32);
  EXPECT_EQ(merkleRoot({a, b, c}), sha256(habc));  // c promoted, not duplicated
}

TEST(TransactionsTest, GenerationIsDeterministicAndWithinTheRange) {
  BlockInputs inputs;
  inputs.seed = 3;
  inputs.block_seed = 42;
  inputs.timestamp_ms = 1'700'000'000'000;
  inputs.min_transactions = 5;
  inputs.max_transactions = 9;
  inputs.refs = {RefBlock{100, {}}};
  const auto a = generateTransactions(inputs);
  const auto b = generateTransactions(inputs);
  ASSERT_GE(a.transactions.size(), 5u);
  ASSERT_LE(a.transactions.size(), 9u);
  ASSERT_EQ(a.transactions.size(), b.transactions.size());
  EXPECT_EQ(a.tx_trie_root, b.tx_trie_root);
  for (std::size_t i = 0; i < a.transactions.size(); ++i) {
    EXPECT_EQ(a.transactions[i].raw, b.transactions[i].raw);
    EXPECT_EQ(a.transactions[i].txid, sha256(a.transactions[i].raw));
    EXPECT_EQ(a.transactions[i].ref_block_bytes, (std::array<std::uint8_t, 2>{0, 100}));
  }
}

}  // namespace
}  // namespace tronsim
