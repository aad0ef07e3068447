#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/status.h"
#include "stages/persister/backup/archive.h"
#include "stages/persister/backup/s3_client.h"

// Where backup archives are kept: a directory or an S3-compatible bucket, behind one small
// interface, plus the names archives get and the retention policy. Blocking; worker thread only.

namespace stages::persister::backup {

/** One archive at a target. */
struct StoredBackup {
  std::string name;  // pointtron-YYYYMMDDTHHMMSSmmmZ.ptbk
  std::uint64_t bytes = 0;
  std::int64_t created_at_ms = 0;  // from the name

  friend bool operator==(const StoredBackup&, const StoredBackup&) = default;
};

/** "pointtron-20261126T030405123Z.ptbk" for 2026-11-26 03:04:05.123 UTC: names sort by time. */
std::string archiveName(std::int64_t created_at_ms);
/** The creation time an archive name encodes; nullopt for any other name. */
std::optional<std::int64_t> archiveTime(std::string_view name);

/**
 * The archives to delete so that the newest `keep_last` remain, plus the newest archive of each
 * of the last `keep_daily_days` UTC days (today included). Never the newest archive.
 */
std::vector<std::string> prunable(std::vector<StoredBackup> backups, int keep_last,
                                  int keep_daily_days, std::int64_t now_ms);

/** A place archives are uploaded to, listed, fetched from and pruned. */
class BackupTarget {
 public:
  virtual ~BackupTarget() = default;
  /** "dir:/srv/backups" or "s3://bucket/prefix": for logs and the catalogue; no secret. */
  virtual std::string describe() const = 0;
  /** Stores `local_path` as `name` and reads it back: size and checksum must match `archive`
   * (a directory: SHA-256 of the stored file; S3: size and the ETag against the file's MD5). */
  [[nodiscard]] virtual pipeline::Status upload(const std::string& local_path, const std::string& name,
                                                const ArchiveInfo& archive) = 0;
  /** The archives here, oldest first. */
  [[nodiscard]] virtual pipeline::Result<std::vector<StoredBackup>> list() = 0;
  [[nodiscard]] virtual pipeline::Status download(const std::string& name,
                                                  const std::string& local_path) = 0;
  [[nodiscard]] virtual pipeline::Status remove(const std::string& name) = 0;
};

/** Archives as files of one directory (created 0700 if missing), written via temp + fsync + rename. */
std::unique_ptr<BackupTarget> directoryTarget(std::string directory);
/** Archives as objects under S3Config::prefix. */
std::unique_ptr<BackupTarget> s3Target(S3Config config);

}  // namespace stages::persister::backup
