#include "stages/decoder/block_decoder.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "tests/stages/decoder/test_fixtures.h"

namespace stages::decoder {
namespace {

// Expected values below were worked out independently of this code: a python3 script read each
// fixture with the json module (exact integers), counted raw_data.contract[0].type per
// transaction, counted ret[0].contractRet present and != "SUCCESS", summed TransferContract
// amounts, counted successful TriggerSmartContract calls whose data starts with a9059cbb or
// 23b872dd, summed the amount word (data[72:136] for a9059cbb, data[136:200] for 23b872dd) of
// those whose contract_address is the network's USDT, base58check-encoded witness_address with
// hashlib's double SHA-256, and took the last decimal character of blockID.

std::vector<TypeCount> types(std::initializer_list<TypeCount> entries) { return entries; }

DecodeResult decodeFixture(const std::string& name, DecoderOptions options = {}) {
  BlockDecoder decoder(options);
  return decoder.decode(readFixture(name));
}

// The 208-transaction mainnet block (hex addresses, pretty-printed).
TEST(BlockDecoderTest, Mainnet60954080) {
  const auto bytes = readFixture("mainnet-60954080.json");
  BlockDecoder decoder;
  const auto result = decoder.decode(bytes);
  ASSERT_TRUE(result.isBlock()) << result.error().describe();
  const auto& block = result.block();
  EXPECT_EQ(60954080u, block.height);
  EXPECT_EQ("0000000003a215e0d301f759c7d2a7753a46547f39751b39b8cae3b3a05a7d6d", block.block_id);
  EXPECT_EQ("0000000003a215df20f118d7944d5d2e1d7363c594dd3f3d88100d5a23a5a06a", block.parent_id);
  EXPECT_EQ(1713504669000, block.timestamp_ms);
  EXPECT_EQ("TC6qGw3d6h25gjcM64KLuZn1cznNi5NR6t", block.witness);
  EXPECT_EQ("411761716b76c6a3d885299c366826046c09b08d26", block.witness_hex);
  EXPECT_EQ(29, block.version);
  EXPECT_EQ(208u, block.tx_count);
  EXPECT_EQ(types({{"CreateSmartContract", 1},
                   {"DelegateResourceContract", 7},
                   {"TransferAssetContract", 15},
                   {"TransferContract", 92},
                   {"TriggerSmartContract", 56},
                   {"UnDelegateResourceContract", 37}}),
            block.tx_by_type);
  EXPECT_EQ(1u, block.tx_failed);  // one OUT_OF_ENERGY USDT transfer
  EXPECT_EQ("10473199855", block.trx_transferred_sun);
  // 49 successful a9059cbb + 5 23b872dd, all to USDT; the failed one and the fd8527a1 call excluded.
  EXPECT_EQ(54u, block.trc20_transfers);
  EXPECT_EQ(54u, block.usdt_transfers);
  EXPECT_EQ("96277500222", block.usdt_volume);
  EXPECT_EQ(6, block.last_digit);
  EXPECT_FALSE(block.is_odd);
  EXPECT_EQ(bytes.size(), block.size_bytes);
}

// The same block with visible=true addresses (T…), compact and with keys sorted (python3
// json.dumps(sort_keys=True) of the hex fixture with every address field base58-encoded,
// tests/fixtures/tron-blocks/DERIVED.md) decodes to the same values.
TEST(BlockDecoderTest, VisibleCompactSortedFormIsTheSameBlock) {
  const auto hex = decodeFixture("mainnet-60954080.json");
  const auto visible = decodeFixture("mainnet-60954080-visible-compact-sorted.json");
  ASSERT_TRUE(hex.isBlock());
  ASSERT_TRUE(visible.isBlock()) << visible.error().describe();
  auto expected = hex.block();
  expected.size_bytes = visible.block().size_bytes;
  EXPECT_EQ(blockV1Json(expected, {}), blockV1Json(visible, {}));
  EXPECT_EQ(54u, visible.block().usdt_transfers);
}

// Shasta block 46929239: its one TRC-20 transfer is Shasta's USDT, so it counts only with
// network=shasta.
TEST(BlockDecoderTest, ShastaUsdtDependsOnNetwork) {
  const auto shasta = decodeFixture("shasta-46929239.json", {.network = Network::Shasta});
  ASSERT_TRUE(shasta.isBlock()) << shasta.error().describe();
  EXPECT_EQ(46929239u, shasta.block().height);
  EXPECT_EQ("TUy8Q7t5JEn26NPTuo6duDEs5Jss51xD6v", shasta.block().witness);
  EXPECT_EQ(30, shasta.block().version);
  EXPECT_EQ(5u, shasta.block().tx_count);
  EXPECT_EQ(types({{"TransferContract", 4}, {"TriggerSmartContract", 1}}), shasta.block().tx_by_type);
  EXPECT_EQ(0u, shasta.block().tx_failed);
  EXPECT_EQ("103000", shasta.block().trx_transferred_sun);
  EXPECT_EQ(1u, shasta.block().trc20_transfers);
  EXPECT_EQ(1u, shasta.block().usdt_transfers);
  EXPECT_EQ("300000000", shasta.block().usdt_volume);
  EXPECT_EQ(1, shasta.block().last_digit);
  EXPECT_TRUE(shasta.block().is_odd);

  const auto mainnet = decodeFixture("shasta-46929239.json", {.network = Network::Mainnet});
  ASSERT_TRUE(mainnet.isBlock());
  EXPECT_EQ(1u, mainnet.block().trc20_transfers);
  EXPECT_EQ(0u, mainnet.block().usdt_transfers);
  EXPECT_EQ("0", mainnet.block().usdt_volume);
}

// Blocks without transactions: no `transactions` key, no `version` key (header-only 2018 block),
// compact node bytes.
TEST(BlockDecoderTest, EmptyBlocks) {
  struct Case {
    const char* file;
    std::uint64_t height;
    const char* witness;
    std::int64_t version;
    std::int64_t timestamp_ms;
    int last_digit;
  };
  for (const Case& c : {Case{"shasta-200.json", 200, "TXyZjVcYurrbE43b2MfMtN34uA3tJL85zy", 9,
                             1575594618000, 7},
                        Case{"testnet-18421767.json", 18421767, "TMy7eAb8rNeaFCoJAXKv9tfZzz3CLgaWYX",
                             22, 1631928606000, 4},
                        Case{"mainnet-1000000-getblock-detail-false.json", 1000000,
                             "TX3ZceVew6yLC5hWTXnjrUFtiFfUDGKGty", 0, 1532895918000, 3}}) {
    SCOPED_TRACE(c.file);
    const auto result = decodeFixture(c.file);
    ASSERT_TRUE(result.isBlock()) << result.error().describe();
    const auto& block = result.block();
    EXPECT_EQ(c.height, block.height);
    EXPECT_EQ(c.witness, block.witness);
    EXPECT_EQ(c.version, block.version);
    EXPECT_EQ(c.timestamp_ms, block.timestamp_ms);
    EXPECT_EQ(0u, block.tx_count);
    EXPECT_TRUE(block.tx_by_type.empty());
    EXPECT_EQ("0", block.trx_transferred_sun);
    EXPECT_EQ("0", block.usdt_volume);
    EXPECT_EQ(c.last_digit, block.last_digit);
    EXPECT_EQ(c.last_digit % 2 == 1, block.is_odd);
  }
}

// With verify_tx_ids every txID of the real fixtures matches sha256(raw_data_hex).
TEST(BlockDecoderTest, RealTxIdsVerify) {
  for (const char* file : {"mainnet-60954080.json", "mainnet-60954080-visible-compact-sorted.json",
                           "shasta-46929239.json"}) {
    const auto result = decodeFixture(file, {.verify_tx_ids = true});
    EXPECT_TRUE(result.isBlock()) << file << ": " << result.error().describe();
  }
}

// The exact block.v1 text: key order, compact, null fetched_at_ms when unknown.
TEST(BlockDecoderTest, BlockV1Json) {
  const auto result = decodeFixture("shasta-200.json");
  ASSERT_TRUE(result.isBlock());
  EXPECT_EQ(
      R"({"schema":"block.v1","height":200,)"
      R"("block_id":"00000000000000c86d2473411771f83db5e314c01bc8f8cf0dc2f8892be6fd7f",)"
      R"("parent_id":"00000000000000c7d4d47132f21fd0b74e2f8bcb0c2e9130f7cab35b5d38af9f",)"
      R"("timestamp_ms":1575594618000,"witness":"TXyZjVcYurrbE43b2MfMtN34uA3tJL85zy",)"
      R"("witness_hex":"41f16412b9a17ee9408646e2a21e16478f72ed1e95","version":9,"tx_count":0,)"
      R"("tx_by_type":{},"tx_failed":0,"trx_transferred_sun":"0","trc20_transfers":0,)"
      R"("usdt_transfers":0,"usdt_volume":"0","last_digit":7,"is_odd":true,"size_bytes":613,)"
      R"("fetched_at_ms":null,"decoded_at_ms":1795634273123,"source":""})",
      blockV1Json(result, {.fetched_at_ms = std::nullopt, .decoded_at_ms = 1795634273123, .source = ""}));
  const auto with_headers =
      blockV1Json(result, {.fetched_at_ms = 1795634273000, .decoded_at_ms = 1795634273123, .source = "node-0"});
  EXPECT_NE(std::string::npos,
            with_headers.find(R"("fetched_at_ms":1795634273000,"decoded_at_ms":1795634273123,"source":"node-0"})"));
}

// ---- Synthetic blocks for the edge cases ----

// The blockID of `height`: 16 hex digits of the height, then a fixed hash part.
std::string idOf(std::uint64_t height) {
  char prefix[17];
  std::snprintf(prefix, sizeof prefix, "%016llx", static_cast<unsigned long long>(height));
  return std::string(prefix) + "6d2473411771f83db5e314c01bc8f8cf0dc2f8892be6fd7f";
}

constexpr const char* kWitnessHex = "41f16412b9a17ee9408646e2a21e16478f72ed1e95";
constexpr const char* kUsdtHex = "41a614f803b6fd780986a42c78ec9c7f77e6ded13c";
constexpr const char* kUsdtBase58 = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t";
const std::string kWord0(64, '0');

std::string header(std::uint64_t height, const std::string& number_json = "",
                   const std::string& witness = kWitnessHex) {
  return R"("blockID":")" + idOf(height) + R"(","block_header":{"raw_data":{"number":)" +
         (number_json.empty() ? std::to_string(height) : number_json) +
         R"(,"parentHash":")" + idOf(height - 1) + R"(","witness_address":")" + witness +
         R"(","timestamp":1575594618000}})";
}

std::string block(const std::vector<std::string>& transactions, std::uint64_t height = 200) {
  std::string out = "{" + header(height);
  if (!transactions.empty()) {
    out += R"(,"transactions":[)";
    for (std::size_t i = 0; i < transactions.size(); ++i) out += (i ? "," : "") + transactions[i];
    out += "]";
  }
  return out + "}";
}

std::string transfer(const std::string& amount_json, const std::string& ret = "SUCCESS") {
  std::string out = "{";
  if (!ret.empty()) out += R"("ret":[{"contractRet":")" + ret + R"("}],)";
  return out + R"("raw_data":{"contract":[{"parameter":{"value":{"amount":)" + amount_json +
         R"(,"owner_address":"41aa","to_address":"41bb"}},"type":"TransferContract"}]}})";
}

std::string trigger(const std::string& contract, const std::string& data, const std::string& ret = "SUCCESS") {
  std::string out = "{";
  if (!ret.empty()) out += R"("ret":[{"contractRet":")" + ret + R"("}],)";
  return out + R"("raw_data":{"contract":[{"type":"TriggerSmartContract","parameter":{"value":{"data":")" +
         data + R"(","contract_address":")" + contract + R"("}}}]}})";
}

// An address word with 0x41 in byte 11, as many real transfers carry.
std::string addressWord() { return std::string(22, '0') + "41" + std::string(40, 'c'); }
std::string amountWord(const std::string& hex_value) {
  return std::string(64 - hex_value.size(), '0') + hex_value;
}

DecodeResult decodeText(const std::string& text, DecoderOptions options = {}) {
  BlockDecoder decoder(options);
  return decoder.decode(text);
}

std::string codeOf(const DecodeResult& result) { return result ? "ok" : result.error().code(); }

// Failure is ret[0].contractRet present and not SUCCESS; a transaction without ret succeeded.
TEST(BlockDecoderTest, FailedTransactions) {
  const auto result = decodeText(block({transfer("5"), transfer("7", "REVERT"), transfer("11", "")}));
  ASSERT_TRUE(result.isBlock()) << result.error().describe();
  EXPECT_EQ(3u, result.block().tx_count);
  EXPECT_EQ(1u, result.block().tx_failed);
  // Failed TRX transfers still count in the sum: the decoder reports what blocks carry.
  EXPECT_EQ("23", result.block().trx_transferred_sun);
}

// TRX amounts are int64; their sum exceeds 64 bits exactly (python3: 3 * (2**63 - 1)).
TEST(BlockDecoderTest, TrxSumBeyondSixtyFourBits) {
  const std::string max = "9223372036854775807";
  const auto result = decodeText(block({transfer(max), transfer(max), transfer(max)}));
  ASSERT_TRUE(result.isBlock()) << result.error().describe();
  EXPECT_EQ("27670116110564327421", result.block().trx_transferred_sun);
}

// transfer and transferFrom (amount after two address words) to USDT in hex or base58 count;
// failed calls, other selectors and too-short calldata do not; other contracts are TRC-20 only.
TEST(BlockDecoderTest, Trc20AndUsdt) {
  const std::string transfer_data = "a9059cbb" + addressWord() + amountWord("ffffffffffffffffff");
  const std::string transfer_from_data =
      "23b872dd" + addressWord() + addressWord() + amountWord("10");
  const auto result = decodeText(block({
      trigger(kUsdtHex, transfer_data),
      trigger(kUsdtBase58, transfer_from_data),
      trigger(kUsdtHex, transfer_data, ""),              // no ret: successful
      trigger(kUsdtHex, transfer_data, "REVERT"),        // failed: not counted
      trigger(kUsdtHex, "095ea7b3" + addressWord() + amountWord("1")),  // approve
      trigger(kUsdtHex, "a9059cbb" + addressWord()),     // no amount word
      trigger("41eca9bc828a3005b9a3b909f2cc5c2a54794de05f", transfer_data),  // not mainnet USDT
  }));
  ASSERT_TRUE(result.isBlock()) << result.error().describe();
  const auto& summary = result.block();
  EXPECT_EQ(7u, summary.tx_count);
  EXPECT_EQ(1u, summary.tx_failed);
  EXPECT_EQ(4u, summary.trc20_transfers);
  EXPECT_EQ(3u, summary.usdt_transfers);
  // 2 × 0xffffffffffffffffff + 0x10 (python3: 2*0xffffffffffffffffff + 16).
  EXPECT_EQ("9444732965739290427406", summary.usdt_volume);
}

// Sums of uint256 amount words are exact far beyond 64 bits (python3: 3 * (2**256 - 1)).
TEST(BlockDecoderTest, UsdtVolumeIsExactUint256Sum) {
  const std::string data = "a9059cbb" + addressWord() + std::string(64, 'f');
  const auto result = decodeText(block({trigger(kUsdtHex, data), trigger(kUsdtHex, data),
                                        trigger(kUsdtHex, data)}));
  ASSERT_TRUE(result.isBlock()) << result.error().describe();
  EXPECT_EQ("347376267711948586270712955026063723559809953996921692118372752023739388919805",
            result.block().usdt_volume);
}

// Integers written as decimal strings (GET int64_as_string=true) read the same.
TEST(BlockDecoderTest, Int64AsString) {
  const auto result = decodeText("{" + header(200, "\"200\"") + R"(,"transactions":[)" +
                                 transfer("\"9223372036854775807\"") + "]}");
  ASSERT_TRUE(result.isBlock()) << result.error().describe();
  EXPECT_EQ(200u, result.block().height);
  EXPECT_EQ("9223372036854775807", result.block().trx_transferred_sun);
}

// Whitespace anywhere and any key order decode the same.
TEST(BlockDecoderTest, WhitespaceAndKeyOrder) {
  const std::string text =
      " \n{ \"transactions\" : [ { \"raw_data\" : { \"contract\" : [ { \"type\" : \"TransferContract\" ,"
      " \"parameter\" : { \"value\" : { \"amount\" : 42 } } } ] } , \"ret\" : [ { \"contractRet\" :"
      " \"SUCCESS\" } ] } ] ,\n\t\"block_header\" : { \"raw_data\" : { \"timestamp\" : 5 , "
      "\"witness_address\" : \"" + std::string(kWitnessHex) + "\" , \"parentHash\" : \"" + idOf(6) +
      "\" , \"number\" : 7 } } , \"blockID\" : \"" + idOf(7) + "\" }\r\n";
  const auto result = decodeText(text);
  ASSERT_TRUE(result.isBlock()) << result.error().describe();
  EXPECT_EQ(7u, result.block().height);
  EXPECT_EQ("42", result.block().trx_transferred_sun);
  EXPECT_EQ(text.size(), result.block().size_bytes);
}

// A retraction from the fetcher becomes a block.v1 retraction.
TEST(BlockDecoderTest, Retraction) {
  const auto result = decodeText(R"({"schema":"block.raw.retraction.v1","removed":true,"height":200,"block_id":")" +
                                 idOf(200) + R"("})");
  ASSERT_TRUE(result.isRetraction()) << codeOf(result);
  EXPECT_EQ(200u, result.retraction().height);
  EXPECT_EQ(R"({"schema":"block.v1","removed":true,"height":200,"block_id":")" + idOf(200) +
                R"(","decoded_at_ms":12,"source":"n"})",
            blockV1Json(result, {.fetched_at_ms = 10, .decoded_at_ms = 12, .source = "n"}));
  EXPECT_EQ("block_id_height_mismatch",
            codeOf(decodeText(R"({"removed":true,"height":201,"block_id":")" + idOf(200) + R"("})")));
  EXPECT_EQ("missing_field:block_id", codeOf(decodeText(R"({"removed":true,"height":201})")));
}

// Each kind of bad input is rejected with its reason.
TEST(BlockDecoderTest, RejectReasons) {
  const auto mainnet = readFixture("mainnet-60954080.json");
  const std::string valid = block({transfer("1")});
  const std::pair<std::string, std::string> cases[] = {
      {"{}", "empty_block"},
      {"{}\n", "empty_block"},
      {"", "invalid_json"},
      {"hello", "invalid_json"},
      {"this is not json", "invalid_json"},  // starts like `true`
      {"nothing", "invalid_json"},           // starts like `null`
      {"-x", "invalid_json"},                // starts like a number
      {"[1,", "invalid_json"},               // an array, but not JSON
      {"true", "wrong_type:block"},
      {"<html>502 Bad Gateway</html>", "invalid_json"},
      {mainnet.substr(0, mainnet.size() / 2), "invalid_json"},  // truncated
      {valid + "}", "invalid_json"},                             // trailing bytes
      {"[1,2]", "wrong_type:block"},
      {R"({"Error":"class java.lang.IllegalAccessException : lack of computing resources"})",
       "missing_field:blockID"},
      {"{" + header(200, "\"abc\"") + "}", "wrong_type:block_header.raw_data.number"},
      {"{" + header(200, "true") + "}", "wrong_type:block_header.raw_data.number"},
      {"{" + header(200, "200.5") + "}", "wrong_type:block_header.raw_data.number"},
      {"{" + header(200, "18446744073709551616") + "}", "number_out_of_range:block_header.raw_data.number"},
      {"{" + header(200, "123456789012345678901234567890") + "}",
       "number_out_of_range:block_header.raw_data.number"},
      {"{" + header(200, "-1") + "}", "number_out_of_range:block_header.raw_data.number"},
      {"{" + header(200, "201") + "}", "block_id_height_mismatch"},
      {"{" + header(200, "", "TXyZjVcYurrbE43b2MfMtN34uA3tJL85zz") + "}",
       "bad_address_checksum:block_header.raw_data.witness_address"},
      {"{" + header(200, "", "41f164") + "}", "bad_address:block_header.raw_data.witness_address"},
      {R"({"blockID":")" + idOf(200) + R"("})", "missing_field:block_header"},
      {R"({"blockID":")" + idOf(200) + R"(","block_header":{"raw_data":{"number":200}}})",
       "missing_field:block_header.raw_data.parentHash"},
      {R"({"blockID":")" + idOf(200) + R"(","block_header":{"raw_data":{"number":200,"parentHash":")" +
           idOf(199) + R"(","witness_address":")" + kWitnessHex + R"("}}})",
       "missing_field:block_header.raw_data.timestamp"},
      {R"({"blockID":"xyz","block_header":{"raw_data":{}}})", "missing_field:block_header.raw_data.number"},
      {"{" + header(200) + R"(,"transactions":{}})", "wrong_type:transactions"},
      {block({transfer("18446744073709551616")}),
       "number_out_of_range:transactions.raw_data.contract.parameter.value.amount"},
      {block({R"({"ret":[{"contractRet":"SUCCESS"}]})"}), "missing_field:transactions.raw_data"},
      {block({R"({"raw_data":{"contract":[{"parameter":{}}]}})"}),
       "missing_field:transactions.raw_data.contract.type"},
      {block({trigger("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6u", "a9059cbb" + addressWord() + amountWord("1"))}),
       "bad_address_checksum:transactions.raw_data.contract.parameter.value.contract_address"},
      {block({trigger(kUsdtHex, "a9059cbb" + addressWord() + std::string(63, '0') + "x")}),
       "bad_hex:transactions.raw_data.contract.parameter.value.data"},
  };
  for (const auto& [input, expected] : cases) {
    EXPECT_EQ(expected, codeOf(decodeText(input))) << input.substr(0, 300);
  }
}

// With verify_tx_ids a txID that is not sha256(raw_data_hex) is rejected; without it, accepted.
TEST(BlockDecoderTest, TxIdMismatch) {
  auto text = readFixture("shasta-46929239.json");
  const auto at = text.find("\"txID\"");
  ASSERT_NE(std::string::npos, at);
  const auto value = text.find('"', at + 6) + 1;
  text[value] = text[value] == '0' ? '1' : '0';
  EXPECT_EQ("txid_mismatch:transactions.txID", codeOf(decodeText(text, {.verify_tx_ids = true})));
  EXPECT_EQ("ok", codeOf(decodeText(text)));
}

// The decoder is reused across documents: totals of one block never leak into the next.
TEST(BlockDecoderTest, ReuseDoesNotLeakTotals) {
  BlockDecoder decoder;
  ASSERT_TRUE(decoder.decode(readFixture("mainnet-60954080.json")).isBlock());
  ASSERT_FALSE(decoder.decode("{").ok());
  const auto empty = decoder.decode(readFixture("shasta-200.json"));
  ASSERT_TRUE(empty.isBlock());
  EXPECT_EQ(0u, empty.block().tx_count);
  EXPECT_TRUE(empty.block().tx_by_type.empty());
  EXPECT_EQ("0", empty.block().trx_transferred_sun);
  EXPECT_EQ(0u, empty.block().usdt_transfers);
}

// A reason names its field; describe() adds the detail for the DLQ header.
TEST(BlockDecoderTest, ErrorText) {
  const auto result = decodeText(block({transfer("1"), R"({"raw_data":{"contract":[{}]}})"}));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ("missing_field:transactions.raw_data.contract.type", result.error().code());
  EXPECT_EQ("missing_field:transactions.raw_data.contract.type (transaction 1)", result.error().describe());
}

}  // namespace
}  // namespace stages::decoder
