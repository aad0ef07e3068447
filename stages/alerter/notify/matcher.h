#pragma once

#include <memory>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/status.h"
#include "stages/alerter/alert.h"

// Label matchers and the label-set strings Alertmanager 0.25 builds group keys from. The strings
// must be byte-identical to Alertmanager's, because receivers deduplicate on `groupKey`
// (tests/fixtures/alertmanager/ holds what a real Alertmanager 0.25 sent).

namespace stages::alerter::notify {

/** One label matcher: `name="value"`, `name!="value"`, `name=~"regex"` or `name!~"regex"`. */
struct Matcher {
  enum class Type { Equal, NotEqual, Regexp, NotRegexp };  // Alertmanager's order, used in sort

  Type type = Type::Equal;
  std::string name;
  std::string value;
  /** Compiled "^(?:value)$" for the regex types (ECMAScript syntax, close to RE2 for the usual
   * subset: alternation, classes, repetition); null otherwise. Shared by copies. */
  std::shared_ptr<const std::regex> regex;

  /** Whether the value of `name` in `labels` (empty when absent) satisfies the matcher. */
  bool matches(const LabelSet& labels) const;
  /** Alertmanager's Matcher.String(): name, operator, value quoted with only `\`, `"` and
   * newline escaped: `stage=~"fetch.*"`. */
  std::string toString() const;
};

using Matchers = std::vector<Matcher>;

/**
 * Parses one matcher as Alertmanager's classic syntax writes it: a label name, an operator
 * (=, !=, =~, !~) and a value, double-quoted (with \" \\ \n escapes) or bare; spaces around the
 * parts are ignored. Errors (InvalidConfig) name the problem, not the whole text.
 */
[[nodiscard]] pipeline::Result<Matcher> parseMatcher(std::string_view text);

/** True when every matcher matches (an empty list matches everything). */
bool matchesAll(const Matchers& matchers, const LabelSet& labels);

/** Sorts as Alertmanager sorts a route's matchers: by name, then value, then operator. */
void sortMatchers(Matchers& matchers);

/** Alertmanager's Matchers.String(): `{a="1",b=~"x"}` (no spaces). */
std::string matchersString(const Matchers& matchers);

/** `text` quoted as Go's strconv.Quote / %q does (ASCII escapes, printable UTF-8 kept). */
std::string goQuote(std::string_view text);

/** prometheus/common model.LabelSet.String(): `{alertname="X", stage="y"}`, names sorted, values
 * %q-quoted, ", " between pairs; `{}` when empty. */
std::string labelSetString(const LabelSet& labels);

/** Alertmanager's aggregation-group key: `<route key>:<group labels>`, e.g.
 * `{}/{severity="critical"}:{alertname="X"}`. */
std::string groupKey(std::string_view route_key, const LabelSet& group_labels);

}  // namespace stages::alerter::notify
