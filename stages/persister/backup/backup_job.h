#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "pipeline/status.h"
#include "stages/persister/backup/archive.h"
#include "stages/persister/backup/keyring.h"
#include "stages/persister/backup/targets.h"

// One backup, one verification, one restore drill: the blocking jobs behind the persister's
// scheduler, its API and the `pointtron backup` commands. Worker thread only.

namespace stages::persister::backup {

/** How backups are made and kept. */
struct BackupPlan {
  std::string db_path;
  /** Scratch space for snapshots, archives and drills (created 0700; emptied of our files). */
  std::string work_dir;
  std::int64_t busy_timeout_ms = 5000;
  ArchiveOptions archive;
  int keep_last = 24;
  int keep_daily_days = 7;
  /** Attempts per target upload; the waits between them double from initial_backoff. */
  int upload_attempts = 4;
  std::chrono::milliseconds initial_backoff{1000};
};

/**
 * Waits `delay` between retries; false when the job should give up (the process is stopping).
 * Production waits on a condition variable that stop() signals; tests pass one that returns at once.
 */
using RetryWait = std::function<bool(std::chrono::milliseconds delay)>;

/** Why a backup failed: the `reason` label of point_tron_backup_failures_total. */
enum class FailureReason { Snapshot, Archive, Upload, Retention };
std::string_view failureReasonName(FailureReason reason) noexcept;

struct BackupReport {
  std::string name;  // the archive's name at every target
  Manifest manifest;
  ArchiveInfo archive;
  std::vector<std::string> locations;  // "<target>/<name>" where it was uploaded and read back
  std::vector<std::string> pruned;     // "<target>/<name>" deleted by retention
  std::vector<std::string> warnings;   // e.g. a retention listing that failed (backup still good)
  double seconds = 0;
};

struct BackupFailure {
  FailureReason reason;
  pipeline::Error error;
};

/**
 * Lowers the calling thread's CPU priority (nice 10): a backup or drill thread then yields the
 * cores to ingestion and the API, which matters on small machines (on the 2-core benchmark
 * machine the ingest rate during a 1 GB backup dropped by 11-36 % without it, about 4 % with it).
 */
void runInBackground() noexcept;

/**
 * Snapshot → manifest → archive (encrypted with the keyring's current key) → every target
 * (uploaded with retries, read back) → retention at every target. Succeeds only when every
 * target holds a verified copy; the local archive is removed afterwards.
 */
[[nodiscard]] std::variant<BackupReport, BackupFailure> runBackup(
    const BackupPlan& plan, const Keyring& keyring,
    const std::vector<std::unique_ptr<BackupTarget>>& targets, std::int64_t now_ms,
    const RetryWait& wait);

/**
 * Proves an archive file restorable: decrypts and decompresses it into `work_dir`, runs
 * verifyDatabase against its manifest, deletes the copy. Errors: InvalidPayload naming what is
 * wrong (a flipped byte, a wrong key, a truncated file, a corrupt database), Io.
 */
[[nodiscard]] pipeline::Result<Manifest> verifyArchiveFile(const std::string& archive_path,
                                                           const Keyring& keyring,
                                                           const std::string& work_dir);

/**
 * The restore drill: fetches the newest archive of `target` into `work_dir` and verifies it.
 * Errors: Unavailable when the target holds no archive; otherwise as verifyArchiveFile.
 */
[[nodiscard]] pipeline::Result<Manifest> drill(BackupTarget& target, const Keyring& keyring,
                                               const std::string& work_dir);

}  // namespace stages::persister::backup
