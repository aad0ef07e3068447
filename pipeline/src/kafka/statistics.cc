#include "pipeline/kafka/statistics.h"

#include <simdjson.h>

#include <fmt/format.h>

#include "pipeline/metrics/names.h"

namespace pipeline::kafka {
namespace {

// Statistics fields vary across librdkafka versions: a missing one keeps its default.
template <typename T>
void readIfPresent(simdjson::dom::element parent, std::string_view key, T& out) {
  T value;
  if (parent[key].get(value) == simdjson::SUCCESS) out = value;
}

}  // namespace

Result<Statistics> parseStatistics(std::string_view json) {
  Statistics out;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto error = parser.parse(json.data(), json.size()).get(root); error) {
    return Error{ErrorType::InvalidPayload,
                 fmt::format("librdkafka statistics: {}", simdjson::error_message(error))};
  }
  std::string_view type;
  if (root["type"].get(type) != simdjson::SUCCESS) {
    return Error{ErrorType::InvalidPayload, "librdkafka statistics: no \"type\" field"};
  }
  out.client_type = std::string(type);
  readIfPresent(root, "msg_cnt", out.queued_messages);
  simdjson::dom::object brokers;
  if (root["brokers"].get(brokers) == simdjson::SUCCESS) {
    for (auto [name, broker] : brokers) {
      std::int64_t node_id = -1;
      readIfPresent(broker, "nodeid", node_id);
      std::int64_t tx = 0, rx = 0;
      readIfPresent(broker, "txbytes", tx);
      readIfPresent(broker, "rxbytes", rx);
      out.tx_bytes += tx;
      out.rx_bytes += rx;
      // Bootstrap placeholders (nodeid -1) and the internal broker are not cluster members.
      if (node_id < 0) continue;
      ++out.brokers_known;
      std::string_view state;
      if (broker["state"].get(state) == simdjson::SUCCESS && state == "UP") ++out.brokers_up;
    }
  }
  simdjson::dom::object topics;
  if (root["topics"].get(topics) == simdjson::SUCCESS) {
    for (auto [topic_name, topic] : topics) {
      simdjson::dom::object partitions;
      if (topic["partitions"].get(partitions) != simdjson::SUCCESS) continue;
      for (auto [partition_name, partition] : partitions) {
        std::int64_t id = -1;
        readIfPresent(partition, "partition", id);
        std::string_view fetch_state;
        readIfPresent(partition, "fetch_state", fetch_state);
        const bool assigned = fetch_state == "active";
        std::int64_t lag = -1;
        // consumer_lag_stored uses the offsets the stage stored (what it processed), which is
        // the lag an operator cares about; older librdkafka only has consumer_lag.
        if (partition["consumer_lag_stored"].get(lag) != simdjson::SUCCESS) {
          readIfPresent(partition, "consumer_lag", lag);
        }
        if (id >= 0 && assigned && lag >= 0) {
          out.consumer_lag[{std::string(topic_name), static_cast<std::int32_t>(id)}] = lag;
        }
      }
    }
  }
  return out;
}

ClientMetrics::ClientMetrics(metrics::Registry& registry, std::string client)
    : registry_(registry),
      client_(std::move(client)),
      brokers_up_(registry.gauge(metrics::names::kKafkaBrokersUp,
                                 "Kafka brokers this client is connected to.",
                                 {{"client", client_}})),
      queued_(registry.gauge(metrics::names::kKafkaProducerQueueMessages,
                             "Messages produced and not yet acknowledged by the broker.",
                             {{"client", client_}})),
      tx_bytes_(registry.counter(metrics::names::kKafkaTxBytes, "Bytes sent to Kafka brokers.",
                                 {{"client", client_}})),
      rx_bytes_(registry.counter(metrics::names::kKafkaRxBytes,
                                 "Bytes received from Kafka brokers.", {{"client", client_}})) {}

Result<Statistics> ClientMetrics::update(std::string_view json) {
  auto statistics = parseStatistics(json);
  if (statistics) update(*statistics);
  return statistics;
}

void ClientMetrics::update(const Statistics& statistics) {
  brokers_up_.Set(statistics.brokers_up);
  queued_.Set(static_cast<double>(statistics.queued_messages));
  // librdkafka reports totals since the client started; counters take the increase.
  if (statistics.tx_bytes > last_tx_) {
    tx_bytes_.Increment(static_cast<double>(statistics.tx_bytes - last_tx_));
  }
  if (statistics.rx_bytes > last_rx_) {
    rx_bytes_.Increment(static_cast<double>(statistics.rx_bytes - last_rx_));
  }
  last_tx_ = statistics.tx_bytes;
  last_rx_ = statistics.rx_bytes;
  for (auto& [key, gauge] : lag_) {
    if (!statistics.consumer_lag.contains(key)) gauge->Set(0);
  }
  for (const auto& [key, lag] : statistics.consumer_lag) {
    auto it = lag_.find(key);
    if (it == lag_.end()) {
      it = lag_.emplace(key, &registry_.gauge(metrics::names::kKafkaConsumerLag,
                                              "Messages between the stored offset and the end "
                                              "of the partition.",
                                              {{"topic", key.first},
                                               {"partition", std::to_string(key.second)}}))
               .first;
    }
    it->second->Set(static_cast<double>(lag));
  }
}

}  // namespace pipeline::kafka
