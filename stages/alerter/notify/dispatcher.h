#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/status.h"
#include "stages/alerter/alert.h"
#include "stages/alerter/notify/notify_config.h"

// Grouping, timing, deduplication and inhibition of alert notifications, as Alertmanager 0.25's
// dispatcher, inhibitor and notification log do it, without sockets or timers: the caller feeds
// alert updates and calls tick(now) (from a loop timer, at nextTickMs()); tick returns what to
// send now. Pure and deterministic; not thread-safe (one loop thread).
//
// Semantics (Alertmanager's):
// - Routing: an alert goes to every route Route::match returns; per route, alerts with equal
//   group_by labels (all labels for '...') form one group, keyed "<route key>:<group labels>".
// - A new group is flushed group_wait after it was created (at once if its first alert started
//   more than group_wait ago), then every group_interval while it has alerts.
// - At a flush, inhibited alerts are left out; a notification is sent when the group has never
//   been notified and has firing alerts, when a firing alert is not in the last notification,
//   when everything resolved since a notification with firing alerts, when (if the receiver sends
//   resolved notices) a resolved alert is not in the last one, or when repeat_interval passed
//   since the last one. Otherwise nothing is sent.
// - Resolved alerts leave the group once a notification containing them was delivered
//   (acknowledge(n, true)) and they did not change since; resolved alerts that were not
//   notified (nothing to say, inhibited) leave at the flush. A group without alerts is removed.
// - Inhibition: a firing alert matching an inhibit rule's source_matchers mutes every alert that
//   matches its target_matchers and has the same values (absent = "") for the `equal` labels; an
//   alert matching both sides does not mute itself or other alerts matching both sides.
// - The notification log (what was last sent per receiver and group key, and when) is recorded
//   only when acknowledge() reports a notification delivered, as Alertmanager's notify pipeline
//   logs only after every integration succeeded. Until then the group keeps its resolved alerts
//   and the log its previous entry, so a notification that failed (or was dropped at shutdown)
//   is sent again at the group's next flush, also after a snapshot()/restore().
// - A group whose notification is still unacknowledged is flushed again at its next
//   group_interval like any other (Alertmanager gives a flush group_interval to succeed, then
//   the next flush starts over): that flush returns the group's current state again, which
//   replaces the older notification still waiting in the Sender (superseded). No per-group
//   "outstanding" state is kept, so a lost acknowledgement can never stall a group.
//
// Wiring on the loop (a sketch):
//   dispatcher.update(alert)                     for every evaluator state change
//   timer at nextTickMs() (re-armed after update() and tick(); or simply every second):
//     for (auto& n : dispatcher.tick(wallClockMs()))
//       sender.send(n, [&, n](bool ok) { dispatcher.acknowledge(n, ok, wallClockMs()); });
//     save dispatcher.snapshot() when tick() returned something or acknowledge() was called,
//     and on drain
//   at start-up: dispatcher.restore(saved) before the first update().

namespace stages::alerter::notify {

enum class NotificationStatus { Firing, Resolved };
std::string_view notificationStatusName(NotificationStatus status) noexcept;

/** What one receiver is told about one group at one flush. */
struct Notification {
  std::string receiver;
  /** Alertmanager's groupKey: `{}/{severity="critical"}:{alertname="X", stage="y"}`. */
  std::string group_key;
  LabelSet group_labels;
  /** Firing and resolved alerts not inhibited, in Alertmanager's order (job, instance, then
   * labels). A firing alert has state Firing and no ends_at; a resolved one state Resolved and
   * ends_at set. Integrations that do not send resolved notices drop the resolved ones. */
  std::vector<Alert> alerts;
  /** Firing when any alert fires. */
  NotificationStatus status = NotificationStatus::Firing;
  /** The tick that produced it (ms since the epoch). */
  std::int64_t created_ms = 0;

  std::size_t firingCount() const;
  std::size_t resolvedCount() const;
};

struct DispatcherOptions {
  /** Notification-log entries not renewed for this long are forgotten (Alertmanager's
   * --data.retention). */
  std::chrono::milliseconds retention{120 * 3'600'000LL};
  /** Time of update() calls (group creation); tick() takes its time explicitly. */
  std::function<std::int64_t()> clock;  // default: pipeline::wallClockMs
};

class Dispatcher {
 public:
  explicit Dispatcher(NotifyConfig config, DispatcherOptions options = {});
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  /**
   * Takes the current state of one alert (identified by its labels' fingerprint). Firing and
   * Resolved alerts are routed into groups; Pending and Inactive ones are ignored (a Pending
   * update of an alert that was firing does not resolve it: send Resolved).
   */
  void update(const Alert& alert);

  /** Flushes every group due at `now_ms` and returns the notifications to send, in a stable
   * order (by due time, then receiver and group key). */
  std::vector<Notification> tick(std::int64_t now_ms);

  /**
   * The outcome of delivering a notification tick() returned. delivered: the log entry for its
   * receiver and group key is written (sent at notification.created_ms, so repeat_interval
   * counts from the flush; expiring `retention` after `now_ms`), unless a newer notification
   * was already logged; and its resolved alerts leave their group unless they changed since
   * (fired again, or resolved at another time); an emptied group is removed. Not delivered:
   * nothing changes, so the next flush of the group sends again. Idempotent.
   */
  void acknowledge(const Notification& notification, bool delivered, std::int64_t now_ms);

  /** When tick() next has work (earliest group flush), or nullopt when there are no groups. */
  std::optional<std::int64_t> nextTickMs() const;

  /** Whether `labels` is inhibited by a firing alert now. */
  bool inhibited(const LabelSet& labels) const;

  /**
   * The state that must survive a restart, as JSON: the notification log (per receiver and
   * group key: when it was last notified and which alerts were firing and resolved then), and
   * every group's alerts and next flush time.
   *
   *   {"version":1,"log":[{"receiver":"r","group_key":"...","sent_ms":1,"firing":["<fp>"],
   *    "resolved":[],"expires_ms":2}],"groups":[{"receiver":"r","group_key":"...",
   *    "next_flush_ms":3,"alerts":[{"labels":{},"annotations":{},"state":"firing",...}]}]}
   */
  std::string snapshot() const;

  /**
   * Restores a snapshot() into a Dispatcher that has no groups yet: the log as saved (entries
   * for receivers no longer configured are kept until they expire; harmless), and the saved
   * alerts re-routed through the current configuration. A group whose key and receiver still
   * exist keeps its saved next flush time; the others are flushed as new groups (immediately if
   * their alerts are old), and the log keeps them from re-notifying unchanged alerts.
   * Errors: InvalidPayload naming the problem; the Dispatcher is unchanged then.
   */
  [[nodiscard]] pipeline::Status restore(std::string_view json);

  std::size_t groupCount() const noexcept { return groups_.size(); }
  const NotifyConfig& config() const noexcept { return config_; }

 private:
  struct Group {
    const Route* route = nullptr;
    std::string key;
    LabelSet labels;
    std::map<std::string, Alert> alerts;  // by fingerprint
    std::int64_t next_flush_ms = 0;
    bool flushed = false;  // flushed at least once: group_wait no longer applies
  };
  struct LogEntry {
    std::int64_t sent_ms = 0;
    std::int64_t expires_ms = 0;
    std::set<std::string> firing;
    std::set<std::string> resolved;
  };
  // Groups by (route id, group key): two routes may share a key, as in Alertmanager.
  using GroupId = std::pair<std::string, std::string>;
  // Log entries by (receiver, group key).
  using LogId = std::pair<std::string, std::string>;

  void insert(const Alert& alert, std::int64_t now_ms);
  std::optional<Notification> flush(Group& group, std::int64_t now_ms);
  bool needsUpdate(const LogEntry* entry, const std::set<std::string>& firing,
                   const std::set<std::string>& resolved, bool send_resolved,
                   std::chrono::milliseconds repeat, std::int64_t now_ms) const;
  LabelSet groupLabels(const Route& route, const LabelSet& labels) const;

  NotifyConfig config_;
  DispatcherOptions options_;
  std::map<GroupId, Group> groups_;
  std::map<LogId, LogEntry> log_;
  // Firing alerts matching each rule's source_matchers, by fingerprint, per inhibit rule.
  std::vector<std::map<std::string, LabelSet>> sources_;
};

/** Sorts alerts as Alertmanager's types.AlertSlice: by job, then instance (an alert with the
 * label first), then by label set (fewer labels first, then by sorted names and values). */
void sortAlerts(std::vector<Alert>& alerts);

}  // namespace stages::alerter::notify
