#include "pipeline/kafka/topics.h"

#include <gtest/gtest.h>

namespace pipeline::kafka {
namespace {

// The catalogue names every topic with the prefix; state topics are compacted, data topics are
// sized by configuration.
TEST(TopicsTest, Catalogue) {
  KafkaConfig config;
  config.topic_prefix = "pt.";
  TopicSizing sizing{.data_partitions = 12, .replication_factor = 3};
  auto all = allTopics(config, sizing);
  ASSERT_EQ(8u, all.size());
  auto blocks = topicSpec(config, sizing, topics::kBlocks);
  EXPECT_EQ("pt.blocks", blocks.name);
  EXPECT_EQ(12, blocks.partitions);
  EXPECT_EQ(3, blocks.replication_factor);
  EXPECT_EQ("compact", topicSpec(config, sizing, topics::kAggregatorState).config["cleanup.policy"]);
  EXPECT_EQ("compact", topicSpec(config, sizing, topics::kStats).config["cleanup.policy"]);
}

}  // namespace
}  // namespace pipeline::kafka
