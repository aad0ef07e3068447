#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/config/config_source.h"
#include "pipeline/status.h"
#include "stages/persister/backup/backup_job.h"
#include "stages/persister/backup/keyring.h"
#include "stages/persister/backup/s3_client.h"

namespace stages::persister::backup {

/**
 * The `backup.*` keys (read by the persister and `pointtron-persister backup …`; the table is in
 * docs/operations.md). Backups need a key: without backup.key_file or backup.encryption_secret no backup is
 * written (never an unencrypted one), and the schedule stays off.
 */
struct BackupConfig {
  /** backup.key_file (path): the current key, 64 hex digits or 32 bytes, mode 0600; its id is
   * the file name without extension (e.g. 2026-11.key → "2026-11"). */
  std::string key_file;
  /** backup.encryption_secret (secret, 64 hex digits; environment
   * POINTTRON_BACKUP__ENCRYPTION_SECRET) with backup.key_id
   * ("env"): the current key when no key_file is given. */
  std::string key_hex;
  std::string key_id = "env";
  /** backup.previous_key_files (paths): older keys, to verify and restore older archives. */
  std::vector<std::string> previous_key_files;
  /** backup.directory (path; var/backups): the directory target. Empty: none. */
  std::string directory = "var/backups";
  /** backup.s3.*: the S3 target, used when backup.s3.bucket is set. */
  std::optional<S3Config> s3;
  /** backup.interval_s (0–31 536 000; 3600): scheduled backups; 0: on demand only. */
  std::int64_t interval_s = 3600;
  /** backup.drill_interval_s (0–31 536 000; 86400): scheduled restore drills; 0: none. */
  std::int64_t drill_interval_s = 86'400;
  /** backup.keep_last (1–10 000; 24) and backup.keep_daily_days (0–3 650; 7): retention. */
  int keep_last = 24;
  int keep_daily_days = 7;
  /** backup.compression_level (1–19; 3): zstd level. */
  int compression_level = 3;
  /** backup.work_dir (path; <persister.data_dir>/backup-work): snapshots and drills. */
  std::string work_dir;

  bool hasKey() const { return !key_file.empty() || !key_hex.empty(); }

  /** Errors: InvalidConfig naming the key. `data_dir` is persister.data_dir. */
  [[nodiscard]] static pipeline::Result<BackupConfig> parse(const pipeline::config::ConfigSource& source,
                                                            const std::string& data_dir);

  /** The keyring: the current key plus the previous ones. Errors: InvalidConfig (no key, a bad
   * or exposed key file), Io. */
  [[nodiscard]] pipeline::Result<Keyring> loadKeyring() const;
  /** One BackupTarget per configured target (directory, S3), in that order. */
  std::vector<std::unique_ptr<BackupTarget>> targets() const;
  /** The plan for `db_path`. */
  BackupPlan plan(const std::string& db_path, std::int64_t busy_timeout_ms) const;
};

}  // namespace stages::persister::backup
