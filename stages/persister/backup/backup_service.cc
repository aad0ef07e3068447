#include "stages/persister/backup/backup_service.h"

#include <algorithm>
#include <limits>

#include <fmt/format.h>

#include "pipeline/json.h"

namespace stages::persister::backup {
namespace {

using pipeline::Error;
using pipeline::ErrorType;
using pipeline::http::Response;

Response envelope(int status, std::string data_or_error, bool success) {
  Response response = Response::json(
      status, fmt::format(R"({{"success":{},"{}":{}}})", success ? "true" : "false",
                          success ? "data" : "error", data_or_error));
  response.headers.set("Cache-Control", "no-store");
  return response;
}

void writeBackupRow(pipeline::json::Writer& w, const BackupRow& row) {
  w.beginObject().field("id", row.id).field("started_at_ms", row.started_at_ms);
  w.key("finished_at_ms");
  if (row.finished_at_ms) w.value(*row.finished_at_ms);
  else w.null();
  w.field("location", row.location);
  w.key("size_bytes");
  if (row.size_bytes) w.value(*row.size_bytes);
  else w.null();
  w.key("sha256");
  if (row.sha256) w.value(*row.sha256);
  else w.null();
  w.field("status", row.status).field("verified", row.verified).endObject();
}

}  // namespace

struct BackupService::Metrics {
  explicit Metrics(pipeline::metrics::Registry& r)
      : enabled(r.gauge("point_tron_backup_enabled", "1 when backups are configured (a key is set).")),
        in_progress(r.gauge("point_tron_backup_in_progress", "1 while a backup or drill runs.")),
        last_success(r.gauge("point_tron_backup_last_success_timestamp_seconds",
                             "Wall-clock time the last successful backup finished.")),
        last_duration(r.gauge("point_tron_backup_last_duration_seconds",
                              "Duration of the last successful backup.")),
        last_size(r.gauge("point_tron_backup_last_size_bytes", "Size of the last successful backup archive.")),
        successes(r.counter("point_tron_backup_successes_total", "Backups stored and read back at every target.")),
        drill_last_success(r.gauge("point_tron_backup_drill_last_success_timestamp_seconds",
                                   "Wall-clock time the last successful restore drill finished.")),
        drill_ok(r.gauge("point_tron_backup_drill_ok", "1 when the last restore drill succeeded, 0 when it failed.")),
        drill_failures(r.counter("point_tron_backup_drill_failures_total", "Restore drills that failed.")) {
    for (auto reason : {FailureReason::Snapshot, FailureReason::Archive, FailureReason::Upload,
                        FailureReason::Retention}) {
      failures[static_cast<std::size_t>(reason)] =
          &r.counter("point_tron_backup_failures_total", "Backups that failed, by the step that failed.",
                     {{"reason", std::string(failureReasonName(reason))}});
    }
  }
  pipeline::metrics::Gauge& enabled;
  pipeline::metrics::Gauge& in_progress;
  pipeline::metrics::Gauge& last_success;
  pipeline::metrics::Gauge& last_duration;
  pipeline::metrics::Gauge& last_size;
  pipeline::metrics::Counter& successes;
  std::array<pipeline::metrics::Counter*, 4> failures{};
  pipeline::metrics::Gauge& drill_last_success;
  pipeline::metrics::Gauge& drill_ok;
  pipeline::metrics::Counter& drill_failures;
};

BackupService::BackupService(pipeline::Runtime& rt, BackupConfig config, BackupPlan plan,
                             Store& store, Queries& queries, WallClock wall_clock)
    : rt_(rt),
      config_(std::move(config)),
      plan_(std::move(plan)),
      store_(store),
      queries_(queries),
      wall_clock_(std::move(wall_clock)),
      metrics_(std::make_unique<Metrics>(rt.metrics())) {}

BackupService::~BackupService() {
  {
    std::lock_guard lock(mutex_);
    cancelled_ = true;
  }
  cancel_signal_.notify_all();
  if (worker_.joinable()) worker_.join();
}

pipeline::Result<std::unique_ptr<BackupService>> BackupService::create(
    pipeline::Runtime& rt, BackupConfig config, BackupPlan plan, Store& store, Queries& queries,
    WallClock wall_clock) {
  std::unique_ptr<BackupService> self(
      new BackupService(rt, std::move(config), std::move(plan), store, queries, std::move(wall_clock)));
  if (self->config_.hasKey()) {
    auto keyring = self->config_.loadKeyring();
    if (!keyring) return keyring.error();
    self->keyring_.emplace(std::move(*keyring));
  } else {
    self->disabled_reason_ =
        "backups are disabled: set backup.key_file (or backup.encryption_secret) to enable them (docs/operations.md)";
  }
  BackupService* raw = self.get();
  auto done = pipeline::uv::Async::create(rt.loop(), [raw] { raw->finished(); });
  if (!done) return done.error();
  self->job_done_ = std::move(*done);
  for (auto* timer : {&self->backup_timer_, &self->drill_timer_}) {
    auto created = pipeline::uv::Timer::create(rt.loop());
    if (!created) return created.error();
    *timer = std::move(*created);
  }
  self->metrics_->enabled.Set(self->keyring_ ? 1 : 0);
  // No drill has run yet: no verdict (a 0 would read as "failed" to the drill alert).
  self->metrics_->drill_ok.Set(std::numeric_limits<double>::quiet_NaN());
  if (!self->keyring_) {
    // No backups: the staleness and drill figures have no value (NaN is "no sample" to the
    // alerter and false in every Prometheus comparison), rather than a 0 that reads as 1970.
    for (auto* gauge : {&self->metrics_->last_success, &self->metrics_->drill_last_success}) {
      gauge->Set(std::numeric_limits<double>::quiet_NaN());
    }
  } else if (auto last = queries.lastBackup(); last && *last && (*last)->finished_at_ms) {
    // Staleness counts from the last backup ever made, not from this start.
    self->last_success_ms_ = *(*last)->finished_at_ms;
    self->metrics_->last_success.Set(static_cast<double>(*self->last_success_ms_) / 1000.0);
  }
  return self;
}

pipeline::Status BackupService::start() {
  rt_.onDrain([this](std::function<void()> done) {
    backup_timer_.stop();
    drill_timer_.stop();
    if (!running_) return done();
    {
      std::lock_guard lock(mutex_);
      cancelled_ = true;
    }
    cancel_signal_.notify_all();
    drained_ = std::move(done);  // called by finished()
  });
  if (!keyring_) {
    rt_.log().warn("Backups disabled.", {{"reason", disabled_reason_}});
    return pipeline::Status::ok();
  }
  const auto schedule = [&](pipeline::uv::Timer& timer, std::int64_t interval_s, Job job) -> pipeline::Status {
    if (interval_s <= 0) return pipeline::Status::ok();
    const auto ms = static_cast<std::uint64_t>(interval_s) * 1000;
    return timer.start(ms, ms, [this, job] { launch(job); });
  };
  // The first scheduled backup comes soon after start when the last one is older than the
  // interval (or there is none): a new installation is protected within minutes, not hours.
  if (config_.interval_s > 0) {
    const auto interval_ms = static_cast<std::uint64_t>(config_.interval_s) * 1000;
    const bool due = !last_success_ms_ ||
                     wall_clock_() - *last_success_ms_ >= static_cast<std::int64_t>(interval_ms);
    const std::uint64_t first = due ? std::min<std::uint64_t>(kFirstBackupDelayMs, interval_ms) : interval_ms;
    if (auto started = backup_timer_.start(first, interval_ms, [this] { launch(Job::Backup); }); !started) {
      return started;
    }
  }
  if (auto started = schedule(drill_timer_, config_.drill_interval_s, Job::Drill); !started) return started;
  rt_.log().info("Backups enabled.", {{"key_id", keyring_->current().id()},
                                      {"interval_s", config_.interval_s},
                                      {"drill_interval_s", config_.drill_interval_s},
                                      {"targets", static_cast<std::int64_t>(config_.targets().size())}});
  return pipeline::Status::ok();
}

BackupService::Request BackupService::backupNow() {
  if (!keyring_) return Request::Disabled;
  return launch(Job::Backup) ? Request::Started : Request::AlreadyRunning;
}

bool BackupService::waitOrCancelled(std::chrono::milliseconds delay) {
  std::unique_lock lock(mutex_);
  return !cancel_signal_.wait_for(lock, delay, [this] { return cancelled_; });
}

bool BackupService::launch(Job job) {
  if (running_ || !keyring_) {
    if (running_) rt_.log().info("A backup job is still running; this one is skipped.");
    return false;
  }
  if (worker_.joinable()) worker_.join();  // the previous job's thread has ended (finished() ran)
  running_ = true;
  running_job_ = job;
  job_started_ms_ = wall_clock_();
  metrics_->in_progress.Set(1);
  const std::int64_t now_ms = job_started_ms_;
  worker_ = std::thread([this, job, now_ms] {
    runInBackground();
    if (job == Job::Backup) {
      auto targets = config_.targets();
      auto result = runBackup(plan_, *keyring_, targets, now_ms,
                              [this](std::chrono::milliseconds delay) { return waitOrCancelled(delay); });
      std::lock_guard lock(mutex_);
      backup_result_ = std::move(result);
    } else {
      auto targets = config_.targets();
      pipeline::Result<Manifest> result = Error{ErrorType::Unavailable, "no backup target"};
      for (const auto& target : targets) {
        result = drill(*target, *keyring_, plan_.work_dir);
        if (!result) break;
      }
      std::lock_guard lock(mutex_);
      drill_result_ = std::move(result);
    }
    (void)job_done_.send();
  });
  return true;
}

void BackupService::finished() {
  if (!running_) return;
  if (worker_.joinable()) worker_.join();
  running_ = false;
  metrics_->in_progress.Set(0);
  const std::int64_t now_ms = wall_clock_();
  if (running_job_ == Job::Backup) {
    std::variant<BackupReport, BackupFailure> result;
    {
      std::lock_guard lock(mutex_);
      result = std::move(backup_result_);
    }
    BackupRow row{.started_at_ms = job_started_ms_, .finished_at_ms = now_ms};
    if (const auto* report = std::get_if<BackupReport>(&result)) {
      row.location = report->locations.empty() ? report->name : report->locations.front();
      row.size_bytes = static_cast<std::int64_t>(report->archive.bytes);
      row.sha256 = report->archive.sha256;
      row.status = "succeeded";
      row.verified = true;
      metrics_->successes.Increment();
      last_success_ms_ = now_ms;
      metrics_->last_success.Set(static_cast<double>(now_ms) / 1000.0);
      metrics_->last_duration.Set(report->seconds);
      metrics_->last_size.Set(static_cast<double>(report->archive.bytes));
      rt_.log().info("Backup stored.",
                     {{"name", report->name},
                      {"bytes", static_cast<std::int64_t>(report->archive.bytes)},
                      {"seconds", report->seconds},
                      {"highest_block_height", report->manifest.highest_block_height.value_or(-1)},
                      {"targets", static_cast<std::int64_t>(report->locations.size())},
                      {"pruned", static_cast<std::int64_t>(report->pruned.size())}});
      for (const auto& warning : report->warnings) rt_.log().warn("Backup retention incomplete.", {{"detail", warning}});
    } else {
      const auto& failure = std::get<BackupFailure>(result);
      row.location = "";
      row.status = "failed";
      metrics_->failures[static_cast<std::size_t>(failure.reason)]->Increment();
      rt_.log().error("Backup failed.", {{"step", failureReasonName(failure.reason)},
                                         {"error", pipeline::Status(failure.error).toString()}});
    }
    if (auto recorded = store_.recordBackup(row); !recorded) {
      rt_.log().warn("Could not record the backup in the catalogue.", {{"error", recorded.toString()}});
    }
  } else {
    std::optional<pipeline::Result<Manifest>> result;
    {
      std::lock_guard lock(mutex_);
      result = std::move(drill_result_);
      drill_result_.reset();
    }
    if (result && *result) {
      drill_last_success_ms_ = now_ms;
      drill_last_result_ = "ok";
      metrics_->drill_ok.Set(1);
      metrics_->drill_last_success.Set(static_cast<double>(now_ms) / 1000.0);
      rt_.log().info("Restore drill passed.",
                     {{"highest_block_height", (*result)->highest_block_height.value_or(-1)}});
    } else {
      drill_last_result_ = "failed";
      metrics_->drill_ok.Set(0);
      metrics_->drill_failures.Increment();
      rt_.log().error("Restore drill failed.",
                      {{"error", result ? pipeline::Status(result->error()).toString() : "no result"}});
    }
  }
  if (drained_) std::exchange(drained_, nullptr)();
}

Response BackupService::handleStart() {
  switch (backupNow()) {
    case Request::Started: return envelope(202, R"({"started":true})", true);
    case Request::AlreadyRunning: return envelope(409, pipeline::json::quote("a backup is already running"), false);
    case Request::Disabled: break;
  }
  return envelope(503, pipeline::json::quote(disabled_reason_), false);
}

Response BackupService::handleStatus() {
  auto recent = queries_.recentBackups(20);
  auto last = queries_.lastBackup();
  if (!recent || !last) return envelope(503, pipeline::json::quote("database unavailable; try again"), false);
  pipeline::json::Writer w;
  w.beginObject().field("enabled", keyring_.has_value()).field("in_progress", running_);
  w.key("last");
  if (!recent->empty()) writeBackupRow(w, recent->front());
  else w.null();
  w.key("last_success");
  if (*last) writeBackupRow(w, **last);
  else w.null();
  w.key("history").beginArray();
  for (const auto& row : *recent) writeBackupRow(w, row);
  w.endArray();
  w.key("drill").beginObject().key("last_success_ms");
  if (drill_last_success_ms_) w.value(*drill_last_success_ms_);
  else w.null();
  w.field("last_result", drill_last_result_).endObject();
  w.endObject();
  return envelope(200, std::move(w).str(), true);
}

}  // namespace stages::persister::backup
