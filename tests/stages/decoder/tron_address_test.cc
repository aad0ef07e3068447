#include "stages/decoder/tron_address.h"

#include <gtest/gtest.h>

#include "stages/decoder/block_decoder.h"

namespace stages::decoder {
namespace {

TronAddress parsed(std::string_view text) {
  auto result = parseTronAddress(text);
  EXPECT_TRUE(std::holds_alternative<TronAddress>(result)) << text;
  return std::holds_alternative<TronAddress>(result) ? std::get<TronAddress>(result) : TronAddress{};
}

// The test vectors of tron-api.md §5 convert both ways.
TEST(TronAddressTest, HexAndBase58Vectors) {
  const std::pair<std::string_view, std::string_view> vectors[] = {
      {"41a614f803b6fd780986a42c78ec9c7f77e6ded13c", "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"},
      {"410000000000000000000000000000000000000000", "T9yD14Nj9j7xAB4dbGeiX9h8unkKHxuWwb"},
      {"41eca9bc828a3005b9a3b909f2cc5c2a54794de05f", "TXYZopYRdj2D9XRtbG411XZZ3kM5VkAeBf"},
      {"4142a1e39aefa49290f2b3f9ed688d7cecf86cd6e0", "TG3XXyExBkPp9nzdajDZsozEu4BkaSJozs"},
  };
  for (const auto& [hex, base58] : vectors) {
    EXPECT_EQ(base58, parsed(hex).base58());
    EXPECT_EQ(hex, parsed(base58).hex());
    EXPECT_EQ(parsed(hex), parsed(base58));
  }
}

// Upper-case hex parses to the same address and prints lower-case.
TEST(TronAddressTest, HexIsCaseInsensitive) {
  EXPECT_EQ("41a614f803b6fd780986a42c78ec9c7f77e6ded13c",
            parsed("41A614F803B6FD780986A42C78EC9C7F77E6DED13C").hex());
}

// One changed character keeps the base58 alphabet but breaks the checksum.
TEST(TronAddressTest, BadChecksum) {
  auto result = parseTronAddress("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6u");
  ASSERT_TRUE(std::holds_alternative<AddressProblem>(result));
  EXPECT_EQ(AddressProblem::BadChecksum, std::get<AddressProblem>(result));
}

// Wrong length, prefix or alphabet is malformed, not a checksum problem.
TEST(TronAddressTest, Malformed) {
  for (std::string_view text : {"", "41a614f803b6fd780986a42c78ec9c7f77e6ded1",
                                "42a614f803b6fd780986a42c78ec9c7f77e6ded13c",
                                "41a614f803b6fd780986a42c78ec9c7f77e6ded13g",
                                "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj60", "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6"}) {
    auto result = parseTronAddress(text);
    ASSERT_TRUE(std::holds_alternative<AddressProblem>(result)) << text;
    EXPECT_EQ(AddressProblem::Malformed, std::get<AddressProblem>(result)) << text;
  }
}

// The USDT contracts of the three networks are the addresses tron-api.md §5 lists.
TEST(TronAddressTest, UsdtContracts) {
  EXPECT_EQ("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", usdtContract(Network::Mainnet).base58());
  EXPECT_EQ("TG3XXyExBkPp9nzdajDZsozEu4BkaSJozs", usdtContract(Network::Shasta).base58());
  EXPECT_EQ("TXYZopYRdj2D9XRtbG411XZZ3kM5VkAeBf", usdtContract(Network::Nile).base58());
}

}  // namespace
}  // namespace stages::decoder
