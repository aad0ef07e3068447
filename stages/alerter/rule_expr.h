#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/status.h"
#include "stages/alerter/alert.h"
#include "stages/alerter/series_store.h"

namespace stages::alerter {

/** How far back an instant selector looks for a series' latest sample (Prometheus's default
 * lookback delta): a series not updated for this long is stale, i.e. absent. */
inline constexpr std::int64_t kLookbackMs = 5 * 60 * 1000;

/** One element of an evaluated expression: a series' labels (no metric name) and its value. */
struct Sample {
  LabelSet labels;
  double value = 0;

  friend bool operator==(const Sample&, const Sample&) = default;
};

/**
 * Parses a Prometheus duration: "0", or one or more <integer><unit> with units ms, s, m, h, d,
 * w, y in decreasing order ("90s", "1h30m"). Returns the milliseconds, or nullopt when malformed.
 * Rule files and the notify file (routes, timeouts) share it.
 */
std::optional<std::int64_t> parseDuration(std::string_view text);
/** The inverse of parseDuration: "1h30m", "500ms", "0s". */
std::string formatDuration(std::int64_t ms);

/**
 * An alert condition in a subset of PromQL, so that the same rule text works in Prometheus rule
 * files. Grammar (whitespace is free; names are [a-zA-Z_:][a-zA-Z0-9_:]*):
 *
 *   expr       := arith [ cmp_op [matching] arith ]...     cmp_op: == != > >= < <=
 *   arith      := term  [ (+|-) [matching] term ]...
 *   term       := unary [ (*|/) [matching] unary ]...
 *   unary      := [-|+] primary
 *   primary    := number | "(" expr ")" | selector | function | aggregation
 *   selector   := metric_name [ "{" [ matcher ("," matcher)* [","] ] "}" ]
 *   matcher    := label ("=" | "!=" | "=~" | "!~") string        (string: "…" or '…')
 *   range      := selector "[" duration "]"                       (duration: 5m, 1h30m, 500ms)
 *   function   := ("rate" | "increase" | "delta" | "max_over_time" | "min_over_time"
 *                 | "avg_over_time" | "absent_over_time") "(" range ")"
 *               | "absent" "(" selector ")" | "time" "(" ")"
 *   aggregation:= ("sum"|"min"|"max"|"avg"|"count") [grouping] "(" expr ")" [grouping]
 *   grouping   := ("by" | "without") "(" [label ("," label)*] ")"
 *   matching   := ("on" | "ignoring") "(" [label ("," label)*] ")"
 *
 * Semantics are Prometheus's: an instant selector yields each matching series' latest sample
 * within kLookbackMs; a range holds samples in (now - range, now]; rate/increase/delta
 * extrapolate like Prometheus (counter resets: a decrease means the counter restarted from 0);
 * arithmetic drops the metric name; comparisons filter (the value is the vector's); a binary
 * operation between two vectors matches series one-to-one on identical labels (or the on/ignoring
 * subset) and fails when a side has two series with the same match labels; absent() yields one
 * element (value 1) whose labels are the selector's equality matchers. The whole expression must
 * yield an instant vector: the alert fires for every element.
 *
 * Not supported (parse errors): the `bool` modifier, group_left/group_right, offset and @,
 * subqueries, `^` `%` `and` `or` `unless`, other functions, __name__ matchers, selectors without
 * a metric name, scalar-to-scalar comparisons.
 *
 * Immutable after parse; copies share the tree. evaluate() is const and may run on any thread
 * that owns the store.
 */
class Expr {
 public:
  /**
   * Parses `text`. Returns ErrorType::InvalidConfig with a message "col <n>: <what was
   * expected>" (1-based byte column), e.g. "col 12: expected ']'".
   */
  static pipeline::Result<Expr> parse(std::string_view text);

  /**
   * Evaluates at now_ms against `store`: the elements for which the expression (and its
   * comparisons) hold. Fails with ErrorType::InvalidArgument when a vector-to-vector operation
   * finds several series with the same match labels on one side, and with ErrorType::Internal if
   * the regex engine gives up on a label value. Never throws.
   */
  pipeline::Result<std::vector<Sample>> evaluate(const SeriesStore& store,
                                                 std::int64_t now_ms) const;

  /** The longest history the expression reads: the largest range, or kLookbackMs. */
  std::int64_t historyMs() const noexcept;
  /** The history an absence verdict needs: the largest absent_over_time range, or kLookbackMs
   * for absent(); 0 when the expression has no absence function. Only such expressions can fire
   * because history is missing (after a start); everything else only sees less data. */
  std::int64_t absenceHistoryMs() const noexcept;
  /** Every metric name the expression selects. */
  std::set<std::string, std::less<>> metricNames() const;
  /** The canonical PromQL text (parse(toString()) gives the same expression). */
  std::string toString() const;

  struct Node;  // the syntax tree, defined in rule_expr.cc

 private:
  explicit Expr(std::shared_ptr<const Node> root) : root_(std::move(root)) {}
  std::shared_ptr<const Node> root_;
};

}  // namespace stages::alerter
