#include "pipeline/kafka/statistics.h"

#include <gtest/gtest.h>

#include "pipeline/metrics/names.h"

namespace pipeline::kafka {
namespace {

// A trimmed librdkafka statistics document (field names as librdkafka 2.0 emits them).
constexpr std::string_view kStatistics = R"({
  "name": "pointtron-decoder-consumer#consumer-1", "type": "consumer", "msg_cnt": 4,
  "brokers": {
    "127.0.0.1:9092/bootstrap": {"nodeid": -1, "state": "UP", "txbytes": 100, "rxbytes": 200},
    "127.0.0.1:9092/1": {"nodeid": 1, "state": "UP", "txbytes": 1000, "rxbytes": 5000},
    "127.0.0.1:9094/2": {"nodeid": 2, "state": "DOWN", "txbytes": 10, "rxbytes": 20}
  },
  "topics": {
    "pointtron.blocks": {"partitions": {
      "0": {"partition": 0, "fetch_state": "active", "consumer_lag": 12, "consumer_lag_stored": 15},
      "1": {"partition": 1, "fetch_state": "none", "consumer_lag": 3},
      "-1": {"partition": -1, "fetch_state": "none", "consumer_lag": -1}
    }}
  }
})";

// Statistics give brokers up (bootstrap placeholders excluded), bytes, queue depth and the
// stored-offset lag of assigned partitions only.
TEST(StatisticsTest, ParsesLibrdkafkaDocument) {
  auto statistics = parseStatistics(kStatistics);
  ASSERT_TRUE(statistics) << statistics.error().message;
  EXPECT_EQ("consumer", statistics->client_type);
  EXPECT_EQ(4, statistics->queued_messages);
  EXPECT_EQ(1, statistics->brokers_up);
  EXPECT_EQ(2, statistics->brokers_known);
  EXPECT_EQ(1110, statistics->tx_bytes);
  EXPECT_EQ(5220, statistics->rx_bytes);
  ASSERT_EQ(1u, statistics->consumer_lag.size());
  EXPECT_EQ(15, (statistics->consumer_lag.at({"pointtron.blocks", 0})));
}

// Something that is not a statistics document is an InvalidPayload error, not a crash.
TEST(StatisticsTest, RejectsGarbage) {
  EXPECT_EQ(ErrorType::InvalidPayload, parseStatistics("{not json").error().type);
  EXPECT_EQ(ErrorType::InvalidPayload, parseStatistics("{}").error().type);
}

// Client metrics turn cumulative byte totals into counter increments and expose lag per partition.
TEST(ClientMetricsTest, PublishesStatistics) {
  metrics::Registry registry("decoder");
  ClientMetrics client(registry, "consumer");
  ASSERT_TRUE(client.update(kStatistics));
  ASSERT_TRUE(client.update(kStatistics));  // same totals again: no double counting
  EXPECT_EQ(1110, registry.value(metrics::names::kKafkaTxBytes, {{"client", "consumer"}}));
  EXPECT_EQ(1, registry.value(metrics::names::kKafkaBrokersUp, {{"client", "consumer"}}));
  EXPECT_EQ(15, registry.value(metrics::names::kKafkaConsumerLag,
                               {{"topic", "pointtron.blocks"}, {"partition", "0"}}));
}

}  // namespace
}  // namespace pipeline::kafka
