#include "stages/alerter/evaluator.h"

#include <simdjson.h>

#include <algorithm>
#include <set>
#include <utility>

#include <fmt/format.h>

#include "pipeline/json.h"

namespace stages::alerter {
namespace {

using pipeline::Error;
using pipeline::ErrorType;

constexpr std::int64_t kSnapshotVersion = 1;

void writeLabels(pipeline::json::Writer& w, const LabelSet& labels) {
  w.beginObject();
  for (const auto& [name, value] : labels) w.field(name, value);
  w.endObject();
}

void writeOptional(pipeline::json::Writer& w, std::string_view key,
                   const std::optional<std::int64_t>& value) {
  w.key(key);
  if (value) {
    w.value(*value);
  } else {
    w.null();
  }
}

std::optional<AlertState> stateFromName(std::string_view name) {
  for (auto state : {AlertState::Pending, AlertState::Firing, AlertState::Resolved}) {
    if (alertStateName(state) == name) return state;
  }
  return std::nullopt;
}

}  // namespace

Evaluator::Evaluator(RuleSet rules, const SeriesStore& store, EvaluatorOptions options)
    : rules_(std::move(rules)), store_(store), options_(std::move(options)) {
  state_.resize(rules_.groups.size());
  for (std::size_t g = 0; g < rules_.groups.size(); ++g) {
    state_[g].resize(rules_.groups[g].rules.size());
  }
  group_last_.resize(rules_.groups.size());
}

std::int64_t Evaluator::intervalMs(const RuleGroup& group) const {
  return std::max<std::int64_t>(group.interval_ms.value_or(options_.default_interval_ms), 1);
}

std::vector<Alert> Evaluator::evaluate(std::int64_t now_ms) {
  if (!started_ms_) started_ms_ = now_ms;
  std::vector<Alert> changes;
  for (std::size_t g = 0; g < rules_.groups.size(); ++g) {
    const auto& group = rules_.groups[g];
    if (group_last_[g] && now_ms - *group_last_[g] < intervalMs(group)) continue;
    group_last_[g] = now_ms;
    for (std::size_t r = 0; r < group.rules.size(); ++r) {
      evaluateRule(group.rules[r], state_[g][r], now_ms, changes);
    }
  }
  return changes;
}

void Evaluator::evaluateRule(const Rule& rule, RuleState& state, std::int64_t now_ms,
                             std::vector<Alert>& changes) {
  state.last_evaluation_ms = now_ms;
  if (options_.wait_for_history) {
    std::int64_t history_since = *started_ms_;
    if (const auto first = store_.firstBatchMs()) history_since = std::min(history_since, *first);
    state.waiting_for_history = now_ms - history_since < rule.expr.absenceHistoryMs();
    if (state.waiting_for_history) return;
  }
  auto samples = rule.expr.evaluate(store_, now_ms);
  if (!samples) {
    state.last_error = samples.error().message;
    return;
  }

  // The alerts the condition yields now, by fingerprint.
  std::map<std::string, Alert> current;
  for (const auto& sample : *samples) {
    Alert alert;
    alert.labels = sample.labels;
    for (const auto& [name, value] : rule.labels) {
      if (value.empty()) {
        alert.labels.erase(name);  // an empty label is no label
      } else {
        alert.labels.insert_or_assign(name, value);
      }
    }
    alert.labels.insert_or_assign("alertname", rule.name);
    for (const auto& [name, text] : rule.annotations) {
      alert.annotations.emplace(name, text.expand(sample.labels, sample.value));
    }
    alert.value = sample.value;
    if (!options_.generator_url_base.empty()) {
      alert.generator_url = options_.generator_url_base + "#" + rule.name;
    }
    auto fp = alert.fingerprint();
    if (!current.emplace(std::move(fp), std::move(alert)).second) {
      state.last_error =
          "the expression yields several series with the same labels once the rule's labels are "
          "applied";
      return;
    }
  }
  state.last_error.clear();

  std::set<std::string> started;
  for (auto& [fp, alert] : current) {
    const auto it = state.alerts.find(fp);
    if (it != state.alerts.end() && it->second.alert.state != AlertState::Resolved) {
      auto& known = it->second.alert;
      known.value = alert.value;
      known.annotations = std::move(alert.annotations);
      known.generator_url = std::move(alert.generator_url);
      continue;
    }
    // New, or resolved and true again: it starts over.
    alert.state = AlertState::Pending;
    alert.active_since_ms = now_ms;
    state.alerts.insert_or_assign(fp, Entry{std::move(alert), std::nullopt});
    started.insert(fp);
  }

  for (auto it = state.alerts.begin(); it != state.alerts.end();) {
    auto& entry = it->second;
    auto& alert = entry.alert;
    if (!current.contains(it->first)) {
      switch (alert.state) {
        case AlertState::Pending:  // never fired: forgotten silently
          it = state.alerts.erase(it);
          continue;
        case AlertState::Resolved:
          if (alert.ends_at_ms && now_ms - *alert.ends_at_ms > options_.resolved_retention_ms) {
            it = state.alerts.erase(it);
            continue;
          }
          break;
        case AlertState::Firing: {
          bool keep_firing = false;
          if (rule.keep_firing_for_ms > 0) {
            if (!entry.keep_firing_since_ms) entry.keep_firing_since_ms = now_ms;
            keep_firing = now_ms - *entry.keep_firing_since_ms < rule.keep_firing_for_ms;
          }
          if (!keep_firing) {
            alert.state = AlertState::Resolved;
            alert.ends_at_ms = now_ms;
            entry.keep_firing_since_ms.reset();
            changes.push_back(alert);
          }
          break;
        }
        case AlertState::Inactive:
          break;
      }
      ++it;
      continue;
    }
    entry.keep_firing_since_ms.reset();
    if (alert.state == AlertState::Pending) {
      if (now_ms - alert.active_since_ms >= rule.for_ms) {
        alert.state = AlertState::Firing;
        alert.starts_at_ms = now_ms;
        changes.push_back(alert);
      } else if (started.contains(it->first)) {
        changes.push_back(alert);
      }
    }
    ++it;
  }
}

std::vector<Alert> Evaluator::active() const {
  std::vector<Alert> out;
  for (const auto& group : state_) {
    for (const auto& rule : group) {
      for (const auto& [fp, entry] : rule.alerts) {
        if (entry.alert.state == AlertState::Pending || entry.alert.state == AlertState::Firing) {
          out.push_back(entry.alert);
        }
      }
    }
  }
  return out;
}

std::vector<Alert> Evaluator::resolved() const {
  std::vector<Alert> out;
  for (const auto& group : state_) {
    for (const auto& rule : group) {
      for (const auto& [fp, entry] : rule.alerts) {
        if (entry.alert.state == AlertState::Resolved) out.push_back(entry.alert);
      }
    }
  }
  return out;
}

std::int64_t Evaluator::nextEvaluationMs() const {
  std::optional<std::int64_t> next;
  for (std::size_t g = 0; g < rules_.groups.size(); ++g) {
    const std::int64_t due = group_last_[g] ? *group_last_[g] + intervalMs(rules_.groups[g]) : 0;
    next = next ? std::min(*next, due) : due;
  }
  return next.value_or(0);
}

std::vector<RuleStatus> Evaluator::status() const {
  std::vector<RuleStatus> out;
  for (std::size_t g = 0; g < rules_.groups.size(); ++g) {
    for (std::size_t r = 0; r < rules_.groups[g].rules.size(); ++r) {
      const auto& rule = rules_.groups[g].rules[r];
      const auto& state = state_[g][r];
      RuleStatus status{rule.group, rule.name, state.last_evaluation_ms, state.last_error,
                        state.waiting_for_history};
      for (const auto& [fp, entry] : state.alerts) {
        if (entry.alert.state == AlertState::Pending) ++status.pending;
        if (entry.alert.state == AlertState::Firing) ++status.firing;
      }
      out.push_back(std::move(status));
    }
  }
  return out;
}

std::string Evaluator::snapshot() const {
  pipeline::json::Writer w;
  w.beginObject().field("version", kSnapshotVersion);
  w.key("alerts").beginArray();
  for (std::size_t g = 0; g < rules_.groups.size(); ++g) {
    for (std::size_t r = 0; r < rules_.groups[g].rules.size(); ++r) {
      const auto& rule = rules_.groups[g].rules[r];
      for (const auto& [fp, entry] : state_[g][r].alerts) {
        const auto& alert = entry.alert;
        w.beginObject()
            .field("group", rule.group)
            .field("rule", rule.name)
            .field("state", alertStateName(alert.state));
        w.key("labels");
        writeLabels(w, alert.labels);
        w.key("annotations");
        writeLabels(w, alert.annotations);
        w.field("active_since", alert.active_since_ms).field("starts_at", alert.starts_at_ms);
        writeOptional(w, "ends_at", alert.ends_at_ms);
        writeOptional(w, "keep_firing_since", entry.keep_firing_since_ms);
        w.key("value");
        if (alert.value) {
          w.value(*alert.value);  // non-finite values become null
        } else {
          w.null();
        }
        w.endObject();
      }
    }
  }
  w.endArray().endObject();
  return std::move(w).str();
}

pipeline::Status Evaluator::restore(std::string_view json) {
  const auto invalid = [](std::string message) {
    return pipeline::Status(ErrorType::InvalidPayload,
                            "alert state snapshot: " + std::move(message));
  };
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (const auto error = parser.parse(json.data(), json.size()).get(root); error) {
    return invalid(fmt::format("invalid JSON: {}", simdjson::error_message(error)));
  }
  std::int64_t version = 0;
  if (root["version"].get_int64().get(version) != simdjson::SUCCESS ||
      version != kSnapshotVersion) {
    return invalid(fmt::format("version: expected {}", kSnapshotVersion));
  }
  simdjson::dom::array alerts;
  if (root["alerts"].get_array().get(alerts) != simdjson::SUCCESS) {
    return invalid("alerts: expected an array");
  }

  std::map<std::pair<std::string, std::string>, std::pair<std::size_t, std::size_t>> index;
  for (std::size_t g = 0; g < rules_.groups.size(); ++g) {
    for (std::size_t r = 0; r < rules_.groups[g].rules.size(); ++r) {
      index.emplace(std::pair{rules_.groups[g].name, rules_.groups[g].rules[r].name},
                    std::pair{g, r});
    }
  }
  std::vector<std::vector<std::map<std::string, Entry>>> restored(rules_.groups.size());
  for (std::size_t g = 0; g < rules_.groups.size(); ++g) {
    restored[g].resize(rules_.groups[g].rules.size());
  }

  const auto readLabels = [](simdjson::dom::element value, LabelSet& out) {
    simdjson::dom::object object;
    if (value.get_object().get(object) != simdjson::SUCCESS) return false;
    for (auto field : object) {
      std::string_view text;
      if (field.value.get_string().get(text) != simdjson::SUCCESS) return false;
      out.emplace(std::string(field.key), std::string(text));
    }
    return true;
  };
  const auto readOptional = [](simdjson::dom::element value, std::optional<std::int64_t>& out) {
    if (value.is_null()) return true;
    std::int64_t number = 0;
    if (value.get_int64().get(number) != simdjson::SUCCESS) return false;
    out = number;
    return true;
  };

  std::size_t position = 0;
  for (simdjson::dom::element item : alerts) {
    const auto where = [&](std::string_view field) {
      return fmt::format("alerts[{}].{}: invalid", position, field);
    };
    std::string_view group, rule, state_name;
    if (item["group"].get_string().get(group) != simdjson::SUCCESS) return invalid(where("group"));
    if (item["rule"].get_string().get(rule) != simdjson::SUCCESS) return invalid(where("rule"));
    if (item["state"].get_string().get(state_name) != simdjson::SUCCESS)
      return invalid(where("state"));
    const auto state = stateFromName(state_name);
    if (!state) return invalid(where("state"));
    Entry entry;
    entry.alert.state = *state;
    simdjson::dom::element field;
    if (item["labels"].get(field) != simdjson::SUCCESS || !readLabels(field, entry.alert.labels)) {
      return invalid(where("labels"));
    }
    if (item["annotations"].get(field) != simdjson::SUCCESS ||
        !readLabels(field, entry.alert.annotations)) {
      return invalid(where("annotations"));
    }
    if (item["active_since"].get_int64().get(entry.alert.active_since_ms) != simdjson::SUCCESS) {
      return invalid(where("active_since"));
    }
    if (item["starts_at"].get_int64().get(entry.alert.starts_at_ms) != simdjson::SUCCESS) {
      return invalid(where("starts_at"));
    }
    if (item["ends_at"].get(field) != simdjson::SUCCESS ||
        !readOptional(field, entry.alert.ends_at_ms)) {
      return invalid(where("ends_at"));
    }
    if (item["keep_firing_since"].get(field) != simdjson::SUCCESS ||
        !readOptional(field, entry.keep_firing_since_ms)) {
      return invalid(where("keep_firing_since"));
    }
    if (item["value"].get(field) != simdjson::SUCCESS) return invalid(where("value"));
    if (!field.is_null()) {
      double value = 0;
      if (field.get_double().get(value) != simdjson::SUCCESS) return invalid(where("value"));
      entry.alert.value = value;
    }
    if (*state == AlertState::Resolved && !entry.alert.ends_at_ms) return invalid(where("ends_at"));
    ++position;
    const auto target = index.find(std::pair{std::string(group), std::string(rule)});
    if (target == index.end()) continue;  // the rule is gone: so are its alerts
    const auto [g, r] = target->second;
    if (!options_.generator_url_base.empty()) {
      entry.alert.generator_url = options_.generator_url_base + "#" + std::string(rule);
    }
    auto fp = entry.alert.fingerprint();
    restored[g][r].insert_or_assign(std::move(fp), std::move(entry));
  }

  for (std::size_t g = 0; g < restored.size(); ++g) {
    for (std::size_t r = 0; r < restored[g].size(); ++r) {
      state_[g][r].alerts = std::move(restored[g][r]);
    }
  }
  return pipeline::Status::ok();
}

}  // namespace stages::alerter
