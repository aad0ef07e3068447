#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "stages/alerter/notify/dispatcher.h"

// Bodies of webhook notifications. Each renderer takes a Notification already cut to what the
// integration sends (forIntegration()) and renders at most `max_alerts` alerts (0: all).
//
// format: alertmanager — Alertmanager's webhook payload, version "4", byte for byte as
// Alertmanager 0.25 renders it (Go's encoding/json: HTML-safe escapes \u003c \u003e \u0026, keys
// in its order, maps sorted, a trailing newline): receiver, status, alerts[] (status, labels,
// annotations, startsAt, endsAt, generatorURL, fingerprint), groupLabels, commonLabels,
// commonAnnotations, externalURL, version, groupKey, truncatedAlerts. As in Alertmanager, alerts
// are truncated first, and status and the common labels describe the alerts sent. Times are
// RFC 3339 in UTC with trailing zeros of the fraction dropped; a firing alert's endsAt is
// "0001-01-01T00:00:00Z". Checked against a real Alertmanager's output in
// tests/fixtures/alertmanager/.
//
// format: slack — a Slack incoming-webhook message: `text` is the title below, and one
// attachment per alert (at most 20; a last one counts the rest) coloured "danger" when firing
// and "good" when resolved, with the alert's summary and description, its labels as short
// fields, and a link to its source. Slack's &, < and > are escaped as Slack requires.
//
// format: json — point-tron's flat JSON, for SMS gateways and scripts:
//   {"version":"1",                    // this format's version
//    "receiver":"sms", "status":"firing"|"resolved",
//    "title":"[FIRING:2] PipelineStalled fetcher",   // Alertmanager's default e-mail subject
//    "text":"FIRING PipelineStalled host-1: summary; RESOLVED ...",  // one line, every alert
//    "short_text":"...",               // `text` cut to 160 characters (one SMS), ending in "…"
//    "group_key":"{}:{alertname=\"X\"}", "group_labels":{...},
//    "firing_count":2, "resolved_count":0, "truncated_alerts":0,
//    "external_url":"https://alerts.example",
//    "alerts":[{"status":"firing", "name":"PipelineStalled", "severity":"critical",
//               "summary":"...", "description":"...",   // "" when the annotation is absent
//               "starts_at":"2024-05-01T12:00:00.123Z", "ends_at":null | "<time>",
//               "value":12.5 | null, "fingerprint":"320ce70cf1424736",
//               "generator_url":"...", "labels":{...}, "annotations":{...}}]}
//   Counts cover the alerts sent; every key is always present.

namespace stages::alerter::notify {

/** `notification` as one integration sends it: without resolved alerts unless
 * `send_resolved`, status recomputed. Empty alerts: nothing to send. */
Notification forIntegration(const Notification& notification, bool send_resolved);

/** The alerts rendered and how many were left out by max_alerts (0: no limit). */
std::size_t truncatedCount(const Notification& notification, std::size_t max_alerts);

std::string renderAlertmanagerWebhook(const Notification& notification, std::size_t max_alerts,
                                      std::string_view external_url);
std::string renderSlack(const Notification& notification, std::size_t max_alerts,
                        std::string_view external_url);
std::string renderJson(const Notification& notification, std::size_t max_alerts,
                       std::string_view external_url);

/**
 * Alertmanager's default title (its e-mail subject template): "[FIRING:2] <group label values>
 * (<other common label values>)", or "[RESOLVED] ..." when nothing fires.
 */
std::string notificationTitle(const Notification& notification);

/** Go's time.Time JSON form of a UTC time: "2024-05-01T12:00:00.123Z", trailing fraction
 * zeros and an empty fraction dropped. */
std::string formatTime(std::int64_t ms_since_epoch);
/** Go's zero time.Time: "0001-01-01T00:00:00Z" (a firing alert's endsAt). */
inline constexpr std::string_view kZeroTime = "0001-01-01T00:00:00Z";

/** Appends `text` as a JSON string the way Go's encoding/json writes it (HTML-safe). */
void appendGoJsonString(std::string& out, std::string_view text);

}  // namespace stages::alerter::notify
