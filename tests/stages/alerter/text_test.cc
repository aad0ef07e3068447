#include "stages/alerter/text.h"

#include <gtest/gtest.h>

namespace stages::alerter {
namespace {

// Each parser passes the escapes its language accepts; anything else is refused.
TEST(UnescapeTest, MapsOnlyTheAcceptedEscapes) {
  EXPECT_EQ('\n', unescape('n', "\\\"nt"));
  EXPECT_EQ('\t', unescape('t', "\\\"nt"));
  EXPECT_EQ('\\', unescape('\\', "\\\"nt"));
  EXPECT_EQ('"', unescape('"', "\\\"nt"));
  EXPECT_EQ(std::nullopt, unescape('r', "\\\"nt"));
  EXPECT_EQ(std::nullopt, unescape('\'', "\\\"nt"));
  EXPECT_EQ('\r', unescape('r', "\\\"'ntr"));
  EXPECT_EQ('\'', unescape('\'', "\\\"'ntr"));
  EXPECT_EQ(std::nullopt, unescape('q', "\\\"'ntr"));
  EXPECT_EQ(std::nullopt, unescape('q', "q"));  // only escapes the function knows
}

}  // namespace
}  // namespace stages::alerter
