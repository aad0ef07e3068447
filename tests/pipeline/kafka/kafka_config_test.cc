#include "pipeline/kafka/kafka_config.h"

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

namespace pipeline::kafka {
namespace {

// Passthrough properties reach librdkafka; one the runtime owns, or an unknown one, is a
// configuration error naming the key.
TEST(KafkaConfigTest, PassthroughRules) {
  KafkaConfig config;
  config.rdkafka = {{"socket.timeout.ms", "12345"}};
  auto conf = makeConf(config, {}, {{"client.id", "x"}});
  ASSERT_TRUE(conf);
  char value[64];
  size_t size = sizeof(value);
  ASSERT_EQ(RD_KAFKA_CONF_OK, rd_kafka_conf_get(conf->get(), "socket.timeout.ms", value, &size));
  EXPECT_STREQ("12345", value);

  config.rdkafka = {{"enable.auto.commit", "false"}};
  auto owned = makeConf(config, {}, {});
  ASSERT_FALSE(owned);
  EXPECT_EQ(ErrorType::InvalidConfig, owned.error().type);
  EXPECT_NE(std::string::npos, owned.error().message.find("kafka.rdkafka.enable.auto.commit"));

  config.rdkafka = {{"no.such.property", "1"}};
  auto unknown = makeConf(config, {}, {});
  ASSERT_FALSE(unknown);
  EXPECT_NE(std::string::npos, unknown.error().message.find("kafka.rdkafka.no.such.property"));
}

}  // namespace
}  // namespace pipeline::kafka
