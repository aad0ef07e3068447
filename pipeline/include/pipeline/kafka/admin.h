#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "pipeline/kafka/kafka_config.h"
#include "pipeline/status.h"

namespace pipeline::kafka {

/** A topic point-tron needs, with the settings it is created with. */
struct TopicSpec {
  std::string name;  // full name, prefix included
  std::int32_t partitions = 1;
  std::int16_t replication_factor = 1;
  /** Topic-level configuration, e.g. cleanup.policy=compact, retention.ms=604800000. */
  std::map<std::string, std::string> config;
};

/**
 * Creates the topics that do not exist yet through the Kafka Admin API; existing topics are left
 * as they are (a smaller partition count than asked is reported, never changed silently).
 * Blocking, bounded by `timeout`: call it at start-up before the loop runs, or from a CLI.
 * Errors: Unavailable when the broker cannot be reached in time, Kafka for a refused topic.
 */
Status ensureTopics(const KafkaConfig& config, const std::vector<TopicSpec>& topics,
                    std::chrono::milliseconds timeout);

/** Partition count of an existing topic, or an error (Kafka: unknown topic; Unavailable). */
Result<std::int32_t> partitionCount(const KafkaConfig& config, const std::string& topic,
                                    std::chrono::milliseconds timeout);

}  // namespace pipeline::kafka
