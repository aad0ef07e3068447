#include "stages/alerter/notify/payload.h"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>
#include <vector>

#include "pipeline/json.h"
#include "stages/alerter/text.h"

namespace stages::alerter::notify {

namespace {

constexpr std::size_t kSlackMaxAttachments = 20;
constexpr std::size_t kShortTextChars = 160;

std::string_view label(const LabelSet& labels, const std::string& name) {
  const auto it = labels.find(name);
  return it == labels.end() ? std::string_view() : std::string_view(it->second);
}

std::vector<const Alert*> rendered(const Notification& n, std::size_t max_alerts) {
  std::vector<const Alert*> out;
  for (const Alert& alert : n.alerts) {
    if (max_alerts != 0 && out.size() == max_alerts) break;
    out.push_back(&alert);
  }
  return out;
}

bool isFiring(const Alert& alert) { return alert.state != AlertState::Resolved; }

// Labels (or annotations) every alert has with the same value.
LabelSet common(const std::vector<const Alert*>& alerts, LabelSet Alert::*field) {
  if (alerts.empty()) return {};
  LabelSet out = alerts.front()->*field;
  for (std::size_t i = 1; i < alerts.size(); ++i) {
    const LabelSet& other = alerts[i]->*field;
    std::erase_if(out, [&](const auto& item) {
      const auto it = other.find(item.first);
      return it == other.end() || it->second != item.second;
    });
  }
  return out;
}

void appendGoLabels(std::string& out, const LabelSet& labels) {
  out.push_back('{');
  bool first = true;
  for (const auto& [name, value] : labels) {
    if (!first) out.push_back(',');
    first = false;
    appendGoJsonString(out, name);
    out.push_back(':');
    appendGoJsonString(out, value);
  }
  out.push_back('}');
}

std::string endsAt(const Alert& alert) {
  if (isFiring(alert) || !alert.ends_at_ms) return std::string(kZeroTime);
  return formatTime(*alert.ends_at_ms);
}

std::string startsAt(const Alert& alert) {
  return alert.starts_at_ms != 0 ? formatTime(alert.starts_at_ms) : std::string(kZeroTime);
}

std::string title(const std::vector<const Alert*>& alerts, const LabelSet& group_labels) {
  const auto firing = static_cast<std::size_t>(
      std::count_if(alerts.begin(), alerts.end(), [](const Alert* a) { return isFiring(*a); }));
  std::string out = firing > 0 ? fmt::format("[FIRING:{}]", firing) : "[RESOLVED]";
  for (const auto& [name, value] : group_labels) out += " " + value;
  LabelSet rest = common(alerts, &Alert::labels);
  for (const auto& [name, value] : group_labels) rest.erase(name);
  if (!rest.empty()) {
    std::string values;
    for (const auto& [name, value] : rest) values += (values.empty() ? "" : " ") + value;
    out += " (" + values + ")";
  }
  return out;
}

// Slack's mrkdwn needs &, < and > escaped (its control characters).
std::string slackEscape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

bool isWebLink(std::string_view url) {
  return url.starts_with("http://") || url.starts_with("https://");
}

// `text` cut to at most `limit` code points, ending in "…" when cut; never splits a sequence.
std::string cutText(std::string_view text, std::size_t limit) {
  std::size_t chars = 0;
  std::size_t i = 0;
  std::size_t cut = std::string_view::npos;
  while (i < text.size()) {
    if (chars == limit - 1 && cut == std::string_view::npos) cut = i;
    if (chars == limit) return std::string(text.substr(0, cut)) + "\xe2\x80\xa6";
    const std::size_t length = std::max<std::size_t>(1, utf8Length(text, i));
    i += length;
    ++chars;
  }
  return std::string(text);
}

}  // namespace

Notification forIntegration(const Notification& notification, bool send_resolved) {
  Notification out;
  out.receiver = notification.receiver;
  out.group_key = notification.group_key;
  out.group_labels = notification.group_labels;
  out.created_ms = notification.created_ms;
  for (const Alert& alert : notification.alerts) {
    if (send_resolved || isFiring(alert)) out.alerts.push_back(alert);
  }
  out.status = std::any_of(out.alerts.begin(), out.alerts.end(), isFiring)
                   ? NotificationStatus::Firing
                   : NotificationStatus::Resolved;
  return out;
}

std::size_t truncatedCount(const Notification& notification, std::size_t max_alerts) {
  if (max_alerts == 0 || notification.alerts.size() <= max_alerts) return 0;
  return notification.alerts.size() - max_alerts;
}

std::string formatTime(std::int64_t ms) {
  const UtcTime t = utcTime(ms);
  std::string out = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", t.year, t.month, t.day,
                                t.hour, t.minute, t.second);
  if (t.millis != 0) {
    std::string fraction = fmt::format("{:03}", t.millis);
    while (fraction.back() == '0') fraction.pop_back();
    out += "." + fraction;
  }
  out.push_back('Z');
  return out;
}

// Go's encoding/json (HTML-safe), not strconv.Quote (text.h quote()): \u00XX, \ufffd, <>& escaped.
void appendGoJsonString(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      const std::size_t length = utf8Length(text, i);
      if (length == 0) {
        out += "\\ufffd";  // Go replaces invalid UTF-8
        ++i;
        continue;
      }
      const std::string_view sequence = text.substr(i, length);
      if (sequence == "\xe2\x80\xa8" || sequence == "\xe2\x80\xa9") {
        out += sequence == "\xe2\x80\xa8" ? "\\u2028" : "\\u2029";
      } else {
        out.append(sequence);
      }
      i += length;
      continue;
    }
    if (const std::string_view escape = commonEscape(static_cast<char>(c)); !escape.empty()) {
      out += escape;
    } else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
      out += "\\u00";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    } else {
      out.push_back(static_cast<char>(c));
    }
    ++i;
  }
  out.push_back('"');
}

std::string notificationTitle(const Notification& notification) {
  return title(rendered(notification, 0), notification.group_labels);
}

std::string renderAlertmanagerWebhook(const Notification& n, std::size_t max_alerts,
                                      std::string_view external_url) {
  const std::vector<const Alert*> alerts = rendered(n, max_alerts);
  const bool firing =
      std::any_of(alerts.begin(), alerts.end(), [](const Alert* a) { return isFiring(*a); });
  std::string out;
  out.reserve(512 + alerts.size() * 512);
  out += "{\"receiver\":";
  appendGoJsonString(out, n.receiver);
  out += ",\"status\":";
  out += firing ? "\"firing\"" : "\"resolved\"";
  out += ",\"alerts\":[";
  for (std::size_t i = 0; i < alerts.size(); ++i) {
    const Alert& alert = *alerts[i];
    if (i > 0) out.push_back(',');
    out += "{\"status\":";
    out += isFiring(alert) ? "\"firing\"" : "\"resolved\"";
    out += ",\"labels\":";
    appendGoLabels(out, alert.labels);
    out += ",\"annotations\":";
    appendGoLabels(out, alert.annotations);
    out += ",\"startsAt\":\"" + startsAt(alert) + "\"";
    out += ",\"endsAt\":\"" + endsAt(alert) + "\"";
    out += ",\"generatorURL\":";
    appendGoJsonString(out, alert.generator_url);
    out += ",\"fingerprint\":\"" + alert.fingerprint() + "\"}";
  }
  out += "],\"groupLabels\":";
  appendGoLabels(out, n.group_labels);
  out += ",\"commonLabels\":";
  appendGoLabels(out, common(alerts, &Alert::labels));
  out += ",\"commonAnnotations\":";
  appendGoLabels(out, common(alerts, &Alert::annotations));
  out += ",\"externalURL\":";
  appendGoJsonString(out, external_url);
  out += ",\"version\":\"4\",\"groupKey\":";
  appendGoJsonString(out, n.group_key);
  out += fmt::format(",\"truncatedAlerts\":{}}}\n", truncatedCount(n, max_alerts));
  return out;
}

std::string renderSlack(const Notification& n, std::size_t max_alerts,
                        std::string_view external_url) {
  const std::vector<const Alert*> alerts = rendered(n, max_alerts);
  pipeline::json::Writer w;
  w.beginObject();
  w.field("text", slackEscape(title(alerts, n.group_labels)));
  w.key("attachments").beginArray();
  const std::size_t shown = std::min(alerts.size(), kSlackMaxAttachments);
  for (std::size_t i = 0; i < shown; ++i) {
    const Alert& alert = *alerts[i];
    const bool firing = isFiring(alert);
    const std::string_view summary = label(alert.annotations, "summary");
    const std::string_view description = label(alert.annotations, "description");
    std::string text = slackEscape(summary);
    if (!description.empty()) text += (text.empty() ? "" : "\n") + slackEscape(description);
    const std::string heading =
        fmt::format("[{}] {}", firing ? "FIRING" : "RESOLVED", alert.name());
    w.beginObject();
    w.field("color", firing ? "danger" : "good");
    w.field("fallback", slackEscape(heading));
    w.field("title", slackEscape(heading));
    if (isWebLink(alert.generator_url)) w.field("title_link", alert.generator_url);
    w.field("text", text);
    w.key("fields").beginArray();
    for (const auto& [name, value] : alert.labels) {
      if (name == "alertname") continue;
      w.beginObject();
      w.field("title", slackEscape(name));
      w.field("value", slackEscape(value));
      w.field("short", true);
      w.endObject();
    }
    w.endArray();
    const std::int64_t at =
        firing ? alert.starts_at_ms : alert.ends_at_ms.value_or(alert.starts_at_ms);
    w.field("ts", at / 1000);
    w.field("footer", external_url.empty() ? std::string("point-tron alerter")
                                           : fmt::format("point-tron alerter | {}", external_url));
    w.key("mrkdwn_in").beginArray().value("text").endArray();
    w.endObject();
  }
  const std::size_t hidden = alerts.size() - shown + truncatedCount(n, max_alerts);
  if (hidden > 0) {
    w.beginObject();
    w.field("color", "#808080");
    w.field("text", fmt::format("...and {} more alert{}", hidden, hidden == 1 ? "" : "s"));
    w.endObject();
  }
  w.endArray();
  w.endObject();
  return std::move(w).str();
}

std::string renderJson(const Notification& n, std::size_t max_alerts,
                       std::string_view external_url) {
  const std::vector<const Alert*> alerts = rendered(n, max_alerts);
  const auto firing = static_cast<std::size_t>(
      std::count_if(alerts.begin(), alerts.end(), [](const Alert* a) { return isFiring(*a); }));
  std::string text;
  for (const Alert* alert : alerts) {
    if (!text.empty()) text += "; ";
    text += isFiring(*alert) ? "FIRING " : "RESOLVED ";
    text += alert->name();
    const std::string_view instance = label(alert->labels, "instance");
    if (!instance.empty()) text += fmt::format(" {}", instance);
    const std::string_view summary = label(alert->annotations, "summary");
    if (!summary.empty()) text += fmt::format(": {}", summary);
  }
  for (char& c : text) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  pipeline::json::Writer w;
  w.beginObject();
  w.field("version", "1");
  w.field("receiver", n.receiver);
  w.field("status", firing > 0 ? "firing" : "resolved");
  w.field("title", title(alerts, n.group_labels));
  w.field("text", text);
  w.field("short_text", cutText(text, kShortTextChars));
  w.field("group_key", n.group_key);
  w.key("group_labels");
  w.beginObject();
  for (const auto& [name, value] : n.group_labels) w.field(name, value);
  w.endObject();
  w.field("firing_count", static_cast<std::uint64_t>(firing));
  w.field("resolved_count", static_cast<std::uint64_t>(alerts.size() - firing));
  w.field("truncated_alerts", static_cast<std::uint64_t>(truncatedCount(n, max_alerts)));
  w.field("external_url", external_url);
  w.key("alerts").beginArray();
  for (const Alert* alert : alerts) {
    w.beginObject();
    w.field("status", isFiring(*alert) ? "firing" : "resolved");
    w.field("name", alert->name());
    w.field("severity", label(alert->labels, "severity"));
    w.field("summary", label(alert->annotations, "summary"));
    w.field("description", label(alert->annotations, "description"));
    w.field("starts_at", startsAt(*alert));
    w.key("ends_at");
    if (isFiring(*alert) || !alert->ends_at_ms) {
      w.null();
    } else {
      w.value(formatTime(*alert->ends_at_ms));
    }
    w.key("value");
    if (alert->value) {
      w.value(*alert->value);
    } else {
      w.null();
    }
    w.field("fingerprint", alert->fingerprint());
    w.field("generator_url", alert->generator_url);
    w.key("labels").beginObject();
    for (const auto& [name, value] : alert->labels) w.field(name, value);
    w.endObject();
    w.key("annotations").beginObject();
    for (const auto& [name, value] : alert->annotations) w.field(name, value);
    w.endObject();
    w.endObject();
  }
  w.endArray();
  w.endObject();
  return std::move(w).str();
}

}  // namespace stages::alerter::notify
