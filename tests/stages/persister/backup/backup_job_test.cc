// One backup end to end on real files: a populated database, its snapshot and manifest, the
// encrypted archive at a directory target, retries of a failing target, retention, the restore
// drill and verification (stages/persister/backup/backup_job.h).
#include "stages/persister/backup/backup_job.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "stages/persister/backup/snapshot.h"
#include "stages/persister/records.h"
#include "stages/persister/sqlite_store.h"
#include "tests/stages/persister/sqlite_dump.h"
#include "tests/stages/persister/test_data.h"

namespace stages::persister::backup {
namespace {

using testing::TempDir;

constexpr std::int64_t kBase = 1795564800000;  // 2026-11-25T00:00:00Z
constexpr std::int64_t kFirst = 1000;

// Writes blocks [from, to) with their points and the offsets after them, as one batch.
void writeBlocks(Store& store, std::int64_t from, std::int64_t to) {
  RecordParser parser;
  WriteBatch batch;
  for (std::int64_t h = from; h < to; ++h) {
    const std::int64_t ts = kBase + (h - kFirst) * 3000;
    auto block = parser.parse(Input::Blocks, std::to_string(h), testing::blockJson(h, ts));
    auto points = parser.parse(Input::Stats, fmt::format("points:{}", h), testing::pointsJson(h, ts, h - kFirst));
    ASSERT_TRUE(block && points);
    batch.mutations.push_back(std::move(*block));
    batch.mutations.push_back(std::move(*points));
  }
  batch.offsets.push_back({.topic = "t.blocks", .partition = 0, .next_offset = to - kFirst});
  batch.offsets.push_back({.topic = "t.stats", .partition = 1, .next_offset = 2 * (to - kFirst)});
  ASSERT_TRUE(store.write(batch));
}

// Counts calls and fails the first `failures` uploads with `error`, then stores in a directory.
class FlakyTarget final : public BackupTarget {
 public:
  FlakyTarget(std::string dir, int failures, pipeline::ErrorType error)
      : real_(directoryTarget(std::move(dir))), failures_(failures), error_(error) {}
  std::string describe() const override { return "flaky:" + real_->describe(); }
  pipeline::Status upload(const std::string& local, const std::string& name, const ArchiveInfo& info) override {
    ++uploads;
    if (failures_ > 0) {
      --failures_;
      return pipeline::Status(error_, "injected failure");
    }
    return real_->upload(local, name, info);
  }
  pipeline::Result<std::vector<StoredBackup>> list() override { return real_->list(); }
  pipeline::Status download(const std::string& name, const std::string& local) override {
    return real_->download(name, local);
  }
  pipeline::Status remove(const std::string& name) override { return real_->remove(name); }
  int uploads = 0;

 private:
  std::unique_ptr<BackupTarget> real_;
  int failures_;
  pipeline::ErrorType error_;
};

class BackupJobTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = SqliteStore::open({.path = dir_.file("live.db")});
    ASSERT_TRUE(store) << store.error().message;
    store_ = std::move(*store);
    writeBlocks(*store_, kFirst, kFirst + 300);
    auto key = keyFromHex("k1", std::string(64, 'a'));
    ASSERT_TRUE(key);
    auto keyring = Keyring::create({*key}, "k1");
    ASSERT_TRUE(keyring);
    keyring_.emplace(std::move(*keyring));
    plan_.db_path = dir_.file("live.db");
    plan_.work_dir = dir_.file("work");
    plan_.initial_backoff = std::chrono::milliseconds(1);
  }

  std::variant<BackupReport, BackupFailure> backup(std::int64_t now_ms) {
    return runBackup(plan_, *keyring_, targets_, now_ms, [this](std::chrono::milliseconds delay) {
      waits.push_back(delay);
      return true;
    });
  }

  TempDir dir_;
  std::unique_ptr<SqliteStore> store_;
  std::optional<Keyring> keyring_;
  BackupPlan plan_;
  std::vector<std::unique_ptr<BackupTarget>> targets_;
  std::vector<std::chrono::milliseconds> waits;
};

// The archive at the target restores to a database with the live one's rows, and its manifest
// describes them: height, counts, the Kafka offsets the persister resumes from.
TEST_F(BackupJobTest, BackupRestoresToTheSameRows) {
  targets_.push_back(directoryTarget(dir_.file("backups")));
  auto result = backup(kBase);
  ASSERT_TRUE(std::holds_alternative<BackupReport>(result))
      << std::get<BackupFailure>(result).error.message;
  const auto& report = std::get<BackupReport>(result);
  EXPECT_EQ("pointtron-20261125T000000000Z.ptbk", report.name);
  EXPECT_EQ(kFirst + 299, report.manifest.highest_block_height);
  EXPECT_EQ(300, report.manifest.row_counts.at("blocks"));
  EXPECT_EQ(300, report.manifest.row_counts.at("points"));
  ASSERT_EQ(2u, report.manifest.kafka_offsets.size());
  EXPECT_EQ(300, report.manifest.kafka_offsets[0].next_offset);
  EXPECT_EQ("k1", report.manifest.key_id);
  // Nothing is left in the work directory.
  EXPECT_TRUE(std::filesystem::is_empty(plan_.work_dir));

  const std::string archive = dir_.file("backups/" + report.name);
  ASSERT_TRUE(extractArchive(archive, *keyring_, dir_.file("restored.db")));
  EXPECT_EQ(testing::dumpDatabase(dir_.file("live.db")), testing::dumpDatabase(dir_.file("restored.db")));
  auto verified = verifyArchiveFile(archive, *keyring_, plan_.work_dir);
  ASSERT_TRUE(verified) << verified.error().message;
  EXPECT_EQ(report.manifest, *verified);
  auto drilled = drill(*targets_.front(), *keyring_, plan_.work_dir);
  ASSERT_TRUE(drilled) << drilled.error().message;
}

// A snapshot is one commit's state even while the writer keeps committing, and a database that
// differs from its manifest (a changed row, not a flipped byte) is refused by verification.
TEST_F(BackupJobTest, SnapshotIsOneCommitAndVerificationComparesWithTheManifest) {
  auto manifest = takeSnapshot(plan_.db_path, dir_.file("snap.db"), kBase);
  ASSERT_TRUE(manifest) << manifest.error().message;
  writeBlocks(*store_, kFirst + 300, kFirst + 400);  // after the snapshot: not in it
  EXPECT_EQ(300, manifest->row_counts.at("blocks"));
  EXPECT_TRUE(verifyDatabase(dir_.file("snap.db"), *manifest));
  {
    SQLite::Database db(dir_.file("snap.db"), SQLite::OPEN_READWRITE);
    db.exec(fmt::format("DELETE FROM points WHERE height = {}", kFirst));
  }
  auto refused = verifyDatabase(dir_.file("snap.db"), *manifest);
  ASSERT_FALSE(refused);
  EXPECT_NE(std::string::npos, refused.error().message.find("differs from the manifest")) << refused.error().message;
}

// A target that fails twice with a retryable error gets the archive on the third attempt, after
// waits that double; one that refuses the credentials is not retried and fails the backup.
TEST_F(BackupJobTest, RetriesRetryableUploadFailuresWithBackoff) {
  auto flaky = std::make_unique<FlakyTarget>(dir_.file("flaky"), 2, pipeline::ErrorType::Http);
  FlakyTarget& target = *flaky;
  targets_.push_back(std::move(flaky));
  auto result = backup(kBase);
  ASSERT_TRUE(std::holds_alternative<BackupReport>(result))
      << std::get<BackupFailure>(result).error.message;
  EXPECT_EQ(3, target.uploads);
  EXPECT_EQ((std::vector<std::chrono::milliseconds>{std::chrono::milliseconds(1), std::chrono::milliseconds(2)}),
            waits);

  targets_.clear();
  auto refusing = std::make_unique<FlakyTarget>(dir_.file("refusing"), 100, pipeline::ErrorType::InvalidConfig);
  FlakyTarget& refused_target = *refusing;
  targets_.push_back(std::move(refusing));
  auto failed = backup(kBase + 1000);
  ASSERT_TRUE(std::holds_alternative<BackupFailure>(failed));
  EXPECT_EQ(FailureReason::Upload, std::get<BackupFailure>(failed).reason);
  EXPECT_EQ(1, refused_target.uploads);
  EXPECT_NE(std::string::npos, std::get<BackupFailure>(failed).error.message.find("after 1 attempt"));
}

// Retention keeps the newest keep_last archives plus the newest of each recent day.
TEST_F(BackupJobTest, RetentionPrunesOldArchivesAtTheTarget) {
  targets_.push_back(directoryTarget(dir_.file("backups")));
  plan_.keep_last = 2;
  plan_.keep_daily_days = 0;
  for (int i = 0; i < 5; ++i) {
    auto result = backup(kBase + i * 60'000);
    ASSERT_TRUE(std::holds_alternative<BackupReport>(result));
    EXPECT_EQ(i < 2 ? 0u : 1u, std::get<BackupReport>(result).pruned.size()) << i;
  }
  auto stored = targets_.front()->list();
  ASSERT_TRUE(stored);
  ASSERT_EQ(2u, stored->size());
  EXPECT_EQ(archiveName(kBase + 3 * 60'000), (*stored)[0].name);
  EXPECT_EQ(archiveName(kBase + 4 * 60'000), (*stored)[1].name);
}

// The snapshot step fails with a clear error when there is no database, and nothing is uploaded.
TEST_F(BackupJobTest, MissingDatabaseFailsTheSnapshotStep) {
  targets_.push_back(directoryTarget(dir_.file("backups")));
  plan_.db_path = dir_.file("absent.db");
  auto result = backup(kBase);
  ASSERT_TRUE(std::holds_alternative<BackupFailure>(result));
  EXPECT_EQ(FailureReason::Snapshot, std::get<BackupFailure>(result).reason);
  auto stored = targets_.front()->list();
  ASSERT_TRUE(stored);
  EXPECT_TRUE(stored->empty());
}

}  // namespace
}  // namespace stages::persister::backup
