#include "stages/alerter/notify/matcher.h"

#include <fmt/format.h>

#include <algorithm>
#include <tuple>

#include "stages/alerter/regex.h"
#include "stages/alerter/text.h"

namespace stages::alerter::notify {

namespace {

constexpr std::string_view kSpaces = " \t\n\r";

std::string_view typeOperator(Matcher::Type type) {
  switch (type) {
    case Matcher::Type::Equal:
      return "=";
    case Matcher::Type::NotEqual:
      return "!=";
    case Matcher::Type::Regexp:
      return "=~";
    case Matcher::Type::NotRegexp:
      return "!~";
  }
  return "=";
}

}  // namespace

bool Matcher::matches(const LabelSet& labels) const {
  static const std::string kAbsent;
  const auto it = labels.find(name);
  const std::string& actual = it == labels.end() ? kAbsent : it->second;
  switch (type) {
    case Type::Equal:
      return actual == value;
    case Type::NotEqual:
      return actual != value;
    case Type::Regexp:
      return regex && std::regex_match(actual, *regex);
    case Type::NotRegexp:
      return !regex || !std::regex_match(actual, *regex);
  }
  return false;
}

// Alertmanager escapes only \, " and newline here (openMetricsEscape), not Go's %q: no quote().
std::string Matcher::toString() const {
  std::string out = name;
  out += typeOperator(type);
  out.push_back('"');
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"') {
      out += "\\\"";
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
  return out;
}

pipeline::Result<Matcher> parseMatcher(std::string_view text) {
  using pipeline::ErrorType;
  std::string_view rest = trim(text, kSpaces);
  std::size_t n = 0;
  if (rest.empty() || !isMetricNameStart(rest[0])) {
    return pipeline::Error{ErrorType::InvalidConfig,
                           "a matcher must start with a label name (name=\"value\")"};
  }
  while (n < rest.size() && isMetricNameChar(rest[n])) ++n;
  Matcher matcher;
  matcher.name = std::string(rest.substr(0, n));
  rest = trim(rest.substr(n), kSpaces);
  if (rest.starts_with("=~")) {
    matcher.type = Matcher::Type::Regexp;
    rest.remove_prefix(2);
  } else if (rest.starts_with("!~")) {
    matcher.type = Matcher::Type::NotRegexp;
    rest.remove_prefix(2);
  } else if (rest.starts_with("!=")) {
    matcher.type = Matcher::Type::NotEqual;
    rest.remove_prefix(2);
  } else if (rest.starts_with("=")) {
    matcher.type = Matcher::Type::Equal;
    rest.remove_prefix(1);
  } else {
    return pipeline::Error{ErrorType::InvalidConfig,
                           fmt::format("matcher on {}: expected one of =, !=, =~, !~ after the "
                                       "label name",
                                       matcher.name)};
  }
  rest = trim(rest, kSpaces);
  if (!rest.empty() && rest.front() == '"') {
    if (rest.size() < 2 || rest.back() != '"') {
      return pipeline::Error{ErrorType::InvalidConfig,
                             fmt::format("matcher on {}: unterminated quoted value", matcher.name)};
    }
    rest = rest.substr(1, rest.size() - 2);
    for (std::size_t i = 0; i < rest.size(); ++i) {
      if (rest[i] == '"') {
        return pipeline::Error{
            ErrorType::InvalidConfig,
            fmt::format("matcher on {}: unescaped '\"' inside the quoted value", matcher.name)};
      }
      if (rest[i] != '\\') {
        matcher.value.push_back(rest[i]);
        continue;
      }
      if (++i == rest.size()) {
        return pipeline::Error{ErrorType::InvalidConfig,
                               fmt::format("matcher on {}: value ends with '\\'", matcher.name)};
      }
      switch (rest[i]) {
        case 'n':
          matcher.value.push_back('\n');
          break;
        case '"':
        case '\\':
          matcher.value.push_back(rest[i]);
          break;
        default:  // kept as written, as Alertmanager does for regex escapes like \d
          matcher.value.push_back('\\');
          matcher.value.push_back(rest[i]);
      }
    }
  } else {
    matcher.value = std::string(rest);
  }
  if (matcher.type == Matcher::Type::Regexp || matcher.type == Matcher::Type::NotRegexp) {
    // Anchored as Alertmanager does (rule_expr.cc keeps PromQL's value unanchored on purpose).
    auto regex = compileRegex("^(?:" + matcher.value + ")$");
    if (!regex) {
      return pipeline::Error{ErrorType::InvalidConfig,
                             fmt::format("matcher on {}: invalid regular expression: {}",
                                         matcher.name, regex.error().message)};
    }
    matcher.regex = std::move(*regex);
  }
  return matcher;
}

bool matchesAll(const Matchers& matchers, const LabelSet& labels) {
  return std::all_of(matchers.begin(), matchers.end(),
                     [&](const Matcher& m) { return m.matches(labels); });
}

void sortMatchers(Matchers& matchers) {
  std::stable_sort(matchers.begin(), matchers.end(), [](const Matcher& a, const Matcher& b) {
    return std::tie(a.name, a.value, a.type) < std::tie(b.name, b.value, b.type);
  });
}

std::string matchersString(const Matchers& matchers) {
  std::string out = "{";
  for (std::size_t i = 0; i < matchers.size(); ++i) {
    if (i > 0) out.push_back(',');
    out += matchers[i].toString();
  }
  out.push_back('}');
  return out;
}

std::string goQuote(std::string_view text) { return quote(text, QuoteStyle::GoStrconv); }

std::string labelSetString(const LabelSet& labels) {
  std::string out = "{";
  bool first = true;
  for (const auto& [name, value] : labels) {  // std::map: sorted by name, as Go sorts
    if (!first) out += ", ";
    first = false;
    out += name;
    out.push_back('=');
    out += goQuote(value);
  }
  out.push_back('}');
  return out;
}

std::string groupKey(std::string_view route_key, const LabelSet& group_labels) {
  std::string out(route_key);
  out.push_back(':');
  out += labelSetString(group_labels);
  return out;
}

}  // namespace stages::alerter::notify
