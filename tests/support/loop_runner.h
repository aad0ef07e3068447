#pragma once

#include <uv.h>

#include <chrono>
#include <functional>

namespace testsupport {

/**
 * A real libuv loop for tests of code that lives on the loop. runUntil() turns the loop until a
 * condition holds or a deadline passes: tests wait on conditions, never sleep.
 */
class LoopRunner {
 public:
  LoopRunner();
  ~LoopRunner();  // closes every handle still open, runs the loop dry, closes it
  LoopRunner(const LoopRunner&) = delete;
  LoopRunner& operator=(const LoopRunner&) = delete;

  uv_loop_t& loop() { return loop_; }

  /** Runs the loop until predicate() is true (returns true) or the deadline passes (false). */
  bool runUntil(const std::function<bool()>& predicate,
                std::chrono::milliseconds deadline = std::chrono::seconds(10));

 private:
  uv_loop_t loop_{};
};

}  // namespace testsupport
