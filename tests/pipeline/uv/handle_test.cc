#include "pipeline/uv/handle.h"

#include <gtest/gtest.h>

#include <csignal>
#include <thread>

#include "tests/support/loop_runner.h"

namespace pipeline::uv {
namespace {

// A repeating timer fires until stopped, on the loop thread.
TEST(TimerTest, RepeatsUntilStopped) {
  testsupport::LoopRunner runner;
  auto timer = Timer::create(runner.loop());
  ASSERT_TRUE(timer);
  int fired = 0;
  ASSERT_TRUE(timer->start(1, 1, [&] {
    if (++fired == 3) timer->stop();
  }));
  ASSERT_TRUE(runner.runUntil([&] { return fired == 3; }));
  EXPECT_EQ(3, fired);
}

// Destroying the wrapper before the timer fires means the callback never runs.
TEST(TimerTest, DestroyedWrapperNeverCallsBack) {
  testsupport::LoopRunner runner;
  bool fired = false;
  {
    auto timer = Timer::create(runner.loop());
    ASSERT_TRUE(timer);
    ASSERT_TRUE(timer->start(0, 0, [&] { fired = true; }));
  }
  auto probe = Timer::create(runner.loop());
  ASSERT_TRUE(probe);
  bool probe_fired = false;
  ASSERT_TRUE(probe->start(5, 0, [&] { probe_fired = true; }));
  ASSERT_TRUE(runner.runUntil([&] { return probe_fired; }));
  EXPECT_FALSE(fired);
}

// A moved wrapper keeps the handle alive and is the one that closes it.
TEST(TimerTest, MoveTransfersOwnership) {
  testsupport::LoopRunner runner;
  auto created = Timer::create(runner.loop());
  ASSERT_TRUE(created);
  Timer moved = std::move(*created);
  EXPECT_FALSE(created->valid());
  ASSERT_TRUE(moved.valid());
  bool fired = false;
  ASSERT_TRUE(moved.start(0, 0, [&] { fired = true; }));
  ASSERT_TRUE(runner.runUntil([&] { return fired; }));
}

// closeLoop closes handles whose wrappers are still alive; the wrappers become invalid safely.
TEST(CloseLoopTest, ClosesLiveWrappers) {
  uv_loop_t loop;
  ASSERT_EQ(0, uv_loop_init(&loop));
  auto timer = Timer::create(loop);
  ASSERT_TRUE(timer);
  ASSERT_TRUE(timer->start(100000, 0, [] {}));
  EXPECT_TRUE(closeLoop(loop).isOk());
  EXPECT_FALSE(timer->valid());
}

// A signal is delivered on the loop thread through the Signal wrapper.
TEST(SignalTest, DeliversOnLoop) {
  testsupport::LoopRunner runner;
  auto signal = Signal::create(runner.loop());
  ASSERT_TRUE(signal);
  int received = 0;
  ASSERT_TRUE(signal->start(SIGUSR1, [&](int signum) { received = signum; }));
  ASSERT_EQ(0, ::raise(SIGUSR1));
  ASSERT_TRUE(runner.runUntil([&] { return received != 0; }));
  EXPECT_EQ(SIGUSR1, received);
}

// An async handle wakes the loop from another thread.
TEST(AsyncTest, WakesLoopFromAnotherThread) {
  testsupport::LoopRunner runner;
  bool woken = false;
  auto async = Async::create(runner.loop(), [&] { woken = true; });
  ASSERT_TRUE(async);
  std::thread sender([&] { EXPECT_TRUE(async->send().isOk()); });
  ASSERT_TRUE(runner.runUntil([&] { return woken; }));
  sender.join();
}

// A libuv error code becomes a Status naming the operation.
TEST(CheckTest, NamesOperation) {
  auto status = check(UV_EINVAL, "uv_thing");
  ASSERT_FALSE(status.isOk());
  EXPECT_EQ(ErrorType::Io, status.error().type);
  EXPECT_NE(std::string::npos, status.error().message.find("uv_thing"));
}

}  // namespace
}  // namespace pipeline::uv
