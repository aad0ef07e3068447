#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/status.h"
#include "stages/persister/records.h"

namespace stages::persister {

/** Where the persister resumes a partition: the offset after the last record it committed. */
struct PartitionOffset {
  std::string topic;  // full name
  std::int32_t partition = 0;
  std::int64_t next_offset = 0;

  friend bool operator==(const PartitionOffset&, const PartitionOffset&) = default;
};

/** Everything one transaction writes: the records' changes and the offsets after them. */
struct WriteBatch {
  std::vector<Mutation> mutations;
  std::vector<PartitionOffset> offsets;
};

/** What a committed write left behind. */
struct WriteResult {
  std::int64_t pruned_rows = 0;  // per-block rows removed by retention in the same transaction
  std::optional<std::int64_t> latest_block_height;  // highest block row after the commit
};

/** A row of the backups catalogue. */
struct BackupRow {
  std::int64_t id = 0;
  std::int64_t started_at_ms = 0;
  std::optional<std::int64_t> finished_at_ms;
  std::string location;
  std::optional<std::int64_t> size_bytes;
  std::optional<std::string> sha256;
  std::string status;  // succeeded | failed
  bool verified = false;
};

/**
 * The write side of the database: one writer per database (the persister is the only one).
 *
 * write() applies a whole batch and its offsets atomically: either all of it is committed or
 * nothing is. Error contract: Unavailable (busy or locked: retry), Io (disk full, I/O error,
 * read-only file system: retry once the cause is gone), Internal (corrupt database or a broken
 * invariant: fatal). Loop thread only.
 */
class Store {
 public:
  virtual ~Store() = default;
  /** Every stored partition offset. */
  [[nodiscard]] virtual pipeline::Result<std::vector<PartitionOffset>> offsets() = 0;
  [[nodiscard]] virtual pipeline::Result<WriteResult> write(const WriteBatch& batch) = 0;
  /** Adds one finished backup to the `backups` catalogue (its id is assigned). */
  [[nodiscard]] virtual pipeline::Status recordBackup(const BackupRow& row) = 0;
};

/** A block row with the point and score of the same block (null until stats has them). */
struct BlockView {
  BlockRow block;
  std::optional<std::int64_t> point;
  std::optional<std::int64_t> score;
};


/** Figures about the database itself. */
struct DatabaseFigures {
  std::optional<std::int64_t> latest_block_height;
  std::optional<std::int64_t> latest_points_height;
  std::int64_t size_bytes = 0;
  int schema_version = 0;
};

/**
 * The read side: every query the API serves, each answered from an index with a bounded number
 * of rows (callers pass validated limits). Implementations read through their own read-only
 * connection, so reads never take the writer's lock (WAL). Errors: Unavailable or Io (the API
 * answers 503), Internal. Loop thread only.
 */
class Queries {
 public:
  virtual ~Queries() = default;
  [[nodiscard]] virtual pipeline::Result<std::optional<BlockView>> latestBlock() = 0;
  /** Blocks with from ≤ height ≤ to, ascending, at most `limit`. */
  [[nodiscard]] virtual pipeline::Result<std::vector<BlockView>> blocks(std::int64_t from,
                                                                       std::int64_t to,
                                                                       int limit) = 0;
  /** The day whose [start_ms, start_ms + 1 day) holds `ms`. */
  [[nodiscard]] virtual pipeline::Result<std::optional<DailyRow>> dayContaining(std::int64_t ms) = 0;
  [[nodiscard]] virtual pipeline::Result<std::optional<DailyRow>> day(const std::string& date) = 0;
  [[nodiscard]] virtual pipeline::Result<std::vector<ParityRow>> parity() = 0;
  /** Points with from ≤ height ≤ to: the newest `limit` of them, returned ascending. */
  [[nodiscard]] virtual pipeline::Result<std::vector<PointsRow>> points(std::int64_t from,
                                                                       std::int64_t to,
                                                                       int limit) = 0;
  /** Points at heights from, from + step, … ≤ to (those that exist), ascending. */
  [[nodiscard]] virtual pipeline::Result<std::vector<PointsRow>> pointsEvery(std::int64_t from,
                                                                            std::int64_t to,
                                                                            std::int64_t step) = 0;
  /** Candles of `period` with from ≤ start ≤ to, ascending. */
  [[nodiscard]] virtual pipeline::Result<std::vector<CandleRow>> candles(const std::string& period,
                                                                        std::int64_t from,
                                                                        std::int64_t to) = 0;
  /** The last candle of `period` with start ≤ at_most. */
  [[nodiscard]] virtual pipeline::Result<std::optional<CandleRow>> candleAtOrBefore(
      const std::string& period, std::int64_t at_most) = 0;
  /** Witnesses of `date`, most blocks first, at most `limit`. */
  [[nodiscard]] virtual pipeline::Result<std::vector<WitnessRow>> witnesses(const std::string& date,
                                                                           int limit) = 0;
  [[nodiscard]] virtual pipeline::Result<std::optional<std::string>> latestWitnessDate() = 0;
  [[nodiscard]] virtual pipeline::Result<std::vector<StageStatusRow>> stageStatus() = 0;
  /** The newest successful backup. */
  [[nodiscard]] virtual pipeline::Result<std::optional<BackupRow>> lastBackup() = 0;
  /** The newest `limit` catalogue rows, successful or not, newest first. */
  [[nodiscard]] virtual pipeline::Result<std::vector<BackupRow>> recentBackups(int limit) = 0;
  [[nodiscard]] virtual pipeline::Result<DatabaseFigures> databaseFigures() = 0;
  /** Changes whenever another connection committed since the last call (PRAGMA data_version):
   * an answer computed at one value is still the database's answer while it stays the same. */
  [[nodiscard]] virtual pipeline::Result<std::int64_t> dataVersion() = 0;
};

}  // namespace stages::persister
