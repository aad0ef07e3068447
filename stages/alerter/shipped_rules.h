#pragma once

#include <string_view>

namespace stages::alerter {

/** The YAML of stages/alerter/rules/pointtron.rules.yaml, compiled in (docs/alerting.md). */
std::string_view shippedRules();

/** The origin shipped rules are named by in messages. */
inline constexpr std::string_view kShippedRulesOrigin = "stages/alerter/rules/pointtron.rules.yaml";

}  // namespace stages::alerter
