#include "pipeline/kafka/record.h"

#include <gtest/gtest.h>

namespace pipeline::kafka {
namespace {

// A record made for tests keeps its data alive and finds the last header of a name.
TEST(RecordTest, MadeRecordOwnsItsData) {
  Record record = Record::make("t", 2, 41, "key", "value", {{"h", "1"}, {"h", "2"}}, 99);
  Record copy = record;
  record = Record::make("other", 0, 0, "", "");
  EXPECT_EQ("t", copy.topic());
  EXPECT_EQ(2, copy.partition());
  EXPECT_EQ(41, copy.offset());
  EXPECT_EQ("key", copy.key());
  EXPECT_EQ("value", copy.value());
  EXPECT_EQ(99, copy.timestampMs());
  EXPECT_EQ("2", copy.header("h").value_or(""));
  EXPECT_FALSE(copy.header("missing").has_value());
}

}  // namespace
}  // namespace pipeline::kafka
