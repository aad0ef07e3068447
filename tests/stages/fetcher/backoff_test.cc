#include "stages/fetcher/backoff.h"

#include <gtest/gtest.h>

namespace stages::fetcher {
namespace {

// The delay doubles per attempt, is capped, and jitter only ever shortens it.
TEST(BackoffPolicyTest, GrowsCapsAndJittersDownwards) {
  const BackoffPolicy policy{Millis(100), Millis(1000), 2.0, 0.5};
  EXPECT_EQ(Millis(100), policy.delay(0, 0.0));
  EXPECT_EQ(Millis(200), policy.delay(1, 0.0));
  EXPECT_EQ(Millis(800), policy.delay(3, 0.0));
  EXPECT_EQ(Millis(1000), policy.delay(4, 0.0));
  EXPECT_EQ(Millis(1000), policy.delay(60, 0.0));
  EXPECT_EQ(Millis(500), policy.delay(60, 1.0));
  EXPECT_EQ(Millis(150), policy.delay(1, 0.5));
}

}  // namespace
}  // namespace stages::fetcher
