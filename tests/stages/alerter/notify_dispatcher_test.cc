#include "stages/alerter/notify/dispatcher.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

namespace stages::alerter::notify {
namespace {

constexpr std::int64_t kSecond = 1000;
constexpr std::int64_t kMinute = 60 * kSecond;
constexpr std::int64_t kHour = 60 * kMinute;
constexpr std::int64_t kT0 = 1'714'564'800'000;  // 2024-05-01T12:00:00Z

constexpr const char* kConfig = R"(
route:
  receiver: team
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
  routes:
    - receiver: pager
      matchers: ['severity="critical"']
      group_by: [alertname, stage]
      continue: true
    - receiver: quiet
      matchers: ['team="quiet"']
    - receiver: each
      matchers: ['team="each"']
      group_by: ['...']
receivers:
  - name: team
    webhook_configs: [{url: 'http://h/team'}]
  - name: pager
    webhook_configs: [{url: 'http://h/pager'}]
  - name: quiet
    webhook_configs: [{url: 'http://h/quiet', send_resolved: false}]
  - name: each
    webhook_configs: [{url: 'http://h/each'}]
inhibit_rules:
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity="warning"']
    equal: [stage]
)";

Alert firing(LabelSet labels, std::int64_t starts_ms) {
  Alert alert;
  alert.labels = std::move(labels);
  alert.state = AlertState::Firing;
  alert.active_since_ms = starts_ms;
  alert.starts_at_ms = starts_ms;
  return alert;
}

Alert resolved(Alert alert, std::int64_t ends_ms) {
  alert.state = AlertState::Resolved;
  alert.ends_at_ms = ends_ms;
  return alert;
}

class DispatcherTest : public ::testing::Test {
 protected:
  void SetUp() override { dispatcher_ = make(); }

  std::unique_ptr<Dispatcher> make() {
    auto config = parseNotifyConfig(kConfig, "test");
    EXPECT_TRUE(config) << config.error().message;
    return std::make_unique<Dispatcher>(std::move(*config),
                                        DispatcherOptions{.clock = [this] { return now_; }});
  }

  void update(const Alert& alert) { dispatcher_->update(alert); }

  // Ticks at `t`; what it returns is acknowledged as delivered_ says (false: left outstanding).
  std::vector<Notification> tickAt(std::int64_t t) {
    now_ = t;
    auto sent = dispatcher_->tick(t);
    if (delivered_) {
      for (const auto& n : sent) dispatcher_->acknowledge(n, *delivered_, t);
    }
    return sent;
  }

  // Ticks at every due time up to `until`, collecting what was sent.
  std::vector<Notification> runUntil(std::int64_t until) {
    std::vector<Notification> out;
    while (auto next = dispatcher_->nextTickMs()) {
      if (*next > until) break;
      for (auto& n : tickAt(std::max(*next, now_))) out.push_back(std::move(n));
    }
    now_ = until;
    return out;
  }

  std::int64_t now_ = kT0;
  std::optional<bool> delivered_ = true;
  std::unique_ptr<Dispatcher> dispatcher_;
};

const LabelSet kX1 = {{"alertname", "X"}, {"instance", "host-1"}};
const LabelSet kX2 = {{"alertname", "X"}, {"instance", "host-2"}};

// The first notification of a new group waits group_wait; later changes wait for the next
// group_interval flush.
TEST_F(DispatcherTest, GroupWaitThenGroupInterval) {
  update(firing(kX1, kT0));
  EXPECT_EQ(kT0 + 30 * kSecond, dispatcher_->nextTickMs());
  EXPECT_TRUE(tickAt(kT0 + 29 * kSecond).empty());

  auto sent = tickAt(kT0 + 30 * kSecond);
  ASSERT_EQ(1u, sent.size());
  EXPECT_EQ("team", sent[0].receiver);
  EXPECT_EQ(R"({}:{alertname="X"})", sent[0].group_key);
  EXPECT_EQ((LabelSet{{"alertname", "X"}}), sent[0].group_labels);
  EXPECT_EQ(NotificationStatus::Firing, sent[0].status);
  ASSERT_EQ(1u, sent[0].alerts.size());
  EXPECT_FALSE(sent[0].alerts[0].ends_at_ms.has_value());
  EXPECT_EQ(kT0 + 30 * kSecond + 5 * kMinute, dispatcher_->nextTickMs());

  now_ = kT0 + kMinute;
  update(firing(kX2, now_));
  EXPECT_TRUE(tickAt(kT0 + 30 * kSecond + 5 * kMinute - 1).empty());
  sent = tickAt(kT0 + 30 * kSecond + 5 * kMinute);
  ASSERT_EQ(1u, sent.size());
  ASSERT_EQ(2u, sent[0].alerts.size());
  EXPECT_EQ("host-1", sent[0].alerts[0].labels.at("instance"));
  EXPECT_EQ("host-2", sent[0].alerts[1].labels.at("instance"));
}

// Alerts arriving during group_wait go out together in the first notification.
TEST_F(DispatcherTest, GroupWaitCollects) {
  update(firing(kX1, kT0));
  now_ = kT0 + 10 * kSecond;
  update(firing(kX2, now_));
  const auto sent = runUntil(kT0 + kMinute);
  ASSERT_EQ(1u, sent.size());
  EXPECT_EQ(2u, sent[0].firingCount());
}

// An alert that started long ago does not wait group_wait (Alertmanager's rule for old alerts).
TEST_F(DispatcherTest, OldAlertSkipsGroupWait) {
  update(firing(kX1, kT0 - kHour));
  EXPECT_EQ(kT0, dispatcher_->nextTickMs());
  EXPECT_EQ(1u, tickAt(kT0).size());
}

// An unchanged firing group is sent again once repeat_interval passed, at a group_interval flush.
TEST_F(DispatcherTest, RepeatInterval) {
  update(firing(kX1, kT0));
  std::vector<std::int64_t> times;
  while (auto next = dispatcher_->nextTickMs()) {
    if (*next > kT0 + 9 * kHour) break;
    if (!tickAt(*next).empty()) times.push_back(*next);
  }
  // First at 30 s; then at the first flush more than 4 h after it (flushes every 5 min).
  const std::int64_t first = kT0 + 30 * kSecond;
  ASSERT_EQ(3u, times.size());
  EXPECT_EQ(first, times[0]);
  EXPECT_EQ(first + 49 * 5 * kMinute, times[1]);
  EXPECT_EQ(first + 98 * 5 * kMinute, times[2]);
}

// A resolved alert is sent once (as resolved) and then leaves the group; an empty group is gone.
TEST_F(DispatcherTest, ResolvedSentOnceThenDropped) {
  const Alert a = firing(kX1, kT0);
  update(a);
  update(firing(kX2, kT0));
  ASSERT_EQ(1u, runUntil(kT0 + kMinute).size());

  now_ = kT0 + 2 * kMinute;
  update(resolved(a, now_));
  auto sent = runUntil(kT0 + 6 * kMinute);
  ASSERT_EQ(1u, sent.size());
  EXPECT_EQ(NotificationStatus::Firing, sent[0].status);  // host-2 still fires
  ASSERT_EQ(2u, sent[0].alerts.size());
  EXPECT_EQ(AlertState::Resolved, sent[0].alerts[0].state);
  EXPECT_EQ(kT0 + 2 * kMinute, sent[0].alerts[0].ends_at_ms);
  EXPECT_EQ(1u, sent[0].resolvedCount());

  // Next flush: host-1 is gone, host-2 unchanged: nothing to send.
  EXPECT_TRUE(runUntil(kT0 + 11 * kMinute).empty());

  now_ = kT0 + 12 * kMinute;
  update(resolved(firing(kX2, kT0), now_));
  sent = runUntil(kT0 + 20 * kMinute);
  ASSERT_EQ(1u, sent.size());
  EXPECT_EQ(NotificationStatus::Resolved, sent[0].status);
  EXPECT_EQ(0u, dispatcher_->groupCount());
  EXPECT_FALSE(dispatcher_->nextTickMs().has_value());
  EXPECT_TRUE(runUntil(kT0 + 10 * kHour).empty());
}

// An alert that fires and resolves before the group's first flush is never notified.
TEST_F(DispatcherTest, ResolvedBeforeFirstFlushIsSilent) {
  const Alert a = firing(kX1, kT0);
  update(a);
  now_ = kT0 + 10 * kSecond;
  update(resolved(a, now_));
  EXPECT_TRUE(runUntil(kT0 + kHour).empty());
  EXPECT_EQ(0u, dispatcher_->groupCount());
}

// A receiver without send_resolved gets no notice when its group resolves entirely.
TEST_F(DispatcherTest, NoResolvedNoticeWithoutSendResolved) {
  const Alert a = firing({{"alertname", "Q"}, {"team", "quiet"}}, kT0);
  update(a);
  auto sent = runUntil(kT0 + kMinute);
  ASSERT_EQ(1u, sent.size());
  EXPECT_EQ("quiet", sent[0].receiver);
  now_ = kT0 + 2 * kMinute;
  update(resolved(a, now_));
  EXPECT_TRUE(runUntil(kT0 + kHour).empty());
  EXPECT_EQ(0u, dispatcher_->groupCount());
}

// Routing: a critical alert matches the pager route only (continue finds no further sibling, and
// the root is used only when no child matches); group keys follow Alertmanager's format.
TEST_F(DispatcherTest, RoutesAndGroupKeys) {
  update(firing({{"alertname", "Stalled"}, {"severity", "critical"}, {"stage", "fetcher"}}, kT0));
  update(firing({{"alertname", "E"}, {"team", "each"}, {"instance", "a"}}, kT0));
  update(firing({{"alertname", "E"}, {"team", "each"}, {"instance", "b"}}, kT0));
  const auto sent = runUntil(kT0 + kMinute);
  std::vector<std::pair<std::string, std::string>> got;
  for (const auto& n : sent) got.emplace_back(n.receiver, n.group_key);
  EXPECT_EQ((std::vector<std::pair<std::string, std::string>>{
                {"each", R"({}/{team="each"}:{alertname="E", instance="a", team="each"})"},
                {"each", R"({}/{team="each"}:{alertname="E", instance="b", team="each"})"},
                {"pager", R"({}/{severity="critical"}:{alertname="Stalled", stage="fetcher"})"}}),
            got);
}

// A firing critical alert mutes warnings with the same stage; when it resolves, the warning is
// notified at the next flush.
TEST_F(DispatcherTest, Inhibition) {
  const Alert critical =
      firing({{"alertname", "Down"}, {"severity", "critical"}, {"stage", "fetcher"}}, kT0);
  const Alert warning =
      firing({{"alertname", "Slow"}, {"severity", "warning"}, {"stage", "fetcher"}}, kT0);
  const Alert other =
      firing({{"alertname", "Slow"}, {"severity", "warning"}, {"stage", "decoder"}}, kT0);
  update(critical);
  update(warning);
  update(other);
  EXPECT_TRUE(dispatcher_->inhibited(warning.labels));
  EXPECT_FALSE(dispatcher_->inhibited(other.labels));
  EXPECT_FALSE(dispatcher_->inhibited(critical.labels));

  auto sent = runUntil(kT0 + kMinute);
  std::vector<std::string> slow_instances;
  for (const auto& n : sent) {
    for (const auto& a : n.alerts) {
      if (a.name() == "Slow") slow_instances.push_back(a.labels.at("stage"));
    }
  }
  EXPECT_EQ((std::vector<std::string>{"decoder"}), slow_instances);

  now_ = kT0 + 2 * kMinute;
  update(resolved(critical, now_));
  EXPECT_FALSE(dispatcher_->inhibited(warning.labels));
  sent = runUntil(kT0 + 6 * kMinute);
  bool warning_sent = false;
  for (const auto& n : sent) {
    for (const auto& a : n.alerts) {
      if (a.labels == warning.labels && a.state == AlertState::Firing) warning_sent = true;
    }
  }
  EXPECT_TRUE(warning_sent);
}

// An alert matching both sides of a rule neither mutes itself nor others matching both sides.
TEST(DispatcherInhibitTest, NoSelfInhibition) {
  auto config = parseNotifyConfig(R"(
route: {receiver: r}
receivers: [{name: r}]
inhibit_rules: [{source_matchers: ['a="1"'], target_matchers: ['a="1"']}]
)",
                                  "test");
  ASSERT_TRUE(config) << config.error().message;
  Dispatcher dispatcher(std::move(*config), {.clock = [] { return kT0; }});
  dispatcher.update(firing({{"alertname", "A"}, {"a", "1"}}, kT0));
  dispatcher.update(firing({{"alertname", "B"}, {"a", "1"}}, kT0));
  EXPECT_FALSE(dispatcher.inhibited({{"alertname", "A"}, {"a", "1"}}));
  EXPECT_FALSE(dispatcher.inhibited({{"alertname", "C"}, {"a", "1"}}));
}

// Alerts are ordered as Alertmanager orders them: job, then instance, then label sets.
TEST(DispatcherOrderTest, AlertmanagerOrder) {
  std::vector<Alert> alerts = {firing({{"x", "1"}}, 0),
                               firing({{"job", "b"}, {"instance", "1"}}, 0),
                               firing({{"job", "a"}, {"instance", "2"}}, 0),
                               firing({{"job", "a"}, {"instance", "1"}}, 0),
                               firing({{"instance", "0"}}, 0),
                               firing({{"a", "1"}, {"b", "2"}}, 0),
                               firing({{"a", "1"}, {"c", "0"}}, 0)};
  sortAlerts(alerts);
  std::vector<LabelSet> order;
  for (const auto& a : alerts) order.push_back(a.labels);
  EXPECT_EQ((std::vector<LabelSet>{{{"job", "a"}, {"instance", "1"}},
                                   {{"job", "a"}, {"instance", "2"}},
                                   {{"job", "b"}, {"instance", "1"}},
                                   {{"instance", "0"}},
                                   {{"x", "1"}},
                                   {{"a", "1"}, {"c", "0"}},
                                   {{"a", "1"}, {"b", "2"}}}),
            order);
}

// After a restart, the restored log keeps unchanged groups quiet (until repeat_interval), while a
// resolve that happens after the restart is still notified.
TEST_F(DispatcherTest, SnapshotRestoreAvoidsRenotifying) {
  const Alert a = firing(kX1, kT0);
  update(a);
  update(firing(kX2, kT0));
  ASSERT_EQ(1u, runUntil(kT0 + kMinute).size());
  const std::string state = dispatcher_->snapshot();

  dispatcher_ = make();
  ASSERT_TRUE(dispatcher_->restore(state));
  EXPECT_EQ(1u, dispatcher_->groupCount());
  // The evaluator re-sends its current alerts after a restart: still nothing new to say.
  now_ = kT0 + 2 * kMinute;
  update(a);
  update(firing(kX2, kT0));
  EXPECT_TRUE(runUntil(kT0 + 3 * kHour).empty());

  update(resolved(a, now_));
  const auto sent = runUntil(now_ + 6 * kMinute);
  ASSERT_EQ(1u, sent.size());
  EXPECT_EQ(1u, sent[0].resolvedCount());
  EXPECT_EQ(1u, sent[0].firingCount());
}

// Without the log, a restart re-notifies at once: the snapshot is what prevents it.
TEST_F(DispatcherTest, WithoutSnapshotRestartRenotifies) {
  update(firing(kX1, kT0));
  ASSERT_EQ(1u, runUntil(kT0 + kMinute).size());
  dispatcher_ = make();
  now_ = kT0 + 2 * kMinute;
  update(firing(kX1, kT0));
  EXPECT_EQ(1u, runUntil(now_).size());
}

// A resolve that was pending in a group at snapshot time is delivered after the restore.
TEST_F(DispatcherTest, SnapshotKeepsPendingResolve) {
  const Alert a = firing(kX1, kT0);
  update(a);
  ASSERT_EQ(1u, runUntil(kT0 + kMinute).size());
  now_ = kT0 + 2 * kMinute;
  update(resolved(a, now_));
  const std::string state = dispatcher_->snapshot();

  dispatcher_ = make();
  ASSERT_TRUE(dispatcher_->restore(state));
  const auto sent = runUntil(kT0 + 10 * kMinute);
  ASSERT_EQ(1u, sent.size());
  EXPECT_EQ(NotificationStatus::Resolved, sent[0].status);
  EXPECT_EQ(kT0 + 30 * kSecond + 5 * kMinute, sent[0].created_ms);  // the saved flush time
}

// A resolved notice that failed to deliver is sent again at the next flush, and then leaves.
TEST_F(DispatcherTest, FailedResolvedNoticeIsSentAgain) {
  const Alert a = firing(kX1, kT0);
  update(a);
  ASSERT_EQ(1u, runUntil(kT0 + kMinute).size());
  now_ = kT0 + 2 * kMinute;
  update(resolved(a, now_));
  delivered_ = false;
  auto sent = runUntil(kT0 + 6 * kMinute);
  ASSERT_EQ(1u, sent.size());
  EXPECT_EQ(NotificationStatus::Resolved, sent[0].status);
  EXPECT_EQ(1u, dispatcher_->groupCount());  // the resolved alert waits for its delivery

  delivered_ = true;
  sent = runUntil(kT0 + 11 * kMinute);
  ASSERT_EQ(1u, sent.size());
  EXPECT_EQ(NotificationStatus::Resolved, sent[0].status);
  EXPECT_EQ(kT0 + 2 * kMinute, sent[0].alerts[0].ends_at_ms);
  EXPECT_EQ(0u, dispatcher_->groupCount());
  EXPECT_TRUE(runUntil(kT0 + 10 * kHour).empty());
}

// A firing notification that failed is sent again at the next flush, not after repeat_interval.
TEST_F(DispatcherTest, FailedFiringNoticeIsSentAgain) {
  update(firing(kX1, kT0));
  delivered_ = false;
  ASSERT_EQ(1u, runUntil(kT0 + kMinute).size());
  delivered_ = true;
  ASSERT_EQ(1u, runUntil(kT0 + 6 * kMinute).size());
  EXPECT_TRUE(runUntil(kT0 + 3 * kHour).empty());
}

// Until acknowledged, a notification leaves no trace: a restart from a snapshot taken then
// sends the resolved notice again; after a delivery it is not sent again.
TEST_F(DispatcherTest, UndeliveredResolvedSurvivesRestart) {
  const Alert a = firing(kX1, kT0);
  update(a);
  ASSERT_EQ(1u, runUntil(kT0 + kMinute).size());
  now_ = kT0 + 2 * kMinute;
  update(resolved(a, now_));
  delivered_.reset();  // outstanding at the snapshot
  const auto outstanding = runUntil(kT0 + 6 * kMinute);
  ASSERT_EQ(1u, outstanding.size());
  const std::string state = dispatcher_->snapshot();
  dispatcher_->acknowledge(outstanding[0], false, now_);  // e.g. dropped at close()
  EXPECT_EQ(state, dispatcher_->snapshot());

  dispatcher_ = make();
  ASSERT_TRUE(dispatcher_->restore(state));
  delivered_ = true;
  auto sent = runUntil(kT0 + 20 * kMinute);
  ASSERT_EQ(1u, sent.size());
  EXPECT_EQ(NotificationStatus::Resolved, sent[0].status);
  EXPECT_EQ(0u, dispatcher_->groupCount());

  // Delivered before the snapshot: nothing more after a restart.
  const std::string after = dispatcher_->snapshot();
  dispatcher_ = make();
  ASSERT_TRUE(dispatcher_->restore(after));
  EXPECT_EQ(0u, dispatcher_->groupCount());
  EXPECT_TRUE(runUntil(kT0 + 10 * kHour).empty());
}

// A delivery acknowledged after the alert fired again keeps it (DeleteIfNotModified), and a late
// acknowledgement of an older notification does not overwrite a newer log entry.
TEST_F(DispatcherTest, AcknowledgeKeepsAlertsChangedSince) {
  const Alert a = firing(kX1, kT0);
  update(a);
  ASSERT_EQ(1u, runUntil(kT0 + kMinute).size());
  now_ = kT0 + 2 * kMinute;
  update(resolved(a, now_));
  delivered_.reset();
  const auto sent = runUntil(kT0 + 6 * kMinute);
  ASSERT_EQ(1u, sent.size());
  now_ = kT0 + 7 * kMinute;
  update(firing(kX1, now_));  // fires again before the resolved notice was delivered
  dispatcher_->acknowledge(sent[0], true, now_);
  EXPECT_EQ(1u, dispatcher_->groupCount());
  delivered_ = true;
  const auto again = runUntil(kT0 + 12 * kMinute);
  ASSERT_EQ(1u, again.size());
  EXPECT_EQ(NotificationStatus::Firing, again[0].status);
  dispatcher_->acknowledge(sent[0], true, now_);  // late, older: ignored
  EXPECT_TRUE(runUntil(kT0 + 3 * kHour).empty());
}

// A malformed snapshot is refused and leaves the Dispatcher as it was.
TEST_F(DispatcherTest, RestoreRejectsGarbage) {
  for (const char* bad : {"", "{", "[]", R"({"version":2,"log":[],"groups":[]})",
                          R"({"version":1,"log":[{"receiver":"r"}],"groups":[]})",
                          R"({"version":1,"log":[],"groups":[{"receiver":"r","group_key":"k",)"
                          R"("next_flush_ms":1,"flushed":true,"alerts":[{"labels":{}}]}]})"}) {
    const auto status = dispatcher_->restore(bad);
    ASSERT_FALSE(status) << bad;
    EXPECT_EQ(pipeline::ErrorType::InvalidPayload, status.error().type);
    EXPECT_EQ(0u, dispatcher_->groupCount());
  }
  EXPECT_TRUE(dispatcher_->restore(R"({"version":1,"log":[],"groups":[]})"));
}

// The snapshot round-trips alert fields.
TEST_F(DispatcherTest, SnapshotRoundTripsAlerts) {
  Alert a = firing(kX1, kT0);
  a.annotations = {{"summary", "quote \" and \n newline"}};
  a.value = 12.5;
  a.generator_url = "http://g/?a=1&b=<2>";
  a.active_since_ms = kT0 - kMinute;
  update(a);
  const std::string state = dispatcher_->snapshot();
  dispatcher_ = make();
  ASSERT_TRUE(dispatcher_->restore(state));
  EXPECT_EQ(state, dispatcher_->snapshot());
  const auto sent = runUntil(kT0 + kMinute);
  ASSERT_EQ(1u, sent.size());
  const Alert& got = sent[0].alerts[0];
  EXPECT_EQ(a.annotations, got.annotations);
  EXPECT_EQ(a.value, got.value);
  EXPECT_EQ(a.generator_url, got.generator_url);
  EXPECT_EQ(a.active_since_ms, got.active_since_ms);
  EXPECT_EQ(a.starts_at_ms, got.starts_at_ms);
}

// Pending and inactive updates are not notifications.
TEST_F(DispatcherTest, IgnoresPendingAndInactive) {
  Alert a = firing(kX1, kT0);
  a.state = AlertState::Pending;
  update(a);
  a.state = AlertState::Inactive;
  update(a);
  EXPECT_EQ(0u, dispatcher_->groupCount());
}

}  // namespace
}  // namespace stages::alerter::notify
