#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/status.h"
#include "stages/alerter/alert.h"
#include "stages/alerter/rule_expr.h"
#include "stages/alerter/template.h"

namespace stages::alerter {

/** One alerting rule (Prometheus's rulefmt, alerting rules only). */
struct Rule {
  std::string group;                            // the group's name
  std::string name;                             // `alert`: becomes the alertname label
  Expr expr;                                    // `expr`
  std::int64_t for_ms = 0;                      // `for`: pending this long before firing
  std::int64_t keep_firing_for_ms = 0;          // `keep_firing_for`
  LabelSet labels;                              // `labels`: added to every alert (static)
  std::map<std::string, Template> annotations;  // `annotations`: expanded per alert
};

struct RuleGroup {
  std::string name;
  std::optional<std::int64_t> interval_ms;  // `interval`; the evaluator's default when unset
  std::vector<Rule> rules;
};

struct RuleSet {
  std::string origin;  // the file the rules came from, for messages
  std::vector<RuleGroup> groups;

  /** The longest history any rule reads (Expr::historyMs): the SeriesStore's retention. */
  std::int64_t historyMs() const;
  /** Every metric name the rules select: SeriesStoreOptions::only_names. */
  std::set<std::string, std::less<>> metricNames() const;
  std::size_t ruleCount() const;
};

/**
 * Parses a rule file in Prometheus's format:
 *
 *   groups:
 *     - name: pipeline            # required, unique in the file
 *       interval: 15s             # optional
 *       rules:
 *         - alert: PipelineStalled                     # required, unique in the group
 *           expr: rate(x_total[5m]) <= 0               # required, see Expr
 *           for: 2m                                    # optional, default 0
 *           keep_firing_for: 0s                        # optional, default 0
 *           labels: {severity: critical}               # optional, static values
 *           annotations: {summary: "… {{ $labels.instance }}"}   # optional, see Template
 *
 * Every problem is ErrorType::InvalidConfig with one line naming the origin, the group and rule
 * (by name, or by 1-based position when it has none) and the field, e.g.
 * `rules.yaml: group "pipeline", rule "PipelineStalled": expr: col 12: expected ']'`.
 * Unknown fields are errors (with a suggestion when one is close); recording rules, group
 * `limit`/`query_offset`/`labels` and templates in labels are not supported.
 */
pipeline::Result<RuleSet> parseRules(std::string_view yaml_text, std::string_view origin);

/** Reads and parses the rule file at `path` (the path is the origin in messages). */
pipeline::Result<RuleSet> loadRules(const std::string& path);

}  // namespace stages::alerter
