#include "stages/alerter/rules.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "stages/alerter/text.h"

namespace stages::alerter {
namespace {

using pipeline::Error;
using pipeline::ErrorType;

constexpr std::string_view kTopFields[] = {"groups"};
constexpr std::string_view kGroupFields[] = {"name", "interval", "rules"};
constexpr std::string_view kRuleFields[] = {"alert",           "expr",   "for",
                                            "keep_firing_for", "labels", "annotations"};

std::size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

template <std::size_t N>
std::string unknownField(std::string_view key, const std::string_view (&known)[N]) {
  std::string message = fmt::format("unknown field \"{}\"", key);
  std::string_view best;
  std::size_t best_distance = 3;  // suggest only close names
  for (const auto candidate : known) {
    const std::size_t distance = editDistance(key, candidate);
    if (distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  if (!best.empty()) message += fmt::format(" (did you mean \"{}\"?)", best);
  return message;
}

// Builds the one-line messages: "<origin>: group "g", rule "r": <field>: <detail>".
class Context {
 public:
  explicit Context(std::string_view origin) : origin_(origin) {}

  void setGroup(std::string where) {
    group_ = std::move(where);
    rule_.clear();
  }
  void setRule(std::string where) { rule_ = std::move(where); }

  Error error(std::string_view field, std::string_view detail) const {
    std::string message(origin_);
    message += ": ";
    if (!group_.empty()) {
      message += group_;
      message += rule_.empty() ? ": " : ", ";
    }
    if (!rule_.empty()) {
      message += rule_;
      message += ": ";
    }
    if (!field.empty()) {
      message += field;
      message += ": ";
    }
    message += detail;
    return Error{ErrorType::InvalidConfig, std::move(message)};
  }

 private:
  std::string_view origin_;
  std::string group_;
  std::string rule_;
};

// The entries of a YAML map in order; duplicate keys and non-scalar keys are errors.
std::optional<std::vector<std::pair<std::string, YAML::Node>>> entries(const YAML::Node& node,
                                                                       const Context& context,
                                                                       std::string_view field,
                                                                       Error& error) {
  std::vector<std::pair<std::string, YAML::Node>> out;
  if (node.IsNull()) return out;
  if (!node.IsMap()) {
    error = context.error(field, "expected a map");
    return std::nullopt;
  }
  for (const auto& entry : node) {
    if (!entry.first.IsScalar()) {
      error = context.error(field, "expected scalar keys");
      return std::nullopt;
    }
    std::string key = entry.first.Scalar();
    for (const auto& [seen, value] : out) {
      if (seen == key) {
        error = context.error(field, fmt::format("\"{}\" is given twice", key));
        return std::nullopt;
      }
    }
    out.emplace_back(std::move(key), entry.second);
  }
  return out;
}

std::optional<std::string> scalar(const YAML::Node& node) {
  if (!node.IsScalar()) return std::nullopt;
  return node.Scalar();
}

// `for`, `keep_firing_for`, `interval`: a Prometheus duration, or 0.
std::optional<std::int64_t> duration(const YAML::Node& node) {
  const auto text = scalar(node);
  if (!text) return std::nullopt;
  if (*text == "0") return 0;
  return parseDuration(*text);
}

pipeline::Result<LabelSet> parseLabels(const YAML::Node& node, const Context& context) {
  Error error;
  const auto items = entries(node, context, "labels", error);
  if (!items) return error;
  LabelSet labels;
  for (const auto& [name, value] : *items) {
    const std::string field = "labels." + name;
    if (!isLabelName(name) || name.starts_with("__")) {
      return context.error(field,
                           "invalid label name (want [a-zA-Z_][a-zA-Z0-9_]*, no leading __)");
    }
    if (name == "alertname") {
      return context.error(field, "alertname is set from `alert` and cannot be given as a label");
    }
    const auto text = scalar(value);
    if (!text) return context.error(field, "expected a string");
    if (text->find("{{") != std::string::npos) {
      return context.error(field, "templates in labels are not supported; use a static value");
    }
    labels.emplace(name, *text);
  }
  return labels;
}

pipeline::Result<std::map<std::string, Template>> parseAnnotations(const YAML::Node& node,
                                                                   const Context& context) {
  Error error;
  const auto items = entries(node, context, "annotations", error);
  if (!items) return error;
  std::map<std::string, Template> annotations;
  for (const auto& [name, value] : *items) {
    const std::string field = "annotations." + name;
    if (!isLabelName(name)) return context.error(field, "invalid annotation name");
    const auto text = scalar(value);
    if (!text) return context.error(field, "expected a string");
    auto parsed = Template::parse(*text);
    if (!parsed) return context.error(field, parsed.error().message);
    annotations.emplace(name, std::move(*parsed));
  }
  return annotations;
}

pipeline::Result<Rule> parseRule(const YAML::Node& node, const std::string& group,
                                 std::size_t index, Context& context) {
  context.setRule(fmt::format("rule #{}", index + 1));
  Error error;
  const auto items = entries(node, context, "", error);
  if (!items) return error;
  if (node.IsNull()) return context.error("", "expected a map");
  const YAML::Node* alert = nullptr;
  for (const auto& [key, value] : *items) {
    if (key == "alert") alert = &value;
  }
  if (alert != nullptr) {
    if (const auto name = scalar(*alert); name && !name->empty()) {
      context.setRule(fmt::format("rule \"{}\"", *name));
    }
  }
  for (const auto& [key, value] : *items) {
    if (key == "record") return context.error("record", "recording rules are not supported");
    if (std::find(std::begin(kRuleFields), std::end(kRuleFields), key) == std::end(kRuleFields)) {
      return context.error("", unknownField(key, kRuleFields));
    }
  }
  if (alert == nullptr) return context.error("alert", "missing (the alert's name is required)");
  const auto name = scalar(*alert);
  if (!name || !isMetricName(*name)) {
    return context.error("alert",
                         "expected a name like PipelineStalled ([a-zA-Z_:][a-zA-Z0-9_:]*)");
  }

  const YAML::Node* expr_node = nullptr;
  std::int64_t for_ms = 0;
  std::int64_t keep_firing_for_ms = 0;
  LabelSet labels;
  std::map<std::string, Template> annotations;
  for (const auto& [key, value] : *items) {
    if (key == "expr") {
      expr_node = &value;
    } else if (key == "for" || key == "keep_firing_for") {
      if (value.IsNull()) continue;
      const auto ms = duration(value);
      if (!ms) return context.error(key, "expected a duration like 2m (units ms, s, m, h, d, w)");
      (key == "for" ? for_ms : keep_firing_for_ms) = *ms;
    } else if (key == "labels") {
      auto parsed = parseLabels(value, context);
      if (!parsed) return parsed.error();
      labels = std::move(*parsed);
    } else if (key == "annotations") {
      auto parsed = parseAnnotations(value, context);
      if (!parsed) return parsed.error();
      annotations = std::move(*parsed);
    }
  }
  if (expr_node == nullptr) return context.error("expr", "missing");
  const auto text = scalar(*expr_node);
  if (!text || text->empty()) return context.error("expr", "expected an expression");
  auto expr = Expr::parse(*text);
  if (!expr) return context.error("expr", expr.error().message);
  return Rule{group,
              *name,
              std::move(*expr),
              for_ms,
              keep_firing_for_ms,
              std::move(labels),
              std::move(annotations)};
}

pipeline::Result<RuleGroup> parseGroup(const YAML::Node& node, std::size_t index,
                                       Context& context) {
  context.setGroup(fmt::format("group #{}", index + 1));
  Error error;
  const auto items = entries(node, context, "", error);
  if (!items) return error;
  if (node.IsNull()) return context.error("", "expected a map");
  RuleGroup group;
  for (const auto& [key, value] : *items) {
    if (key == "name") {
      const auto name = scalar(value);
      if (!name || name->empty()) return context.error("name", "expected a non-empty string");
      group.name = *name;
      context.setGroup(fmt::format("group \"{}\"", group.name));
    }
  }
  const YAML::Node* rules = nullptr;
  for (const auto& [key, value] : *items) {
    if (key == "name") continue;
    if (key == "interval") {
      const auto ms = duration(value);
      if (!ms || *ms <= 0) {
        return context.error("interval", "expected a positive duration like 15s");
      }
      group.interval_ms = *ms;
    } else if (key == "rules") {
      rules = &value;
    } else if (key == "limit" || key == "query_offset" || key == "labels") {
      return context.error(key, "not supported");
    } else {
      return context.error("", unknownField(key, kGroupFields));
    }
  }
  if (group.name.empty()) return context.error("name", "missing (a group needs a name)");
  if (rules == nullptr || rules->IsNull()) return group;
  if (!rules->IsSequence()) return context.error("rules", "expected a list");
  std::size_t rule_index = 0;
  for (const auto& item : *rules) {
    auto rule = parseRule(item, group.name, rule_index, context);
    if (!rule) return rule.error();
    for (std::size_t i = 0; i < group.rules.size(); ++i) {
      if (group.rules[i].name == rule->name) {
        return context.error(
            "alert", fmt::format("duplicate alert name in this group (also rule #{})", i + 1));
      }
    }
    group.rules.push_back(std::move(*rule));
    ++rule_index;
  }
  return group;
}

}  // namespace

std::int64_t RuleSet::historyMs() const {
  std::int64_t history = 0;
  for (const auto& group : groups) {
    for (const auto& rule : group.rules) history = std::max(history, rule.expr.historyMs());
  }
  return history;
}

std::set<std::string, std::less<>> RuleSet::metricNames() const {
  std::set<std::string, std::less<>> names;
  for (const auto& group : groups) {
    for (const auto& rule : group.rules) names.merge(rule.expr.metricNames());
  }
  return names;
}

std::size_t RuleSet::ruleCount() const {
  std::size_t count = 0;
  for (const auto& group : groups) count += group.rules.size();
  return count;
}

pipeline::Result<RuleSet> parseRules(std::string_view yaml_text, std::string_view origin) {
  Context context(origin);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    return context.error(
        "", fmt::format("line {}, col {}: {}", e.mark.line + 1, e.mark.column + 1, e.msg));
  }
  try {
    RuleSet set;
    set.origin = std::string(origin);
    Error error;
    const auto items = entries(root, context, "", error);
    if (!items) return context.error("", "expected a map with `groups`");
    const YAML::Node* groups = nullptr;
    for (const auto& [key, value] : *items) {
      if (key != "groups") return context.error("", unknownField(key, kTopFields));
      groups = &value;
    }
    if (groups == nullptr || groups->IsNull()) return set;
    if (!groups->IsSequence()) return context.error("groups", "expected a list");
    std::size_t index = 0;
    for (const auto& item : *groups) {
      auto group = parseGroup(item, index, context);
      if (!group) return group.error();
      for (std::size_t i = 0; i < set.groups.size(); ++i) {
        if (set.groups[i].name == group->name) {
          return context.error("name", fmt::format("duplicate group name (also group #{})", i + 1));
        }
      }
      set.groups.push_back(std::move(*group));
      ++index;
    }
    return set;
  } catch (const std::exception& e) {  // yaml-cpp throws on misuse; keep it a config error
    return context.error("", e.what());
  }
}

pipeline::Result<RuleSet> loadRules(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return Error{ErrorType::InvalidConfig,
                 fmt::format("{}: cannot read the rule file: {}", path, std::strerror(errno))};
  }
  std::ostringstream text;
  text << file.rdbuf();
  if (file.bad()) {
    return Error{ErrorType::InvalidConfig, fmt::format("{}: cannot read the rule file", path)};
  }
  return parseRules(text.str(), path);
}

}  // namespace stages::alerter
