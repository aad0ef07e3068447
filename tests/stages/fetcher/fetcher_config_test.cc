#include "stages/fetcher/fetcher_config.h"

#include <gtest/gtest.h>

#include "pipeline/metrics/registry.h"
#include "stages/fetcher/fetcher_metrics.h"

namespace stages::fetcher {
namespace {

pipeline::Result<FetcherConfig> parseYaml(std::string_view yaml,
                                          pipeline::config::ConfigSource::Environment env = {}) {
  auto source = pipeline::config::ConfigSource::fromYamlText(yaml, "test.yaml", env);
  EXPECT_TRUE(source.has_value());
  auto config = FetcherConfig::parse(*source);
  if (config) {
    EXPECT_TRUE(source->checkUnknown().isOk()) << source->checkUnknown().toString();
  }
  return config;
}

// With nothing set: TronGrid mainnet, no key, 10 req/s, realtime, start at the head.
TEST(FetcherConfigTest, Defaults) {
  auto config = parseYaml("");
  ASSERT_TRUE(config.has_value()) << config.error().message;
  ASSERT_EQ(1u, config->nodes.size());
  EXPECT_EQ("https://api.trongrid.io", config->nodes[0].url);
  EXPECT_EQ("", config->nodes[0].api_key);
  EXPECT_EQ(10.0, config->nodes[0].rate_limit_rps);
  EXPECT_EQ(20u, config->sequencer.range_size);
  EXPECT_EQ(4u, config->sequencer.max_in_flight_requests);
  EXPECT_EQ(32ull << 20, config->sequencer.max_in_flight_bytes);
  EXPECT_EQ(FinalityMode::Realtime, config->sequencer.finality);
  EXPECT_EQ(0u, config->sequencer.confirmations);
  EXPECT_EQ(32u, config->sequencer.max_fork_depth);
  EXPECT_EQ(StartSetting::Mode::Head, config->start.mode);
  EXPECT_EQ(Millis(10'000), config->request_timeout);
  EXPECT_EQ(3u, config->pool.failure_threshold);
  EXPECT_EQ(Millis(30'000), config->pool.suspension_default);
}

// Every key, per-node lists, `-` for a node without key, trailing slashes dropped.
TEST(FetcherConfigTest, FullConfiguration) {
  auto config = parseYaml(R"(
fetcher:
  network: nile
  node_urls: [http://10.0.0.1:8090/, https://nile.trongrid.io]
  node_api_keys: ["-", abc-123]
  node_rate_limits_rps: [0, 15.5]
  range_size_blocks: 100
  max_in_flight_requests: 8
  max_in_flight_bytes: 2097152
  block_size_estimate_bytes: 5000
  finality: confirmations
  confirmations_blocks: 5
  max_fork_depth_blocks: 10
  request_timeout_ms: 2500
  retry_initial_backoff_ms: 50
  retry_max_backoff_ms: 500
  retry_backoff_multiplier: 3
  retry_jitter_ratio: 0
  breaker_open_after_failures: 5
  breaker_open_initial_ms: 100
  breaker_open_max_ms: 1000
  suspension_default_ms: 45000
  live_poll_margin_ms: 100
  live_poll_min_interval_ms: 500
  start: 123456
)");
  ASSERT_TRUE(config.has_value()) << config.error().message;
  ASSERT_EQ(2u, config->nodes.size());
  EXPECT_EQ("http://10.0.0.1:8090", config->nodes[0].url);
  EXPECT_EQ("", config->nodes[0].api_key);
  EXPECT_EQ("abc-123", config->nodes[1].api_key);
  EXPECT_EQ(0.0, config->nodes[0].rate_limit_rps);
  EXPECT_EQ(15.5, config->nodes[1].rate_limit_rps);
  EXPECT_EQ(100u, config->sequencer.range_size);
  EXPECT_EQ(FinalityMode::Confirmations, config->sequencer.finality);
  EXPECT_EQ(5u, config->sequencer.confirmations);
  EXPECT_EQ(10u, config->sequencer.max_fork_depth);
  EXPECT_EQ(Millis(50), config->sequencer.retry_backoff.initial);
  EXPECT_EQ(3.0, config->sequencer.retry_backoff.multiplier);
  EXPECT_EQ(5u, config->pool.failure_threshold);
  EXPECT_EQ(Millis(1000), config->pool.open_backoff.max);
  EXPECT_EQ(Millis(45'000), config->pool.suspension_default);
  EXPECT_EQ(Millis(100), config->live.initial_margin);
  EXPECT_EQ(StartSetting::Mode::Height, config->start.mode);
  EXPECT_EQ(123456, config->start.height);
  EXPECT_EQ(Millis(2500), config->request_timeout);
}

// The network picks the TronGrid URL; confirmations mode defaults to 19; environment works.
TEST(FetcherConfigTest, NetworkAndConfirmationsDefaults) {
  auto config = parseYaml("fetcher:\n  network: shasta\n  finality: confirmations\n",
                          {{"POINTTRON_FETCHER__NODE_API_KEYS", "k1"},
                           {"POINTTRON_FETCHER__START", "resume"}});
  ASSERT_TRUE(config.has_value()) << config.error().message;
  EXPECT_EQ("https://api.shasta.trongrid.io", config->nodes[0].url);
  EXPECT_EQ("k1", config->nodes[0].api_key);
  EXPECT_EQ(19u, config->sequencer.confirmations);
  EXPECT_EQ(StartSetting::Mode::Resume, config->start.mode);
  EXPECT_EQ(FinalityMode::Solidified,
            parseYaml("fetcher:\n  finality: solidified\n")->sequencer.finality);
}

// Bad values fail with InvalidConfig naming the key; a secret is never echoed.
TEST(FetcherConfigTest, BadValuesNameTheKey) {
  const std::pair<const char*, const char*> cases[] = {
      {"fetcher:\n  range_size_blocks: 101\n", "fetcher.range_size_blocks:"},
      {"fetcher:\n  range_size_blocks: 0\n", "fetcher.range_size_blocks:"},
      {"fetcher:\n  max_in_flight_requests: 0\n", "fetcher.max_in_flight_requests:"},
      {"fetcher:\n  finality: fast\n", "fetcher.finality:"},
      {"fetcher:\n  confirmations_blocks: 3\n", "fetcher.confirmations_blocks:"},
      {"fetcher:\n  start: yesterday\n", "fetcher.start:"},
      {"fetcher:\n  start: -5\n", "fetcher.start:"},
      {"fetcher:\n  node_urls: [ftp://x]\n", "fetcher.node_urls:"},
      {"fetcher:\n  node_urls: [https://user:pw@x]\n", "fetcher.node_urls:"},
      {"fetcher:\n  node_rate_limits_rps: [fast]\n", "fetcher.node_rate_limits_rps:"},
      {"fetcher:\n  node_urls: [http://a, http://b, http://c]\n  node_rate_limits_rps: [1, 2]\n",
       "fetcher.node_rate_limits_rps:"},
      {"fetcher:\n  node_rate_limits_rps: []\n", "fetcher.node_rate_limits_rps:"},  // found by config_fuzz
      {"fetcher:\n  retry_initial_backoff_ms: 500\n  retry_max_backoff_ms: 100\n",
       "fetcher.retry_max_backoff_ms:"},
      {"fetcher:\n  breaker_open_initial_ms: 5000\n  breaker_open_max_ms: 100\n",
       "fetcher.breaker_open_max_ms:"},
      {"fetcher:\n  request_timeout_ms: 5\n", "fetcher.request_timeout_ms:"},
      {"fetcher:\n  network: mars\n", "fetcher.network:"},
  };
  for (const auto& [yaml, prefix] : cases) {
    SCOPED_TRACE(yaml);
    auto config = parseYaml(yaml);
    ASSERT_FALSE(config.has_value());
    EXPECT_EQ(pipeline::ErrorType::InvalidConfig, config.error().type);
    EXPECT_EQ(0u, config.error().message.rfind(prefix, 0)) << config.error().message;
  }
  auto keys = parseYaml(
      "fetcher:\n  node_urls: [http://a, http://b, http://c]\n  node_api_keys: [s3cr3t-1, s3cr3t-2]\n");
  ASSERT_FALSE(keys.has_value());
  EXPECT_EQ(0u, keys.error().message.rfind("fetcher.node_api_keys:", 0));
  EXPECT_EQ(std::string::npos, keys.error().message.find("s3cr3t"));
  EXPECT_TRUE(pipeline::config::isSecretKey("fetcher.node_api_keys"));
}

// The metric families exist from the start, per node and error kind, with bounded labels.
TEST(FetcherMetricsTest, DeclaresEverySeries) {
  pipeline::metrics::Registry registry("fetcher");
  auto metrics = FetcherMetrics::create(registry, 2);
  ASSERT_EQ(2u, metrics.nodes.size());
  metrics.nodes[1].error(FailureKind::Suspended).Increment();
  metrics.forks.Increment();
  EXPECT_EQ(1.0, registry.value("point_tron_fetcher_node_errors_total",
                                {{"node", "1"}, {"error_kind", "suspended"}}));
  EXPECT_EQ(0.0, registry.value("point_tron_fetcher_node_errors_total",
                                {{"node", "0"}, {"error_kind", "timeout"}}));
  EXPECT_EQ(1.0, registry.value("point_tron_fetcher_forks_total"));
  EXPECT_EQ(0.0, registry.value("point_tron_fetcher_node_up", {{"node", "0"}}));
  for (const char* name : {"point_tron_fetcher_head_height", "point_tron_fetcher_lag_blocks",
                           "point_tron_fetcher_last_emitted_height",
                           "point_tron_fetcher_failovers_total",
                           "point_tron_fetcher_gaps_repaired_total",
                           "point_tron_fetcher_fetched_bytes_total",
                           "point_tron_fetcher_retracted_blocks_total",
                           "point_tron_fetcher_in_flight_bytes"}) {
    EXPECT_EQ(0.0, registry.value(name)) << name;
  }
}

}  // namespace
}  // namespace stages::fetcher
