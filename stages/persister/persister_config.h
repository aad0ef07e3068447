#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "pipeline/config/config_source.h"
#include "pipeline/status.h"
#include "stages/persister/backup/backup_config.h"

namespace stages::persister {

/**
 * The persister's configuration: every key under `persister.` (stages/persister/README.md lists
 * them with defaults). Relative paths are relative to the working directory.
 */
struct PersisterConfig {
  /** persister.data_dir (path; var/persister): the database's directory (created 0700 if
   * missing) and where a generated API token file is kept. */
  std::string data_dir = "var/persister";
  /** persister.db_path (path; <data_dir>/pointtron.db): the SQLite database file. */
  std::string db_path;
  /** persister.api_tokens (list, secret; empty): accepted bearer tokens, at least 16 characters
   * each. Empty: a token is generated once into <data_dir>/api_token (mode 0600). */
  std::vector<std::string> api_tokens;
  /** persister.batch_max_records (1–100000; 2000): records per transaction at most. */
  std::size_t batch_max_records = 2000;
  /** persister.batch_max_delay_ms (1–60000; 200): how long the first record of a batch waits for
   * the batch to fill before it is written anyway. */
  std::int64_t batch_max_delay_ms = 200;
  /** persister.block_retention_days (0–36500; 0): per-block rows (blocks, points) older than
   * this behind the newest block are deleted; 0 keeps them all. Aggregates are always kept. */
  std::int64_t block_retention_days = 0;
  /** persister.busy_timeout_ms (0–600000; 5000): SQLite's busy_timeout on every connection. */
  std::int64_t busy_timeout_ms = 5000;
  /** persister.api_answer_cache_ms (0–60000; 1000): how long an API answer may be served again
   * to the same request while nothing was committed; 0 renders every answer afresh. */
  std::int64_t api_answer_cache_ms = 1000;

  /** backup.* (stages/persister/backup/backup_config.h). */
  backup::BackupConfig backup;

  static constexpr std::size_t kMinTokenLength = 16;

  /** Applies defaults and validates; an invalid value is an InvalidConfig error naming the key. */
  [[nodiscard]] static pipeline::Result<PersisterConfig> parse(
      const pipeline::config::ConfigSource& source);
};

}  // namespace stages::persister
