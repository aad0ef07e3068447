#include "stages/fetcher/node_pool.h"

#include <gtest/gtest.h>

namespace stages::fetcher {
namespace {

using namespace std::chrono_literals;

class NodePoolTest : public ::testing::Test {
 protected:
  NodePool makePool(std::vector<NodeSpec> nodes) {
    return NodePool(std::move(nodes), options_, [] { return 0.0; }, t0_);
  }
  std::size_t acquireOk(NodePool& pool, TimePoint now) {
    auto node = pool.acquire(now);
    EXPECT_TRUE(node.has_value()) << (node ? "" : node.error().message);
    return node ? *node : 99;
  }

  NodePoolOptions options_;  // threshold 3, cool-down 1 s doubling, suspension 30 s
  TimePoint t0_ = TimePoint(std::chrono::hours(1));
};

// A failing node A loses its traffic to B (a failover); after the cool-down a probe goes to A,
// and once A answers it gets the traffic back because it is faster.
TEST_F(NodePoolTest, FailingNodeMovesTrafficToOtherAndBackWhenHealed) {
  auto pool = makePool({{"http://a", "", 0}, {"http://b", "", 0}});
  auto now = t0_;
  EXPECT_EQ(0u, acquireOk(pool, now));
  pool.onSuccess(0, now, 10ms);
  // Three requests that were in flight to A together time out.
  for (int i = 0; i < 3; ++i) pool.onFailure(0, now, FailureKind::Timeout);
  EXPECT_EQ(BreakerState::Open, pool.state(0).breaker);
  EXPECT_FALSE(pool.state(0).up(now));
  EXPECT_EQ(1u, acquireOk(pool, now));
  pool.onSuccess(1, now, 50ms);
  EXPECT_EQ(1u, pool.failovers());
  now += 999ms;
  EXPECT_EQ(1u, acquireOk(pool, now));
  pool.onSuccess(1, now, 50ms);
  now += 1ms;  // cool-down of 1 s over: A is probed, and only A's probe is out
  EXPECT_EQ(0u, acquireOk(pool, now));
  EXPECT_EQ(BreakerState::HalfOpen, pool.state(0).breaker);
  EXPECT_EQ(1u, acquireOk(pool, now));
  pool.onSuccess(1, now, 50ms);
  pool.onSuccess(0, now, 10ms);
  EXPECT_EQ(BreakerState::Closed, pool.state(0).breaker);
  EXPECT_EQ(0u, acquireOk(pool, now));
  pool.onSuccess(0, now, 10ms);
  EXPECT_EQ(0u, acquireOk(pool, now));
  EXPECT_EQ(1u, pool.failovers());
  EXPECT_EQ(3u, pool.state(0).errors[static_cast<std::size_t>(FailureKind::Timeout)]);
}

// A failed probe opens the breaker again, for twice as long.
TEST_F(NodePoolTest, FailedProbeReopensWithLongerCoolDown) {
  auto pool = makePool({{"http://a", "", 0}});
  for (int i = 0; i < 3; ++i) {
    acquireOk(pool, t0_);
    pool.onFailure(0, t0_, FailureKind::ServerError);
  }
  EXPECT_EQ(t0_ + 1s, pool.state(0).open_until);
  acquireOk(pool, t0_ + 1s);
  pool.onFailure(0, t0_ + 1s, FailureKind::Transport);
  EXPECT_EQ(t0_ + 3s, pool.state(0).open_until);
  EXPECT_FALSE(pool.acquire(t0_ + 2999ms).has_value());
  EXPECT_EQ(0u, acquireOk(pool, t0_ + 3s));
}

// 429 with Retry-After keeps the node away for exactly that long, without opening the breaker.
TEST_F(NodePoolTest, RetryAfterIsHonouredExactly) {
  auto pool = makePool({{"http://a", "", 0}});
  acquireOk(pool, t0_);
  pool.onFailure(0, t0_, FailureKind::RateLimited, 5000ms);
  EXPECT_EQ(BreakerState::Closed, pool.state(0).breaker);
  EXPECT_TRUE(pool.state(0).up(t0_));
  EXPECT_FALSE(pool.acquire(t0_ + 4999ms).has_value());
  EXPECT_EQ(t0_ + 5000ms, pool.nextAvailableAt(t0_ + 1ms));
  EXPECT_EQ(0u, acquireOk(pool, t0_ + 5000ms));
}

// A 429 without Retry-After backs off exponentially.
TEST_F(NodePoolTest, ThrottleWithoutRetryAfterBacksOff) {
  auto pool = makePool({{"http://a", "", 0}});
  acquireOk(pool, t0_);
  pool.onFailure(0, t0_, FailureKind::RateLimited);
  EXPECT_EQ(t0_ + 500ms, pool.state(0).throttled_until);
  acquireOk(pool, t0_ + 500ms);
  pool.onFailure(0, t0_ + 500ms, FailureKind::RateLimited);
  EXPECT_EQ(t0_ + 1500ms, pool.state(0).throttled_until);
}

// A suspension opens the breaker at once, for the suspension (longer than a cool-down).
TEST_F(NodePoolTest, SuspensionOpensBreakerForLonger) {
  auto pool = makePool({{"http://a", "", 0}, {"http://b", "", 0}});
  acquireOk(pool, t0_);
  pool.onFailure(0, t0_, FailureKind::Suspended, 30s);
  EXPECT_EQ(BreakerState::Open, pool.state(0).breaker);
  EXPECT_EQ(t0_ + 30s, pool.state(0).open_until);
  EXPECT_EQ(1u, acquireOk(pool, t0_ + 29s));
  pool.onSuccess(1, t0_ + 29s, 20ms);
  // Without a stated duration the configured default (30 s) applies.
  acquireOk(pool, t0_ + 29s);
  pool.onFailure(1, t0_ + 29s, FailureKind::Suspended);
  EXPECT_EQ(t0_ + 59s, pool.state(1).open_until);
  EXPECT_FALSE(pool.anyUp(t0_ + 29s));
  EXPECT_TRUE(pool.anyUp(t0_ + 30s));
}

// The token bucket caps the request rate; running out is not a failover.
TEST_F(NodePoolTest, RateLimitIsRespected) {
  auto pool = makePool({{"http://a", "", 2}});
  std::size_t granted = 0;
  for (auto now = t0_; now < t0_ + 10s; now += 1ms) {
    while (pool.acquire(now)) {
      ++granted;
      pool.onSuccess(0, now, 1ms);
    }
  }
  EXPECT_LE(granted, 2u + 20u);
  EXPECT_GE(granted, 20u);
  auto spread = makePool({{"http://a", "", 1}, {"http://b", "", 1}});
  EXPECT_EQ(0u, acquireOk(spread, t0_));
  EXPECT_EQ(1u, acquireOk(spread, t0_));
  EXPECT_EQ(0u, spread.failovers());
  EXPECT_FALSE(spread.acquire(t0_).has_value());
  EXPECT_EQ(t0_ + 1s, spread.nextAvailableAt(t0_));
}

// With every node down, acquire says until when, and names each node's reason.
TEST_F(NodePoolTest, AllNodesDownSaysUntilWhen) {
  auto pool = makePool({{"http://a", "secret-key", 0}, {"http://b", "", 0}});
  for (std::size_t node : {0u, 1u}) {
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(pool.acquire(t0_));
      pool.onFailure(node, t0_, FailureKind::Timeout);
    }
  }
  auto result = pool.acquire(t0_ + 200ms);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(pipeline::ErrorType::Unavailable, result.error().type);
  EXPECT_EQ("no node available until +800ms (node0: breaker open, node1: breaker open)",
            result.error().message);
  EXPECT_EQ(t0_ + 1s, pool.nextAvailableAt(t0_ + 200ms));
  EXPECT_FALSE(pool.anyUp(t0_ + 200ms));
}

// `{}` answers raise the error score but never open the breaker.
TEST_F(NodePoolTest, NotFoundDoesNotOpenBreaker) {
  auto pool = makePool({{"http://a", "", 0}, {"http://b", "", 0}});
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(pool.acquire(t0_));
    pool.onFailure(0, t0_, FailureKind::NotFound);
  }
  EXPECT_EQ(BreakerState::Closed, pool.state(0).breaker);
  EXPECT_GT(pool.state(0).error_ewma, 0.5);
  EXPECT_EQ(1u, acquireOk(pool, t0_));  // B now scores better
  EXPECT_EQ(FailureKind::Suspended,
            failureKindOf(NodeAnswer{AnswerKind::RateLimited, {}, "", std::nullopt, true}));
  EXPECT_EQ(FailureKind::NotFound, failureKindOf(NodeAnswer{AnswerKind::NotFound}));
}

}  // namespace
}  // namespace stages::fetcher
