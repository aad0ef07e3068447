#include "tests/tronsim/base58.h"

#include <gtest/gtest.h>

#include "tests/tronsim/crypto.h"

namespace tronsim {
namespace {

TEST(Base58Test, KnownTronAddressVectors) {
  // tron-api.md §5, matching java-tron's encode58Check.
  const std::pair<const char*, const char*> vectors[] = {
      {"41a614f803b6fd780986a42c78ec9c7f77e6ded13c", "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"},
      {"410000000000000000000000000000000000000000", "T9yD14Nj9j7xAB4dbGeiX9h8unkKHxuWwb"},
      {"41eca9bc828a3005b9a3b909f2cc5c2a54794de05f", "TXYZopYRdj2D9XRtbG411XZZ3kM5VkAeBf"},
      {"4142a1e39aefa49290f2b3f9ed688d7cecf86cd6e0", "TG3XXyExBkPp9nzdajDZsozEu4BkaSJozs"},
  };
  for (const auto& [hex, b58] : vectors) {
    EXPECT_EQ(hexAddressToBase58(hex), b58);
    EXPECT_EQ(base58ToHexAddress(b58), std::optional<std::string>(hex));
  }
}

TEST(Base58Test, PlainBase58KeepsLeadingZeros) {
  EXPECT_EQ(base58Encode(std::string("\0\0\x01", 3)), "112");
  EXPECT_EQ(base58Encode(""), "");
  EXPECT_EQ(base58Decode("112"), std::optional<std::string>(std::string("\0\0\x01", 3)));
  EXPECT_EQ(base58Encode("hello world"), "StV1DL6CwTryKyV");
}

TEST(Base58Test, RoundTripsManyPayloads) {
  for (int n = 0; n < 300; ++n) {
    std::string payload(static_cast<std::size_t>(n % 40), '\0');
    for (std::size_t i = 0; i < payload.size(); ++i) {
      payload[i] = static_cast<char>((n * 131 + static_cast<int>(i) * 17) & 0xff);
    }
    if (n % 7 == 0 && !payload.empty()) payload[0] = '\0';
    const std::string text = base58CheckEncode(payload);
    EXPECT_EQ(base58CheckDecode(text), std::optional<std::string>(payload)) << n;
  }
}

TEST(Base58Test, RejectsBadChecksumAndAlphabet) {
  EXPECT_FALSE(base58ToHexAddress("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6u"));  // last char changed
  EXPECT_FALSE(base58ToHexAddress("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj60"));  // '0' not in alphabet
  EXPECT_FALSE(base58ToHexAddress("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6"));   // truncated
  EXPECT_FALSE(base58CheckDecode("1"));
}

TEST(CryptoTest, Sha256AndHex) {
  const Hash256 h = sha256("abc");
  EXPECT_EQ(toHex(h.data(), h.size()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(fromHex("00ffA0"), std::optional<std::string>(std::string("\x00\xff\xa0", 3)));
  EXPECT_FALSE(fromHex("0"));
  EXPECT_FALSE(fromHex("zz"));
}

}  // namespace
}  // namespace tronsim
