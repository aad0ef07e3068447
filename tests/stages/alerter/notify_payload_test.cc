#include "stages/alerter/notify/payload.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "stages/alerter/notify/email.h"

namespace stages::alerter::notify {
namespace {

// The alerts and the route tree tests/fixtures/alertmanager/capture.py gave a real Alertmanager
// 0.25 (keep both in step).
constexpr std::int64_t kT0 = 1'714'564'800'000;     // 2024-05-01T12:00:00Z
constexpr std::int64_t kStartsAt = kT0 + 123;       // 2024-05-01T12:00:00.123Z
constexpr std::int64_t kEndsHost1 = kT0 + 300'500;  // 2024-05-01T12:05:00.5Z
constexpr std::int64_t kEndsHost2 = kT0 + 420'000;  // 2024-05-01T12:07:00Z
constexpr const char* kExternalUrl = "http://alertmanager.example:9093";
constexpr const char* kCaptureConfig = R"(
route:
  receiver: default
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - receiver: pager
      matchers: ['severity="critical"', 'stage=~"fetch.*"']
      group_by: [alertname, stage]
      continue: true
    - receiver: capped
      matchers: ['severity!="info"']
      group_by: [alertname, team]
receivers:
  - name: default
    webhook_configs: [{url: "http://127.0.0.1:1/default"}]
  - name: pager
    webhook_configs: [{url: "http://127.0.0.1:1/pager"}]
  - name: capped
    webhook_configs: [{url: "http://127.0.0.1:1/capped", max_alerts: 1}]
)";

Alert captureAlert(const std::string& instance) {
  Alert alert;
  alert.labels = {{"alertname", "PipelineStalled"},
                  {"severity", "critical"},
                  {"stage", "fetcher"},
                  {"job", "pointtron"},
                  {"team", "tron \"core\""},
                  {"instance", instance}};
  alert.annotations = {
      {"summary", "No block fetched for > 5m & head lag < 1"},
      {"description", "Fetcher on {{instance}} stalled.\nCheck the node: \u00e9t\u00e9 \u2713"}};
  alert.generator_url = "http://prometheus.example:9090/graph?g0.expr=up%3D%3D0&g0.tab=1&x=<y>";
  alert.state = AlertState::Firing;
  alert.starts_at_ms = kStartsAt;
  alert.active_since_ms = kStartsAt;
  return alert;
}

std::string readFixture(const std::string& name) {
  std::ifstream in(std::string(POINTTRON_SOURCE_DIR) + "/tests/fixtures/alertmanager/" + name,
                   std::ios::binary);
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

const std::regex kGoTime(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2}))");

std::string typeName(simdjson::dom::element_type type) {
  switch (type) {
    case simdjson::dom::element_type::ARRAY:
      return "array";
    case simdjson::dom::element_type::OBJECT:
      return "object";
    case simdjson::dom::element_type::INT64:
    case simdjson::dom::element_type::UINT64:
      return "integer";
    case simdjson::dom::element_type::DOUBLE:
      return "double";
    case simdjson::dom::element_type::STRING:
      return "string";
    case simdjson::dom::element_type::BOOL:
      return "bool";
    case simdjson::dom::element_type::NULL_VALUE:
      return "null";
  }
  return "?";
}

// Compares `ours` with `theirs` field by field: the same keys in the same order, the same JSON
// types, the same values, except that values which legitimately differ between deployments and
// runs (externalURL, startsAt, endsAt) only need the same form.
void compareJson(simdjson::dom::element ours, simdjson::dom::element theirs,
                 const std::string& path) {
  ASSERT_EQ(typeName(theirs.type()), typeName(ours.type())) << path;
  switch (theirs.type()) {
    case simdjson::dom::element_type::OBJECT: {
      std::vector<std::string> our_keys;
      std::vector<std::string> their_keys;
      simdjson::dom::object our_object;
      simdjson::dom::object their_object;
      ASSERT_EQ(simdjson::SUCCESS, ours.get_object().get(our_object));
      ASSERT_EQ(simdjson::SUCCESS, theirs.get_object().get(their_object));
      for (auto field : our_object) our_keys.emplace_back(field.key);
      for (auto field : their_object) their_keys.emplace_back(field.key);
      ASSERT_EQ(their_keys, our_keys) << path;
      for (const std::string& key : their_keys) {
        const std::string at = path + "." + key;
        simdjson::dom::element a = ours[key].value_unsafe();
        simdjson::dom::element b = theirs[key].value_unsafe();
        if (key == "externalURL") {
          ASSERT_TRUE(a.is_string() && b.is_string()) << at;
          EXPECT_TRUE(std::string(a.get_string().value_unsafe()).starts_with("http")) << at;
        } else if (key == "startsAt" || key == "endsAt") {
          ASSERT_TRUE(a.is_string() && b.is_string()) << at;
          EXPECT_TRUE(std::regex_match(std::string(a.get_string().value_unsafe()), kGoTime)) << at;
          EXPECT_EQ(std::string(b.get_string().value_unsafe()) == std::string(kZeroTime),
                    std::string(a.get_string().value_unsafe()) == std::string(kZeroTime))
              << at << ": zero time in one payload only";
        } else {
          compareJson(a, b, at);
        }
      }
      return;
    }
    case simdjson::dom::element_type::ARRAY: {
      simdjson::dom::array a;
      simdjson::dom::array b;
      ASSERT_EQ(simdjson::SUCCESS, ours.get_array().get(a));
      ASSERT_EQ(simdjson::SUCCESS, theirs.get_array().get(b));
      ASSERT_EQ(b.size(), a.size()) << path;
      for (std::size_t i = 0; i < b.size(); ++i) {
        compareJson(a.at(i).value_unsafe(), b.at(i).value_unsafe(),
                    path + "[" + std::to_string(i) + "]");
      }
      return;
    }
    default:
      EXPECT_EQ(simdjson::to_string(theirs), simdjson::to_string(ours)) << path;
  }
}

class AlertmanagerPayloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto config = parseNotifyConfig(kCaptureConfig, "capture");
    ASSERT_TRUE(config) << config.error().message;
    config_ = *config;
    dispatcher_ = std::make_unique<Dispatcher>(std::move(*config),
                                               DispatcherOptions{.clock = [this] { return now_; }});
  }

  // Flushes and renders each notification as the receiver's (only) webhook would.
  std::map<std::string, std::string> flush() {
    std::map<std::string, std::string> out;
    for (const Notification& n : dispatcher_->tick(now_)) {
      const WebhookConfig& hook = config_.receiver(n.receiver)->webhook_configs.at(0);
      out[n.receiver] = renderAlertmanagerWebhook(forIntegration(n, hook.send_resolved),
                                                  hook.max_alerts, kExternalUrl);
      dispatcher_->acknowledge(n, true, now_);  // delivered, as the capture's were
    }
    now_ += 1000;
    return out;
  }

  void expectMatchesFixture(const std::string& ours, const std::string& fixture) {
    const std::string theirs = readFixture(fixture);
    ASSERT_FALSE(theirs.empty()) << fixture << " is missing";
    simdjson::dom::parser a;
    simdjson::dom::parser b;
    simdjson::dom::element our_root;
    simdjson::dom::element their_root;
    ASSERT_EQ(simdjson::SUCCESS, a.parse(ours).get(our_root)) << ours;
    ASSERT_EQ(simdjson::SUCCESS, b.parse(theirs).get(their_root)) << fixture;
    compareJson(our_root, their_root, fixture);
    // The capture used fixed times and this external URL, so the bytes agree too (Go's escaping,
    // key order, the trailing newline).
    EXPECT_EQ(theirs, ours) << fixture;
  }

  NotifyConfig config_;
  std::int64_t now_ = kT0 + 600'000;
  std::unique_ptr<Dispatcher> dispatcher_;
};

// Routed, grouped and rendered by our code, the firing, partly resolved and resolved
// notifications equal what Alertmanager 0.25 sent for the same alerts and routes.
TEST_F(AlertmanagerPayloadTest, MatchesRealAlertmanager) {
  const Alert host1 = captureAlert("host-1");
  const Alert host2 = captureAlert("host-2");
  dispatcher_->update(host1);
  dispatcher_->update(host2);
  auto sent = flush();
  ASSERT_EQ(2u, sent.size());
  expectMatchesFixture(sent["pager"], "webhook_v4_firing.json");
  expectMatchesFixture(sent["capped"], "webhook_v4_firing_truncated.json");

  Alert resolved1 = host1;
  resolved1.state = AlertState::Resolved;
  resolved1.ends_at_ms = kEndsHost1;
  dispatcher_->update(resolved1);
  sent = flush();
  ASSERT_EQ(2u, sent.size());
  expectMatchesFixture(sent["pager"], "webhook_v4_partly_resolved.json");
  expectMatchesFixture(sent["capped"], "webhook_v4_partly_resolved_truncated.json");

  // As the capture did (and Prometheus does), host-1 is sent again, still resolved: it joins the
  // group again.
  Alert resolved2 = host2;
  resolved2.state = AlertState::Resolved;
  resolved2.ends_at_ms = kEndsHost2;
  dispatcher_->update(resolved1);
  dispatcher_->update(resolved2);
  sent = flush();
  ASSERT_TRUE(sent.count("pager"));
  expectMatchesFixture(sent["pager"], "webhook_v4_resolved.json");
}

// Our fingerprints of the captured label sets are Alertmanager's.
TEST(AlertmanagerFixtureTest, Fingerprints) {
  const std::string firing = readFixture("webhook_v4_firing.json");
  EXPECT_NE(std::string::npos,
            firing.find("\"fingerprint\":\"" + captureAlert("host-1").fingerprint()));
  EXPECT_NE(std::string::npos,
            firing.find("\"fingerprint\":\"" + captureAlert("host-2").fingerprint()));
}

// Times are rendered as Go renders time.Time in JSON.
TEST(PayloadTest, TimeFormat) {
  EXPECT_EQ("2024-05-01T12:00:00Z", formatTime(kT0));
  EXPECT_EQ("2024-05-01T12:00:00.123Z", formatTime(kT0 + 123));
  EXPECT_EQ("2024-05-01T12:00:00.5Z", formatTime(kT0 + 500));
  EXPECT_EQ("2024-05-01T12:00:00.01Z", formatTime(kT0 + 10));
  EXPECT_EQ("1970-01-01T00:00:00Z", formatTime(0));
  EXPECT_EQ("2000-02-29T23:59:59.999Z", formatTime(951'868'799'999));
}

// Strings are escaped as Go's encoding/json does (HTML-safe, U+2028/9, invalid UTF-8).
TEST(PayloadTest, GoJsonEscaping) {
  std::string out;
  appendGoJsonString(out, "a<b>&\"\\\n\t\x01 \u00e9 \u2028 \xff");
  EXPECT_EQ(R"("a\u003cb\u003e\u0026\"\\\n\t\u0001 é \u2028 \ufffd")", out);
}

Notification sample() {
  Notification n;
  n.receiver = "ops";
  n.group_key = R"({}:{alertname="PipelineStalled"})";
  n.group_labels = {{"alertname", "PipelineStalled"}};
  n.created_ms = kT0;
  Alert a = captureAlert("host-1");
  a.value = 42.5;
  Alert b = captureAlert("host-2");
  b.state = AlertState::Resolved;
  b.ends_at_ms = kEndsHost2;
  n.alerts = {a, b};
  return n;
}

// forIntegration drops resolved alerts for integrations without send_resolved.
TEST(PayloadTest, ForIntegration) {
  const Notification n = sample();
  EXPECT_EQ(2u, forIntegration(n, true).alerts.size());
  const Notification firing_only = forIntegration(n, false);
  ASSERT_EQ(1u, firing_only.alerts.size());
  EXPECT_EQ(NotificationStatus::Firing, firing_only.status);
  Notification resolved = n;
  resolved.alerts.erase(resolved.alerts.begin());
  EXPECT_TRUE(forIntegration(resolved, false).alerts.empty());
}

// The title is Alertmanager's default subject.
TEST(PayloadTest, Title) {
  EXPECT_EQ(R"([FIRING:1] PipelineStalled (pointtron critical fetcher tron "core"))",
            notificationTitle(sample()));
  Notification resolved = sample();
  resolved.alerts.erase(resolved.alerts.begin());
  EXPECT_EQ(R"([RESOLVED] PipelineStalled (host-2 pointtron critical fetcher tron "core"))",
            notificationTitle(resolved));
}

// Slack: text plus one coloured attachment per alert, Slack's control characters escaped.
TEST(PayloadTest, Slack) {
  const std::string body = renderSlack(sample(), 0, "https://alerts.example");
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  ASSERT_EQ(simdjson::SUCCESS, parser.parse(body).get(root)) << body;
  EXPECT_EQ(R"([FIRING:1] PipelineStalled (pointtron critical fetcher tron "core"))",
            std::string(root["text"].get_string().value_unsafe()));
  auto attachments = root["attachments"].get_array().value_unsafe();
  ASSERT_EQ(2u, attachments.size());
  auto first = attachments.at(0).value_unsafe();
  auto second = attachments.at(1).value_unsafe();
  EXPECT_EQ("danger", std::string(first["color"].get_string().value_unsafe()));
  EXPECT_EQ("good", std::string(second["color"].get_string().value_unsafe()));
  EXPECT_EQ("[FIRING] PipelineStalled", std::string(first["title"].get_string().value_unsafe()));
  EXPECT_EQ(
      "No block fetched for &gt; 5m &amp; head lag &lt; 1\nFetcher on {{instance}} stalled.\n"
      "Check the node: \u00e9t\u00e9 \u2713",
      std::string(first["text"].get_string().value_unsafe()));
  EXPECT_EQ(captureAlert("x").generator_url,
            std::string(first["title_link"].get_string().value_unsafe()));
  EXPECT_EQ(kStartsAt / 1000, first["ts"].get_int64().value_unsafe());
  EXPECT_EQ(kEndsHost2 / 1000, second["ts"].get_int64().value_unsafe());
  EXPECT_EQ(5u, first["fields"].get_array().value_unsafe().size());  // labels but alertname

  const std::string capped = renderSlack(sample(), 1, "");
  ASSERT_EQ(simdjson::SUCCESS, parser.parse(capped).get(root));
  attachments = root["attachments"].get_array().value_unsafe();
  ASSERT_EQ(2u, attachments.size());
  EXPECT_EQ("...and 1 more alert",
            std::string(attachments.at(1).value_unsafe()["text"].get_string().value_unsafe()));
}

// The generic JSON format has every documented key with the documented types.
TEST(PayloadTest, GenericJson) {
  const std::string body = renderJson(sample(), 0, "https://alerts.example");
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  ASSERT_EQ(simdjson::SUCCESS, parser.parse(body).get(root)) << body;
  EXPECT_EQ("1", std::string(root["version"].get_string().value_unsafe()));
  EXPECT_EQ("ops", std::string(root["receiver"].get_string().value_unsafe()));
  EXPECT_EQ("firing", std::string(root["status"].get_string().value_unsafe()));
  EXPECT_EQ(
      "FIRING PipelineStalled host-1: No block fetched for > 5m & head lag < 1; "
      "RESOLVED PipelineStalled host-2: No block fetched for > 5m & head lag < 1",
      std::string(root["text"].get_string().value_unsafe()));
  const std::string short_text(root["short_text"].get_string().value_unsafe());
  EXPECT_EQ(root["text"].get_string().value_unsafe(), short_text);  // fits in 160
  EXPECT_EQ(1, root["firing_count"].get_int64().value_unsafe());
  EXPECT_EQ(1, root["resolved_count"].get_int64().value_unsafe());
  EXPECT_EQ(0, root["truncated_alerts"].get_int64().value_unsafe());
  EXPECT_EQ("https://alerts.example",
            std::string(root["external_url"].get_string().value_unsafe()));
  EXPECT_TRUE(root["group_labels"].is_object());
  auto alerts = root["alerts"].get_array().value_unsafe();
  ASSERT_EQ(2u, alerts.size());
  auto a = alerts.at(0).value_unsafe();
  auto b = alerts.at(1).value_unsafe();
  EXPECT_EQ("PipelineStalled", std::string(a["name"].get_string().value_unsafe()));
  EXPECT_EQ("critical", std::string(a["severity"].get_string().value_unsafe()));
  EXPECT_EQ("2024-05-01T12:00:00.123Z", std::string(a["starts_at"].get_string().value_unsafe()));
  EXPECT_TRUE(a["ends_at"].is_null());
  EXPECT_EQ(42.5, a["value"].get_double().value_unsafe());
  EXPECT_EQ("2024-05-01T12:07:00Z", std::string(b["ends_at"].get_string().value_unsafe()));
  EXPECT_TRUE(b["value"].is_null());
  EXPECT_EQ(captureAlert("host-1").fingerprint(),
            std::string(a["fingerprint"].get_string().value_unsafe()));

  Notification many = sample();
  for (int i = 0; i < 10; ++i)
    many.alerts.push_back(captureAlert("host-" + std::to_string(10 + i)));
  ASSERT_EQ(simdjson::SUCCESS, parser.parse(renderJson(many, 3, "")).get(root));
  EXPECT_EQ(9, root["truncated_alerts"].get_int64().value_unsafe());
  const std::string cut(root["short_text"].get_string().value_unsafe());
  EXPECT_TRUE(cut.ends_with("\u2026"));
  std::size_t code_points = 0;
  for (unsigned char c : cut) code_points += (c & 0xc0) != 0x80 ? 1 : 0;
  EXPECT_EQ(160u, code_points);
}

// The e-mail is an RFC 5322 message: the headers, an encoded non-ASCII subject, CRLF lines, and a
// quoted-printable body when it is not ASCII.
TEST(PayloadTest, Email) {
  EmailConfig config;
  config.to = "ops@example.com";
  config.recipients = {"ops@example.com"};
  config.from = "point-tron <alerts@example.com>";
  config.from_address = "alerts@example.com";
  const Notification n = sample();
  const std::string id = makeMessageId(n, config, kT0, 7);
  EXPECT_TRUE(id.ends_with(".1714564800000.7@example.com")) << id;
  const std::string message = renderEmail(n, config, kT0, "https://alerts.example", id);
  EXPECT_EQ(0u, message.rfind("Date: Wed, 01 May 2024 12:00:00 +0000\r\n", 0)) << message;
  EXPECT_NE(std::string::npos, message.find("\r\nFrom: point-tron <alerts@example.com>\r\n"));
  EXPECT_NE(std::string::npos, message.find("\r\nTo: ops@example.com\r\n"));
  EXPECT_NE(std::string::npos,
            message.find("\r\nSubject: [FIRING:1] PipelineStalled (pointtron critical fetcher tron "
                         "\"core\")\r\n"));
  EXPECT_NE(std::string::npos, message.find("\r\nMessage-ID: <" + id + ">\r\n"));
  EXPECT_NE(std::string::npos, message.find("\r\nContent-Type: text/plain; charset=UTF-8\r\n"));
  EXPECT_NE(std::string::npos, message.find("\r\nContent-Transfer-Encoding: quoted-printable\r\n"));
  EXPECT_NE(std::string::npos, message.find("Check the node: =C3=A9t=C3=A9 =E2=9C=93"));
  for (std::size_t pos = 0; (pos = message.find('\n', pos)) != std::string::npos; ++pos) {
    ASSERT_EQ('\r', message[pos - 1]) << "bare LF at " << pos;
  }

  Notification ascii = n;
  for (auto& a : ascii.alerts) a.annotations = {{"summary", "plain"}};
  const std::string plain = renderEmail(ascii, config, kT0, "", id);
  EXPECT_NE(std::string::npos, plain.find("Content-Transfer-Encoding: 7bit\r\n")) << plain;
  EXPECT_NE(std::string::npos, plain.find("\r\n  Summary: plain\r\n")) << plain;

  Notification accented = ascii;
  for (auto& a : accented.alerts) a.labels["alertname"] = "Caf\u00e9";
  accented.group_labels = {{"alertname", "Caf\u00e9"}};
  const std::string encoded = renderEmail(accented, config, kT0, "", id);
  // "[FIRING:1] Café (…)" as UTF-8 base64 encoded-words.
  EXPECT_NE(std::string::npos, encoded.find("\r\nSubject: =?UTF-8?B?W0ZJUklORzoxXSBDYWbDqS"))
      << encoded;
}

// Quoted-printable keeps lines under 76 characters and encodes '=' and trailing spaces.
TEST(PayloadTest, QuotedPrintable) {
  EXPECT_EQ("a=3Db=20\r\nc", quotedPrintable("a=b \nc"));
  const std::string long_line = quotedPrintable(std::string(200, 'x'));
  for (std::size_t start = 0; start < long_line.size();) {
    const auto end = std::min(long_line.find("\r\n", start), long_line.size());
    EXPECT_LE(end - start, 76u);
    start = end + 2;
  }
}

}  // namespace
}  // namespace stages::alerter::notify
