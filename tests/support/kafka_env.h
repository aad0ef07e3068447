#pragma once

#include <string>

#include "pipeline/kafka/admin.h"
#include "pipeline/kafka/kafka_config.h"

namespace testsupport {

/**
 * The real broker integration tests talk to: TEST_KAFKA_BROKERS, set by ops/test.sh after it
 * started ops/kafka/broker.sh. Missing or unreachable is a test failure, never a skip.
 */
std::string testBrokers();

/** Kafka settings for tests: the test broker, fast statistics, short timeouts. */
pipeline::kafka::KafkaConfig testKafkaConfig();

/** A topic name no other test run uses ("it-<name>-<pid>-<counter>-<random>"). */
std::string uniqueTopic(const std::string& name);

/** Creates a fresh topic with `partitions` partitions and returns its name (ASSERTs inside). */
std::string createTopic(const std::string& name, int partitions);

/** A fresh consumer group id. */
std::string uniqueGroup(const std::string& name);

}  // namespace testsupport
