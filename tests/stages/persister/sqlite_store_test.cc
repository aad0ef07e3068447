#include "stages/persister/sqlite_store.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <vector>

#include "stages/persister/records.h"
#include "tests/stages/persister/sqlite_dump.h"
#include "tests/stages/persister/test_data.h"

namespace stages::persister {
namespace {

using testing::TempDir;

constexpr std::int64_t kDayMs = 86'400'000;
constexpr std::int64_t kBase = 1795536000000;  // 2026-11-25T00:00Z

Mutation parsed(Input input, const std::string& key, const std::string& value) {
  RecordParser parser;
  auto mutation = parser.parse(input, key, value);
  EXPECT_TRUE(mutation) << mutation.error().message;
  return mutation ? std::move(*mutation) : Mutation{};
}

Mutation block(std::int64_t height, std::int64_t ts, int variant = 0) {
  return parsed(Input::Blocks, std::to_string(height), testing::blockJson(height, ts, variant));
}

Mutation points(std::int64_t height, std::int64_t ts, std::int64_t score, int variant = 0) {
  return parsed(Input::Stats, "points:" + std::to_string(height), testing::pointsJson(height, ts, score, variant));
}

std::int64_t count(const std::string& path, const std::string& sql) {
  SQLite::Database db(path, SQLite::OPEN_READONLY);
  return db.execAndGet(sql).getInt64();
}

class SqliteStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<SqliteStore> open(SqliteOptions options = {}) {
    options.path = path_;
    auto store = SqliteStore::open(options);
    EXPECT_TRUE(store) << store.error().message;
    return store ? std::move(*store) : nullptr;
  }
  TempDir dir_;
  std::string path_ = dir_.file("test.db");
};

// A new database gets every migration, WAL and its schema_version rows; reopening changes nothing.
TEST_F(SqliteStoreTest, MigratesANewDatabaseOnceInWalMode) {
  auto store = open();
  ASSERT_NE(nullptr, store);
  const int newest = bundledMigrations().back().version;
  EXPECT_EQ(newest, store->schemaVersion());
  EXPECT_EQ(newest, count(path_, "SELECT COUNT(*) FROM schema_version"));
  {
    SQLite::Database db(path_, SQLite::OPEN_READONLY);
    EXPECT_EQ("wal", db.execAndGet("PRAGMA journal_mode").getString());
    for (const char* table : {"blocks", "points", "daily_stats", "hourly_stats", "candles", "witness_stats",
                              "parity", "kafka_offsets", "stage_status", "backups", "meta"}) {
      EXPECT_TRUE(db.tableExists(table)) << table;
    }
  }
  ASSERT_TRUE(store->write({.mutations = {block(100, kBase)}}));
  store.reset();
  store = open();
  ASSERT_NE(nullptr, store);
  EXPECT_EQ(newest, count(path_, "SELECT COUNT(*) FROM schema_version"));
  EXPECT_EQ(1, count(path_, "SELECT COUNT(*) FROM blocks"));
}

// Only migrations newer than the database run, each with its schema_version row; a failing one
// leaves the database at the previous version.
TEST_F(SqliteStoreTest, AppliesOnlyNewerMigrationsAndRollsBackAFailingOne) {
  std::vector<Migration> current(bundledMigrations().begin(), bundledMigrations().end());
  const int next = current.back().version + 1;
  ASSERT_NE(nullptr, open());
  std::vector<Migration> with_broken = current;
  with_broken.push_back({next, "broken", "CREATE TABLE extra (x); THIS IS NOT SQL;"});
  auto failed = SqliteStore::open({.path = path_}, with_broken);
  ASSERT_FALSE(failed);
  EXPECT_NE(std::string::npos, failed.error().message.find("_broken")) << failed.error().message;
  EXPECT_EQ(next - 1, count(path_, "SELECT MAX(version) FROM schema_version"));
  EXPECT_EQ(0, count(path_, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'extra'"));
  std::vector<Migration> with_fixed = current;
  with_fixed.push_back({next, "extra", "CREATE TABLE extra (x);"});
  auto migrated = SqliteStore::open({.path = path_}, with_fixed);
  ASSERT_TRUE(migrated) << migrated.error().message;
  EXPECT_EQ(next, (*migrated)->schemaVersion());
  EXPECT_EQ(next, count(path_, "SELECT MAX(version) FROM schema_version"));
  EXPECT_EQ(1, count(path_, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'extra'"));
}

// A database written by a newer binary is refused with InvalidConfig, untouched.
TEST_F(SqliteStoreTest, RefusesADatabaseNewerThanTheBinary) {
  ASSERT_NE(nullptr, open());
  {
    SQLite::Database db(path_, SQLite::OPEN_READWRITE);
    db.exec("INSERT INTO schema_version (version, name, applied_at_ms) VALUES (999, 'future', 0)");
  }
  auto refused = SqliteStore::open({.path = path_});
  ASSERT_FALSE(refused);
  EXPECT_EQ(pipeline::ErrorType::InvalidConfig, refused.error().type);
  EXPECT_NE(std::string::npos, refused.error().message.find("newer than this binary")) << refused.error().message;
}

// Rows and offsets of a batch commit together; a batch that cannot take the lock leaves neither,
// reports Unavailable, and succeeds unchanged once the lock is gone.
TEST_F(SqliteStoreTest, WritesRowsAndOffsetsInOneTransaction) {
  auto store = open({.busy_timeout_ms = 0});
  ASSERT_NE(nullptr, store);
  const WriteBatch batch{.mutations = {block(100, kBase), points(100, kBase, 1)},
                         .offsets = {{"p.blocks", 0, 8}, {"p.stats", 2, 41}}};
  {
    SQLite::Database other(path_, SQLite::OPEN_READWRITE);
    other.exec("BEGIN IMMEDIATE");
    auto locked = store->write(batch);
    ASSERT_FALSE(locked);
    EXPECT_EQ(pipeline::ErrorType::Unavailable, locked.error().type) << locked.error().message;
    other.exec("ROLLBACK");
  }
  EXPECT_EQ(0, count(path_, "SELECT COUNT(*) FROM blocks"));
  EXPECT_TRUE(store->offsets()->empty());
  ASSERT_TRUE(store->write(batch));
  EXPECT_EQ(1, count(path_, "SELECT COUNT(*) FROM blocks"));
  EXPECT_EQ(1, count(path_, "SELECT score FROM points WHERE height = 100"));
  const std::vector<PartitionOffset> expected{{"p.blocks", 0, 8}, {"p.stats", 2, 41}};
  EXPECT_EQ(expected, *store->offsets());
}

// A retraction deletes the block only while the row still holds the retracted block_id; the
// replacement of a fork is kept.
TEST_F(SqliteStoreTest, RetractionsDeleteOnlyTheRetractedBlock) {
  auto store = open();
  ASSERT_TRUE(store->write({.mutations = {block(100, kBase), block(101, kBase + 3000)}}));
  ASSERT_TRUE(store->write({.mutations = {parsed(Input::Blocks, "101", testing::retractionJson(101)),
                                          block(101, kBase + 3000, /*variant=*/1)}}));
  EXPECT_EQ(testing::blockId(101, 1, 1),
            SQLite::Database(path_).execAndGet("SELECT block_id FROM blocks WHERE height = 101").getString());
  // A late retraction of the orphan finds nothing to delete.
  ASSERT_TRUE(store->write({.mutations = {parsed(Input::Blocks, "101", testing::retractionJson(101))}}));
  EXPECT_EQ(2, count(path_, "SELECT COUNT(*) FROM blocks"));
  ASSERT_TRUE(store->write({.mutations = {parsed(Input::Blocks, "101", testing::retractionJson(101, 1))}}));
  EXPECT_EQ(1, count(path_, "SELECT COUNT(*) FROM blocks"));
}

// A tombstone deletes exactly the row its key names, in every stats table.
TEST_F(SqliteStoreTest, TombstonesDeleteTheirRows) {
  auto store = open();
  const std::string day = "2026-11-25";
  ASSERT_TRUE(store->write({.mutations = {
      points(100, kBase, 1), points(101, kBase + 3000, 0),
      parsed(Input::Stats, "daily:" + day, testing::dailyJson(day, kBase, 2, 100, 0)),
      parsed(Input::Stats, "hourly:2026-11-25T00", testing::hourlyJson("2026-11-25T00", kBase)),
      parsed(Input::Stats, "candle:1m:" + std::to_string(kBase), testing::candleJson("1m", kBase, kBase + 60000, 0, 1, 0, 0, 2, 100)),
      parsed(Input::Stats, "witness:" + day + ":" + testing::kWitnessA, testing::witnessJson(day, testing::kWitnessA, testing::kWitnessAHex, 1, 0)),
      parsed(Input::Stats, "parity:1000", testing::parityJson(1000, 101))}}));
  ASSERT_TRUE(store->write({.mutations = {
      parsed(Input::Stats, "points:101", ""), parsed(Input::Stats, "daily:" + day, ""),
      parsed(Input::Stats, "hourly:2026-11-25T00", ""), parsed(Input::Stats, "candle:1m:" + std::to_string(kBase), ""),
      parsed(Input::Stats, "witness:" + day + ":" + testing::kWitnessA, ""), parsed(Input::Stats, "parity:1000", "")}}));
  EXPECT_EQ(1, count(path_, "SELECT COUNT(*) FROM points"));
  for (const char* table : {"daily_stats", "hourly_stats", "candles", "witness_stats", "parity"}) {
    EXPECT_EQ(0, count(path_, std::string("SELECT COUNT(*) FROM ") + table)) << table;
  }
}

// Writing the same batch again (a replay after a crash) leaves identical tables.
TEST_F(SqliteStoreTest, ReplayingABatchChangesNothing) {
  auto store = open();
  WriteBatch batch{.offsets = {{"p.blocks", 0, 50}}};
  for (std::int64_t h = 100; h < 150; ++h) {
    batch.mutations.push_back(block(h, kBase + (h - 100) * 3000));
    batch.mutations.push_back(points(h, kBase + (h - 100) * 3000, h - 99));
  }
  batch.mutations.push_back(parsed(Input::Stats, "daily:2026-11-25", testing::dailyJson("2026-11-25", kBase, 50, 100, 0)));
  ASSERT_TRUE(store->write(batch));
  const std::string once = testing::dumpDatabase(path_);
  ASSERT_TRUE(store->write(batch));
  EXPECT_EQ(once, testing::dumpDatabase(path_));
}

// Retention deletes per-block rows older than the window behind the newest block, and keeps
// aggregates.
TEST_F(SqliteStoreTest, RetentionPrunesPerBlockRowsOnly) {
  auto store = open({.block_retention_days = 1});
  ASSERT_TRUE(store->write({.mutations = {
      block(100, kBase), points(100, kBase, 1), block(101, kBase + kDayMs / 2),
      parsed(Input::Stats, "daily:2026-11-25", testing::dailyJson("2026-11-25", kBase, 2, 100, 0))}}));
  EXPECT_EQ(2, count(path_, "SELECT COUNT(*) FROM blocks"));
  auto written = store->write({.mutations = {block(102, kBase + kDayMs + 1)}});
  ASSERT_TRUE(written);
  EXPECT_EQ(2, written->pruned_rows);  // block 100 and its points row
  EXPECT_EQ(2, count(path_, "SELECT COUNT(*) FROM blocks"));
  EXPECT_EQ(0, count(path_, "SELECT COUNT(*) FROM points"));
  EXPECT_EQ(1, count(path_, "SELECT COUNT(*) FROM daily_stats"));
}

// A metric batch older than the stored one of the same instance does not overwrite it.
TEST_F(SqliteStoreTest, StageStatusKeepsTheNewestBatch) {
  auto store = open();
  ASSERT_TRUE(store->write({.mutations = {parsed(Input::Metrics, "fetcher/host-1", testing::metricJson("fetcher", 2000, 10))}}));
  ASSERT_TRUE(store->write({.mutations = {parsed(Input::Metrics, "fetcher/host-1", testing::metricJson("fetcher", 1000, 5))}}));
  EXPECT_EQ(2000, count(path_, "SELECT ts_ms FROM stage_status"));
}

}  // namespace
}  // namespace stages::persister
