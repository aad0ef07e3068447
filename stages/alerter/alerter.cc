#include "stages/alerter/alerter.h"

#include <simdjson.h>

#include <fmt/format.h>

#include "pipeline/dead_letter.h"
#include "pipeline/json.h"
#include "pipeline/kafka/topics.h"
#include "stages/alerter/notify/payload.h"
#include "stages/alerter/rules.h"
#include "stages/alerter/shipped_rules.h"

namespace stages::alerter {
namespace {

using pipeline::Error;
using pipeline::ErrorType;
using pipeline::Result;
using pipeline::Status;

constexpr std::string_view kStateKey = "alerter";
constexpr int kStateVersion = 1;
// Evaluation, dispatch and state writes are checked this often; each group still runs at its own
// interval (a coarser tick made a 1 s group slip to 2 s now and then).
constexpr std::uint64_t kTickMs = 250;

void writeLabels(pipeline::json::Writer& w, const LabelSet& labels) {
  w.beginObject();
  for (const auto& [name, value] : labels) w.field(name, value);
  w.endObject();
}

SeriesStoreOptions storeOptions(const RuleSet& rules) {
  SeriesStoreOptions options;
  // Instant selectors look back kLookbackMs; ranges as far as the longest rule asks.
  options.retention_ms = std::max(rules.historyMs(), kLookbackMs) + 60'000;
  options.only_names = rules.metricNames();
  return options;
}

}  // namespace

struct Alerter::Metrics {
  explicit Metrics(pipeline::metrics::Registry& r)
      : pending(r.gauge("point_tron_alerter_alerts", "Alert instances by state.", {{"state", "pending"}})),
        firing(r.gauge("point_tron_alerter_alerts", "Alert instances by state.", {{"state", "firing"}})),
        rules(r.gauge("point_tron_alerter_rules", "Rules evaluated.")),
        failing_rules(r.gauge("point_tron_alerter_failing_rules", "Rules whose last evaluation failed.")),
        state_changes(r.counter("point_tron_alerter_state_changes_total",
                                "Alert state changes written to the alerts topic.")),
        series(r.gauge("point_tron_alerter_series", "Series held for the rules.")),
        registry(r) {}
  pipeline::metrics::Gauge& pending;
  pipeline::metrics::Gauge& firing;
  pipeline::metrics::Gauge& rules;
  pipeline::metrics::Gauge& failing_rules;
  pipeline::metrics::Counter& state_changes;
  pipeline::metrics::Gauge& series;
  pipeline::metrics::Registry& registry;
};

Result<RuleSet> loadRuleSet(const AlerterConfig& config) {
  RuleSet merged;
  merged.origin = config.shipped_rules ? std::string(kShippedRulesOrigin) : "";
  if (config.shipped_rules) {
    auto shipped = parseRules(shippedRules(), kShippedRulesOrigin);
    if (!shipped) return Error{ErrorType::Internal, shipped.error().message};  // a build defect
    merged.groups = std::move(shipped->groups);
  }
  for (const auto& path : config.rules_files) {
    auto rules = loadRules(path);
    if (!rules) return Error{ErrorType::InvalidConfig, "alerter.rules_files: " + rules.error().message};
    for (auto& group : rules->groups) merged.groups.push_back(std::move(group));
    merged.origin += (merged.origin.empty() ? "" : ", ") + path;
  }
  return merged;
}

std::string alertEvent(const Alert& alert, std::int64_t now_ms) {
  pipeline::json::Writer w;
  w.beginObject().field("schema", "alert.v1").field("ts", now_ms);
  w.field("fingerprint", alert.fingerprint()).field("rule", alert.name());
  w.field("status", alertStateName(alert.state));
  w.key("labels");
  writeLabels(w, alert.labels);
  w.key("annotations");
  writeLabels(w, alert.annotations);
  const std::int64_t started = alert.state == AlertState::Pending ? alert.active_since_ms : alert.starts_at_ms;
  w.field("starts_at", notify::formatTime(started));
  w.key("ends_at");
  if (alert.ends_at_ms) w.value(notify::formatTime(*alert.ends_at_ms));
  else w.null();
  w.key("value");
  if (alert.value) w.value(*alert.value);
  else w.null();
  if (!alert.generator_url.empty()) w.field("generator_url", alert.generator_url);
  w.endObject();
  return std::move(w).str();
}

Alerter::Alerter(pipeline::Runtime& rt, AlerterConfig config, RuleSet rules, WallClock wall_clock)
    : rt_(rt),
      config_(std::move(config)),
      wall_clock_(std::move(wall_clock)),
      store_(storeOptions(rules)),
      evaluator_(std::move(rules), store_,
                 EvaluatorOptions{.default_interval_ms = config_.evaluation_interval_ms,
                                  .generator_url_base = config_.external_url + "/alerts"}),
      metrics_(std::make_unique<Metrics>(rt.metrics())) {}

Alerter::~Alerter() = default;

Result<std::shared_ptr<Alerter>> Alerter::create(pipeline::Runtime& rt, AlerterConfig config,
                                                 StateReader read_state, MetricsEnd metrics_end,
                                                 WallClock wall_clock) {
  auto rules = loadRuleSet(config);
  if (!rules) return rules.error();
  const std::size_t rule_count = rules->ruleCount();
  std::shared_ptr<Alerter> self(new Alerter(rt, config, std::move(*rules), std::move(wall_clock)));
  self->metrics_->rules.Set(static_cast<double>(rule_count));

  if (!config.notify_file.empty()) {
    auto notify_config = notify::loadNotifyConfig(config.notify_file);
    if (!notify_config) {
      return Error{ErrorType::InvalidConfig, "alerter.notify_file: " + notify_config.error().message};
    }
    if (notify_config->external_url.empty()) notify_config->external_url = config.external_url;
    auto& registry = self->metrics_->registry;
    notify::SenderHooks hooks{
        .on_result = [&registry](std::string_view receiver, std::string_view integration,
                                 notify::DeliveryResult result) {
          registry.counter("point_tron_alerter_notifications_total", "Notifications by final result.",
                           {{"receiver", std::string(receiver)}, {"integration", std::string(integration)},
                            {"result", std::string(notify::deliveryResultName(result))}})
              .Increment();
        },
        .on_attempt = [&registry](std::string_view receiver, std::string_view integration, double seconds,
                                  notify::Outcome) {
          registry.histogram("point_tron_alerter_notification_duration_seconds",
                             "Duration of each delivery attempt.", pipeline::metrics::latencyBuckets(),
                             {{"receiver", std::string(receiver)}, {"integration", std::string(integration)}})
              .Observe(seconds);
        },
        .on_retry = [&registry](std::string_view receiver, std::string_view integration,
                                std::chrono::milliseconds) {
          registry.counter("point_tron_alerter_notification_retries_total",
                           "Delivery attempts scheduled again after a retryable failure.",
                           {{"receiver", std::string(receiver)}, {"integration", std::string(integration)}})
              .Increment();
        },
        .on_queue_length = [&registry](std::string_view receiver, std::string_view integration,
                                       std::size_t length) {
          registry.gauge("point_tron_alerter_notification_queue_length", "Notifications waiting or in flight.",
                         {{"receiver", std::string(receiver)}, {"integration", std::string(integration)}})
              .Set(static_cast<double>(length));
        }};
    auto sender = notify::Sender::create(rt.loop(), *notify_config,
                                         notify::SenderOptions{.external_url = notify_config->external_url},
                                         std::move(hooks));
    if (!sender) return sender.error();
    self->sender_ = std::move(*sender);
    self->dispatcher_.emplace(std::move(*notify_config));
  } else {
    rt.log().warn("No receivers configured (alerter.notify_file): alerts go to the alerts topic and this log only.");
  }

  // The last snapshot, so a restart neither fires again nor forgets a resolve.
  auto state = read_state();
  if (!state) {
    rt.log().warn("Reading the alerter state failed; starting without it.", {{"error", state.status().toString()}});
  } else if (*state) {
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    std::string_view evaluator_state, dispatcher_state;
    std::int64_t version = 0;
    if (parser.parse(**state).get(root) != simdjson::SUCCESS || root["version"].get(version) ||
        version != kStateVersion || root["evaluator"].get(evaluator_state)) {
      rt.log().warn("The alerter state is not readable; starting without it.");
    } else {
      if (auto restored = self->evaluator_.restore(evaluator_state); !restored) {
        rt.log().warn("Restoring the alert states failed; starting without them.",
                      {{"error", restored.toString()}});
      }
      if (self->dispatcher_ && !root["dispatcher"].get(dispatcher_state)) {
        if (auto restored = self->dispatcher_->restore(dispatcher_state); !restored) {
          rt.log().warn("Restoring the notification log failed; starting without it.",
                        {{"error", restored.toString()}});
        }
      }
      rt.log().info("Alerter state restored.", {{"active_alerts", static_cast<std::int64_t>(self->evaluator_.active().size())}});
    }
  }
  auto timer = pipeline::uv::Timer::create(rt.loop());
  if (!timer) return timer.error();
  self->evaluation_timer_ = std::move(*timer);
  self->started_ms_ = self->wall_clock_();
  if (auto ends = metrics_end(); ends) {
    for (std::size_t p = 0; p < ends->size(); ++p) {
      // Already read up to its end when the group's committed offset is there: checked as records come.
      if ((*ends)[p].high > (*ends)[p].low) self->catch_up_ends_[static_cast<std::int32_t>(p)] = (*ends)[p].high;
    }
  } else {
    rt.log().warn("Could not read the end of the metrics topic; evaluating after the catch-up bound.",
                  {{"error", ends.status().toString()}});
    self->catch_up_ends_[-1] = 0;  // never reached: the time bound decides
  }
  return self;
}

Status Alerter::start() {
  rt_.http().route("GET", "/alerts", [this](const pipeline::http::Request&) { return alertsPage(); });
  rt_.health().add("rules", [this] {
    std::size_t failing = 0;
    std::string first;
    for (const auto& status : evaluator_.status()) {
      if (status.last_error.empty()) continue;
      if (failing++ == 0) first = fmt::format("{}: {}", status.alert, status.last_error);
    }
    if (failing == 0) return pipeline::health::CheckResult{pipeline::health::State::Healthy, "Every rule evaluates."};
    return pipeline::health::CheckResult{pipeline::health::State::Degraded,
                                         fmt::format("{} rules fail; first: {}", failing, first)};
  });
  if (auto started = evaluation_timer_.start(kTickMs, kTickMs, [this] {
        evaluate();
        dispatch();
        saveState();
      });
      !started) {
    return started;
  }
  rt_.onDrain([this](std::function<void()> done) {
    evaluation_timer_.stop();
    drained_ = std::move(done);
    drain_started_ms_ = wall_clock_();
    continueDrain();
  });
  return rt_.consume({.topics = {rt_.topic(pipeline::kafka::topics::kMetrics)}},
                     [this](pipeline::kafka::Record record, pipeline::kafka::Completion completion) {
                       if (auto end = catch_up_ends_.find(record.partition());
                           end != catch_up_ends_.end() && record.offset() + 1 >= end->second) {
                         catch_up_ends_.erase(end);
                       }
                       auto parsed = store_.ingest(record.value());
                       if (parsed) return completion.finish(pipeline::Outcome::Done);
                       auto pending = pipeline::kafka::Completion::share(std::move(completion));
                       const std::string reason = parsed.error().message;
                       pipeline::countRejected(record, reason, rt_.stageMetrics(), rt_.log(), "invalid_metric");
                       rt_.sink().send(pipeline::deadLetter(record, reason, rt_.topic(pipeline::kafka::topics::kDlq)),
                                       [pending](const Status& status, const pipeline::Delivery&) {
                                         pending->finish(status ? pipeline::Outcome::Reject
                                                                : pipeline::Outcome::Retry);
                                       });
                     });
}

bool Alerter::caughtUp() {
  if (caught_up_) return true;
  const std::int64_t now_ms = wall_clock_();
  if (!catch_up_ends_.empty() && now_ms - started_ms_ < kMaxCatchUpMs) return false;
  caught_up_ = true;
  rt_.log().info(catch_up_ends_.empty() ? "Read the metrics published before the start; evaluating rules."
                                        : "Catch-up of the metrics topic took too long; evaluating rules anyway.",
                 {{"seconds", static_cast<double>(now_ms - started_ms_) / 1000.0}});
  return true;
}

void Alerter::continueDrain() {
  // 1. Notifications in flight get kDrainDeliveryMs to be delivered, so the last snapshot records
  //    them as sent; one still undelivered is dropped at close and sent again after the restart.
  const bool delivering = sender_ && sender_->pending() > 0 && wall_clock_() - drain_started_ms_ < kDrainDeliveryMs;
  // 2. The final snapshot waits for a periodic write still in flight, so it is the newest.
  if (delivering || state_in_flight_) {
    auto armed = evaluation_timer_.start(kDrainPollMs, 0, [this] { continueDrain(); });
    if (armed) return;
  }
  if (sender_ && sender_->pending() > 0) {
    rt_.log().warn("Notifications still undelivered at shutdown are dropped; they are sent again after the restart.",
                   {{"pending", static_cast<std::int64_t>(sender_->pending())}});
  }
  state_in_flight_ = true;
  rt_.sink().send({.topic = rt_.topic(pipeline::kafka::topics::kAlerterState),
                   .key = std::string(kStateKey),
                   .value = stateSnapshot()},
                  [this, alive = std::weak_ptr<bool>(alive_)](const Status&, const pipeline::Delivery&) {
                    if (alive.expired()) return;
                    state_in_flight_ = false;
                    auto done = std::exchange(drained_, nullptr);
                    if (!done) return;
                    if (sender_) sender_->close(std::move(done));
                    else done();
                  });
}

void Alerter::evaluate() {
  if (!caughtUp()) return;
  const std::int64_t now_ms = wall_clock_();
  store_.prune(now_ms);
  for (const Alert& alert : evaluator_.evaluate(now_ms)) {
    state_changed_ = true;
    metrics_->state_changes.Increment();
    rt_.log().info(fmt::format("Alert {}.", alertStateName(alert.state)),
                   {{"alertname", alert.name()}, {"fingerprint", alert.fingerprint()},
                    {"value", alert.value.value_or(0.0)}});
    rt_.sink().send({.topic = rt_.topic(pipeline::kafka::topics::kAlerts),
                     .key = alert.fingerprint(),
                     .value = alertEvent(alert, now_ms)},
                    [](const Status&, const pipeline::Delivery&) {});  // counted by the producer
    if (dispatcher_ && (alert.state == AlertState::Firing || alert.state == AlertState::Resolved)) {
      dispatcher_->update(alert);
    }
  }
  std::size_t pending = 0, firing = 0;
  for (const Alert& alert : evaluator_.active()) (alert.state == AlertState::Firing ? firing : pending)++;
  metrics_->pending.Set(static_cast<double>(pending));
  metrics_->firing.Set(static_cast<double>(firing));
  std::size_t failing = 0;
  for (const auto& status : evaluator_.status()) failing += status.last_error.empty() ? 0 : 1;
  metrics_->failing_rules.Set(static_cast<double>(failing));
  metrics_->series.Set(static_cast<double>(store_.seriesCount()));
}

void Alerter::dispatch() {
  if (!dispatcher_) return;
  // The notification log is written, and resolved alerts leave their group, only once the
  // Sender reports the notification delivered: one that failed or was dropped at shutdown is
  // sent again at the group's next flush, also after a restart from the state snapshot.
  for (const auto& notification : dispatcher_->tick(wall_clock_())) {
    state_changed_ = true;  // the groups' flush times moved
    sender_->send(notification,
                  [this, n = notification, alive = std::weak_ptr<bool>(alive_)](bool delivered) {
                    if (alive.expired() || !dispatcher_) return;
                    dispatcher_->acknowledge(n, delivered, wall_clock_());
                    state_changed_ = true;
                  });
  }
}

std::string Alerter::stateSnapshot() const {
  pipeline::json::Writer w;
  w.beginObject().field("version", kStateVersion).field("evaluator", evaluator_.snapshot());
  if (dispatcher_) w.field("dispatcher", dispatcher_->snapshot());
  w.endObject();
  return std::move(w).str();
}

void Alerter::saveState() {
  const std::int64_t now_ms = wall_clock_();
  if (!state_changed_ || state_in_flight_) return;
  if (now_ms - last_state_write_ms_ < config_.state_interval_ms) return;
  state_changed_ = false;
  state_in_flight_ = true;
  last_state_write_ms_ = now_ms;
  std::weak_ptr<bool> alive = alive_;
  rt_.sink().send({.topic = rt_.topic(pipeline::kafka::topics::kAlerterState),
                   .key = std::string(kStateKey),
                   .value = stateSnapshot()},
                  [this, alive](const Status& status, const pipeline::Delivery&) {
                    if (alive.expired()) return;
                    state_in_flight_ = false;
                    if (!status) state_changed_ = true;  // the next tick writes it again
                  });
}

pipeline::http::Response Alerter::alertsPage() const {
  pipeline::json::Writer w;
  w.beginObject().key("alerts").beginArray();
  for (const Alert& alert : evaluator_.active()) {
    w.beginObject().field("alertname", alert.name()).field("state", alertStateName(alert.state));
    w.field("fingerprint", alert.fingerprint()).key("labels");
    writeLabels(w, alert.labels);
    w.key("annotations");
    writeLabels(w, alert.annotations);
    w.field("active_since", notify::formatTime(alert.active_since_ms));
    if (alert.state == AlertState::Firing) w.field("starts_at", notify::formatTime(alert.starts_at_ms));
    w.key("value");
    if (alert.value) w.value(*alert.value);
    else w.null();
    w.endObject();
  }
  w.endArray().key("rules").beginArray();
  for (const auto& status : evaluator_.status()) {
    w.beginObject().field("group", status.group).field("alert", status.alert);
    w.field("last_evaluation_ms", status.last_evaluation_ms).field("error", status.last_error);
    w.field("waiting_for_history", status.waiting_for_history);
    w.field("pending", static_cast<std::uint64_t>(status.pending)).field("firing", static_cast<std::uint64_t>(status.firing));
    w.endObject();
  }
  w.endArray().endObject();
  return pipeline::http::Response::json(200, std::move(w).str());
}

}  // namespace stages::alerter
