#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "pipeline/status.h"

struct rd_kafka_conf_s;
struct rd_kafka_s;

namespace pipeline::kafka {

/**
 * Connection settings shared by every Kafka client of a process (config section `kafka.`).
 * `rdkafka` holds librdkafka properties passed through verbatim (`kafka.rdkafka.<key>`); keys that
 * the runtime owns for its delivery guarantee are rejected (see kOwnedProperties in the .cc).
 */
struct KafkaConfig {
  /** Comma-separated host:port list. */
  std::string bootstrap_servers = "127.0.0.1:9092";  // kafka.bootstrap_servers
  /** Prefix of every topic name. */
  std::string topic_prefix = "pointtron.";           // kafka.topic_prefix
  /** client.id; the runtime appends the role (consumer/producer). */
  std::string client_id = "pointtron";               // kafka.client_id
  /** How often librdkafka reports statistics (lag, broker state); 0 disables them. */
  std::int32_t statistics_interval_ms = 5000;        // kafka.statistics_interval_ms
  /** How long a produced message may wait for acknowledgement before it fails. */
  std::int32_t message_timeout_ms = 300000;          // kafka.message_timeout_ms
  std::map<std::string, std::string> rdkafka;        // kafka.rdkafka.*

  std::string topic(std::string_view base) const { return topic_prefix + std::string(base); }
};

/** Owns an rd_kafka_conf_t until it is handed to rd_kafka_new. */
struct ConfDeleter {
  void operator()(rd_kafka_conf_s* conf) const noexcept;
};
using ConfPtr = std::unique_ptr<rd_kafka_conf_s, ConfDeleter>;

/**
 * A librdkafka configuration: `defaults` first, then the passthrough properties (which may
 * override defaults), then the common settings and `owned` (the runtime's own properties, which
 * always win). Returns InvalidConfig naming the key for an unknown or invalid property, or for a
 * passthrough of a property the runtime owns.
 */
Result<ConfPtr> makeConf(const KafkaConfig& config,
                         const std::map<std::string, std::string>& defaults,
                         const std::map<std::string, std::string>& owned);

/** The Status describing librdkafka's fatal error on `rk` (after an __FATAL error callback). */
Status fatalError(rd_kafka_s* rk, std::string_view client);

/** Sets one property; InvalidConfig naming the key on failure. */
Status setProperty(rd_kafka_conf_s* conf, const std::string& key, const std::string& value);

}  // namespace pipeline::kafka
