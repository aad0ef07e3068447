#pragma once

#include <chrono>
#include <cstdint>

namespace pipeline {

/** Milliseconds since the Unix epoch by the system clock: the time stamped on events, rows and
 * answers. Components take it as a `std::function<std::int64_t()>` so tests can give their own. */
inline std::int64_t wallClockMs() noexcept {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace pipeline
