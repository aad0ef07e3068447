#include <gtest/gtest.h>

#include <map>
#include <string>

#include "stages/decoder/block_decoder.h"
#include "tests/tronsim/chain.h"
#include "tests/tronsim/transactions.h"

namespace stages::decoder {
namespace {

// Exact decimal of an unsigned 128-bit value, independent of pipeline::AmountSum.
__extension__ typedef unsigned __int128 Uint128;
std::string decimal(Uint128 value) {
  if (value == 0) return "0";
  std::string digits;
  while (value != 0) {
    digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(value % 10)));
    value /= 10;
  }
  return digits;
}

// A block around transactions tronsim generated: the ground truth is tronsim's own
// Transaction list, not its JSON.
std::string blockAround(const std::vector<tronsim::Transaction>& transactions, bool visible) {
  const std::string hash_part(48, 'a');
  std::string json = R"({"blockID":"0000000000000064)" + hash_part +
                     R"(","block_header":{"raw_data":{"number":100,"witness_address":)";
  tronsim::appendAddressJson(json, tronsim::kUsdtContract, visible);
  json += R"(,"parentHash":"0000000000000063)" + hash_part + R"(","timestamp":1700000000000}})";
  if (!transactions.empty()) {
    json += R"(,"transactions":)";
    tronsim::appendTransactionsJson(json, transactions, visible);
  }
  return json + "}";
}

struct Truth {
  std::map<std::string, std::uint64_t> by_type;
  std::uint64_t failed = 0;
  Uint128 trx = 0;
  std::uint64_t trc20 = 0;
  std::uint64_t usdt = 0;
  Uint128 usdt_volume = 0;
};

// What tronsim generated, counted from its Transaction structs (calldata bytes, not hex).
Truth truthOf(const std::vector<tronsim::Transaction>& transactions) {
  Truth truth;
  for (const auto& tx : transactions) {
    ++truth.by_type[tronsim::contractTypeName(tx.kind)];
    const bool failed = tx.ret != tronsim::ContractRet::Success;
    if (failed) ++truth.failed;
    if (tx.kind == tronsim::ContractKind::Transfer) truth.trx += static_cast<std::uint64_t>(tx.amount);
    if (tx.kind != tronsim::ContractKind::TriggerSmartContract || failed || tx.data.size() < 4) continue;
    const std::string selector = tx.data.substr(0, 4);
    std::size_t amount_at = 0;
    if (selector == std::string("\xa9\x05\x9c\xbb", 4)) amount_at = 4 + 32;
    if (selector == std::string("\x23\xb8\x72\xdd", 4)) amount_at = 4 + 64;
    if (amount_at == 0 || tx.data.size() < amount_at + 32) continue;
    ++truth.trc20;
    if (tx.other != tronsim::kUsdtContract) continue;
    ++truth.usdt;
    Uint128 amount = 0;  // tronsim's amounts fit in 64 bits: the word's upper 24 bytes are zero
    for (std::size_t i = amount_at + 16; i < amount_at + 32; ++i) {
      amount = (amount << 8) | static_cast<std::uint8_t>(tx.data[i]);
    }
    truth.usdt_volume += amount;
  }
  return truth;
}

// tronsim mainnet-profile blocks decode to exactly the counts tronsim generated, in hex and in
// visible=true form, with every txID verified.
TEST(BlockDecoderTronsimTest, GeneratedBlocksMatchWhatWasGenerated) {
  BlockDecoder decoder({.network = Network::Mainnet, .verify_tx_ids = true});
  std::uint64_t transactions_seen = 0;
  std::uint64_t usdt_seen = 0;
  for (std::uint64_t seed = 1; seed <= 8; ++seed) {
    tronsim::BlockInputs inputs;
    inputs.seed = 42;
    inputs.block_seed = tronsim::mixSeed(42, seed);
    inputs.timestamp_ms = 1'700'000'000'000;
    inputs.min_transactions = 200;
    inputs.max_transactions = 280;
    inputs.refs = {tronsim::RefBlock{99, {}}};
    const auto generated = tronsim::generateTransactions(inputs);
    const Truth truth = truthOf(generated.transactions);
    for (bool visible : {false, true}) {
      SCOPED_TRACE("seed " + std::to_string(seed) + (visible ? " visible" : " hex"));
      const auto result = decoder.decode(blockAround(generated.transactions, visible));
      ASSERT_TRUE(result.isBlock()) << result.error().describe();
      const auto& block = result.block();
      EXPECT_EQ(generated.transactions.size(), block.tx_count);
      std::map<std::string, std::uint64_t> by_type;
      for (const auto& entry : block.tx_by_type) by_type[entry.type] = entry.count;
      EXPECT_EQ(truth.by_type, by_type);
      EXPECT_EQ(truth.failed, block.tx_failed);
      EXPECT_EQ(decimal(truth.trx), block.trx_transferred_sun);
      EXPECT_EQ(truth.trc20, block.trc20_transfers);
      EXPECT_EQ(truth.usdt, block.usdt_transfers);
      EXPECT_EQ(decimal(truth.usdt_volume), block.usdt_volume);
      EXPECT_EQ("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", block.witness);
    }
    transactions_seen += generated.transactions.size();
    usdt_seen += truth.usdt;
  }
  // The sample really exercises the counted paths.
  EXPECT_GT(transactions_seen, 1600u);
  EXPECT_GT(usdt_seen, 100u);
}

// Chain blocks (what tronsim's HTTP node serves) decode identically in hex and visible form, and
// their header values are the chain's.
TEST(BlockDecoderTronsimTest, ChainBlocksHexAndVisibleAgree) {
  tronsim::Chain chain({.seed = 7, .profile = tronsim::Profile::Mainnet, .first_height = 1000});
  BlockDecoder decoder({.verify_tx_ids = true});
  for (std::int64_t height = 1000; height < 1004; ++height) {
    SCOPED_TRACE(height);
    const auto hex = decoder.decode(chain.blockJson(height, false));
    ASSERT_TRUE(hex.isBlock()) << hex.error().describe();
    auto expected = hex.block();
    const auto visible = decoder.decode(chain.blockJson(height, true));
    ASSERT_TRUE(visible.isBlock()) << visible.error().describe();
    expected.size_bytes = visible.block().size_bytes;
    EXPECT_EQ(blockV1Json(expected, {}), blockV1Json(visible, {}));
    EXPECT_EQ(static_cast<std::uint64_t>(height), expected.height);
    EXPECT_EQ(chain.blockId(height), expected.block_id);
    EXPECT_EQ(chain.blockId(height - 1), expected.parent_id);
    EXPECT_EQ(chain.timestampMs(height), expected.timestamp_ms);
    EXPECT_EQ(chain.witnessBase58(height), expected.witness);
    EXPECT_EQ(chain.witnessHex(height), expected.witness_hex);
    EXPECT_EQ(chain.options().block_version, expected.version);
    EXPECT_GE(expected.tx_count, 200u);
  }
}

}  // namespace
}  // namespace stages::decoder
