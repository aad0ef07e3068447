#include "stages/alerter/alert.h"

#include <fmt/format.h>

namespace stages::alerter {

std::string fingerprint(const LabelSet& labels) {
  constexpr std::uint64_t kOffset = 14695981039346656037ull;
  constexpr std::uint64_t kPrime = 1099511628211ull;
  constexpr char kSeparator = static_cast<char>(0xff);
  std::uint64_t hash = kOffset;
  const auto add = [&](std::string_view text) {
    for (char c : text) {
      hash ^= static_cast<unsigned char>(c);
      hash *= kPrime;
    }
  };
  for (const auto& [name, value] : labels) {  // std::map: ascending by name
    add(name);
    add(std::string_view(&kSeparator, 1));
    add(value);
    add(std::string_view(&kSeparator, 1));
  }
  return fmt::format("{:016x}", hash);
}

std::string_view alertStateName(AlertState state) noexcept {
  switch (state) {
    case AlertState::Inactive: return "inactive";
    case AlertState::Pending: return "pending";
    case AlertState::Firing: return "firing";
    case AlertState::Resolved: return "resolved";
  }
  return "unknown";
}

std::string Alert::name() const {
  const auto it = labels.find("alertname");
  return it == labels.end() ? std::string() : it->second;
}

}  // namespace stages::alerter
