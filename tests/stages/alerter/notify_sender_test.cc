#include "stages/alerter/notify/sender.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <simdjson.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "pipeline/http/server.h"
#include "stages/alerter/notify/payload.h"
#include "tests/support/loop_runner.h"
#include "tests/support/raw_http.h"

extern char** environ;

namespace stages::alerter::notify {
namespace {

using std::chrono::milliseconds;

constexpr std::int64_t kNow = 1'714'564'800'000;  // the injected wall clock
constexpr double kScale = 0.001;                  // 1 s of backoff waits 1 ms

// What the test receiver does with one request.
struct Reply {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  bool hang = false;  // never answer (the client's timeout ends it)
};

struct Received {
  std::string path;
  pipeline::http::Headers headers;
  std::string body;
};

struct ResultRecord {
  std::string receiver;
  std::string integration;
  DeliveryResult result;
};

Notification notification(const std::string& receiver, const std::string& instance = "host-1",
                          const std::string& group_key = R"({}:{alertname="Stalled"})") {
  Notification n;
  n.receiver = receiver;
  n.group_key = group_key;
  n.group_labels = {{"alertname", "Stalled"}};
  n.created_ms = kNow;
  Alert alert;
  alert.labels = {{"alertname", "Stalled"}, {"instance", instance}, {"severity", "critical"}};
  alert.annotations = {{"summary", "No block for 5 minutes."}};
  alert.state = AlertState::Firing;
  alert.starts_at_ms = kNow - 60'000;
  n.alerts.push_back(alert);
  return n;
}

// A real HTTP receiver on loopback (pipeline::http::Server) answering from per-path scripts, and
// a Sender whose results, attempts and retries are recorded.
class SenderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ =
        std::make_unique<pipeline::http::Server>(runner_.loop(), pipeline::http::ServerOptions{});
    server_->routePrefixAsync(
        "POST", "/",
        [this](const pipeline::http::Request& request, pipeline::http::Responder responder) {
          received_.push_back({request.path, request.headers, request.body});
          Reply reply;
          auto& script = scripts_[request.path];
          if (!script.empty()) {
            reply = script.front();
            script.pop_front();
          }
          if (reply.hang) {
            hanging_.push_back(responder);
            return;
          }
          pipeline::http::Response response =
              pipeline::http::Response::text(reply.status, "answer");
          for (const auto& [name, value] : reply.headers) response.headers.set(name, value);
          responder.respond(std::move(response));
        });
    ASSERT_TRUE(server_->listen());
  }

  void TearDown() override {
    sender_.reset();
    server_.reset();
  }

  std::string url(const std::string& path) const {
    return fmt::format("http://127.0.0.1:{}{}", server_->port(), path);
  }

  void start(const std::string& yaml, SenderOptions options = {}) {
    auto config = parseNotifyConfig(yaml, "test");
    ASSERT_TRUE(config) << config.error().message;
    config_ = *config;
    options.delay_scale = options.delay_scale == 1.0 ? kScale : options.delay_scale;
    options.wall_clock = [] { return kNow; };
    SenderHooks hooks;
    hooks.on_result = [this](std::string_view r, std::string_view i, DeliveryResult result) {
      results_.push_back({std::string(r), std::string(i), result});
    };
    hooks.on_attempt = [this](std::string_view r, std::string_view, double seconds, Outcome o) {
      attempts_.push_back({std::string(r), o});
      attempt_seconds_.push_back(seconds);
    };
    hooks.on_retry = [this](std::string_view, std::string_view, milliseconds delay) {
      retries_.push_back(delay);
    };
    auto sender = Sender::create(runner_.loop(), config_, std::move(options), std::move(hooks));
    ASSERT_TRUE(sender) << sender.error().message;
    sender_ = std::move(*sender);
  }

  std::string oneHook(const std::string& name, const std::string& path,
                      const std::string& extra = "") {
    return fmt::format("  - name: {}\n    webhook_configs: [{{url: '{}'{}}}]\n", name, url(path),
                       extra);
  }

  bool waitResults(std::size_t n, milliseconds deadline = milliseconds(10'000)) {
    return runner_.runUntil([&] { return results_.size() >= n; }, deadline);
  }

  std::size_t requestsTo(const std::string& path) const {
    std::size_t n = 0;
    for (const auto& r : received_) n += r.path == path ? 1 : 0;
    return n;
  }

  testsupport::LoopRunner runner_;
  std::unique_ptr<pipeline::http::Server> server_;
  std::map<std::string, std::deque<Reply>> scripts_;
  std::vector<Received> received_;
  std::vector<pipeline::http::Responder> hanging_;
  NotifyConfig config_;
  std::unique_ptr<Sender> sender_;
  std::vector<ResultRecord> results_;
  std::vector<std::pair<std::string, Outcome>> attempts_;
  std::vector<double> attempt_seconds_;
  std::vector<milliseconds> retries_;
};

// 500, 500, 200: delivered once, after three attempts, with doubling backoff.
TEST_F(SenderTest, ServerErrorsAreRetriedUntilDelivered) {
  scripts_["/a"] = {{500}, {500}, {200}};
  start("route: {receiver: a}\nreceivers:\n" + oneHook("a", "/a"));
  sender_->send(notification("a"));
  ASSERT_TRUE(waitResults(1));
  ASSERT_EQ(1u, results_.size());
  EXPECT_EQ(DeliveryResult::Delivered, results_[0].result);
  EXPECT_EQ("webhook", results_[0].integration);
  EXPECT_EQ(3u, requestsTo("/a"));
  EXPECT_EQ((std::vector<milliseconds>{milliseconds(1000), milliseconds(2000)}), retries_);
  ASSERT_EQ(3u, attempts_.size());
  EXPECT_EQ(Outcome::Retry, attempts_[0].second);
  EXPECT_EQ(Outcome::Delivered, attempts_[2].second);
  EXPECT_EQ(received_[0].body, received_[2].body);
  EXPECT_EQ(0u, sender_->pending());
}

// 403: rejected after one attempt, never retried.
TEST_F(SenderTest, ClientErrorIsRejectedAfterOneAttempt) {
  scripts_["/a"] = {{403}, {200}};
  start("route: {receiver: a}\nreceivers:\n" + oneHook("a", "/a"));
  sender_->send(notification("a"));
  ASSERT_TRUE(waitResults(1));
  EXPECT_EQ(DeliveryResult::Rejected, results_[0].result);
  EXPECT_EQ(1u, requestsTo("/a"));
  EXPECT_TRUE(retries_.empty());
  EXPECT_EQ(0u, sender_->pending());  // nothing waits for another attempt
}

// A request that times out is retried.
TEST_F(SenderTest, TimeoutIsRetried) {
  scripts_["/a"] = {{.hang = true}, {200}};
  start("route: {receiver: a}\nreceivers:\n" + oneHook("a", "/a", ", timeout: 200ms"));
  sender_->send(notification("a"));
  ASSERT_TRUE(waitResults(1));
  EXPECT_EQ(DeliveryResult::Delivered, results_[0].result);
  EXPECT_EQ(2u, requestsTo("/a"));
  ASSERT_EQ(2u, attempts_.size());
  EXPECT_EQ(Outcome::Retry, attempts_[0].second);
  EXPECT_GE(attempt_seconds_[0], 0.19);
  EXPECT_EQ((std::vector<milliseconds>{milliseconds(1000)}), retries_);
}

// Retry-After on 429 and 503 sets the delay (seconds, or an HTTP-date against the wall clock); on
// other statuses the backoff applies.
TEST_F(SenderTest, RetryAfterIsHonoured) {
  scripts_["/a"] = {{429, {{"Retry-After", "7"}}},
                    {503, {{"Retry-After", formatHttpDate(kNow + 3000)}}},
                    {500, {{"Retry-After", "9"}}},
                    {200}};
  start("route: {receiver: a}\nreceivers:\n" + oneHook("a", "/a"));
  sender_->send(notification("a"));
  ASSERT_TRUE(waitResults(1));
  EXPECT_EQ(DeliveryResult::Delivered, results_[0].result);
  EXPECT_EQ(4u, requestsTo("/a"));
  EXPECT_EQ((std::vector<milliseconds>{milliseconds(7000), milliseconds(3000), milliseconds(4000)}),
            retries_);
}

// A receiver that hangs does not delay another receiver's delivery.
TEST_F(SenderTest, HangingReceiverDoesNotDelayAnother) {
  scripts_["/slow"] = {{.hang = true}};
  start("route: {receiver: slow}\nreceivers:\n" + oneHook("slow", "/slow", ", timeout: 30s") +
        oneHook("fast", "/fast"));
  sender_->send(notification("slow"));
  sender_->send(notification("fast"));
  ASSERT_TRUE(waitResults(1));
  EXPECT_EQ("fast", results_[0].receiver);
  EXPECT_EQ(DeliveryResult::Delivered, results_[0].result);
  EXPECT_EQ(1u, requestsTo("/slow"));  // it arrived, and still hangs
  EXPECT_EQ(1u, hanging_.size());
  EXPECT_EQ(1u, sender_->pending());

  bool closed = false;
  sender_->close([&] { closed = true; });
  ASSERT_TRUE(runner_.runUntil([&] { return closed; }));
  ASSERT_EQ(2u, results_.size());
  EXPECT_EQ("slow", results_[1].receiver);
  EXPECT_EQ(DeliveryResult::Dropped, results_[1].result);
}

// The signature header verifies against the exact body; headers from the config are sent; the
// body is the Alertmanager payload.
TEST_F(SenderTest, SignsAndSendsHeaders) {
  start("route: {receiver: a}\nreceivers:\n" +
        oneHook("a", "/a",
                ", hmac_secret: k3y, headers: {X-Team: core}, "
                "http_config: {authorization: {credentials: tok}}"));
  const Notification n = notification("a");
  sender_->send(n);
  ASSERT_TRUE(waitResults(1));
  ASSERT_EQ(1u, received_.size());
  const Received& r = received_[0];
  EXPECT_EQ(renderAlertmanagerWebhook(n, 0, ""), r.body);
  EXPECT_EQ("application/json", r.headers.get("Content-Type").value_or(""));
  EXPECT_EQ("core", r.headers.get("X-Team").value_or(""));
  EXPECT_EQ("Bearer tok", r.headers.get("Authorization").value_or(""));
  const std::string signature(r.headers.get("X-PointTron-Signature").value_or(""));
  const std::string prefix = fmt::format("t={},v1=", kNow / 1000);
  EXPECT_EQ(prefix, signature.substr(0, prefix.size())) << signature;
  EXPECT_EQ(prefix.size() + 64u, signature.size());
  EXPECT_TRUE(verifySignature(signature, "k3y", r.body, kNow / 1000));
  EXPECT_FALSE(verifySignature(signature, "other", r.body, kNow / 1000));
  EXPECT_FALSE(verifySignature(signature, "k3y", r.body + " ", kNow / 1000));
  EXPECT_FALSE(verifySignature(signature, "k3y", r.body, kNow / 1000 + 301));  // replayed late
  // The value follows the documented recipe: hex HMAC-SHA256 of "<t>.<body>".
  EXPECT_EQ(hmacSha256Hex("k3y", fmt::format("{}.{}", kNow / 1000, r.body)),
            signature.substr(prefix.size()));
}

// Slack and generic JSON receivers get their own formats; a receiver with several integrations
// gets every one of them.
TEST_F(SenderTest, FormatsPerIntegration) {
  start(fmt::format(R"(route: {{receiver: multi}}
receivers:
  - name: multi
    webhook_configs:
      - {{url: '{}', format: slack}}
      - {{url: '{}', format: json}}
)",
                    url("/slack"), url("/json")));
  sender_->send(notification("multi"));
  ASSERT_TRUE(waitResults(2));
  std::map<std::string, std::string> bodies;
  for (const auto& r : received_) bodies[r.path] = r.body;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  ASSERT_EQ(simdjson::SUCCESS, parser.parse(bodies["/slack"]).get(root)) << bodies["/slack"];
  EXPECT_TRUE(root["attachments"].is_array());
  ASSERT_EQ(simdjson::SUCCESS, parser.parse(bodies["/json"]).get(root)) << bodies["/json"];
  EXPECT_EQ("1", std::string(root["version"].get_string().value_unsafe()));
  std::vector<std::string> kinds;
  for (const auto& r : results_) kinds.push_back(r.integration);
  std::sort(kinds.begin(), kinds.end());
  EXPECT_EQ((std::vector<std::string>{"json", "slack"}), kinds);
}

// An integration without send_resolved sends nothing for a group that only has resolved alerts.
TEST_F(SenderTest, SendResolvedFalseSkipsResolvedOnly) {
  start("route: {receiver: a}\nreceivers:\n" + oneHook("a", "/a", ", send_resolved: false") +
        oneHook("b", "/b"));
  Notification n = notification("a");
  n.alerts[0].state = AlertState::Resolved;
  n.alerts[0].ends_at_ms = kNow;
  n.status = NotificationStatus::Resolved;
  sender_->send(n);
  n.receiver = "b";
  sender_->send(n);
  ASSERT_TRUE(waitResults(1));
  EXPECT_EQ(0u, requestsTo("/a"));
  EXPECT_EQ(1u, requestsTo("/b"));
  EXPECT_EQ(0u, sender_->pending());
}

// A newer notification of the same group replaces one that waits for its retry.
TEST_F(SenderTest, NewerNotificationSupersedesWaitingOne) {
  scripts_["/a"] = {{500}, {200}};
  SenderOptions options;
  options.delay_scale = 0.05;  // the retry waits 50 ms: time enough to enqueue the newer one
  start("route: {receiver: a}\nreceivers:\n" + oneHook("a", "/a"), options);
  sender_->send(notification("a", "host-1"));
  ASSERT_TRUE(runner_.runUntil([&] { return retries_.size() == 1; }));
  sender_->send(notification("a", "host-2"));  // same group key
  ASSERT_TRUE(waitResults(2));
  EXPECT_EQ(DeliveryResult::Superseded, results_[0].result);
  EXPECT_EQ(DeliveryResult::Delivered, results_[1].result);
  ASSERT_EQ(2u, received_.size());
  EXPECT_NE(std::string::npos, received_[1].body.find("host-2"));
  EXPECT_EQ(std::string::npos, received_[1].body.find("host-1"));
}

// Retryable failures end as "failed" after max_attempts; refused connections are retried too.
TEST_F(SenderTest, GivesUpAfterMaxAttempts) {
  testsupport::SilentSocket refusing(/*listening=*/false);
  scripts_["/a"] = {{502}, {502}, {502}, {200}};
  SenderOptions options;
  options.max_attempts = 3;
  start(fmt::format("route: {{receiver: a}}\nreceivers:\n{}  - name: down\n    webhook_configs: "
                    "[{{url: 'http://127.0.0.1:{}/x'}}]\n",
                    oneHook("a", "/a"), refusing.port()),
        options);
  sender_->send(notification("a"));
  sender_->send(notification("down"));
  ASSERT_TRUE(waitResults(2));
  for (const auto& r : results_) EXPECT_EQ(DeliveryResult::Failed, r.result) << r.receiver;
  EXPECT_EQ(3u, requestsTo("/a"));
  EXPECT_EQ(4u, retries_.size());  // two per notification
}

// Bounded age: with max_age shorter than the first backoff, one failure is final.
TEST_F(SenderTest, GivesUpWhenTooOld) {
  scripts_["/a"] = {{500}, {200}};
  SenderOptions options;
  options.max_age = milliseconds(500);
  start("route: {receiver: a}\nreceivers:\n" + oneHook("a", "/a"), options);
  sender_->send(notification("a"));
  ASSERT_TRUE(waitResults(1));
  EXPECT_EQ(DeliveryResult::Failed, results_[0].result);
  EXPECT_EQ(1u, requestsTo("/a"));
}

// close() drops what was not delivered, counts it, and calls back from the loop; later sends are
// dropped.
TEST_F(SenderTest, CloseDropsPending) {
  scripts_["/a"] = {{500}};
  SenderOptions options;
  options.delay_scale = 10;  // the retry waits 10 s: close() comes first
  start("route: {receiver: a}\nreceivers:\n" + oneHook("a", "/a"), options);
  sender_->send(notification("a"));
  ASSERT_TRUE(runner_.runUntil([&] { return retries_.size() == 1; }));
  bool closed = false;
  sender_->close([&] { closed = true; });
  EXPECT_FALSE(closed);
  ASSERT_TRUE(runner_.runUntil([&] { return closed; }));
  ASSERT_EQ(1u, results_.size());
  EXPECT_EQ(DeliveryResult::Dropped, results_[0].result);
  sender_->send(notification("a"));
  ASSERT_EQ(2u, results_.size());
  EXPECT_EQ(DeliveryResult::Dropped, results_[1].result);
  EXPECT_EQ(1u, requestsTo("/a"));
}

// A notification for a receiver the config does not have is dropped and counted; one for a
// receiver without integrations is discarded silently.
TEST_F(SenderTest, UnknownReceiverIsDropped) {
  start("route: {receiver: a}\nreceivers:\n" + oneHook("a", "/a") + "  - name: blackhole\n");
  sender_->send(notification("blackhole"));
  EXPECT_TRUE(results_.empty());
  EXPECT_EQ(0u, sender_->pending());
  sender_->send(notification("nobody"));
  ASSERT_EQ(1u, results_.size());
  EXPECT_EQ("none", results_[0].integration);
  EXPECT_EQ(DeliveryResult::Dropped, results_[0].result);
}

// on_done: once per notification, true only when delivered.
TEST_F(SenderTest, OnDoneReportsDeliveredAndRejected) {
  scripts_["/a"] = {{500}, {200}};
  scripts_["/b"] = {{403}};
  start("route: {receiver: a}\nreceivers:\n" + oneHook("a", "/a") + oneHook("b", "/b"));
  std::vector<bool> a_done;
  std::vector<bool> b_done;
  sender_->send(notification("a"), [&](bool delivered) { a_done.push_back(delivered); });
  sender_->send(notification("b"), [&](bool delivered) { b_done.push_back(delivered); });
  EXPECT_TRUE(a_done.empty());  // not before the outcome is known
  ASSERT_TRUE(waitResults(2));
  EXPECT_EQ(std::vector<bool>{true}, a_done);
  EXPECT_EQ(std::vector<bool>{false}, b_done);
}

// on_done: a failed (retries exhausted) notification is not delivered.
TEST_F(SenderTest, OnDoneFalseWhenFailed) {
  scripts_["/a"] = {{500}, {500}};
  SenderOptions options;
  options.max_attempts = 2;
  start("route: {receiver: a}\nreceivers:\n" + oneHook("a", "/a"), options);
  std::vector<bool> done;
  sender_->send(notification("a"), [&](bool delivered) { done.push_back(delivered); });
  ASSERT_TRUE(waitResults(1));
  EXPECT_EQ(DeliveryResult::Failed, results_[0].result);
  EXPECT_EQ(std::vector<bool>{false}, done);
}

// on_done: a superseded notification is not delivered; the one replacing it is.
TEST_F(SenderTest, OnDoneFalseWhenSuperseded) {
  scripts_["/a"] = {{500}, {200}};
  SenderOptions options;
  options.delay_scale = 0.05;
  start("route: {receiver: a}\nreceivers:\n" + oneHook("a", "/a"), options);
  std::vector<bool> old_done;
  std::vector<bool> new_done;
  sender_->send(notification("a", "host-1"), [&](bool ok) { old_done.push_back(ok); });
  ASSERT_TRUE(runner_.runUntil([&] { return retries_.size() == 1; }));
  sender_->send(notification("a", "host-2"), [&](bool ok) { new_done.push_back(ok); });
  EXPECT_EQ(std::vector<bool>{false}, old_done);  // at once, when replaced
  ASSERT_TRUE(waitResults(2));
  EXPECT_EQ(std::vector<bool>{false}, old_done);
  EXPECT_EQ(std::vector<bool>{true}, new_done);
}

// on_done: close() reports what it drops, before on_closed; sends after close are false at once.
TEST_F(SenderTest, OnDoneFalseAtClose) {
  scripts_["/a"] = {{500}};
  SenderOptions options;
  options.delay_scale = 10;
  start("route: {receiver: a}\nreceivers:\n" + oneHook("a", "/a"), options);
  std::vector<bool> done;
  sender_->send(notification("a"), [&](bool ok) { done.push_back(ok); });
  ASSERT_TRUE(runner_.runUntil([&] { return retries_.size() == 1; }));
  bool closed = false;
  sender_->close([&] { closed = true; });
  EXPECT_EQ(std::vector<bool>{false}, done);
  ASSERT_TRUE(runner_.runUntil([&] { return closed; }));
  std::vector<bool> late;
  sender_->send(notification("a"), [&](bool ok) { late.push_back(ok); });
  EXPECT_EQ(std::vector<bool>{false}, late);
  EXPECT_EQ(std::vector<bool>{false}, done);
}

// on_done over several integrations: all or nothing; one skipping the notification (resolved
// only, send_resolved false) counts as delivered, as do blackhole receivers; unknown ones not.
TEST_F(SenderTest, OnDoneWaitsForEveryIntegration) {
  scripts_["/b"] = {{403}};
  start(fmt::format("route: {{receiver: r}}\nreceivers:\n"
                    "  - name: r\n    webhook_configs: [{{url: '{}'}}, {{url: '{}'}}]\n"
                    "  - name: s\n    webhook_configs: [{{url: '{}'}}, "
                    "{{url: '{}', send_resolved: false}}]\n"
                    "  - name: blackhole\n",
                    url("/a"), url("/b"), url("/c"), url("/d")));
  std::vector<bool> r_done;
  sender_->send(notification("r"), [&](bool ok) { r_done.push_back(ok); });
  ASSERT_TRUE(waitResults(2));
  EXPECT_EQ(std::vector<bool>{false}, r_done);  // /a delivered, /b rejected

  Notification n = notification("s");
  n.alerts[0].state = AlertState::Resolved;
  n.alerts[0].ends_at_ms = kNow;
  n.status = NotificationStatus::Resolved;
  std::vector<bool> s_done;
  sender_->send(n, [&](bool ok) { s_done.push_back(ok); });
  ASSERT_TRUE(waitResults(3));
  EXPECT_EQ(std::vector<bool>{true}, s_done);
  EXPECT_EQ(1u, requestsTo("/c"));
  EXPECT_EQ(0u, requestsTo("/d"));

  std::vector<bool> other;
  sender_->send(notification("blackhole"), [&](bool ok) { other.push_back(ok); });
  sender_->send(notification("nobody"), [&](bool ok) { other.push_back(ok); });
  EXPECT_EQ((std::vector<bool>{true, false}), other);
}

// The delivery policy's pure parts.
TEST(DeliveryPolicyTest, ClassificationBackoffRetryAfter) {
  EXPECT_EQ(Outcome::Delivered, classifyHttpStatus(204));
  EXPECT_EQ(Outcome::Retry, classifyHttpStatus(429));
  EXPECT_EQ(Outcome::Retry, classifyHttpStatus(503));
  EXPECT_EQ(Outcome::Reject, classifyHttpStatus(404));
  EXPECT_EQ(Outcome::Reject, classifyHttpStatus(301));
  EXPECT_EQ(Outcome::Retry, classifyTransportError(pipeline::ErrorType::Timeout));
  EXPECT_EQ(Outcome::Reject, classifyTransportError(pipeline::ErrorType::InvalidArgument));

  const milliseconds initial(1000);
  const milliseconds max(300'000);
  EXPECT_EQ(milliseconds(1000), backoffDelay(1, initial, max));
  EXPECT_EQ(milliseconds(8000), backoffDelay(4, initial, max));
  EXPECT_EQ(milliseconds(256'000), backoffDelay(9, initial, max));
  EXPECT_EQ(max, backoffDelay(10, initial, max));
  EXPECT_EQ(max, backoffDelay(1000, initial, max));

  EXPECT_EQ(milliseconds(120'000), parseRetryAfter(" 120 ", kNow));
  EXPECT_EQ("Wed, 01 May 2024 12:00:00 GMT", formatHttpDate(kNow));
  EXPECT_EQ(milliseconds(90'000), parseRetryAfter("Wed, 01 May 2024 12:01:30 GMT", kNow));
  EXPECT_EQ(milliseconds(90'000), parseRetryAfter("Wednesday, 01-May-24 12:01:30 GMT", kNow));
  EXPECT_EQ(milliseconds(90'000), parseRetryAfter("Wed May  1 12:01:30 2024", kNow));
  EXPECT_EQ(milliseconds(0), parseRetryAfter("Wed, 01 May 2024 11:00:00 GMT", kNow));
  EXPECT_FALSE(parseRetryAfter("soon", kNow));
  EXPECT_FALSE(parseRetryAfter("-5", kNow));
  EXPECT_FALSE(parseRetryAfter("Wed, 01 Foo 2024 12:01:30 GMT", kNow));
}

// A local SMTP sink: Python's smtpd module (standard library up to 3.11) on a free loopback port,
// writing each message it receives as one JSON line to its stdout. It exits when its stdin
// closes.
class SmtpSink {
 public:
  SmtpSink() {
    static constexpr const char* kScript = R"PY(
import json, os, sys, threading, warnings
warnings.simplefilter("ignore")
import asyncore, smtpd

class Sink(smtpd.SMTPServer):
    def process_message(self, peer, mailfrom, rcpttos, data, **kwargs):
        sys.stdout.write(json.dumps({"from": mailfrom, "to": rcpttos,
                                     "data": data.decode("utf-8", "replace")}) + "\n")
        sys.stdout.flush()

server = Sink(("127.0.0.1", 0), None, decode_data=False)
print(server.socket.getsockname()[1], flush=True)
threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
asyncore.loop(timeout=0.1)
)PY";
    int to_child[2];
    int from_child[2];
    if (pipe(to_child) != 0 || pipe(from_child) != 0) return;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, to_child[0], 0);
    posix_spawn_file_actions_adddup2(&actions, from_child[1], 1);
    posix_spawn_file_actions_addclose(&actions, to_child[1]);
    posix_spawn_file_actions_addclose(&actions, from_child[0]);
    const char* argv[] = {"python3", "-W", "ignore", "-c", kScript, nullptr};
    const int rc =
        posix_spawnp(&pid_, "python3", &actions, nullptr, const_cast<char**>(argv), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(to_child[0]);
    close(from_child[1]);
    stdin_ = to_child[1];
    stdout_ = from_child[0];
    if (rc != 0) {
      pid_ = -1;
      return;
    }
    if (auto line = readLine(milliseconds(20'000)))
      port_ = static_cast<std::uint16_t>(std::stoi(*line));
  }

  ~SmtpSink() {
    if (stdin_ >= 0) close(stdin_);
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
    if (stdout_ >= 0) close(stdout_);
  }

  std::uint16_t port() const { return port_; }

  /** The next line the sink wrote, waiting at most `timeout`. */
  std::optional<std::string> readLine(milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto newline = buffer_.find('\n');
      if (newline != std::string::npos) {
        std::string line = buffer_.substr(0, newline);
        buffer_.erase(0, newline + 1);
        return line;
      }
      const auto left =
          std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd fd{stdout_, POLLIN, 0};
      if (poll(&fd, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
      char chunk[4096];
      const ssize_t n = read(stdout_, chunk, sizeof chunk);
      if (n <= 0) return std::nullopt;
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }

 private:
  pid_t pid_ = -1;
  int stdin_ = -1;
  int stdout_ = -1;
  std::uint16_t port_ = 0;
  std::string buffer_;
};

// An e-mail reaches a real SMTP server (plain SMTP: STARTTLS is tried, not required) with the
// envelope and headers it should have.
TEST_F(SenderTest, EmailDeliveredToSmtpSink) {
  SmtpSink sink;
  ASSERT_NE(0, sink.port()) << "python3 -c 'import smtpd' must work (Python <= 3.11)";
  start(fmt::format(R"(route: {{receiver: mail}}
receivers:
  - name: mail
    email_configs:
      - to: 'ops@example.com, On Call <oncall@example.com>'
        from: 'point-tron <alerts@example.com>'
        smarthost: 127.0.0.1:{}
        require_tls: false
        timeout: 10s
)",
                    sink.port()));
  sender_->send(notification("mail"));
  ASSERT_TRUE(waitResults(1, milliseconds(20'000)));
  ASSERT_EQ(DeliveryResult::Delivered, results_[0].result);
  EXPECT_EQ("email", results_[0].integration);

  const auto line = sink.readLine(milliseconds(10'000));
  ASSERT_TRUE(line.has_value());
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  ASSERT_EQ(simdjson::SUCCESS, parser.parse(*line).get(root)) << *line;
  EXPECT_EQ("alerts@example.com", std::string(root["from"].get_string().value_unsafe()));
  std::vector<std::string> to;
  simdjson::dom::array recipients;
  ASSERT_EQ(simdjson::SUCCESS, root["to"].get_array().get(recipients));
  for (auto r : recipients) to.emplace_back(r.get_string().value_unsafe());
  EXPECT_EQ((std::vector<std::string>{"ops@example.com", "oncall@example.com"}), to);
  const std::string data(root["data"].get_string().value_unsafe());
  EXPECT_EQ(0u, data.rfind("Date: Wed, 01 May 2024 12:00:00 +0000\n", 0)) << data;
  EXPECT_NE(std::string::npos, data.find("\nFrom: point-tron <alerts@example.com>\n")) << data;
  EXPECT_NE(std::string::npos, data.find("\nTo: ops@example.com, On Call <oncall@example.com>\n"));
  EXPECT_NE(std::string::npos, data.find("\nSubject: [FIRING:1] Stalled (host-1 critical)\n"))
      << data;
  EXPECT_NE(std::string::npos, data.find("\nMessage-ID: <")) << data;
  EXPECT_NE(std::string::npos, data.find("@example.com>\n")) << data;
  EXPECT_NE(std::string::npos, data.find("\nContent-Type: text/plain; charset=UTF-8\n"));
  EXPECT_NE(std::string::npos, data.find("\n[FIRING] Stalled\n")) << data;
  EXPECT_NE(std::string::npos, data.find("\n  Summary: No block for 5 minutes.\n")) << data;
}

// require_tls against a server without STARTTLS is a permanent failure: rejected, not retried.
TEST_F(SenderTest, EmailRequiringTlsIsRejectedWithoutStartTls) {
  SmtpSink sink;
  ASSERT_NE(0, sink.port());
  start(fmt::format(R"(route: {{receiver: mail}}
receivers:
  - name: mail
    email_configs: [{{to: ops@example.com, from: alerts@example.com, smarthost: '127.0.0.1:{}'}}]
)",
                    sink.port()));
  sender_->send(notification("mail"));
  ASSERT_TRUE(waitResults(1, milliseconds(20'000)));
  EXPECT_EQ(DeliveryResult::Rejected, results_[0].result);
  EXPECT_TRUE(retries_.empty());
  EXPECT_FALSE(sink.readLine(milliseconds(0)).has_value());
}

// An unreachable SMTP server is retried like a failing webhook.
TEST_F(SenderTest, EmailUnreachableIsRetried) {
  testsupport::SilentSocket refusing(/*listening=*/false);
  SenderOptions options;
  options.max_attempts = 2;
  start(fmt::format(R"(route: {{receiver: mail}}
receivers:
  - name: mail
    email_configs: [{{to: ops@example.com, from: alerts@example.com, smarthost: '127.0.0.1:{}',
                      require_tls: false}}]
)",
                    refusing.port()),
        options);
  sender_->send(notification("mail"));
  ASSERT_TRUE(waitResults(1, milliseconds(20'000)));
  EXPECT_EQ(DeliveryResult::Failed, results_[0].result);
  EXPECT_EQ((std::vector<milliseconds>{milliseconds(1000)}), retries_);
}

}  // namespace
}  // namespace stages::alerter::notify
