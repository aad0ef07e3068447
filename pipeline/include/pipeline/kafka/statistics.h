#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>

#include "pipeline/metrics/registry.h"
#include "pipeline/status.h"

namespace pipeline::kafka {

/** The figures point-tron reads from one librdkafka statistics JSON document. */
struct Statistics {
  std::string client_type;     // "producer" or "consumer"
  std::int64_t queued_messages = 0;  // msg_cnt: produced, not yet acknowledged
  std::int64_t tx_bytes = 0;   // txbytes over all brokers
  std::int64_t rx_bytes = 0;   // rxbytes over all brokers
  int brokers_up = 0;          // brokers (not bootstrap placeholders) in state UP
  int brokers_known = 0;
  /** (topic, partition) -> consumer lag in messages, for assigned partitions whose lag is known. */
  std::map<std::pair<std::string, std::int32_t>, std::int64_t> consumer_lag;
};

/** Parses librdkafka's statistics JSON; InvalidPayload if it is not that document. */
Result<Statistics> parseStatistics(std::string_view json);

/**
 * Publishes Statistics as metrics: broker availability, queue depth, bytes, and consumer lag per
 * partition (bounded: partitions of the topics a stage consumes). Lag series of partitions no
 * longer assigned drop to 0 so a revoked partition does not report a stale lag forever.
 * Loop thread only.
 */
class ClientMetrics {
 public:
  ClientMetrics(metrics::Registry& registry, std::string client);
  void update(const Statistics& statistics);
  /** Parses a statistics document and updates the metrics; returns what it parsed. */
  Result<Statistics> update(std::string_view json);

 private:
  metrics::Registry& registry_;
  std::string client_;
  metrics::Gauge& brokers_up_;
  metrics::Gauge& queued_;
  metrics::Counter& tx_bytes_;
  metrics::Counter& rx_bytes_;
  std::int64_t last_tx_ = 0;
  std::int64_t last_rx_ = 0;
  std::map<std::pair<std::string, std::int32_t>, metrics::Gauge*> lag_;
};

}  // namespace pipeline::kafka
