#include "stages/alerter/notify/sender.h"

#include <curl/curl.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <mutex>

#include "pipeline/clock.h"
#include "stages/alerter/notify/payload.h"

namespace stages::alerter::notify {

namespace {

constexpr std::size_t kBodyExcerpt = 120;

std::string integrationKind(const WebhookConfig& config) {
  return config.format == WebhookFormat::Alertmanager
             ? "webhook"
             : std::string(webhookFormatName(config.format));
}

// The start of a response body, printable ASCII only, for error logs.
std::string excerpt(std::string_view body) {
  std::string out;
  for (char c : body.substr(0, kBodyExcerpt)) {
    out.push_back(c >= 0x20 && c < 0x7f ? c : ' ');
  }
  if (body.size() > kBodyExcerpt) out += "...";
  return out;
}

pipeline::Status initCurlOnce() {
  static std::once_flag once;
  static CURLcode result = CURLE_OK;
  std::call_once(once, [] { result = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (result != CURLE_OK) {
    return pipeline::Status(pipeline::ErrorType::Internal,
                            fmt::format("curl_global_init: {}", curl_easy_strerror(result)));
  }
  return pipeline::Status::ok();
}

}  // namespace

std::string_view deliveryResultName(DeliveryResult result) noexcept {
  switch (result) {
    case DeliveryResult::Delivered:
      return "delivered";
    case DeliveryResult::Rejected:
      return "rejected";
    case DeliveryResult::Failed:
      return "failed";
    case DeliveryResult::Dropped:
      return "dropped";
    case DeliveryResult::Superseded:
      return "superseded";
  }
  return "unknown";
}

Sender::Sender(SenderOptions options, SenderHooks hooks)
    : options_(std::move(options)), hooks_(std::move(hooks)) {}

pipeline::Result<std::unique_ptr<Sender>> Sender::create(uv_loop_t& loop,
                                                         const NotifyConfig& config,
                                                         SenderOptions options, SenderHooks hooks) {
  if (!options.wall_clock) options.wall_clock = pipeline::wallClockMs;
  if (options.external_url.empty()) options.external_url = config.external_url;
  if (!(options.delay_scale >= 0.0)) options.delay_scale = 1.0;
  if (auto status = initCurlOnce(); !status) return status.error();
  std::unique_ptr<Sender> sender(new Sender(std::move(options), std::move(hooks)));
  auto close_timer = pipeline::uv::Timer::create(loop);
  if (!close_timer) return close_timer.error();
  sender->close_timer_ = std::move(*close_timer);

  for (const Receiver& receiver : config.receivers) {
    sender->receivers_.insert(receiver.name);
    const auto add = [&](std::unique_ptr<Integration> integration) -> pipeline::Status {
      auto timer = pipeline::uv::Timer::create(loop);
      if (!timer) return timer.error();
      integration->retry_timer = std::move(*timer);
      integration->receiver = receiver.name;
      sender->integrations_.push_back(std::move(integration));
      return pipeline::Status::ok();
    };
    for (const WebhookConfig& hook : receiver.webhook_configs) {
      auto integration = std::make_unique<Integration>();
      integration->kind = integrationKind(hook);
      integration->webhook = hook;
      integration->host = pipeline::http::hostAndPort(hook.url);
      pipeline::http::ClientOptions http = sender->options_.http;
      http.max_concurrent = 1;
      http.default_timeout = hook.timeout;
      http.connect_timeout = std::min(http.connect_timeout, hook.timeout);
      auto client = pipeline::http::Client::create(loop, http);
      if (!client) return client.error();
      integration->client = std::move(*client);
      if (auto status = add(std::move(integration)); !status) return status.error();
    }
    for (const EmailConfig& email : receiver.email_configs) {
      auto integration = std::make_unique<Integration>();
      integration->kind = "email";
      integration->email = email;
      integration->host = fmt::format("{}:{}", email.smarthost_host, email.smarthost_port);
      auto worker = SmtpWorker::create(loop);
      if (!worker) return worker.error();
      integration->smtp = std::move(*worker);
      if (auto status = add(std::move(integration)); !status) return status.error();
    }
  }
  return sender;
}

Sender::~Sender() {
  // Clients, workers and timers release themselves; their callbacks never run afterwards.
  for (auto& integration : integrations_) {
    if (integration->smtp) integration->smtp->stop();
  }
}

std::size_t Sender::pending() const noexcept {
  std::size_t total = 0;
  for (const auto& integration : integrations_) total += integration->queue.size();
  return total;
}

void Sender::report(const Integration& integration, DeliveryResult result) const noexcept {
  if (!hooks_.on_result) return;
  try {
    hooks_.on_result(integration.receiver, integration.kind, result);
  } catch (...) {
  }
}

void Sender::reportQueue(const Integration& integration) const noexcept {
  if (!hooks_.on_queue_length) return;
  try {
    hooks_.on_queue_length(integration.receiver, integration.kind, integration.queue.size());
  } catch (...) {
  }
}

void Sender::settle(const std::shared_ptr<Tracker>& tracker, bool delivered) noexcept {
  if (!tracker) return;
  if (!delivered) tracker->delivered = false;
  if (tracker->remaining == 0 || --tracker->remaining != 0) return;
  if (auto callback = std::move(tracker->on_done)) {
    try {
      callback(tracker->delivered);
    } catch (...) {
    }
  }
}

void Sender::send(const Notification& notification, std::function<void(bool delivered)> on_done) {
  const bool known = receivers_.count(notification.receiver) != 0;
  std::shared_ptr<Tracker> tracker;
  if (on_done) {
    tracker = std::make_shared<Tracker>();
    tracker->on_done = std::move(on_done);
    tracker->remaining = 1;  // send()'s guard: no outcome is final before the loop below ends
  }
  if (closed_ || !known) settle(tracker, false);
  for (auto& integration : integrations_) {
    if (integration->receiver != notification.receiver) continue;
    if (closed_) {
      report(*integration, DeliveryResult::Dropped);
      continue;
    }
    const bool send_resolved = integration->webhook ? integration->webhook->send_resolved
                                                    : integration->email->send_resolved;
    const Notification cut = forIntegration(notification, send_resolved);
    if (cut.alerts.empty()) continue;
    Delivery delivery;
    delivery.group_key = notification.group_key;
    delivery.tracker = tracker;
    if (tracker) ++tracker->remaining;
    if (integration->webhook) {
      const WebhookConfig& hook = *integration->webhook;
      switch (hook.format) {
        case WebhookFormat::Alertmanager:
          delivery.body = renderAlertmanagerWebhook(cut, hook.max_alerts, options_.external_url);
          break;
        case WebhookFormat::Slack:
          delivery.body = renderSlack(cut, hook.max_alerts, options_.external_url);
          break;
        case WebhookFormat::Json:
          delivery.body = renderJson(cut, hook.max_alerts, options_.external_url);
          break;
      }
    } else {
      const std::int64_t now = wallNow();
      const std::string id = makeMessageId(cut, *integration->email, now, ++message_sequence_);
      delivery.body = renderEmail(cut, *integration->email, now, options_.external_url, id);
    }
    enqueue(*integration, std::move(delivery));
  }
  if (!known) {
    log_.error("Notification for an unknown receiver dropped.",
               {{"receiver", notification.receiver}});
    if (hooks_.on_result) hooks_.on_result(notification.receiver, "none", DeliveryResult::Dropped);
  }
  if (!closed_ && known) settle(tracker, true);  // release the guard
}

void Sender::enqueue(Integration& integration, Delivery delivery) {
  auto& queue = integration.queue;
  const std::size_t first_waiting = integration.in_flight ? 1 : 0;
  for (std::size_t i = first_waiting; i < queue.size(); ++i) {
    if (queue[i].group_key != delivery.group_key) continue;
    // The newer state of the group replaces the older; an armed retry timer keeps running.
    const std::shared_ptr<Tracker> replaced = std::move(queue[i].tracker);
    queue[i] = std::move(delivery);
    report(integration, DeliveryResult::Superseded);
    reportQueue(integration);
    settle(replaced, false);
    pump(integration);
    return;
  }
  std::shared_ptr<Tracker> dropped;
  if (queue.size() >= std::max<std::size_t>(1, options_.max_queue)) {
    if (first_waiting < queue.size()) {
      if (first_waiting == 0 && integration.waiting) {
        integration.retry_timer.stop();
        integration.waiting = false;
      }
      dropped = std::move(queue[first_waiting].tracker);
      queue.erase(queue.begin() + static_cast<std::ptrdiff_t>(first_waiting));
    }
    log_.warnEvery("queue_full:" + integration.receiver, pipeline::log::RateLimit{},
                   "Notification queue full; dropped the oldest waiting notification.",
                   {{"receiver", integration.receiver}, {"integration", integration.kind}});
    report(integration, DeliveryResult::Dropped);
  }
  queue.push_back(std::move(delivery));
  reportQueue(integration);
  settle(dropped, false);
  pump(integration);
}

void Sender::pump(Integration& integration) noexcept {
  if (closed_ || integration.in_flight || integration.waiting || integration.queue.empty()) return;
  attempt(integration);
}

void Sender::attempt(Integration& integration) noexcept {
  Delivery& delivery = integration.queue.front();
  ++delivery.attempts;
  integration.in_flight = true;
  integration.attempt_started = std::chrono::steady_clock::now();
  Integration* target = &integration;
  if (integration.webhook) {
    const WebhookConfig& hook = *integration.webhook;
    pipeline::http::Client::Request request;
    request.method = "POST";
    request.url = hook.url;
    request.timeout = hook.timeout;
    request.headers.set("Content-Type", "application/json");
    for (const auto& [name, value] : hook.headers) request.headers.set(name, value);
    if (!hook.hmac_secret.empty()) {
      request.headers.set(std::string(kSignatureHeader),
                          signatureHeader(hook.hmac_secret, wallNow() / 1000, delivery.body));
    }
    request.body = delivery.body;
    integration.client->request(
        std::move(request), [this, target](pipeline::Result<pipeline::http::Response> result) {
          if (closed_) return;
          if (!result) {
            onAttemptDone(*target, classifyTransportError(result.error().type),
                          result.error().message, std::nullopt);
            return;
          }
          const int status = result->status;
          const Outcome outcome = classifyHttpStatus(status);
          std::optional<std::chrono::milliseconds> retry_after;
          if (outcome == Outcome::Retry && (status == 429 || status == 503)) {
            if (const auto value = result->headers.get("Retry-After")) {
              retry_after = parseRetryAfter(*value, wallNow());
            }
          }
          std::string error;
          if (outcome != Outcome::Delivered) {
            error = fmt::format("HTTP {} from {}", status, target->host);
            if (!result->body.empty()) error += ": " + excerpt(result->body);
          }
          onAttemptDone(*target, outcome, std::move(error), retry_after);
        });
  } else {
    integration.smtp->submit(*integration.email, delivery.body, [this, target](SmtpResult result) {
      if (closed_) return;
      onAttemptDone(*target, result.outcome, std::move(result.error), std::nullopt);
    });
  }
}

void Sender::onAttemptDone(Integration& integration, Outcome outcome, std::string error,
                           std::optional<std::chrono::milliseconds> retry_after) noexcept {
  integration.in_flight = false;
  if (integration.queue.empty()) return;  // cannot happen: the head stays while in flight
  const auto elapsed = std::chrono::steady_clock::now() - integration.attempt_started;
  const double seconds = std::chrono::duration<double>(elapsed).count();
  if (hooks_.on_attempt) {
    try {
      hooks_.on_attempt(integration.receiver, integration.kind, seconds, outcome);
    } catch (...) {
    }
  }
  Delivery& delivery = integration.queue.front();
  delivery.age_ms += std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count();
  const pipeline::log::Fields fields = {{"receiver", integration.receiver},
                                        {"integration", integration.kind},
                                        {"host", integration.host},
                                        {"attempts", delivery.attempts},
                                        {"error", error}};
  switch (outcome) {
    case Outcome::Delivered:
      finish(integration, DeliveryResult::Delivered);
      return;
    case Outcome::Reject:
      log_.errorEvery("rejected:" + integration.receiver, pipeline::log::RateLimit{},
                      "Notification rejected by the receiver; not retried.", fields);
      finish(integration, DeliveryResult::Rejected);
      return;
    case Outcome::Retry:
      break;
  }
  std::chrono::milliseconds delay =
      retry_after ? std::min(*retry_after, options_.max_retry_after)
                  : backoffDelay(delivery.attempts, options_.initial_backoff, options_.max_backoff);
  const bool out_of_attempts =
      options_.max_attempts != 0 && delivery.attempts >= options_.max_attempts;
  if (out_of_attempts || delivery.age_ms + delay.count() > options_.max_age.count()) {
    log_.errorEvery("failed:" + integration.receiver, pipeline::log::RateLimit{},
                    "Notification failed; giving up after retries.", fields);
    finish(integration, DeliveryResult::Failed);
    return;
  }
  delivery.age_ms += delay.count();
  log_.warnEvery("retry:" + integration.receiver, pipeline::log::RateLimit{},
                 "Notification attempt failed; retrying.",
                 {{"receiver", integration.receiver},
                  {"integration", integration.kind},
                  {"host", integration.host},
                  {"attempts", delivery.attempts},
                  {"delay_ms", static_cast<std::int64_t>(delay.count())},
                  {"error", error}});
  if (hooks_.on_retry) {
    try {
      hooks_.on_retry(integration.receiver, integration.kind, delay);
    } catch (...) {
    }
  }
  const double scaled = std::ceil(static_cast<double>(delay.count()) * options_.delay_scale);
  integration.waiting = true;
  Integration* target = &integration;
  const auto status =
      integration.retry_timer.start(static_cast<std::uint64_t>(scaled), 0, [this, target] {
        target->waiting = false;
        pump(*target);
      });
  if (!status) {
    integration.waiting = false;
    log_.error("Cannot arm the retry timer; notification failed.",
               {{"receiver", integration.receiver}, {"error", status.toString()}});
    finish(integration, DeliveryResult::Failed);
  }
}

void Sender::finish(Integration& integration, DeliveryResult result) noexcept {
  const std::shared_ptr<Tracker> tracker = std::move(integration.queue.front().tracker);
  integration.queue.pop_front();
  report(integration, result);
  reportQueue(integration);
  settle(tracker, result == DeliveryResult::Delivered);
  pump(integration);
}

void Sender::close(std::function<void()> on_closed) {
  on_closed_ = std::move(on_closed);
  if (closed_) return;
  closed_ = true;
  const auto finish_close = [this] {
    // From a timer, never from inside close() or a client's own callback.
    (void)close_timer_.start(0, 0, [this] {
      if (auto callback = std::move(on_closed_)) callback();
    });
  };
  for (auto& integration : integrations_) {
    integration->retry_timer.close();
    integration->waiting = false;
    integration->in_flight = false;
    std::deque<Delivery> dropped = std::move(integration->queue);
    integration->queue.clear();
    for (std::size_t i = 0; i < dropped.size(); ++i) {
      report(*integration, DeliveryResult::Dropped);
    }
    reportQueue(*integration);
    for (const Delivery& delivery : dropped) settle(delivery.tracker, false);
    if (integration->smtp) integration->smtp->stop();
    if (integration->client) {
      ++clients_closing_;
      integration->client->close([this, finish_close] {
        if (--clients_closing_ == 0) finish_close();
      });
    }
  }
  if (clients_closing_ == 0) finish_close();
}

}  // namespace stages::alerter::notify
