#include "stages/alerter/notify/dispatcher.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>
#include <tuple>
#include <utility>

#include "pipeline/clock.h"
#include "pipeline/json.h"

namespace stages::alerter::notify {

namespace {

constexpr std::int64_t kSnapshotVersion = 1;

bool labelsBefore(const LabelSet& a, const LabelSet& b) {
  if (a.size() != b.size()) return a.size() < b.size();
  // Walk the union of names in order; the first difference decides (prometheus/common Before).
  auto ia = a.begin();
  auto ib = b.begin();
  while (ia != a.end() && ib != b.end()) {
    if (ia->first != ib->first) return ia->first > ib->first;  // the name `a` lacks comes first
    if (ia->second != ib->second) return ia->second < ib->second;
    ++ia;
    ++ib;
  }
  return false;
}

bool alertBefore(const Alert& a, const Alert& b) {
  for (const char* key : {"job", "instance"}) {
    const auto ia = a.labels.find(key);
    const auto ib = b.labels.find(key);
    const bool has_a = ia != a.labels.end();
    const bool has_b = ib != b.labels.end();
    if (!has_a && !has_b) continue;
    if (!has_a) return false;
    if (!has_b) return true;
    if (ia->second != ib->second) return ia->second < ib->second;
  }
  return labelsBefore(a.labels, b.labels);
}

void writeLabels(pipeline::json::Writer& w, const LabelSet& labels) {
  w.beginObject();
  for (const auto& [name, value] : labels) w.field(name, value);
  w.endObject();
}

void writeAlert(pipeline::json::Writer& w, const Alert& alert) {
  w.beginObject();
  w.key("labels");
  writeLabels(w, alert.labels);
  w.key("annotations");
  writeLabels(w, alert.annotations);
  w.field("state", alertStateName(alert.state));
  w.field("active_since_ms", alert.active_since_ms);
  w.field("starts_at_ms", alert.starts_at_ms);
  if (alert.ends_at_ms) w.field("ends_at_ms", *alert.ends_at_ms);
  if (alert.value) w.field("value", *alert.value);
  w.field("generator_url", alert.generator_url);
  w.endObject();
}

void writeStrings(pipeline::json::Writer& w, const std::set<std::string>& values) {
  w.beginArray();
  for (const std::string& v : values) w.value(v);
  w.endArray();
}

// Reading a snapshot: every accessor reports the first problem into `error`.
struct Reader {
  std::string error;

  bool fail(std::string message) {
    if (error.empty()) error = std::move(message);
    return false;
  }

  bool int64(simdjson::dom::element e, std::string_view key, std::int64_t& out,
             bool optional = false) {
    simdjson::dom::element field;
    if (e[key].get(field) != simdjson::SUCCESS) {
      return optional || fail(fmt::format("\"{}\" is missing", key));
    }
    if (field.get_int64().get(out) != simdjson::SUCCESS) {
      return fail(fmt::format("\"{}\" is not an integer", key));
    }
    return true;
  }

  bool string(simdjson::dom::element e, std::string_view key, std::string& out) {
    std::string_view view;
    if (e[key].get_string().get(view) != simdjson::SUCCESS) {
      return fail(fmt::format("\"{}\" is missing or not a string", key));
    }
    out = std::string(view);
    return true;
  }

  bool strings(simdjson::dom::element e, std::string_view key, std::set<std::string>& out) {
    simdjson::dom::array array;
    if (e[key].get_array().get(array) != simdjson::SUCCESS) {
      return fail(fmt::format("\"{}\" is missing or not an array", key));
    }
    for (simdjson::dom::element item : array) {
      std::string_view view;
      if (item.get_string().get(view) != simdjson::SUCCESS) {
        return fail(fmt::format("\"{}\" holds a non-string", key));
      }
      out.emplace(view);
    }
    return true;
  }

  bool labels(simdjson::dom::element e, std::string_view key, LabelSet& out) {
    simdjson::dom::object object;
    if (e[key].get_object().get(object) != simdjson::SUCCESS) {
      return fail(fmt::format("\"{}\" is missing or not an object", key));
    }
    for (auto field : object) {
      std::string_view value;
      if (field.value.get_string().get(value) != simdjson::SUCCESS) {
        return fail(fmt::format("\"{}\" holds a non-string value", key));
      }
      out.emplace(std::string(field.key), std::string(value));
    }
    return true;
  }

  bool alert(simdjson::dom::element e, Alert& out) {
    std::string state;
    if (!labels(e, "labels", out.labels) || !labels(e, "annotations", out.annotations) ||
        !string(e, "state", state) || !int64(e, "active_since_ms", out.active_since_ms) ||
        !int64(e, "starts_at_ms", out.starts_at_ms) ||
        !string(e, "generator_url", out.generator_url)) {
      return false;
    }
    if (state == "firing") {
      out.state = AlertState::Firing;
    } else if (state == "resolved") {
      out.state = AlertState::Resolved;
    } else {
      return fail(fmt::format("alert state \"{}\" is neither firing nor resolved", state));
    }
    simdjson::dom::element field;
    if (e["ends_at_ms"].get(field) == simdjson::SUCCESS) {
      std::int64_t ends = 0;
      if (field.get_int64().get(ends) != simdjson::SUCCESS)
        return fail("\"ends_at_ms\" is not an integer");
      out.ends_at_ms = ends;
    }
    if (e["value"].get(field) == simdjson::SUCCESS && !field.is_null()) {
      double value = 0;
      if (field.get_double().get(value) != simdjson::SUCCESS)
        return fail("\"value\" is not a number");
      out.value = value;
    }
    return true;
  }
};

}  // namespace

std::string_view notificationStatusName(NotificationStatus status) noexcept {
  return status == NotificationStatus::Firing ? "firing" : "resolved";
}

std::size_t Notification::firingCount() const {
  return static_cast<std::size_t>(std::count_if(
      alerts.begin(), alerts.end(), [](const Alert& a) { return a.state == AlertState::Firing; }));
}

std::size_t Notification::resolvedCount() const { return alerts.size() - firingCount(); }

void sortAlerts(std::vector<Alert>& alerts) {
  std::stable_sort(alerts.begin(), alerts.end(), alertBefore);
}

Dispatcher::Dispatcher(NotifyConfig config, DispatcherOptions options)
    : config_(std::move(config)), options_(std::move(options)) {
  if (!options_.clock) options_.clock = pipeline::wallClockMs;
  sources_.resize(config_.inhibit_rules.size());
}

void Dispatcher::update(const Alert& alert) {
  if (alert.state != AlertState::Firing && alert.state != AlertState::Resolved) return;
  const std::string fp = alert.fingerprint();
  for (std::size_t i = 0; i < config_.inhibit_rules.size(); ++i) {
    sources_[i].erase(fp);
    if (alert.state == AlertState::Firing &&
        matchesAll(config_.inhibit_rules[i].source_matchers, alert.labels)) {
      sources_[i].emplace(fp, alert.labels);
    }
  }
  insert(alert, options_.clock());
}

LabelSet Dispatcher::groupLabels(const Route& route, const LabelSet& labels) const {
  if (route.group_by_all) return labels;
  LabelSet out;
  for (const std::string& name : route.group_by) {
    const auto it = labels.find(name);
    if (it != labels.end()) out.emplace(name, it->second);
  }
  return out;
}

void Dispatcher::insert(const Alert& alert, std::int64_t now_ms) {
  std::vector<const Route*> routes;
  config_.route.match(alert.labels, routes);
  const std::string fp = alert.fingerprint();
  const std::int64_t starts = alert.starts_at_ms > 0 ? alert.starts_at_ms : now_ms;
  for (const Route* route : routes) {
    LabelSet labels = groupLabels(*route, alert.labels);
    std::string key = groupKey(route->key, labels);
    GroupId id{route->id, key};
    auto it = groups_.find(id);
    if (it == groups_.end()) {
      Group group;
      group.route = route;
      group.key = std::move(key);
      group.labels = std::move(labels);
      group.next_flush_ms = now_ms + route->group_wait.count();
      it = groups_.emplace(std::move(id), std::move(group)).first;
    }
    Group& group = it->second;
    // An alert that started more than group_wait ago needs no waiting for company.
    if (!group.flushed && starts + route->group_wait.count() < now_ms) {
      group.next_flush_ms = std::min(group.next_flush_ms, now_ms);
    }
    group.alerts[fp] = alert;
  }
}

bool Dispatcher::inhibited(const LabelSet& labels) const {
  for (std::size_t i = 0; i < config_.inhibit_rules.size(); ++i) {
    const InhibitRule& rule = config_.inhibit_rules[i];
    if (!matchesAll(rule.target_matchers, labels)) continue;
    const bool two_sided = matchesAll(rule.source_matchers, labels);
    for (const auto& entry : sources_[i]) {
      const LabelSet& source = entry.second;  // not a structured binding: clang 14 cannot capture those
      const bool equal =
          std::all_of(rule.equal.begin(), rule.equal.end(), [&](const std::string& n) {
            const auto a = source.find(n);
            const auto b = labels.find(n);
            const std::string_view va = a == source.end() ? std::string_view() : a->second;
            const std::string_view vb = b == labels.end() ? std::string_view() : b->second;
            return va == vb;
          });
      if (!equal) continue;
      if (two_sided && matchesAll(rule.target_matchers, source)) continue;
      return true;
    }
  }
  return false;
}

bool Dispatcher::needsUpdate(const LogEntry* entry, const std::set<std::string>& firing,
                             const std::set<std::string>& resolved, bool send_resolved,
                             std::chrono::milliseconds repeat, std::int64_t now_ms) const {
  if (entry == nullptr) return !firing.empty();
  const auto subset = [](const std::set<std::string>& part, const std::set<std::string>& whole) {
    return std::includes(whole.begin(), whole.end(), part.begin(), part.end());
  };
  if (!subset(firing, entry->firing)) return true;
  // Everything resolved: tell the receiver if it was told something fired (irrespective of
  // send_resolved, so the log forgets the firing alerts).
  if (firing.empty()) return !entry->firing.empty();
  if (send_resolved && !subset(resolved, entry->resolved)) return true;
  return entry->sent_ms < now_ms - repeat.count();
}

std::optional<Notification> Dispatcher::flush(Group& group, std::int64_t now_ms) {
  std::vector<Alert> all;
  std::vector<std::string> resolved_fps;
  all.reserve(group.alerts.size());
  for (const auto& [fp, stored] : group.alerts) {
    Alert alert = stored;
    const bool resolved = alert.state == AlertState::Resolved ||
                          (alert.ends_at_ms.has_value() && *alert.ends_at_ms <= now_ms);
    if (resolved) {
      alert.state = AlertState::Resolved;
      if (!alert.ends_at_ms) alert.ends_at_ms = now_ms;
      resolved_fps.push_back(fp);
    } else {
      alert.ends_at_ms.reset();
    }
    all.push_back(std::move(alert));
  }
  sortAlerts(all);

  std::optional<Notification> result;
  std::vector<Alert> visible;
  for (Alert& alert : all) {
    if (!inhibited(alert.labels)) visible.push_back(std::move(alert));
  }
  if (!visible.empty()) {
    std::set<std::string> firing;
    std::set<std::string> resolved;
    for (const Alert& alert : visible) {
      (alert.state == AlertState::Firing ? firing : resolved).insert(alert.fingerprint());
    }
    const Receiver* receiver = config_.receiver(group.route->receiver);
    const bool send_resolved = receiver != nullptr && receiver->sendsResolved();
    const LogId log_id{group.route->receiver, group.key};
    const auto entry = log_.find(log_id);
    if (needsUpdate(entry == log_.end() ? nullptr : &entry->second, firing, resolved, send_resolved,
                    group.route->repeat_interval, now_ms)) {
      if (!firing.empty() || send_resolved) {
        Notification n;
        n.receiver = group.route->receiver;
        n.group_key = group.key;
        n.group_labels = group.labels;
        n.status = firing.empty() ? NotificationStatus::Resolved : NotificationStatus::Firing;
        n.created_ms = now_ms;
        n.alerts = std::move(visible);
        result = std::move(n);
      } else {
        // Nothing to deliver (everything resolved, no resolved notices): the log forgets the
        // firing alerts at once, as a delivered notification would have made it.
        log_[log_id] = LogEntry{now_ms, now_ms + options_.retention.count(), firing, resolved};
      }
    }
  }
  // Resolved alerts of a notification stay until acknowledge() learns it was delivered; the
  // others (not notified, or inhibited) leave now.
  for (const std::string& fp : resolved_fps) {
    const bool notified = result && std::any_of(result->alerts.begin(), result->alerts.end(),
                                                [&](const Alert& a) { return a.fingerprint() == fp; });
    if (!notified) group.alerts.erase(fp);
  }
  group.flushed = true;
  group.next_flush_ms = now_ms + group.route->group_interval.count();
  return result;
}

std::vector<Notification> Dispatcher::tick(std::int64_t now_ms) {
  std::erase_if(log_, [&](const auto& item) { return item.second.expires_ms <= now_ms; });
  std::vector<std::map<GroupId, Group>::iterator> due;
  for (auto it = groups_.begin(); it != groups_.end(); ++it) {
    if (it->second.next_flush_ms <= now_ms) due.push_back(it);
  }
  std::sort(due.begin(), due.end(), [](const auto& a, const auto& b) {
    return std::tie(a->second.next_flush_ms, a->second.route->receiver, a->second.key, a->first) <
           std::tie(b->second.next_flush_ms, b->second.route->receiver, b->second.key, b->first);
  });
  std::vector<Notification> out;
  for (auto it : due) {
    if (auto notification = flush(it->second, now_ms)) out.push_back(std::move(*notification));
    if (it->second.alerts.empty()) groups_.erase(it);
  }
  return out;
}

void Dispatcher::acknowledge(const Notification& notification, bool delivered,
                             std::int64_t now_ms) {
  if (!delivered) return;  // everything stays: the next flush sends the group's state again
  std::set<std::string> firing;
  std::set<std::string> resolved;
  for (const Alert& alert : notification.alerts) {
    (alert.state == AlertState::Firing ? firing : resolved).insert(alert.fingerprint());
  }
  const LogId log_id{notification.receiver, notification.group_key};
  const auto entry = log_.find(log_id);
  // A late acknowledgement of an older notification never overwrites a newer entry.
  if (entry == log_.end() || entry->second.sent_ms <= notification.created_ms) {
    log_[log_id] = LogEntry{notification.created_ms, now_ms + options_.retention.count(),
                            std::move(firing), std::move(resolved)};
  }
  // Resolved alerts leave every group of this receiver and key, unless they changed since the
  // notification (fired again, or resolved again at another time): Alertmanager's
  // DeleteIfNotModified.
  for (auto it = groups_.begin(); it != groups_.end();) {
    Group& group = it->second;
    if (group.key == notification.group_key && group.route->receiver == notification.receiver) {
      for (const Alert& sent : notification.alerts) {
        if (sent.state != AlertState::Resolved) continue;
        const auto stored = group.alerts.find(sent.fingerprint());
        if (stored == group.alerts.end()) continue;
        const Alert& now = stored->second;
        const bool now_resolved =
            now.state == AlertState::Resolved ||
            (now.ends_at_ms.has_value() && *now.ends_at_ms <= notification.created_ms);
        const bool unchanged = now_resolved && now.starts_at_ms == sent.starts_at_ms &&
                               now.ends_at_ms.value_or(notification.created_ms) == sent.ends_at_ms;
        if (unchanged) group.alerts.erase(stored);
      }
      if (group.alerts.empty()) {
        it = groups_.erase(it);
        continue;
      }
    }
    ++it;
  }
}

std::optional<std::int64_t> Dispatcher::nextTickMs() const {
  std::optional<std::int64_t> next;
  for (const auto& [id, group] : groups_) {
    if (!next || group.next_flush_ms < *next) next = group.next_flush_ms;
  }
  return next;
}

std::string Dispatcher::snapshot() const {
  pipeline::json::Writer w;
  w.beginObject();
  w.field("version", kSnapshotVersion);
  w.key("log").beginArray();
  for (const auto& [id, entry] : log_) {
    w.beginObject();
    w.field("receiver", id.first);
    w.field("group_key", id.second);
    w.field("sent_ms", entry.sent_ms);
    w.field("expires_ms", entry.expires_ms);
    w.key("firing");
    writeStrings(w, entry.firing);
    w.key("resolved");
    writeStrings(w, entry.resolved);
    w.endObject();
  }
  w.endArray();
  w.key("groups").beginArray();
  for (const auto& [id, group] : groups_) {
    w.beginObject();
    w.field("receiver", group.route->receiver);
    w.field("group_key", group.key);
    w.field("next_flush_ms", group.next_flush_ms);
    w.field("flushed", group.flushed);
    w.key("alerts").beginArray();
    for (const auto& [fp, alert] : group.alerts) writeAlert(w, alert);
    w.endArray();
    w.endObject();
  }
  w.endArray();
  w.endObject();
  return std::move(w).str();
}

pipeline::Status Dispatcher::restore(std::string_view json) {
  using pipeline::ErrorType;
  const auto invalid = [](std::string_view problem) {
    return pipeline::Status(ErrorType::InvalidPayload,
                            fmt::format("notification state snapshot: {}", problem));
  };
  if (!groups_.empty()) return invalid("restore() needs a Dispatcher without groups");
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(json.data(), json.size()).get(root) != simdjson::SUCCESS) {
    return invalid("not valid JSON");
  }
  Reader reader;
  std::int64_t version = 0;
  if (!reader.int64(root, "version", version)) return invalid(reader.error);
  if (version != kSnapshotVersion) return invalid(fmt::format("unsupported version {}", version));

  std::map<LogId, LogEntry> log;
  simdjson::dom::array array;
  if (root["log"].get_array().get(array) != simdjson::SUCCESS)
    return invalid("\"log\" is not an array");
  for (simdjson::dom::element item : array) {
    LogId id;
    LogEntry entry;
    if (!reader.string(item, "receiver", id.first) ||
        !reader.string(item, "group_key", id.second) ||
        !reader.int64(item, "sent_ms", entry.sent_ms) ||
        !reader.int64(item, "expires_ms", entry.expires_ms) ||
        !reader.strings(item, "firing", entry.firing) ||
        !reader.strings(item, "resolved", entry.resolved)) {
      return invalid(reader.error);
    }
    log[std::move(id)] = std::move(entry);
  }

  struct SavedGroup {
    std::string receiver;
    std::string key;
    std::int64_t next_flush_ms = 0;
    bool flushed = false;
    std::vector<Alert> alerts;
  };
  std::vector<SavedGroup> saved;
  if (root["groups"].get_array().get(array) != simdjson::SUCCESS) {
    return invalid("\"groups\" is not an array");
  }
  for (simdjson::dom::element item : array) {
    SavedGroup group;
    simdjson::dom::array alerts;
    if (!reader.string(item, "receiver", group.receiver) ||
        !reader.string(item, "group_key", group.key) ||
        !reader.int64(item, "next_flush_ms", group.next_flush_ms)) {
      return invalid(reader.error);
    }
    if (item["flushed"].get_bool().get(group.flushed) != simdjson::SUCCESS) {
      return invalid("\"flushed\" is missing or not a boolean");
    }
    if (item["alerts"].get_array().get(alerts) != simdjson::SUCCESS) {
      return invalid("\"alerts\" is missing or not an array");
    }
    for (simdjson::dom::element e : alerts) {
      Alert alert;
      if (!reader.alert(e, alert)) return invalid(reader.error);
      group.alerts.push_back(std::move(alert));
    }
    saved.push_back(std::move(group));
  }

  // Valid: apply. Alerts go through routing again (the configuration may have changed).
  log_ = std::move(log);
  std::map<std::string, Alert> alerts;  // the same alert may be saved in several groups
  for (const SavedGroup& group : saved) {
    for (const Alert& alert : group.alerts) alerts.emplace(alert.fingerprint(), alert);
  }
  for (const auto& [fp, alert] : alerts) update(alert);
  for (const SavedGroup& group : saved) {
    for (auto& [id, live] : groups_) {
      if (live.key == group.key && live.route->receiver == group.receiver) {
        live.next_flush_ms = group.next_flush_ms;
        live.flushed = group.flushed;
      }
    }
  }
  return pipeline::Status::ok();
}

}  // namespace stages::alerter::notify
