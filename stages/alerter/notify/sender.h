#pragma once

#include <uv.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/http/client.h"
#include "pipeline/log/logging.h"
#include "pipeline/status.h"
#include "pipeline/uv/handle.h"
#include "stages/alerter/notify/delivery.h"
#include "stages/alerter/notify/dispatcher.h"
#include "stages/alerter/notify/email.h"
#include "stages/alerter/notify/notify_config.h"

// Delivery of notifications on the libuv loop.
//
// Every integration (one webhook_configs or email_configs entry of a receiver) has its own queue,
// its own HTTP client (or SMTP worker thread) and its own retry timer, so a slow, hanging or
// failing receiver never delays another. Within one integration notifications go out one at a
// time, in order; a newer notification for a group whose older one is still waiting replaces it
// (each carries the group's whole state), keeping the retry state.
//
// One attempt's outcome (delivery.h): 2xx delivered; 429, 5xx, timeouts and transport errors are
// retried after initial_backoff doubling up to max_backoff, or after Retry-After (seconds or
// HTTP-date) on 429 and 503; other statuses are rejected after one attempt (logged as an error).
// A notification is given up ("failed") after max_attempts attempts or when its age (time spent
// in attempts plus backoff delays) would pass max_age. E-mail: sendSmtp() classifies.
//
// Metrics the stage exports from SenderHooks (names for its catalogue; labels are bounded:
// receiver names come from the config, integration is webhook|slack|json|email):
//   point_tron_alerter_notifications_total{receiver,integration,result}        counter
//       result: delivered | rejected | failed | dropped | superseded (on_result)
//   point_tron_alerter_notification_duration_seconds{receiver,integration}     histogram
//       wall time of each attempt, whatever its outcome (on_attempt)
//   point_tron_alerter_notification_retries_total{receiver,integration}        counter
//       attempts scheduled again after a retryable failure (on_retry)
//   point_tron_alerter_notification_queue_length{receiver,integration}         gauge
//       notifications waiting or in flight, after every change (on_queue_length)

namespace stages::alerter::notify {

/** The final fate of one notification at one integration (the `result` label). */
enum class DeliveryResult {
  Delivered,   // accepted by the receiver (2xx, or the SMTP server took the message)
  Rejected,    // a permanent error after one attempt: 4xx other than 429, SMTP 5xx, bad TLS
  Failed,      // retryable errors until max_attempts or max_age ran out
  Dropped,     // the queue was full, or the Sender was closed before it was delivered
  Superseded,  // replaced by a newer notification of the same group before it was sent
};
std::string_view deliveryResultName(DeliveryResult result) noexcept;

/** Metric callbacks; any may be empty. Called on the loop thread; they must not throw. */
struct SenderHooks {
  std::function<void(std::string_view receiver, std::string_view integration,
                     DeliveryResult result)>
      on_result;
  /** After each attempt: its duration and outcome. */
  std::function<void(std::string_view receiver, std::string_view integration, double seconds,
                     Outcome outcome)>
      on_attempt;
  /** A retry was scheduled after `delay` (before SenderOptions::delay_scale). */
  std::function<void(std::string_view receiver, std::string_view integration,
                     std::chrono::milliseconds delay)>
      on_retry;
  std::function<void(std::string_view receiver, std::string_view integration, std::size_t length)>
      on_queue_length;
};

struct SenderOptions {
  /** First retry delay; doubles per failed attempt up to max_backoff. */
  std::chrono::milliseconds initial_backoff{1'000};
  std::chrono::milliseconds max_backoff{300'000};
  /** Longest Retry-After honoured; longer values are cut to this. */
  std::chrono::milliseconds max_retry_after{3'600'000};
  /** Attempts per notification before it fails; 0: bounded by max_age only. */
  std::uint32_t max_attempts = 12;
  /** A notification fails once attempts plus backoff delays would exceed this. */
  std::chrono::milliseconds max_age{3'600'000};
  /** Notifications waiting per integration; beyond it the oldest waiting one is dropped. */
  std::size_t max_queue = 256;
  /** `externalURL` of payloads and the e-mail footer (usually NotifyConfig::external_url). */
  std::string external_url;
  /** Test hook: every backoff and Retry-After delay is multiplied by this before the timer
   * starts (hooks and max_age still see the unscaled delay). 1 in production. */
  double delay_scale = 1.0;
  /** Wall clock (ms since the epoch) for signature times, e-mail Date and HTTP-date
   * Retry-After; default pipeline::wallClockMs. */
  std::function<std::int64_t()> wall_clock;
  /** TLS and size limits of the per-integration HTTP clients (max_concurrent is forced to 1). */
  pipeline::http::ClientOptions http;
};

/**
 * Sends Dispatcher notifications to their receivers' integrations.
 *
 * Lifecycle: create() -> send()* -> close(on_closed) -> destroy after on_closed (or destroy
 * directly, outside Sender callbacks: nothing is called afterwards). Loop thread only; not
 * copyable or movable.
 */
class Sender {
 public:
  /** Errors: Io or Internal if a loop handle, HTTP client or worker thread cannot be created. */
  [[nodiscard]] static pipeline::Result<std::unique_ptr<Sender>> create(uv_loop_t& loop,
                                                                        const NotifyConfig& config,
                                                                        SenderOptions options = {},
                                                                        SenderHooks hooks = {});
  ~Sender();
  Sender(const Sender&) = delete;
  Sender& operator=(const Sender&) = delete;

  /**
   * Queues `notification` at every integration of its receiver (each renders its own payload;
   * one without send_resolved skips resolved alerts, and skips the notification when nothing
   * is left). A receiver without integrations discards it silently (Alertmanager's "blackhole"
   * receiver); an unknown receiver is logged and counted as dropped under integration "none".
   *
   * `on_done` (optional) is called exactly once, on the loop thread, when every integration has
   * a final outcome for this notification: true only if each one that took it delivered it (an
   * integration that skips it counts as delivered, so does a receiver without integrations);
   * false if any rejected it, failed, dropped it (queue full, close()) or had it superseded by a
   * newer notification of the same group. When the outcome is known at once (unknown receiver,
   * closed Sender, nothing to deliver) it is called before send() returns. At close() it is
   * called with false from inside close(), never after the Sender is destroyed. Exceptions
   * thrown by it are swallowed.
   */
  void send(const Notification& notification, std::function<void(bool delivered)> on_done = {});

  /**
   * Stops: notifications not yet delivered are dropped (counted), transfers are cancelled, the
   * SMTP threads joined; then `on_closed` runs from the loop (never inside close()). Later
   * send() calls are dropped. A second call only replaces the callback.
   */
  void close(std::function<void()> on_closed);

  /** Notifications waiting or in flight over all integrations. */
  std::size_t pending() const noexcept;

 private:
  // One send() call's outcome over its integrations.
  struct Tracker {
    std::function<void(bool)> on_done;
    std::size_t remaining = 0;  // integrations without a final outcome, plus send()'s own guard
    bool delivered = true;
  };
  struct Delivery {
    std::string group_key;
    std::shared_ptr<Tracker> tracker;  // null when send() had no on_done
    std::string body;  // webhook body or the whole e-mail message
    std::uint32_t attempts = 0;
    std::int64_t age_ms = 0;  // time in attempts plus unscaled backoff delays
  };
  struct Integration {
    std::string receiver;
    std::string kind;  // webhook | slack | json | email
    std::optional<WebhookConfig> webhook;
    std::optional<EmailConfig> email;
    std::string host;  // host:port, for logs
    std::unique_ptr<pipeline::http::Client> client;
    std::unique_ptr<SmtpWorker> smtp;
    pipeline::uv::Timer retry_timer;
    std::deque<Delivery> queue;
    bool in_flight = false;
    bool waiting = false;  // retry timer armed for the head
    std::chrono::steady_clock::time_point attempt_started;
  };

  Sender(SenderOptions options, SenderHooks hooks);
  void enqueue(Integration& integration, Delivery delivery);
  void pump(Integration& integration) noexcept;
  void attempt(Integration& integration) noexcept;
  void onAttemptDone(Integration& integration, Outcome outcome, std::string error,
                     std::optional<std::chrono::milliseconds> retry_after) noexcept;
  void finish(Integration& integration, DeliveryResult result) noexcept;
  void report(const Integration& integration, DeliveryResult result) const noexcept;
  static void settle(const std::shared_ptr<Tracker>& tracker, bool delivered) noexcept;
  void reportQueue(const Integration& integration) const noexcept;
  std::int64_t wallNow() const { return options_.wall_clock(); }

  SenderOptions options_;
  SenderHooks hooks_;
  pipeline::log::Logger log_{"notify"};
  std::vector<std::unique_ptr<Integration>> integrations_;
  std::set<std::string, std::less<>>
      receivers_;  // every configured name, with or without integrations
  pipeline::uv::Timer close_timer_;
  std::function<void()> on_closed_;
  std::size_t clients_closing_ = 0;
  std::uint64_t message_sequence_ = 0;
  bool closed_ = false;
};

}  // namespace stages::alerter::notify
