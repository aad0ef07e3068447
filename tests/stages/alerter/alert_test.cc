#include "stages/alerter/alert.h"

#include <gtest/gtest.h>

namespace stages::alerter {
namespace {

// The empty set's fingerprint is FNV-1a's offset basis, as in prometheus/common
// (emptyLabelSignature); order does not matter, and name/value boundaries count. The comparison
// with a real Alertmanager's webhook (notify tests) checks a non-empty set.
TEST(FingerprintTest, MatchesPrometheus) {
  EXPECT_EQ("cbf29ce484222325", fingerprint({}));
  EXPECT_EQ(fingerprint({{"a", "b"}, {"c", "d"}}), fingerprint({{"c", "d"}, {"a", "b"}}));
  EXPECT_NE(fingerprint({{"a", "b"}}), fingerprint({{"a", "c"}}));
  EXPECT_NE(fingerprint({{"ab", ""}}), fingerprint({{"a", "b"}}));
  EXPECT_EQ(16u, fingerprint({{"alertname", "X"}}).size());
}

}  // namespace
}  // namespace stages::alerter
