#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "pipeline/status.h"
#include "stages/persister/migrations.h"
#include "stages/persister/store.h"

namespace stages::persister {

/** How the persister opens its database. */
struct SqliteOptions {
  std::string path;
  /** How long a statement waits for a lock before SQLITE_BUSY (PRAGMA busy_timeout). */
  std::int64_t busy_timeout_ms = 5000;
  /** Per-block rows (blocks, points) older than this, in block time behind the newest block,
   * are deleted; 0 keeps everything. Aggregates are always kept. */
  std::int64_t block_retention_days = 0;
};

/**
 * The persister's write connection (SQLiteCpp behind a pimpl, so nothing else sees it).
 *
 * open() creates the file if needed, sets WAL, synchronous=NORMAL, busy_timeout and
 * foreign_keys=ON, and applies every migration newer than the database's schema_version, each in
 * its own transaction with its schema_version row. A database newer than the newest migration is
 * refused (InvalidConfig: a binary must never write a schema it does not know).
 *
 * write() is one `BEGIN IMMEDIATE … COMMIT` with prepared statements: upserts for rows, deletes
 * for retractions and tombstones, the partitions' next offsets, and at most kPruneRowsPerWrite
 * expired per-block rows. Replaying a batch leaves the same rows (everything is keyed).
 *
 * Lifecycle: open() → write()* → destruction (closes the connection). Loop thread only.
 */
class SqliteStore final : public Store {
 public:
  static constexpr int kPruneRowsPerWrite = 5000;

  /** Errors: InvalidConfig (newer schema), Io (cannot open or create), Internal (bad migration). */
  [[nodiscard]] static pipeline::Result<std::unique_ptr<SqliteStore>> open(
      const SqliteOptions& options, std::span<const Migration> migrations = bundledMigrations());
  ~SqliteStore() override;

  pipeline::Result<std::vector<PartitionOffset>> offsets() override;
  pipeline::Status recordBackup(const BackupRow& row) override;
  pipeline::Result<WriteResult> write(const WriteBatch& batch) override;

  /** The schema version the database is at. */
  int schemaVersion() const noexcept { return schema_version_; }

 private:
  struct Impl;
  explicit SqliteStore(std::unique_ptr<Impl> impl, int schema_version);
  std::unique_ptr<Impl> impl_;
  int schema_version_ = 0;
};

/**
 * A read-only connection serving Queries. Opened after SqliteStore::open() created and migrated
 * the file. In WAL mode its reads see the last committed write and never block the writer.
 * Loop thread only.
 */
class SqliteQueries final : public Queries {
 public:
  /** Errors: Io when the file cannot be opened. */
  [[nodiscard]] static pipeline::Result<std::unique_ptr<SqliteQueries>> open(
      const std::string& path, std::int64_t busy_timeout_ms);
  ~SqliteQueries() override;

  pipeline::Result<std::optional<BlockView>> latestBlock() override;
  pipeline::Result<std::vector<BlockView>> blocks(std::int64_t from, std::int64_t to,
                                                  int limit) override;
  pipeline::Result<std::optional<DailyRow>> dayContaining(std::int64_t ms) override;
  pipeline::Result<std::optional<DailyRow>> day(const std::string& date) override;
  pipeline::Result<std::vector<ParityRow>> parity() override;
  pipeline::Result<std::vector<PointsRow>> points(std::int64_t from, std::int64_t to,
                                                  int limit) override;
  pipeline::Result<std::vector<PointsRow>> pointsEvery(std::int64_t from, std::int64_t to,
                                                       std::int64_t step) override;
  pipeline::Result<std::vector<CandleRow>> candles(const std::string& period, std::int64_t from,
                                                   std::int64_t to) override;
  pipeline::Result<std::optional<CandleRow>> candleAtOrBefore(const std::string& period,
                                                              std::int64_t at_most) override;
  pipeline::Result<std::vector<WitnessRow>> witnesses(const std::string& date, int limit) override;
  pipeline::Result<std::optional<std::string>> latestWitnessDate() override;
  pipeline::Result<std::vector<StageStatusRow>> stageStatus() override;
  pipeline::Result<std::optional<BackupRow>> lastBackup() override;
  pipeline::Result<std::vector<BackupRow>> recentBackups(int limit) override;
  pipeline::Result<DatabaseFigures> databaseFigures() override;
  pipeline::Result<std::int64_t> dataVersion() override;

 private:
  struct Impl;
  explicit SqliteQueries(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace stages::persister
