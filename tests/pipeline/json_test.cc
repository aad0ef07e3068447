#include "pipeline/json.h"

#include <gtest/gtest.h>

#include <limits>

namespace pipeline::json {
namespace {

// Control characters, quotes and backslashes are escaped; UTF-8 passes through unchanged.
TEST(JsonTest, EscapesStrings) {
  EXPECT_EQ(R"("a\"b\\c\n\u0001é")", quote("a\"b\\c\n\x01\xC3\xA9"));
}

// Every control character has an escape; runs between escapes are kept in order.
TEST(JsonTest, EscapesEveryControlCharacterBetweenRuns) {
  EXPECT_EQ(R"("\u001f\t\r\b\f\u0000x")", quote(std::string_view("\x1f\t\r\b\f\0x", 7)));
  EXPECT_EQ(R"("ab\"cd\\ef")", quote(R"(ab"cd\ef)"));
  EXPECT_EQ(R"("")", quote(""));
}

// The extremes of both integer types are written exactly.
TEST(JsonTest, WritesIntegerExtremes) {
  Writer w;
  w.beginArray().value(std::numeric_limits<std::int64_t>::min()).value(std::int64_t{0}).value(-7);
  w.value(std::numeric_limits<std::int64_t>::max()).endArray();
  EXPECT_EQ("[-9223372036854775808,0,-7,9223372036854775807]", w.str());
}

// Nested objects and arrays get commas and colons in the right places.
TEST(JsonTest, WritesNestedStructures) {
  Writer w;
  w.beginObject().field("n", 1).key("list").beginArray().value("x").value(true).null().endArray();
  w.key("o").beginObject().field("big", std::uint64_t{18446744073709551615u}).endObject();
  w.endObject();
  EXPECT_EQ(R"({"n":1,"list":["x",true,null],"o":{"big":18446744073709551615}})", w.str());
}

// Doubles keep their precision; non-finite values, which JSON cannot express, become null.
TEST(JsonTest, WritesDoubles) {
  Writer w;
  w.beginArray().value(0.1).value(std::numeric_limits<double>::infinity()).endArray();
  EXPECT_EQ("[0.1,null]", w.str());
}

}  // namespace
}  // namespace pipeline::json
