#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

// The alert instance both halves of the alerter share: the rules side (evaluator.h) decides its
// state from metric events; the notification side (notify/) groups, routes and delivers it.

namespace stages::alerter {

using LabelSet = std::map<std::string, std::string>;

/**
 * Alertmanager's fingerprint of a label set (prometheus/common model.LabelSet.Fingerprint):
 * FNV-1a 64 over the names in ascending order, each name, 0xff, value, 0xff; 16 lower-case hex
 * digits. The same labels give the same fingerprint as in Prometheus, so receivers that
 * deduplicate on it keep working.
 */
std::string fingerprint(const LabelSet& labels);

enum class AlertState { Inactive, Pending, Firing, Resolved };
std::string_view alertStateName(AlertState state) noexcept;

/** One alert instance: a rule and one label set. Times are ms since the Unix epoch. */
struct Alert {
  LabelSet labels;        // the rule's labels, the series' labels, and alertname
  LabelSet annotations;   // templates already expanded
  AlertState state = AlertState::Inactive;
  std::int64_t active_since_ms = 0;         // when the condition first held (pending)
  std::int64_t starts_at_ms = 0;            // when it started firing
  std::optional<std::int64_t> ends_at_ms;   // when it resolved
  std::optional<double> value;              // the value that decided the last change
  std::string generator_url;

  std::string name() const;  // labels["alertname"]
  std::string fingerprint() const { return alerter::fingerprint(labels); }
};

}  // namespace stages::alerter
