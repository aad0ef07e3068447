#include "pipeline/kafka/topics.h"

#include <array>

namespace pipeline::kafka {
namespace {

constexpr std::string_view kWeekMs = "604800000";
constexpr std::string_view kDayMs = "86400000";

}  // namespace

TopicSpec topicSpec(const KafkaConfig& config, const TopicSizing& sizing, std::string_view base) {
  TopicSpec spec{.name = config.topic(base),
                 .partitions = 1,
                 .replication_factor = sizing.replication_factor};
  if (base == topics::kBlocksRaw || base == topics::kBlocks) {
    // Keyed by height; retention bounds how far back the pipeline can replay (RPO of a restore).
    spec.partitions = sizing.data_partitions;
    spec.config = {{"retention.ms", std::string(kWeekMs)}};
  } else if (base == topics::kStats) {
    // Absolute values keyed by entity: compaction keeps the latest value of every key.
    spec.partitions = 3;
    spec.config = {{"cleanup.policy", "compact"}};
  } else if (base == topics::kMetrics) {
    spec.config = {{"retention.ms", std::string(kDayMs)}};
  } else if (base == topics::kAlerts || base == topics::kDlq) {
    spec.config = {{"retention.ms", "2592000000"}};  // 30 days: audit trail, manual replays
  } else if (base == topics::kAggregatorState || base == topics::kAlerterState) {
    spec.config = {{"cleanup.policy", "compact"}};
  }
  return spec;
}

std::vector<TopicSpec> allTopics(const KafkaConfig& config, const TopicSizing& sizing) {
  constexpr std::array kAll = {topics::kBlocksRaw, topics::kBlocks,          topics::kStats,
                               topics::kMetrics,   topics::kAlerts,          topics::kDlq,
                               topics::kAggregatorState, topics::kAlerterState};
  std::vector<TopicSpec> specs;
  for (auto base : kAll) specs.push_back(topicSpec(config, sizing, base));
  return specs;
}

}  // namespace pipeline::kafka
