#include "stages/aggregator/aggregator_config.h"

#include <gtest/gtest.h>

namespace stages::aggregator {
namespace {

pipeline::Result<AggregatorConfig> parseYaml(std::string_view yaml) {
  auto source = pipeline::config::ConfigSource::fromYamlText(yaml, "test.yaml", {});
  if (!source) return source.error();
  return AggregatorConfig::parse(*source);
}

// Nothing set: auto start, UTC, W = 1000, K = 64, 10000 buffered blocks, a checkpoint every
// second, a gap degrades health after a minute.
TEST(AggregatorConfigTest, Defaults) {
  const auto config = parseYaml("");
  ASSERT_TRUE(config.has_value()) << config.error().message;
  EXPECT_FALSE(config->start_height.has_value());
  EXPECT_EQ(0, config->fold.utc_offset.ms);
  EXPECT_EQ("+00:00", config->fold.utc_offset.text);
  EXPECT_EQ(1000u, config->fold.parity_window_blocks);
  EXPECT_EQ(64u, config->fold.rollback_depth_blocks);
  EXPECT_EQ(10000u, config->reorder_buffer_max_blocks);
  EXPECT_EQ(1000, config->checkpoint_interval_ms);
  EXPECT_EQ(60000, config->max_gap_age_ms);
}

// Every key set.
TEST(AggregatorConfigTest, ReadsEveryKey) {
  const auto config = parseYaml(
      "aggregator:\n  start_height: 60954080\n  utc_offset: \"+08:00\"\n"
      "  parity_window_blocks: 500\n  rollback_depth_blocks: 128\n  reorder_buffer_max_blocks: 20\n"
      "  checkpoint_interval_ms: 250\n  max_gap_age_ms: 5000\n");
  ASSERT_TRUE(config.has_value()) << config.error().message;
  EXPECT_EQ(60954080u, *config->start_height);
  EXPECT_EQ(8 * 3'600'000, config->fold.utc_offset.ms);
  EXPECT_EQ(500u, config->fold.parity_window_blocks);
  EXPECT_EQ(128u, config->fold.rollback_depth_blocks);
  EXPECT_EQ(20u, config->reorder_buffer_max_blocks);
  EXPECT_EQ(250, config->checkpoint_interval_ms);
  EXPECT_EQ(5000, config->max_gap_age_ms);
}

// Invalid values are InvalidConfig errors that start with the key.
TEST(AggregatorConfigTest, ErrorsNameTheKey) {
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"aggregator:\n  start_height: latest\n", "aggregator.start_height:"},
      {"aggregator:\n  start_height: -5\n", "aggregator.start_height:"},
      {"aggregator:\n  utc_offset: \"+15:00\"\n", "aggregator.utc_offset:"},
      {"aggregator:\n  utc_offset: \"8\"\n", "aggregator.utc_offset:"},
      {"aggregator:\n  parity_window_blocks: 0\n", "aggregator.parity_window_blocks:"},
      {"aggregator:\n  rollback_depth_blocks: 0\n", "aggregator.rollback_depth_blocks:"},
      {"aggregator:\n  reorder_buffer_max_blocks: 0\n", "aggregator.reorder_buffer_max_blocks:"},
      {"aggregator:\n  checkpoint_interval_ms: 10\n", "aggregator.checkpoint_interval_ms:"},
      {"aggregator:\n  max_gap_age_ms: 0\n", "aggregator.max_gap_age_ms:"},
  };
  for (const auto& [yaml, prefix] : cases) {
    const auto config = parseYaml(yaml);
    ASSERT_FALSE(config.has_value()) << yaml;
    EXPECT_EQ(pipeline::ErrorType::InvalidConfig, config.error().type) << yaml;
    EXPECT_EQ(0u, config.error().message.rfind(prefix, 0)) << config.error().message;
  }
}

}  // namespace
}  // namespace stages::aggregator
