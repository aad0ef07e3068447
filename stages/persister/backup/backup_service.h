#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "pipeline/http/server.h"
#include "pipeline/runtime.h"
#include "pipeline/uv/handle.h"
#include "stages/persister/backup/backup_config.h"
#include "stages/persister/store.h"

namespace stages::persister::backup {

/**
 * The persister's backups: scheduled (backup.interval_s) and on demand (POST /api/backups), and
 * scheduled restore drills (backup.drill_interval_s). Each job runs on a worker thread of its
 * own, one at a time, so the loop keeps ingesting and answering while a snapshot is copied,
 * compressed, encrypted and uploaded; the result comes back to the loop, which writes the
 * catalogue row and the metrics.
 *
 * Metrics: point_tron_backup_{enabled, in_progress, last_success_timestamp_seconds,
 * last_duration_seconds, last_size_bytes, successes_total, failures_total{reason},
 * drill_last_success_timestamp_seconds, drill_ok, drill_failures_total}; they reach the alerter
 * in the stage's metric events like every other metric.
 *
 * Lifecycle: create() → start() → the runtime's drain (a running job is told to give up its
 * retry waits and is joined). Loop thread only, except the jobs.
 */
class BackupService {
 public:
  using WallClock = std::function<std::int64_t()>;

  /** Without a configured key the service exists but is disabled (every request answers 503).
   * Errors: InvalidConfig (a bad key), the runtime's (async handle, timers). */
  [[nodiscard]] static pipeline::Result<std::unique_ptr<BackupService>> create(
      pipeline::Runtime& rt, BackupConfig config, BackupPlan plan, Store& store, Queries& queries,
      WallClock wall_clock);
  ~BackupService();

  /** Starts the schedules and registers the drain step. */
  [[nodiscard]] pipeline::Status start();

  enum class Request { Started, AlreadyRunning, Disabled };
  /** Starts a backup now unless one is running. */
  Request backupNow();

  /** POST /api/backups (after auth). */
  pipeline::http::Response handleStart();
  /** GET /api/backups (after auth): enabled, in progress, the last and recent catalogue rows,
   * the drill's state. */
  pipeline::http::Response handleStatus();

 private:
  enum class Job { Backup, Drill };
  BackupService(pipeline::Runtime& rt, BackupConfig config, BackupPlan plan, Store& store,
                Queries& queries, WallClock wall_clock);
  bool launch(Job job);
  void finished();  // on the loop, after a job's thread ended
  bool waitOrCancelled(std::chrono::milliseconds delay);

  pipeline::Runtime& rt_;
  BackupConfig config_;
  BackupPlan plan_;
  Store& store_;
  Queries& queries_;
  WallClock wall_clock_;
  std::optional<Keyring> keyring_;
  std::string disabled_reason_;

  pipeline::uv::Async job_done_;
  pipeline::uv::Timer backup_timer_;
  pipeline::uv::Timer drill_timer_;
  std::thread worker_;
  bool running_ = false;
  Job running_job_ = Job::Backup;
  std::int64_t job_started_ms_ = 0;
  std::function<void()> drained_;

  // Shared with the worker thread.
  std::mutex mutex_;
  std::condition_variable cancel_signal_;
  bool cancelled_ = false;
  std::variant<BackupReport, BackupFailure> backup_result_;
  std::optional<pipeline::Result<Manifest>> drill_result_;

  struct Metrics;
  std::unique_ptr<Metrics> metrics_;
  std::optional<std::int64_t> last_success_ms_;
  std::optional<std::int64_t> drill_last_success_ms_;
  static constexpr std::uint64_t kFirstBackupDelayMs = 60'000;
  std::string drill_last_result_ = "never";
};

}  // namespace stages::persister::backup
