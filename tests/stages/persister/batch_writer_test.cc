#include "stages/persister/batch_writer.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <deque>
#include <optional>

#include "stages/persister/sqlite_store.h"
#include "tests/stages/persister/sqlite_dump.h"
#include "tests/stages/persister/test_data.h"

namespace stages::persister {
namespace {

using pipeline::Outcome;
using pipeline::kafka::Record;
using testsupport::FakeEventSink;
using testing::TempDir;

constexpr std::int64_t kBase = 1795536000000;

// The real store, with failures injected in front of it on request.
class FlakyStore : public Store {
 public:
  explicit FlakyStore(Store& real) : real_(real) {}
  pipeline::Result<std::vector<PartitionOffset>> offsets() override { return real_.offsets(); }
  pipeline::Result<WriteResult> write(const WriteBatch& batch) override {
    ++writes;
    if (!failures.empty()) {
      pipeline::Error error = failures.front();
      failures.pop_front();
      return error;
    }
    return real_.write(batch);
  }
  pipeline::Status recordBackup(const BackupRow& row) override { return real_.recordBackup(row); }
  std::deque<pipeline::Error> failures;
  int writes = 0;

 private:
  Store& real_;
};

class BatchWriterTest : public ::testing::Test {
 protected:
  BatchWriterTest()
      : store_(*SqliteStore::open({.path = dir_.file("test.db")})),
        flaky_(*store_),
        registry_("persister"),
        stage_metrics_(registry_),
        metrics_(PersisterMetrics::create(registry_)),
        writer_(flaky_, {.blocks = "p.blocks", .stats = "p.stats", .metrics = "p.metrics", .dlq = "p.dlq"},
                sink_, metrics_, stage_metrics_, log_,
                [this](const pipeline::Status& status) { fatal_ = status; }) {}

  // Adds one record; its outcome stays empty until the writer finishes it.
  std::optional<Outcome>& add(const std::string& topic, std::int32_t partition, std::int64_t offset,
                              std::string key, std::string value) {
    outcomes_.push_back(std::nullopt);
    auto* slot = &outcomes_.back();
    writer_.add(Record::make(topic, partition, offset, std::move(key), std::move(value)),
                [slot](Outcome outcome) {
                  ASSERT_FALSE(slot->has_value()) << "finished twice";
                  *slot = outcome;
                });
    return *slot;
  }
  std::optional<Outcome>& addBlock(std::int32_t partition, std::int64_t offset, std::int64_t height) {
    return add("p.blocks", partition, offset, std::to_string(height),
               testing::blockJson(height, kBase + height * 3000));
  }

  std::int64_t count(const std::string& sql) {
    SQLite::Database db(dir_.file("test.db"), SQLite::OPEN_READONLY);
    return db.execAndGet(sql).getInt64();
  }
  double metric(std::string_view name, const pipeline::metrics::Labels& labels = {}) {
    return registry_.value(name, labels);
  }

  TempDir dir_;
  std::unique_ptr<SqliteStore> store_;
  FlakyStore flaky_;
  FakeEventSink sink_;
  pipeline::metrics::Registry registry_;
  pipeline::StageMetrics stage_metrics_;
  PersisterMetrics metrics_;
  pipeline::log::Logger log_{"persister"};
  std::optional<pipeline::Status> fatal_;
  BatchWriter writer_;
  std::deque<std::optional<Outcome>> outcomes_;
};

// Records are finished only when their batch committed, together with the next offset of every
// partition the batch covered.
TEST_F(BatchWriterTest, FinishesRecordsOnlyAfterTheirTransactionCommitted) {
  auto& first = addBlock(0, 10, 100);
  auto& second = addBlock(1, 4, 101);
  auto& third = add("p.stats", 2, 7, "points:100", testing::pointsJson(100, kBase + 300000, 1));
  auto& fourth = addBlock(0, 11, 102);
  EXPECT_EQ(4u, writer_.size());
  EXPECT_FALSE(first.has_value());
  EXPECT_EQ(0, count("SELECT COUNT(*) FROM blocks"));
  writer_.flush();
  for (auto* outcome : {&first, &second, &third, &fourth}) EXPECT_EQ(Outcome::Done, *outcome);
  EXPECT_EQ(3, count("SELECT COUNT(*) FROM blocks"));
  const std::vector<PartitionOffset> expected{{"p.blocks", 0, 12}, {"p.blocks", 1, 5}, {"p.stats", 2, 8}};
  EXPECT_EQ(expected, *store_->offsets());
  EXPECT_EQ(1, metric("point_tron_persister_batches_total"));
  EXPECT_EQ(3, metric("point_tron_persister_written_records_total", {{"topic", "blocks"}}));
  EXPECT_EQ(1, metric("point_tron_persister_written_records_total", {{"topic", "stats"}}));
  EXPECT_TRUE(writer_.empty());
}

// Assignment seeks each partition to its stored offset (the beginning when unknown), and a record
// below a committed offset is finished without being written again.
TEST_F(BatchWriterTest, SeeksToStoredOffsetsAndSkipsWhatIsCommitted) {
  addBlock(0, 10, 100);
  writer_.flush();
  std::vector<pipeline::kafka::TopicPartition> assigned{{"p.blocks", 0}, {"p.blocks", 1}, {"p.stats", 0}};
  writer_.assign(assigned);
  EXPECT_EQ(11, assigned[0].offset);
  EXPECT_EQ(-2, assigned[1].offset);  // RD_KAFKA_OFFSET_BEGINNING
  EXPECT_EQ(-2, assigned[2].offset);
  auto& replayed = addBlock(0, 10, 100);
  EXPECT_EQ(Outcome::Done, replayed);
  EXPECT_TRUE(writer_.empty());
  EXPECT_EQ(1, metric("point_tron_persister_replayed_records_total"));
  EXPECT_EQ(1, metric("point_tron_stage_discarded_events_total", {{"intentional", "true"}}));
}

// A write that fails (disk full) retries every record of the batch, commits nothing, makes the
// sqlite check unhealthy; the next successful batch makes it healthy again.
TEST_F(BatchWriterTest, RetriesTheWholeBatchWhenTheDiskIsFull) {
  flaky_.failures.push_back({pipeline::ErrorType::Io, "database or disk is full"});
  auto& first = addBlock(0, 10, 100);
  auto& second = add("p.stats", 0, 3, "points:100", testing::pointsJson(100, kBase, 1));
  writer_.flush();
  EXPECT_EQ(Outcome::Retry, first);
  EXPECT_EQ(Outcome::Retry, second);
  EXPECT_EQ(0, count("SELECT COUNT(*) FROM blocks"));
  EXPECT_TRUE(store_->offsets()->empty());
  EXPECT_EQ(pipeline::health::State::Unhealthy, writer_.health().state);
  EXPECT_EQ(1, metric("point_tron_persister_failed_batches_total"));
  EXPECT_EQ(1, metric("point_tron_stage_errors_total", {{"error_type", "io"}, {"phase", "processing"}}));
  EXPECT_FALSE(fatal_.has_value());
  // The consumer re-delivers them; this time the disk has room.
  auto& again = addBlock(0, 10, 100);
  writer_.flush();
  EXPECT_EQ(Outcome::Done, again);
  EXPECT_EQ(pipeline::health::State::Healthy, writer_.health().state);
  EXPECT_EQ(1, count("SELECT COUNT(*) FROM blocks"));
}

// A locked database degrades (not unhealthy) and retries; a corrupt one is fatal.
TEST_F(BatchWriterTest, ClassifiesBusyAsDegradedAndCorruptAsFatal) {
  flaky_.failures.push_back({pipeline::ErrorType::Unavailable, "database is locked"});
  auto& busy = addBlock(0, 10, 100);
  writer_.flush();
  EXPECT_EQ(Outcome::Retry, busy);
  EXPECT_EQ(pipeline::health::State::Degraded, writer_.health().state);
  flaky_.failures.push_back({pipeline::ErrorType::Internal, "database disk image is malformed"});
  auto& corrupt = addBlock(0, 10, 100);
  writer_.flush();
  EXPECT_EQ(Outcome::Retry, corrupt);
  ASSERT_TRUE(fatal_.has_value());
  EXPECT_EQ(pipeline::health::State::Unhealthy, writer_.health().state);
  // Nothing more is written once the database is known to be unusable.
  auto& after = addBlock(0, 10, 100);
  writer_.flush();
  EXPECT_EQ(Outcome::Retry, after);
  EXPECT_EQ(2, flaky_.writes);
}

// A value that can never be stored goes to the DLQ with its origin; the batch (and its offset)
// is committed only after the dead letter was acknowledged, and the record is then rejected.
TEST_F(BatchWriterTest, DeadLettersBadValuesBeforeCommittingTheirOffsets) {
  auto& good = addBlock(0, 10, 100);
  auto& bad = add("p.blocks", 0, 11, "101", "{broken");
  ASSERT_EQ(1u, sink_.events.size());
  const auto& dead = sink_.events[0];
  EXPECT_EQ("p.dlq", dead.topic);
  EXPECT_EQ("101", dead.key);
  EXPECT_EQ("{broken", dead.value);
  const std::vector<pipeline::kafka::Header> headers{
      {"error", "invalid_json"}, {"source_topic", "p.blocks"}, {"source_partition", "0"}, {"source_offset", "11"}};
  EXPECT_EQ(headers, dead.headers);
  writer_.flush();
  EXPECT_FALSE(good.has_value()) << "committed before the dead letter was acknowledged";
  EXPECT_EQ(0, flaky_.writes);
  sink_.acknowledge(0);
  EXPECT_EQ(Outcome::Done, good);
  EXPECT_EQ(Outcome::Reject, bad);
  EXPECT_EQ(12, store_->offsets()->at(0).next_offset);
  EXPECT_EQ(1, metric("point_tron_stage_discarded_events_total", {{"intentional", "false"}}));
  EXPECT_EQ(1, metric("point_tron_stage_errors_total", {{"error_type", "invalid_payload"}, {"phase", "processing"}}));
}

// If the DLQ does not take the dead letter, the whole batch is retried.
TEST_F(BatchWriterTest, RetriesTheBatchWhenTheDeadLetterFails) {
  auto& good = addBlock(0, 10, 100);
  auto& bad = add("p.stats", 0, 11, "points:1", R"({"schema":"stats.points.v1"})");
  writer_.flush();
  sink_.fail(0);
  EXPECT_EQ(Outcome::Retry, good);
  EXPECT_EQ(Outcome::Retry, bad);
  EXPECT_EQ(0, flaky_.writes);
  EXPECT_TRUE(writer_.empty());
}

// Retractions and tombstones are counted once committed; replaying the same records produces
// the same database.
TEST_F(BatchWriterTest, ReplaysLeaveTheSameDatabase) {
  const auto feed = [&] {
    addBlock(0, 0, 100);
    addBlock(0, 1, 101);
    add("p.blocks", 0, 2, "101", testing::retractionJson(101));
    add("p.stats", 0, 0, "points:101", testing::pointsJson(101, kBase, 0));
    add("p.stats", 0, 1, "points:101", "");
    add("p.metrics", 0, 0, "fetcher/host-1", testing::metricJson("fetcher", 5, 101));
    writer_.flush();
  };
  feed();
  const std::string once = testing::dumpDatabase(dir_.file("test.db"));
  EXPECT_EQ(1, count("SELECT COUNT(*) FROM blocks"));
  EXPECT_EQ(0, count("SELECT COUNT(*) FROM points"));
  EXPECT_EQ(1, metric("point_tron_persister_retractions_total"));
  EXPECT_EQ(1, metric("point_tron_persister_tombstones_total"));
  // A fresh writer over the same database (a restart without seeking) writes the same again.
  BatchWriter replay(*store_, {.blocks = "p.blocks", .stats = "p.stats", .metrics = "p.metrics", .dlq = "p.dlq"},
                     sink_, metrics_, stage_metrics_, log_, [](const pipeline::Status&) {});
  for (const auto& [topic, offset, key, value] :
       std::vector<std::tuple<std::string, std::int64_t, std::string, std::string>>{
           {"p.blocks", 0, "100", testing::blockJson(100, kBase + 300000)},
           {"p.blocks", 1, "101", testing::blockJson(101, kBase + 303000)},
           {"p.blocks", 2, "101", testing::retractionJson(101)},
           {"p.stats", 0, "points:101", testing::pointsJson(101, kBase, 0)},
           {"p.stats", 1, "points:101", ""}}) {
    replay.add(Record::make(topic, 0, offset, key, value), [](Outcome outcome) { EXPECT_EQ(Outcome::Done, outcome); });
  }
  replay.flush();
  EXPECT_EQ(once, testing::dumpDatabase(dir_.file("test.db")));
}

}  // namespace
}  // namespace stages::persister
