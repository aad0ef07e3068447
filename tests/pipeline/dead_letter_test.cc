#include "pipeline/dead_letter.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace pipeline {
namespace {

// A dead letter carries the record unchanged and says what went wrong and where it came from.
TEST(DeadLetterTest, KeepsKeyAndValueAndNamesTheOrigin) {
  const auto record = kafka::Record::make("pointtron.blocks.raw", 4, 1234, "60954080",
                                          "{\"not\":\"a block\"}", {{"source", "node:8090"}}, 1);
  const Event event = deadLetter(record, "missing_field:blockID", "pointtron.dlq");
  EXPECT_EQ("pointtron.dlq", event.topic);
  EXPECT_EQ("60954080", event.key);
  EXPECT_EQ("{\"not\":\"a block\"}", event.value);
  EXPECT_FALSE(event.tombstone);
  std::map<std::string, std::string> headers(event.headers.begin(), event.headers.end());
  EXPECT_EQ((std::map<std::string, std::string>{{"error", "missing_field:blockID"},
                                                {"source_topic", "pointtron.blocks.raw"},
                                                {"source_partition", "4"},
                                                {"source_offset", "1234"}}),
            headers);
}

}  // namespace
}  // namespace pipeline
