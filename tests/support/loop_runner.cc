#include "tests/support/loop_runner.h"

#include <gtest/gtest.h>

#include "pipeline/uv/handle.h"

namespace testsupport {

LoopRunner::LoopRunner() { uv_loop_init(&loop_); }

LoopRunner::~LoopRunner() {
  auto status = pipeline::uv::closeLoop(loop_);
  EXPECT_TRUE(status.isOk()) << status.toString();
}

bool LoopRunner::runUntil(const std::function<bool()>& predicate,
                          std::chrono::milliseconds deadline) {
  const auto give_up = std::chrono::steady_clock::now() + deadline;
  // A short repeating tick re-checks the predicate even when nothing else wakes the loop.
  auto tick = pipeline::uv::Timer::create(loop_);
  if (!tick) return false;
  if (!tick->start(5, 5, [] {})) return false;
  while (!predicate()) {
    if (std::chrono::steady_clock::now() >= give_up) return false;
    uv_run(&loop_, UV_RUN_ONCE);
  }
  return true;
}

}  // namespace testsupport
