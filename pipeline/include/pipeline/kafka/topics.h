#pragma once

#include <string_view>
#include <vector>

#include "pipeline/kafka/admin.h"
#include "pipeline/kafka/kafka_config.h"

namespace pipeline::kafka {

/**
 * The topics of docs/architecture.md §1 by their base name (without kafka.topic_prefix), and how
 * each is created. One catalogue, so every stage and the CLI create them identically.
 */
namespace topics {
inline constexpr std::string_view kBlocksRaw = "blocks.raw";
inline constexpr std::string_view kBlocks = "blocks";
inline constexpr std::string_view kStats = "stats";
inline constexpr std::string_view kMetrics = "metrics";
inline constexpr std::string_view kAlerts = "alerts";
inline constexpr std::string_view kDlq = "dlq";
inline constexpr std::string_view kAggregatorState = "aggregator.state";
inline constexpr std::string_view kAlerterState = "alerter.state";
}  // namespace topics

/** How the catalogue's topics are sized; keys kafka.data_partitions, kafka.replication_factor. */
struct TopicSizing {
  std::int32_t data_partitions = 6;    // blocks.raw and blocks, shared by decoder instances
  std::int16_t replication_factor = 1;
};

/** The spec of one catalogue topic (full name, partitions, compaction, retention). */
TopicSpec topicSpec(const KafkaConfig& config, const TopicSizing& sizing, std::string_view base);

/** Every topic of the catalogue. */
std::vector<TopicSpec> allTopics(const KafkaConfig& config, const TopicSizing& sizing);

}  // namespace pipeline::kafka
