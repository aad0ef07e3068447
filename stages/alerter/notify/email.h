#pragma once

#include <uv.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "pipeline/status.h"
#include "pipeline/uv/handle.h"
#include "stages/alerter/notify/delivery.h"
#include "stages/alerter/notify/dispatcher.h"
#include "stages/alerter/notify/notify_config.h"

// E-mail notifications: the RFC 5322 message, and its delivery over SMTP with libcurl (blocking
// easy interface) on a worker thread whose results come back to the loop through a uv::Async.

namespace stages::alerter::notify {

/**
 * The whole message, CRLF line endings: Date, From, To, Subject (RFC 2047 encoded-word when not
 * ASCII), Message-ID, MIME-Version, Content-Type: text/plain; charset=UTF-8,
 * Content-Transfer-Encoding (7bit, or quoted-printable when the body is not ASCII or has long
 * lines), Auto-Submitted: auto-generated, then a plain-text body listing every alert. The
 * subject is notificationTitle(). `message_id` is given without angle brackets.
 */
std::string renderEmail(const Notification& notification, const EmailConfig& config,
                        std::int64_t now_ms, std::string_view external_url,
                        std::string_view message_id);

/** "<hex>.<now_ms>.<sequence>@<domain of from_address>": unique per message. */
std::string makeMessageId(const Notification& notification, const EmailConfig& config,
                          std::int64_t now_ms, std::uint64_t sequence);

/** RFC 5322 date: "Wed, 01 May 2024 12:00:00 +0000". */
std::string formatEmailDate(std::int64_t ms_since_epoch);

/** Quoted-printable (RFC 2045) of `text`, CRLF line breaks kept as hard breaks. */
std::string quotedPrintable(std::string_view text);

/** One SMTP attempt's result. */
struct SmtpResult {
  Outcome outcome = Outcome::Retry;
  /** Empty when delivered; otherwise a one-line reason without secrets. */
  std::string error;
  /** The server's last SMTP reply code (0 if none). */
  long smtp_code = 0;
};

/**
 * Sends `message` (a full RFC 5322 message) to config.recipients through config's smarthost,
 * blocking. smtp:// with STARTTLS (required when require_tls, else when offered), smtps:// on
 * port 465. Outcome: Delivered; Reject for refused authentication, a required TLS the server
 * does not offer, or a permanent (5xx) SMTP reply; Retry for transient (4xx) replies and
 * connection, TLS and timeout failures. `cancel` aborts the transfer (Retry, "cancelled").
 */
SmtpResult sendSmtp(const EmailConfig& config, const std::string& message,
                    const std::atomic<bool>& cancel);

/**
 * One worker thread sending e-mails one at a time, each result delivered on the loop thread.
 * One per e-mail integration, so a slow SMTP server delays only its own receiver.
 *
 * Lifecycle: create() -> submit()* -> stop() or destruction (cancels the current transfer,
 * joins the thread; `done` of unfinished jobs is not called). Loop thread only.
 */
class SmtpWorker {
 public:
  using Done = std::function<void(SmtpResult)>;

  [[nodiscard]] static pipeline::Result<std::unique_ptr<SmtpWorker>> create(uv_loop_t& loop);
  ~SmtpWorker();
  SmtpWorker(const SmtpWorker&) = delete;
  SmtpWorker& operator=(const SmtpWorker&) = delete;

  void submit(EmailConfig config, std::string message, Done done);
  void stop() noexcept;

 private:
  struct Job {
    EmailConfig config;
    std::string message;
    Done done;
  };

  SmtpWorker() = default;
  void run() noexcept;
  void deliverResults() noexcept;

  pipeline::uv::Async async_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> jobs_;                             // guarded by mutex_
  std::deque<std::pair<Done, SmtpResult>> results_;  // guarded by mutex_
  std::atomic<bool> cancel_{false};
  bool stopping_ = false;  // guarded by mutex_
};

}  // namespace stages::alerter::notify
