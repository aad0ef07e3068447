// The real pointtron-alerter against the test broker, with a webhook receiver (pipeline::http::
// Server on loopback, on its own loop thread) standing in for Alertmanager's receivers: the whole
// pipeline following a live tronsim fires PipelineStalled when the node dies and resolves it when
// it comes back; and an alerter restarted (SIGTERM, SIGKILL) while an alert fires neither notifies
// it again nor loses its resolve (docs/alerting.md, "State across restarts").
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <simdjson.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "pipeline/http/server.h"
#include "pipeline/kafka/admin.h"
#include "pipeline/kafka/producer.h"
#include "pipeline/kafka/tail.h"
#include "pipeline/kafka/topics.h"
#include "pipeline/metrics/registry.h"
#include "pipeline/metrics/stage_metrics.h"
#include "pipeline/uv/handle.h"
#include "tests/integration/fetcher_harness.h"
#include "tests/integration/stage_process.h"
#include "tests/support/kafka_env.h"
#include "tests/support/loop_runner.h"
#include "tests/support/temp_dir.h"

namespace testsupport {
namespace {

using fetcher::TopicReader;
using fetcher::Tronsim;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kDataPartitions = 2;
constexpr std::string_view kSecret = "alerter-test-hmac-secret-0123456789";
constexpr std::int64_t kSlotMs = 3000;  // tronsim --wall-clock: one block per 3 s slot

using testsupport::TempDir;

// One request the receiver got.
struct Webhook {
  std::string path;
  std::string body;
  std::optional<std::string> signature;  // X-PointTron-Signature
  Clock::time_point at;
};

// The fields of an Alertmanager webhook payload (version 4) the tests look at.
struct Notice {
  std::string error;  // why the body is not such a payload; empty when it is
  std::string version;
  std::string status;
  struct Alert {
    std::string alertname;
    std::string fingerprint;
    std::string status;
  };
  std::vector<Alert> alerts;
};

Notice parseNotice(const std::string& body) {
  Notice notice;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(body).get(root) != simdjson::SUCCESS) {
    notice.error = "not JSON";
    return notice;
  }
  std::string_view text;
  if (root["version"].get_string().get(text) == simdjson::SUCCESS) notice.version = text;
  if (root["status"].get_string().get(text) == simdjson::SUCCESS) notice.status = text;
  simdjson::dom::array alerts;
  if (root["alerts"].get_array().get(alerts) != simdjson::SUCCESS) {
    notice.error = "no alerts array";
    return notice;
  }
  for (simdjson::dom::element item : alerts) {
    Notice::Alert alert;
    if (item["labels"]["alertname"].get_string().get(text) == simdjson::SUCCESS)
      alert.alertname = text;
    if (item["fingerprint"].get_string().get(text) == simdjson::SUCCESS) alert.fingerprint = text;
    if (item["status"].get_string().get(text) == simdjson::SUCCESS) alert.status = text;
    notice.alerts.push_back(std::move(alert));
  }
  return notice;
}

// Notifications with this top-level status (firing or resolved) whose first alert is `alertname`.
std::vector<Webhook> withStatus(const std::vector<Webhook>& hooks, std::string_view status,
                                std::string_view alertname) {
  std::vector<Webhook> out;
  for (const auto& hook : hooks) {
    const Notice notice = parseNotice(hook.body);
    if (notice.status == status && !notice.alerts.empty() &&
        notice.alerts[0].alertname == alertname) {
      out.push_back(hook);
    }
  }
  return out;
}

std::string describe(const std::vector<Webhook>& hooks) {
  std::string out = fmt::format("{} webhooks received:\n", hooks.size());
  for (const auto& hook : hooks) out += fmt::format("  POST {} {}\n", hook.path, hook.body);
  return out;
}

std::string hmacSha256Hex(std::string_view key, std::string_view message) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac,
           &length) == nullptr) {
    return {};
  }
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) hex += fmt::format("{:02x}", mac[i]);
  return hex;
}

// The receiver's check of stages/alerter/notify/delivery.h's scheme, written independently:
// "t=<unix s>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>", t within 5 minutes of now. "" when
// it verifies, else what is wrong.
std::string signatureProblem(const std::optional<std::string>& header, std::string_view body) {
  if (!header) return "no X-PointTron-Signature header";
  std::optional<std::string> t;
  std::optional<std::string> v1;
  std::string_view rest = *header;
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const std::string_view part = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    const auto eq = part.find('=');
    if (eq == std::string_view::npos) continue;
    if (part.substr(0, eq) == "t") t = std::string(part.substr(eq + 1));
    if (part.substr(0, eq) == "v1") v1 = std::string(part.substr(eq + 1));
  }
  if (!t || !v1) return "signature header without t or v1: " + *header;
  if (t->empty() || !std::all_of(t->begin(), t->end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c));
      })) {
    return "t is not a number: " + *header;
  }
  const std::int64_t skew = std::stoll(*t) - wallMs() / 1000;
  if (skew > 300 || skew < -300) return fmt::format("t is {} s away from now", skew);
  const std::string expected = hmacSha256Hex(kSecret, *t + "." + std::string(body));
  if (expected.empty() || expected != *v1) return "v1 does not match: " + *header;
  return "";
}

bool isFingerprint(std::string_view text) {
  return text.size() == 16 && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// A loop thread running the webhook receiver (every POST recorded, answered 200) and, when given
// a metrics topic, a producer that publishes one metric.v1 batch with point_tron_test_gauge every
// 500 ms while a value is set (key "<stage>/<instance>", as a stage's runtime does). The test
// thread waits on what it recorded through a condition variable; the loop's objects live and die
// on the loop thread.
class Background {
 public:
  static constexpr std::int64_t kPublishIntervalMs = 500;

  explicit Background(std::string metrics_topic = "") : metrics_topic_(std::move(metrics_topic)) {
    thread_ = std::thread([this] { run(); });
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, seconds(30), [this] { return started_; });
  }
  ~Background() {
    stop_ = true;
    thread_.join();
  }
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;

  // "" once the receiver (and producer) are up, else why not.
  std::string error() const {
    std::lock_guard lock(mutex_);
    return started_ ? error_ : "the receiver thread did not start in 30 s";
  }
  std::string url() const { return fmt::format("http://127.0.0.1:{}/hook", port_.load()); }

  // The value the next batches carry; nullopt stops publishing.
  void setGauge(std::optional<int> value) { gauge_ = value ? *value : -1; }
  // Batches the broker acknowledged so far.
  std::int64_t published() const { return published_; }

  std::vector<Webhook> webhooks() const {
    std::lock_guard lock(mutex_);
    return webhooks_;
  }

  // Waits until done(webhooks) holds (true) or the deadline passes (false).
  bool waitFor(const std::function<bool(const std::vector<Webhook>&)>& done,
               milliseconds deadline) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, deadline, [&] { return done(webhooks_); });
  }

 private:
  void run() {
    LoopRunner runner;
    pipeline::metrics::Registry registry("alerter-test");
    pipeline::StageMetrics stage_metrics(registry);
    std::unique_ptr<pipeline::kafka::Producer> producer;
    pipeline::uv::Timer publish_timer;
    auto server =
        std::make_unique<pipeline::http::Server>(runner.loop(), pipeline::http::ServerOptions{});
    server->routePrefix("POST", "/", [this](const pipeline::http::Request& request) {
      Webhook hook{request.path, request.body, std::nullopt, Clock::now()};
      if (auto signature = request.header("X-PointTron-Signature"))
        hook.signature = std::string(*signature);
      {
        std::lock_guard lock(mutex_);
        webhooks_.push_back(std::move(hook));
      }
      changed_.notify_all();
      return pipeline::http::Response::text(200, "ok");
    });
    std::string error;
    if (auto listening = server->listen(); !listening) error = listening.toString();
    if (error.empty() && !metrics_topic_.empty()) {
      auto created = pipeline::kafka::Producer::create(runner.loop(), testKafkaConfig(),
                                                       stage_metrics, registry);
      auto timer = pipeline::uv::Timer::create(runner.loop());
      if (!created) {
        error = created.error().message;
      } else if (!timer) {
        error = timer.error().message;
      } else {
        producer = std::move(*created);
        producer->declareTopics({metrics_topic_});
        publish_timer = std::move(*timer);
        auto started = publish_timer.start(0, kPublishIntervalMs, [this, &producer] {
          const int value = gauge_;
          if (value < 0) return;
          const std::int64_t now = wallMs();
          producer->send(
              {.topic = metrics_topic_,
               .key = "tester/alerter-test",
               .value = fmt::format(R"({{"schema":"metric.v1","ts":{},"stage":"tester",)"
                                    R"("instance":"alerter-test","metrics":[{{"name":)"
                                    R"("point_tron_test_gauge","labels":{{}},"value":{}}}]}})",
                                    now, value)},
              [this](const pipeline::Status& status, const pipeline::Delivery&) {
                if (status) ++published_;
              });
        });
        if (!started) error = started.toString();
      }
    }
    {
      std::lock_guard lock(mutex_);
      port_ = server->port();
      error_ = error;
      started_ = true;
    }
    changed_.notify_all();
    runner.runUntil([this] { return stop_.load(); }, std::chrono::hours(1));
    publish_timer.stop();
    producer.reset();  // purges what is unacknowledged
    server.reset();
  }

  const std::string metrics_topic_;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Webhook> webhooks_;
  bool started_ = false;
  std::string error_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint16_t> port_{0};
  std::atomic<int> gauge_{-1};
  std::atomic<std::int64_t> published_{0};
};

// Creates the catalogue's topics under `prefix`, as `pointtron topics create` does.
void createTopics(const std::string& prefix) {
  auto config = testKafkaConfig();
  config.topic_prefix = prefix;
  const auto topics = pipeline::kafka::allTopics(config, {.data_partitions = kDataPartitions});
  const auto status = pipeline::kafka::ensureTopics(config, topics, seconds(30));
  ASSERT_TRUE(status.isOk()) << status.toString();
}

// Every route to one webhook that sends resolved notices, signed, flushed at once and then every
// second, never repeated within a test.
std::string notifyYaml(const std::string& url) {
  return fmt::format(
      "route:\n"
      "  receiver: hook\n"
      "  group_by: [alertname]\n"
      "  group_wait: 0s\n"
      "  group_interval: 1s\n"
      "  repeat_interval: 1h\n"
      "receivers:\n"
      "  - name: hook\n"
      "    webhook_configs:\n"
      "      - url: '{}'\n"
      "        send_resolved: true\n"
      "        format: alertmanager\n"
      "        timeout: 5s\n"
      "        hmac_secret: '{}'\n",
      url, kSecret);
}

std::map<std::string, std::string> stageEnv(const std::string& stage, const std::string& prefix) {
  return {
      {"POINTTRON_KAFKA__BOOTSTRAP_SERVERS", testBrokers()},
      {"POINTTRON_KAFKA__TOPIC_PREFIX", prefix},
      {"POINTTRON_KAFKA__DATA_PARTITIONS", std::to_string(kDataPartitions)},
      {"POINTTRON_METRICS__PUBLISH_INTERVAL_MS", "1000"},
      {"POINTTRON_INSTANCE__ID", stage + "-test"},
  };
}

std::map<std::string, std::string> alerterEnv(const std::string& prefix,
                                              const std::string& rules_file,
                                              const std::string& notify_file) {
  auto env = stageEnv("alerter", prefix);
  env["POINTTRON_ALERTER__SHIPPED_RULES"] = "false";
  env["POINTTRON_ALERTER__RULES_FILES"] = rules_file;
  env["POINTTRON_ALERTER__NOTIFY_FILE"] = notify_file;
  env["POINTTRON_ALERTER__STATE_INTERVAL_MS"] = "200";
  // Static membership: a restarted alerter (even after SIGKILL) gets its partition back at once
  // instead of after the dead member's session timeout.
  env["POINTTRON_KAFKA__RDKAFKA__GROUP_INSTANCE_ID"] = "alerter-test";
  return env;
}

// GET /alerts of the alerter: its single rule's last evaluation, and how many alerts fire.
struct AlertsPage {
  std::string body;
  std::int64_t last_evaluation_ms = 0;
  bool evaluating = false;  // evaluated, and not waiting for history
  std::int64_t firing = 0;
};

AlertsPage alertsPage(StageProcess& alerter) {
  AlertsPage page;
  auto answer = httpRequest(alerter.httpPort(), "GET", "/alerts");
  if (!answer || answer->status != 200) return page;
  page.body = answer->body;
  page.last_evaluation_ms = jsonInt(page.body, "last_evaluation_ms").value_or(0);
  page.evaluating = page.last_evaluation_ms > 0 &&
                    page.body.find(R"("waiting_for_history":false)") != std::string::npos;
  page.firing = jsonInt(page.body, "firing").value_or(0);
  return page;
}

double secondsBetween(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

// One alert.v1 record of the alerts topic.
struct AlertEvent {
  std::string schema;
  std::string fingerprint;
  std::string rule;
  std::string status;
};

std::optional<AlertEvent> parseAlertEvent(const std::string& value) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(value).get(root) != simdjson::SUCCESS) return std::nullopt;
  AlertEvent event;
  std::string_view text;
  if (root["schema"].get_string().get(text) == simdjson::SUCCESS) event.schema = text;
  if (root["fingerprint"].get_string().get(text) == simdjson::SUCCESS) event.fingerprint = text;
  if (root["rule"].get_string().get(text) == simdjson::SUCCESS) event.rule = text;
  if (root["status"].get_string().get(text) == simdjson::SUCCESS) event.status = text;
  return event;
}

// The tronsim of the end-to-end test: a live node on the wall clock (a block per 3 s slot), the
// head at start being `start_height`; `port` 0 picks one.
std::unique_ptr<Tronsim> startNode(std::int64_t start_height, std::uint16_t port) {
  return Tronsim::start({"--seed", "41", "--profile", "small", "--wall-clock", "--missed-slot-rate",
                         "0", "--start-height", std::to_string(start_height), "--port",
                         std::to_string(port)});
}

// The whole pipeline on a live tronsim with a test variant of PipelineStalled (a 15 s window,
// `for: 5s`, evaluated every second): the node dies, the alert fires within window + for + a few
// intervals of that, signed, in Alertmanager's payload; the node comes back on the same port
// and the chain's current height, and the same alert (fingerprint) is notified resolved. The
// alerts topic holds both changes as alert.v1.
TEST(AlerterTest, EndToEndStalledPipelineFiresAndResolves) {
  constexpr std::int64_t kWindowMs = 15'000;
  constexpr std::int64_t kForMs = 5'000;
  constexpr std::int64_t kIntervalMs = 1'000;
  constexpr std::int64_t kFirstHead = 5'000'000;
  Background receiver;
  ASSERT_EQ("", receiver.error());
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  const std::string prefix = fetcher::uniquePrefix("alerter-e2e");
  createTopics(prefix);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  const std::string rules =
      dir.write("stalled.rules.yaml",
                fmt::format("groups:\n"
                            "  - name: pipeline-test\n"
                            "    interval: {}ms\n"
                            "    rules:\n"
                            "      - alert: PipelineStalled\n"
                            "        expr: delta(point_tron_persister_block_height[{}ms]) <= 0\n"
                            "        for: {}ms\n"
                            "        labels: {{severity: critical}}\n"
                            "        annotations:\n"
                            "          summary: No new block reached the database for 15 s\n",
                            kIntervalMs, kWindowMs, kForMs));
  const std::string notify = dir.write("notify.yaml", notifyYaml(receiver.url()));

  auto node = startNode(kFirstHead, 0);
  ASSERT_NE(nullptr, node);
  const std::uint16_t node_port = node->port();
  auto fetcher_env = stageEnv("fetcher", prefix);
  fetcher_env["POINTTRON_FETCHER__NODE_URLS"] = node->url();
  fetcher_env["POINTTRON_FETCHER__NODE_RATE_LIMITS_RPS"] = "0";
  // Back on the node soon after it returns, rather than after a long breaker or retry backoff.
  fetcher_env["POINTTRON_FETCHER__RETRY_MAX_BACKOFF_MS"] = "1000";
  fetcher_env["POINTTRON_FETCHER__BREAKER_OPEN_MAX_MS"] = "2000";
  auto persister_env = stageEnv("persister", prefix);
  persister_env["POINTTRON_PERSISTER__DATA_DIR"] = dir.file("persister");
  auto fetcher = StageProcess::start("fetcher", fetcher_env);
  ASSERT_NE(nullptr, fetcher);
  auto decoder = StageProcess::start("decoder", stageEnv("decoder", prefix));
  ASSERT_NE(nullptr, decoder);
  auto aggregator = StageProcess::start("aggregator", stageEnv("aggregator", prefix));
  ASSERT_NE(nullptr, aggregator);
  auto persister = StageProcess::start("persister", persister_env);
  ASSERT_NE(nullptr, persister);
  auto alerter = StageProcess::start("alerter", alerterEnv(prefix, rules, notify));
  ASSERT_NE(nullptr, alerter);
  const auto logs = [&] {
    return fmt::format("alerter:\n{}persister:\n{}fetcher:\n{}", alerter->log(), persister->log(),
                       fetcher->log());
  };

  // Blocks reach the database (the height grows twice), and the rule evaluates without firing.
  std::vector<double> heights;
  ASSERT_TRUE(waitUntil(
      [&] {
        const auto height = persister->metric("point_tron_persister_block_height");
        if (height && *height > 0 && (heights.empty() || *height > heights.back()))
          heights.push_back(*height);
        return heights.size() >= 3;
      },
      seconds(60), milliseconds(200)))
      << "persister heights seen: " << fmt::format("{}", fmt::join(heights, ", ")) << "\n"
      << logs();
  AlertsPage page;
  ASSERT_TRUE(waitUntil(
      [&] {
        page = alertsPage(*alerter);
        return page.evaluating;
      },
      seconds(30), milliseconds(200)))
      << page.body << "\n"
      << logs();
  ASSERT_EQ(0, page.firing) << page.body;
  ASSERT_TRUE(receiver.webhooks().empty()) << "notified before the node died\n"
                                           << describe(receiver.webhooks());

  // The node dies.
  const auto head_at_kill = node->head();
  ASSERT_TRUE(head_at_kill);
  const std::int64_t killed_wall_ms = wallMs();
  node.reset();  // SIGKILL
  const auto killed_at = Clock::now();

  std::vector<Webhook> firing;
  const bool fired = receiver.waitFor(
      [&](const std::vector<Webhook>& hooks) {
        firing = withStatus(hooks, "firing", "PipelineStalled");
        return !firing.empty();
      },
      seconds(60));
  const double fire_delay = fired ? secondsBetween(killed_at, firing.front().at) : -1;
  ASSERT_TRUE(fired) << "no firing PipelineStalled within 60 s of the kill\n"
                     << describe(receiver.webhooks()) << alertsPage(*alerter).body << "\n"
                     << logs();
  // The height stopped changing at most a slot (plus the pipeline's latency) before the kill:
  // delta over the window is 0 from about window after that, and `for` later it fires; each of
  // evaluation, metric publication and the dispatcher's tick adds up to an interval.
  const double expected_max = static_cast<double>(kWindowMs + kForMs + 5 * kIntervalMs) / 1000.0;
  const double expected_min = static_cast<double>(kWindowMs + kForMs - 2 * kSlotMs) / 1000.0;
  std::cout << fmt::format(
      "[ alerter  ] PipelineStalled fired {:.1f} s after the node died (expected "
      "{:.0f}..{:.0f} s)\n",
      fire_delay, expected_min, expected_max);
  RecordProperty("fire_delay_ms", static_cast<int>(fire_delay * 1000));
  EXPECT_LE(fire_delay, expected_max) << "fired " << fire_delay << " s after the kill\n" << logs();
  EXPECT_GE(fire_delay, expected_min)
      << "fired " << fire_delay << " s after the kill, before the window could be flat";
  EXPECT_EQ(1u, firing.size()) << describe(receiver.webhooks());
  const Webhook fired_hook = firing.front();
  const Notice fired_notice = parseNotice(fired_hook.body);
  EXPECT_EQ("", fired_notice.error) << fired_hook.body;
  EXPECT_EQ("4", fired_notice.version) << fired_hook.body;
  EXPECT_EQ("firing", fired_notice.status) << fired_hook.body;
  ASSERT_EQ(1u, fired_notice.alerts.size()) << fired_hook.body;
  EXPECT_EQ("PipelineStalled", fired_notice.alerts[0].alertname) << fired_hook.body;
  EXPECT_EQ("firing", fired_notice.alerts[0].status) << fired_hook.body;
  const std::string fp = fired_notice.alerts[0].fingerprint;
  EXPECT_TRUE(isFingerprint(fp)) << fp;
  EXPECT_EQ("/hook", fired_hook.path);
  EXPECT_EQ("", signatureProblem(fired_hook.signature, fired_hook.body));

  // The node comes back where the chain is now (a block per slot since the kill), on its port.
  const std::int64_t restart_height = *head_at_kill + (wallMs() - killed_wall_ms) / kSlotMs;
  node = startNode(restart_height, node_port);
  ASSERT_NE(nullptr, node) << "tronsim could not listen on " << node_port << " again";
  const auto restarted_at = Clock::now();
  std::vector<Webhook> resolved;
  const bool resolved_in_time = receiver.waitFor(
      [&](const std::vector<Webhook>& hooks) {
        resolved = withStatus(hooks, "resolved", "PipelineStalled");
        return !resolved.empty();
      },
      seconds(60));
  const double resolve_delay =
      resolved_in_time ? secondsBetween(restarted_at, resolved.front().at) : -1;
  ASSERT_TRUE(resolved_in_time) << "no resolved PipelineStalled within 60 s of the node's return\n"
                                << describe(receiver.webhooks()) << alertsPage(*alerter).body
                                << "\n"
                                << logs();
  std::cout << fmt::format(
      "[ alerter  ] PipelineStalled resolved {:.1f} s after the node came back\n", resolve_delay);
  RecordProperty("resolve_delay_ms", static_cast<int>(resolve_delay * 1000));
  const Webhook& resolved_hook = resolved.front();
  const Notice resolved_notice = parseNotice(resolved_hook.body);
  EXPECT_EQ("4", resolved_notice.version) << resolved_hook.body;
  ASSERT_EQ(1u, resolved_notice.alerts.size()) << resolved_hook.body;
  EXPECT_EQ(fp, resolved_notice.alerts[0].fingerprint) << resolved_hook.body;
  EXPECT_EQ("resolved", resolved_notice.alerts[0].status) << resolved_hook.body;
  EXPECT_EQ("", signatureProblem(resolved_hook.signature, resolved_hook.body));
  EXPECT_GT(persister->metric("point_tron_persister_block_height").value_or(0), heights.back());

  // The alerts topic has both changes of that alert, firing first.
  TopicReader alerts(prefix + "alerts");
  std::vector<std::string> statuses;
  const bool both = alerts.readUntil(
      [&] {
        statuses.clear();
        for (const auto& record : alerts.records()) {
          const auto event = parseAlertEvent(record.value);
          if (!event || event->fingerprint != fp) continue;
          EXPECT_EQ("alert.v1", event->schema) << record.value;
          EXPECT_EQ("PipelineStalled", event->rule) << record.value;
          EXPECT_EQ(fp, record.key);
          statuses.push_back(event->status);
        }
        return std::find(statuses.begin(), statuses.end(), "resolved") != statuses.end();
      },
      seconds(30));
  ASSERT_TRUE(both) << alerts.error()
                    << " statuses: " << fmt::format("{}", fmt::join(statuses, ", "));
  // Pending may also appear (and silently end) while the alerter's first samples cover only a
  // second or two of the window; firing and resolved happen exactly once, in that order.
  ASSERT_GE(statuses.size(), 3u);
  EXPECT_EQ((std::vector<std::string>{"pending", "firing", "resolved"}),
            std::vector<std::string>(statuses.end() - 3, statuses.end()));
  EXPECT_EQ(1, std::count(statuses.begin(), statuses.end(), "firing"));
  EXPECT_EQ(1, std::count(statuses.begin(), statuses.end(), "resolved"));

  const auto stopped = alerter->stop();
  EXPECT_TRUE(stopped && WIFEXITED(*stopped) && WEXITSTATUS(*stopped) == 0) << alerter->log();
}

// The latest alerter.state snapshot names `fingerprint` in its notification log as notified
// firing: what a restart restores.
bool stateLogsFiring(const std::string& prefix, const std::string& fingerprint) {
  auto tails =
      pipeline::kafka::readTail(testKafkaConfig(), prefix + "alerter.state", 1, seconds(10));
  if (!tails || tails->empty() || (*tails)[0].empty()) return false;
  const std::string value((*tails)[0].back().value());
  simdjson::dom::parser outer;
  simdjson::dom::element root;
  std::string_view dispatcher;
  if (outer.parse(value).get(root) != simdjson::SUCCESS ||
      root["dispatcher"].get_string().get(dispatcher)) {
    return false;
  }
  simdjson::dom::parser inner;
  simdjson::dom::element state;
  simdjson::dom::array log;
  if (inner.parse(dispatcher.data(), dispatcher.size()).get(state) != simdjson::SUCCESS ||
      state["log"].get_array().get(log) != simdjson::SUCCESS) {
    return false;
  }
  for (simdjson::dom::element entry : log) {
    simdjson::dom::array firing;
    if (entry["firing"].get_array().get(firing) != simdjson::SUCCESS) continue;
    for (simdjson::dom::element item : firing) {
      std::string_view text;
      if (item.get_string().get(text) == simdjson::SUCCESS && text == fingerprint) return true;
    }
  }
  return false;
}

// A gauge the test publishes itself fires TestGaugeHigh at once; the alerter is restarted while
// it fires (SIGTERM, or SIGKILL once the state naming the notification is written). The restarted
// alerter evaluates the still-true rule for several intervals without notifying it again, and
// when the gauge drops it notifies the resolve exactly once.
void restartWhileFiring(bool sigkill) {
  constexpr std::int64_t kObserveMs = 5'000;  // several evaluation intervals of 1 s
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  const std::string prefix = fetcher::uniquePrefix(sigkill ? "alerter-kill" : "alerter-term");
  createTopics(prefix);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  Background publisher(prefix + "metrics");
  ASSERT_EQ("", publisher.error());
  // A range of 2 s rather than a bare selector: an instant selector's history is the 5-minute
  // lookback, and a rule is skipped until the store's history covers it (EvaluatorOptions::
  // wait_for_history), which would hold this rule back for 5 minutes after each start.
  const std::string rules = dir.write("gauge.rules.yaml",
                                      "groups:\n"
                                      "  - name: gauge-test\n"
                                      "    interval: 1s\n"
                                      "    rules:\n"
                                      "      - alert: TestGaugeHigh\n"
                                      "        expr: max_over_time(point_tron_test_gauge[2s]) > 0\n"
                                      "        for: 0s\n"
                                      "        labels: {severity: warning}\n");
  const std::string notify = dir.write("notify.yaml", notifyYaml(publisher.url()));
  const auto env = alerterEnv(prefix, rules, notify);
  auto alerter = StageProcess::start("alerter", env);
  ASSERT_NE(nullptr, alerter);
  const auto count = [&](std::string_view status) {
    return withStatus(publisher.webhooks(), status, "TestGaugeHigh").size();
  };

  publisher.setGauge(1);
  std::vector<Webhook> firing;
  ASSERT_TRUE(publisher.waitFor(
      [&](const std::vector<Webhook>& hooks) {
        firing = withStatus(hooks, "firing", "TestGaugeHigh");
        return !firing.empty();
      },
      seconds(30)))
      << "no firing notification; " << publisher.published() << " batches published\n"
      << alertsPage(*alerter).body << "\n"
      << alerter->log();
  const Notice fired = parseNotice(firing.front().body);
  ASSERT_EQ(1u, fired.alerts.size()) << firing.front().body;
  const std::string fp = fired.alerts[0].fingerprint;
  EXPECT_TRUE(isFingerprint(fp)) << fp;
  EXPECT_EQ("", signatureProblem(firing.front().signature, firing.front().body));

  if (sigkill) {
    // With SIGKILL the alerter keeps what it wrote last: wait until that names the notification.
    ASSERT_TRUE(
        waitUntil([&] { return stateLogsFiring(prefix, fp); }, seconds(20), milliseconds(100)))
        << "alerter.state never recorded the firing notification\n"
        << alerter->log();
    const auto status = alerter->kill();
    ASSERT_TRUE(status && WIFSIGNALED(*status)) << alerter->log();
  } else {
    const auto status = alerter->stop();
    ASSERT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << alerter->log();
  }
  const std::string first_log = alerter->log();
  const std::int64_t restarted_ms = wallMs();
  alerter = StageProcess::start("alerter", env);
  ASSERT_NE(nullptr, alerter) << first_log;
  const auto logs = [&] {
    return fmt::format("before the restart:\n{}after:\n{}", first_log, alerter->log());
  };

  // Still true: the restored alert keeps firing through several evaluations, and nobody is told
  // again.
  AlertsPage page;
  ASSERT_TRUE(waitUntil(
      [&] {
        page = alertsPage(*alerter);
        return page.evaluating && page.last_evaluation_ms >= restarted_ms + kObserveMs;
      },
      seconds(30), milliseconds(100)))
      << page.body << "\n"
      << logs();
  EXPECT_EQ(1, page.firing) << page.body;
  EXPECT_NE(std::string::npos, alerter->log().find("Alerter state restored.")) << logs();
  EXPECT_EQ(1u, count("firing")) << "notified again after the restart\n"
                                 << describe(publisher.webhooks()) << logs();
  EXPECT_EQ(0u, count("resolved")) << describe(publisher.webhooks());

  // The gauge drops: one resolved notification for that alert, and no more while the alerter
  // keeps evaluating.
  publisher.setGauge(0);
  std::vector<Webhook> resolved;
  ASSERT_TRUE(publisher.waitFor(
      [&](const std::vector<Webhook>& hooks) {
        resolved = withStatus(hooks, "resolved", "TestGaugeHigh");
        return !resolved.empty();
      },
      seconds(30)))
      << "no resolved notification\n"
      << describe(publisher.webhooks()) << alertsPage(*alerter).body << "\n"
      << logs();
  const std::int64_t resolved_ms = wallMs();
  const Notice resolve = parseNotice(resolved.front().body);
  ASSERT_EQ(1u, resolve.alerts.size()) << resolved.front().body;
  EXPECT_EQ(fp, resolve.alerts[0].fingerprint);
  EXPECT_EQ("resolved", resolve.alerts[0].status);
  EXPECT_EQ("", signatureProblem(resolved.front().signature, resolved.front().body));
  ASSERT_TRUE(waitUntil(
      [&] {
        page = alertsPage(*alerter);
        return page.last_evaluation_ms >= resolved_ms + kObserveMs;
      },
      seconds(30), milliseconds(100)))
      << page.body << "\n"
      << logs();
  EXPECT_EQ(0, page.firing) << page.body;
  EXPECT_EQ(1u, count("resolved")) << describe(publisher.webhooks()) << logs();
  EXPECT_EQ(1u, count("firing")) << describe(publisher.webhooks()) << logs();
  EXPECT_EQ(2u, publisher.webhooks().size()) << describe(publisher.webhooks());

  publisher.setGauge(std::nullopt);
  const auto stopped = alerter->stop();
  EXPECT_TRUE(stopped && WIFEXITED(*stopped) && WEXITSTATUS(*stopped) == 0) << alerter->log();
}

// SIGTERM while firing: the drained state (written on shutdown) is restored.
TEST(AlerterTest, RestartWhileFiringNeitherRefiresNorLosesTheResolve) { restartWhileFiring(false); }

// SIGKILL while firing, after the periodic state write (alerter.state_interval_ms 200) recorded
// the notification: the same, from the last state written.
TEST(AlerterTest, SigkillWhileFiringNeitherRefiresNorLosesTheResolve) { restartWhileFiring(true); }

}  // namespace
}  // namespace testsupport
