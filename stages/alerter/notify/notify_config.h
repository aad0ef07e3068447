#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pipeline/status.h"
#include "stages/alerter/notify/matcher.h"

// Receivers, routing and inhibition: an Alertmanager-like YAML subset, parsed once at start-up.
//
//   global:                        # optional
//     external_url: https://alerts.example   # `externalURL` of Alertmanager payloads, links
//     smtp_from / smtp_smarthost / smtp_auth_username / smtp_auth_password(_file) /
//     smtp_require_tls             # defaults for every email_configs entry
//   route:
//     receiver: default            # required at the root; inherited by children
//     group_by: [alertname, stage] # or ['...'] for all labels; inherited
//     group_wait: 30s              # inherited; defaults 30s / 5m / 4h as in Alertmanager
//     group_interval: 5m
//     repeat_interval: 4h
//     matchers: ['severity="critical"', 'stage=~"fetch.*"']   # not at the root
//     continue: false              # not at the root
//     routes: [...]
//   receivers:
//     - name: pager
//       webhook_configs:
//         - url: https://hooks.example/x      # secret-like: never logged (host:port only)
//           send_resolved: true
//           format: alertmanager              # alertmanager | slack | json (payload.h)
//           headers: {X-Team: core}
//           timeout: 10s
//           max_alerts: 0                     # 0: all
//           hmac_secret_file: /run/secrets/hook   # or hmac_secret: ...; sender.h documents
//           http_config:                      # optional; becomes an Authorization header
//             authorization: {type: Bearer, credentials_file: /run/secrets/token}
//             basic_auth: {username: u, password_file: /run/secrets/pw}
//       email_configs:
//         - to: 'ops@example.com, Oncall <oncall@example.com>'
//           from: 'point-tron <alerts@example.com>'
//           smarthost: smtp.example.com:587   # port 465: implicit TLS (smtps)
//           auth_username: alerts
//           auth_password_file: /run/secrets/smtp
//           require_tls: true                 # STARTTLS required (else used when offered)
//           send_resolved: false              # Alertmanager's default for e-mail
//           timeout: 30s
//   inhibit_rules:
//     - source_matchers: ['severity="critical"']
//       target_matchers: ['severity="warning"']
//       equal: [stage]
//
// Unknown keys are errors. Durations use Prometheus syntax (1h30m, 500ms, 2d). Relative secret
// file paths are resolved against the directory of `origin` when it names an existing file.
// Errors are InvalidConfig, one line: "<origin>: receiver \"pager\": webhook_configs[0].timeout:
// must be > 0". Secret values (hmac_secret, passwords, credentials, header values and URLs)
// never appear in them.

namespace stages::alerter::notify {

enum class WebhookFormat { Alertmanager, Slack, Json };
std::string_view webhookFormatName(WebhookFormat format) noexcept;

struct WebhookConfig {
  /** POST target, http(s). May embed a secret (Slack's do): logs show its host:port only. */
  std::string url;
  /** Also notify when alerts resolve. */
  bool send_resolved = true;
  WebhookFormat format = WebhookFormat::Alertmanager;
  /** Extra request headers, in order (http_config's Authorization included). Never logged. */
  std::vector<std::pair<std::string, std::string>> headers;
  /** Whole-request deadline of one attempt. */
  std::chrono::milliseconds timeout{10'000};
  /** At most this many alerts per payload (the rest counted in truncatedAlerts); 0: no limit. */
  std::size_t max_alerts = 0;
  /** Key of the X-PointTron-Signature header; empty: no signature. Secret. */
  std::string hmac_secret;
};

struct EmailConfig {
  /** The To header as written ("a@x, B <b@y>") and the envelope recipients parsed from it. */
  std::string to;
  std::vector<std::string> recipients;
  /** The From header as written and its address (the envelope sender). */
  std::string from;
  std::string from_address;
  std::string smarthost_host;
  std::uint16_t smarthost_port = 25;
  std::string auth_username;
  /** Secret; from auth_password_file (or auth_password). */
  std::string auth_password;
  /** true: STARTTLS (or implicit TLS on 465) is required; false: used when the server offers it. */
  bool require_tls = true;
  bool send_resolved = false;
  std::chrono::milliseconds timeout{30'000};
};

struct Receiver {
  std::string name;
  std::vector<WebhookConfig> webhook_configs;
  std::vector<EmailConfig> email_configs;

  /** Whether any integration sends resolved notices (decides Alertmanager's dedup rule). */
  bool sendsResolved() const;
};

/** One node of the routing tree, with inherited options already applied (Alertmanager's
 * dispatch.Route). */
struct Route {
  std::string receiver;
  /** Sorted, unique. Ignored when group_by_all. */
  std::vector<std::string> group_by;
  bool group_by_all = false;
  std::chrono::milliseconds group_wait{30'000};
  std::chrono::milliseconds group_interval{300'000};
  std::chrono::milliseconds repeat_interval{4 * 3'600'000};
  /** Sorted as Alertmanager sorts them (the route key depends on it). */
  Matchers matchers;
  /** YAML `continue`: after matching, try the next sibling too. */
  bool continue_matching = false;
  /** Alertmanager's Route.Key(): "{}" at the root, "{}/{severity=\"critical\"}" below. */
  std::string key;
  /** Where it was configured: "route", "route.routes[0].routes[2]". Unique. */
  std::string id;
  std::vector<Route> routes;

  /** Alertmanager's Route.Match: depth-first, left to right, honouring `continue`; the node
   * itself when no child matches; empty when the node's own matchers fail. */
  void match(const LabelSet& labels, std::vector<const Route*>& out) const;
};

struct InhibitRule {
  Matchers source_matchers;
  Matchers target_matchers;
  /** Labels that must have equal values (absent counts as "") in source and target. */
  std::vector<std::string> equal;
};

struct NotifyConfig {
  /** Base URL of this alerter as receivers should link to it; `externalURL` of payloads. */
  std::string external_url;
  Route route;
  std::vector<Receiver> receivers;
  std::vector<InhibitRule> inhibit_rules;

  /** The receiver called `name`, or null. */
  const Receiver* receiver(std::string_view name) const;
};

/** Parses and validates the YAML text; `origin` (a file path or "<inline>") prefixes errors. */
[[nodiscard]] pipeline::Result<NotifyConfig> parseNotifyConfig(std::string_view yaml,
                                                               std::string_view origin);

/** Reads `path` and parses it with parseNotifyConfig(text, path). */
[[nodiscard]] pipeline::Result<NotifyConfig> loadNotifyConfig(const std::string& path);

}  // namespace stages::alerter::notify
