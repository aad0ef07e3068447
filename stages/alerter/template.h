#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "pipeline/status.h"
#include "stages/alerter/alert.h"

namespace stages::alerter {

/**
 * An annotation template in the subset of Prometheus's Go templates that alert texts use, so a
 * rule's annotations read the same in Prometheus. Text outside {{ }} is copied. An action is a
 * pipeline of commands separated by '|'; the value of each command is passed as the last
 * argument of the next one:
 *
 *   {{ $value }}                         the alert's value, printed like Go's %v (1e+06, 0.25)
 *   {{ $labels.instance }}               a label of the series ("" when it has none)
 *   {{ $value | humanize }}              1.234k, 5.6M, 12m (milli) …
 *   {{ humanizePercentage $value }}      0.123 -> 12.3%
 *   {{ $value | humanizeDuration }}      3725 -> 1h 2m 5s
 *   {{ printf "%.2f" $value }}           Go printf: verbs v f F e E g G for numbers, s v q for
 *                                        labels; flags + - # 0 space, width and precision
 *   {{- … -}}                            trims the whitespace before / after, as in Go
 *
 * An action holding only a Go comment (slash-star … star-slash) expands to nothing.
 *
 * Everything else (other variables, functions, if/range/with, .Value) is an error at parse time,
 * so a template that parsed always expands.
 *
 * Immutable after parse; copies share the parsed form.
 */
class Template {
 public:
  /**
   * Parses `text`. Returns ErrorType::InvalidConfig with "col <n>: <problem>" (1-based byte
   * column), e.g. `col 4: unknown variable "$foo" (use $value or $labels.<name>)`.
   */
  static pipeline::Result<Template> parse(std::string_view text);

  /** The text with every action replaced by its value for this series and value. */
  std::string expand(const LabelSet& labels, double value) const;

  const std::string& source() const noexcept { return source_; }

  struct Impl;

 private:
  Template(std::string source, std::shared_ptr<const Impl> impl)
      : source_(std::move(source)), impl_(std::move(impl)) {}

  std::string source_;
  std::shared_ptr<const Impl> impl_;
};

/** Go's %v of a float64 (what {{ $value }} prints): shortest form, exponent from 1e+06 and
 * below 1e-04, "+Inf", "-Inf", "NaN". */
std::string formatGoFloat(double value);
/** Prometheus's template functions. */
std::string humanize(double value);
std::string humanizePercentage(double value);
std::string humanizeDuration(double seconds);

}  // namespace stages::alerter
