#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/status.h"
#include "stages/alerter/alert.h"
#include "stages/alerter/rules.h"
#include "stages/alerter/series_store.h"

namespace stages::alerter {

struct EvaluatorOptions {
  /** Evaluation interval of groups without their own `interval`. */
  std::int64_t default_interval_ms = 15'000;
  /** How long a resolved alert is remembered (and listed by resolved()) before it is forgotten;
   * Prometheus's resolvedRetention. */
  std::int64_t resolved_retention_ms = 15 * 60 * 1000;
  /** Alert::generator_url = this + "#" + alertname; empty leaves generator_url empty. */
  std::string generator_url_base;
  /**
   * Skips a rule with an absence function until the store's history covers its window
   * (Expr::absenceHistoryMs), counted from the earlier of the first batch ingested and the first
   * evaluate() call: after a start with an empty store, missing history would read as absence.
   * Other rules run at once on the data there is (less history can delay an alert, not invent
   * one; `for` absorbs the first noisy evaluations), so a restored alert resolves promptly.
   */
  bool wait_for_history = true;
};

/** Per-rule outcome of the last evaluation, for /health and logs. */
struct RuleStatus {
  std::string group;
  std::string alert;
  std::int64_t last_evaluation_ms = 0;  // 0: never evaluated
  std::string last_error;               // empty when the last evaluation succeeded
  bool waiting_for_history = false;
  std::size_t pending = 0;
  std::size_t firing = 0;
};

/**
 * Evaluates a RuleSet against a SeriesStore and keeps the state of every alert instance (a rule
 * and one label set), with Prometheus's semantics:
 *
 *   inactive → pending   the condition holds (active_since = now); with `for: 0` it fires at once
 *   pending  → firing    it has held for `for` (now - active_since >= for; starts_at = now)
 *   pending  → inactive  it stopped holding before `for`: forgotten, not reported
 *   firing   → resolved  it stopped holding (after keep_firing_for, if set; ends_at = now); the
 *                        resolved alert is kept for resolved_retention_ms, then forgotten; if the
 *                        condition holds again it starts over as a new pending alert
 *
 * Alert labels are the series' labels, then the rule's labels, then alertname (each overriding the
 * former); annotations are expanded with the series' labels and the value on every evaluation.
 * A rule whose expression fails (see Expr::evaluate), or yields two alerts with the same labels,
 * keeps its alerts unchanged and reports the error in status().
 *
 * Lifecycle: construct (the store must outlive the evaluator), restore() a snapshot if there is
 * one, then call evaluate() from a timer (nextEvaluationMs() says when) and snapshot() after
 * changes. Not thread-safe: use it on the thread that ingests into the store.
 */
class Evaluator {
 public:
  Evaluator(RuleSet rules, const SeriesStore& store, EvaluatorOptions options = {});

  /**
   * Evaluates every group whose interval has elapsed since its last evaluation (all of them on
   * the first call) and returns the alerts whose state changed: to pending, firing or resolved,
   * ordered by group, rule and fingerprint.
   */
  std::vector<Alert> evaluate(std::int64_t now_ms);

  /** Every pending and firing alert (to re-notify periodically), ordered like evaluate(). */
  std::vector<Alert> active() const;
  /** Resolved alerts still remembered (resolved_retention_ms), to repeat their resolve. */
  std::vector<Alert> resolved() const;

  /** When the next group is due: call evaluate() then. */
  std::int64_t nextEvaluationMs() const;

  /** All alert state as compact JSON (an opaque format with a version number). */
  std::string snapshot() const;
  /**
   * Replaces all alert state with a snapshot(). Alerts of rules that no longer exist are dropped;
   * a restored firing alert keeps its starts_at and is not reported again while it keeps firing;
   * one whose condition no longer holds is reported as resolved by the next evaluate(). Returns
   * ErrorType::InvalidPayload (state unchanged) when the text is not a snapshot.
   */
  pipeline::Status restore(std::string_view json);

  std::vector<RuleStatus> status() const;
  const RuleSet& rules() const noexcept { return rules_; }

 private:
  struct Entry {
    Alert alert;
    std::optional<std::int64_t> keep_firing_since_ms;
  };
  struct RuleState {
    std::map<std::string, Entry> alerts;  // by fingerprint
    std::int64_t last_evaluation_ms = 0;
    std::string last_error;
    bool waiting_for_history = false;
  };

  void evaluateRule(const Rule& rule, RuleState& state, std::int64_t now_ms,
                    std::vector<Alert>& changes);
  std::int64_t intervalMs(const RuleGroup& group) const;

  RuleSet rules_;
  const SeriesStore& store_;
  EvaluatorOptions options_;
  std::vector<std::vector<RuleState>> state_;            // [group][rule]
  std::vector<std::optional<std::int64_t>> group_last_;  // last evaluation per group
  std::optional<std::int64_t> started_ms_;               // the first evaluate() call
};

}  // namespace stages::alerter
