#include "stages/decoder/decoder_config.h"

#include <gtest/gtest.h>

namespace stages::decoder {
namespace {

pipeline::Result<DecoderConfig> parseYaml(std::string_view yaml) {
  auto source = pipeline::config::ConfigSource::fromYamlText(yaml, "test.yaml", {});
  EXPECT_TRUE(source.has_value());
  auto config = DecoderConfig::parse(*source);
  if (config) {
    EXPECT_TRUE(source->checkUnknown().isOk()) << source->checkUnknown().toString();
  }
  return config;
}

// Nothing set: mainnet, no txID verification.
TEST(DecoderConfigTest, Defaults) {
  auto config = parseYaml("");
  ASSERT_TRUE(config.has_value()) << config.error().message;
  EXPECT_EQ(Network::Mainnet, config->decode.network);
  EXPECT_FALSE(config->decode.verify_tx_ids);
}

// Both keys are read (so neither is an unknown key) and applied.
TEST(DecoderConfigTest, Values) {
  auto config = parseYaml("decoder:\n  network: Nile\n  verify_tx_ids: yes\n");
  ASSERT_TRUE(config.has_value()) << config.error().message;
  EXPECT_EQ(Network::Nile, config->decode.network);
  EXPECT_TRUE(config->decode.verify_tx_ids);
}

// A bad value is InvalidConfig naming the key.
TEST(DecoderConfigTest, Invalid) {
  for (std::string_view yaml : {"decoder:\n  network: testnet\n", "decoder:\n  verify_tx_ids: maybe\n"}) {
    auto config = parseYaml(yaml);
    ASSERT_FALSE(config.has_value()) << yaml;
    EXPECT_EQ(pipeline::ErrorType::InvalidConfig, config.error().type);
    EXPECT_NE(std::string::npos, config.error().message.find(yaml.find("network") != std::string_view::npos
                                                                 ? "decoder.network"
                                                                 : "decoder.verify_tx_ids"));
  }
}

}  // namespace
}  // namespace stages::decoder
