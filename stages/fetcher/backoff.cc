#include "stages/fetcher/backoff.h"

#include <algorithm>
#include <cmath>

namespace stages::fetcher {

Millis BackoffPolicy::delay(std::uint32_t attempt, double uniform) const noexcept {
  const double cap = static_cast<double>(max.count());
  double base = static_cast<double>(initial.count());
  for (std::uint32_t i = 0; i < attempt && base < cap; ++i) base *= multiplier;
  base = std::min(base, cap);
  const double u = std::clamp(uniform, 0.0, 1.0);
  const double factor = 1.0 - std::clamp(jitter_ratio, 0.0, 1.0) * u;
  return Millis(static_cast<std::int64_t>(std::llround(base * factor)));
}

}  // namespace stages::fetcher
