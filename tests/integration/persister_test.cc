// The real pointtron-persister against the test broker: block.v1 values (with forks and a
// malformed one) on blocks and statistics (with tombstones) on stats, ingested while the
// persister is SIGKILLed at random moments 20 times; the database must end equal to an
// uninterrupted run's, with every height exactly once (stages/persister/README.md).
#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "pipeline/kafka/producer.h"
#include "pipeline/metrics/registry.h"
#include "pipeline/metrics/stage_metrics.h"
#include "tests/integration/child_process.h"
#include "tests/integration/fetcher_harness.h"
#include "tests/integration/stage_process.h"
#include "tests/stages/persister/sqlite_dump.h"
#include "tests/stages/persister/test_data.h"
#include "tests/support/kafka_env.h"
#include "tests/support/loop_runner.h"
#include "tests/support/raw_http.h"

namespace testsupport {
namespace {

namespace data = stages::persister::testing;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr std::int64_t kFirst = 70'000'000;
constexpr std::int64_t kHeights = 2'000;
constexpr std::int64_t kBaseMs = 1795536000000;  // 2026-11-25T00:00:00Z
constexpr int kKills = 20;

// One record to produce.
struct Input {
  std::string topic;  // base name: blocks or stats
  std::string key;
  std::string value;  // empty: a tombstone
};

// The whole input in production order. Every 250th height forks: its block is retracted and
// replaced, its points tombstoned and replaced; 20-block candles are written twice (partial, then
// complete) and every tenth one is tombstoned; the day, its witnesses and the parity are updated
// every 100 heights; one blocks value is malformed (it goes to the DLQ and changes nothing).
std::vector<Input> makeInputs(std::int64_t from = kFirst, std::int64_t to = kFirst + kHeights) {
  std::vector<Input> inputs;
  std::int64_t score = 0;
  for (std::int64_t h = kFirst; h < from; ++h) score += (h % 10) % 2 == 1 ? -1 : 1;
  for (std::int64_t h = from; h < to; ++h) {
    const std::int64_t ts = kBaseMs + (h - kFirst) * 3000;
    score += (h % 10) % 2 == 1 ? -1 : 1;
    inputs.push_back({"blocks", std::to_string(h), data::blockJson(h, ts)});
    inputs.push_back({"stats", fmt::format("points:{}", h), data::pointsJson(h, ts, score)});
    if (h % 250 == 7) {
      inputs.push_back({"blocks", std::to_string(h), data::retractionJson(h)});
      inputs.push_back({"stats", fmt::format("points:{}", h), ""});
      inputs.push_back({"blocks", std::to_string(h), data::blockJson(h, ts, /*variant=*/1)});
      inputs.push_back({"stats", fmt::format("points:{}", h), data::pointsJson(h, ts, score, 1)});
    }
    if (h % 20 == 9) {
      const std::int64_t start = h - h % 20;
      inputs.push_back({"stats", fmt::format("candle:20b:{}", start),
                        data::candleJson("20b", start, start + 20, score, score + 2, score - 2, score, 10, start)});
    }
    if (h % 20 == 19) {
      const std::int64_t start = h - h % 20;
      const std::string key = fmt::format("candle:20b:{}", start);
      inputs.push_back({"stats", key, data::candleJson("20b", start, start + 20, score, score + 3, score - 3, score, 20, start)});
      if (start % 200 == 0) inputs.push_back({"stats", key, ""});
    }
    if (h % 100 == 99) {
      const std::int64_t blocks = h - kFirst + 1;
      inputs.push_back({"stats", "daily:2026-11-25", data::dailyJson("2026-11-25", kBaseMs, blocks, kFirst, score)});
      inputs.push_back({"stats", std::string("witness:2026-11-25:") + data::kWitnessA,
                        data::witnessJson("2026-11-25", data::kWitnessA, data::kWitnessAHex, blocks / 2, 0)});
      inputs.push_back({"stats", std::string("witness:2026-11-25:") + data::kWitnessB,
                        data::witnessJson("2026-11-25", data::kWitnessB, data::kWitnessBHex, blocks - blocks / 2, 1)});
      inputs.push_back({"stats", "parity:1000", data::parityJson(1000, h)});
    }
    if (h == kFirst + 1234) inputs.push_back({"blocks", "garbage", "{this is not a block"});
  }
  return inputs;
}

// Produces inputs[from, to); records the next offset of every partition written.
void produce(const std::string& prefix, const std::vector<Input>& inputs, std::size_t from, std::size_t to,
             std::map<std::pair<std::string, std::int32_t>, std::int64_t>& end_offsets) {
  LoopRunner runner;
  pipeline::metrics::Registry registry("test");
  pipeline::StageMetrics stage_metrics(registry);
  auto producer = pipeline::kafka::Producer::create(runner.loop(), testKafkaConfig(), stage_metrics, registry);
  ASSERT_TRUE(producer) << producer.error().message;
  std::size_t acknowledged = 0;
  for (std::size_t i = from; i < to; ++i) {
    const std::string topic = prefix + inputs[i].topic;
    (*producer)->send({.topic = topic, .key = inputs[i].key, .value = inputs[i].value},
                      [&, topic](const pipeline::Status& status, const pipeline::Delivery& delivery) {
                        EXPECT_TRUE(status.isOk()) << status.toString();
                        auto& next = end_offsets[{topic, delivery.partition}];
                        next = std::max(next, delivery.offset + 1);
                        ++acknowledged;
                      });
  }
  ASSERT_TRUE(runner.runUntil([&] { return acknowledged == to - from; }, seconds(30)));
}

// Polls `check` every 5 ms until it holds (true) or the deadline passes (false).
bool waitFor(const std::function<bool()>& check, milliseconds deadline) {
  const auto give_up = std::chrono::steady_clock::now() + deadline;
  while (!check()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    struct timespec pause{0, 5'000'000};
    ::nanosleep(&pause, nullptr);  // polling period, not synchronisation
  }
  return true;
}

// The stored next offsets of a database (empty while it does not exist or is being created).
std::map<std::pair<std::string, std::int32_t>, std::int64_t> storedOffsets(const std::string& path) {
  std::map<std::pair<std::string, std::int32_t>, std::int64_t> offsets;
  if (!std::filesystem::exists(path)) return offsets;
  try {
    SQLite::Database db(path, SQLite::OPEN_READONLY);
    db.setBusyTimeout(1000);
    if (!db.tableExists("kafka_offsets")) return offsets;
    SQLite::Statement rows(db, "SELECT topic, partition, next_offset FROM kafka_offsets");
    while (rows.executeStep()) {
      offsets[{rows.getColumn(0).getString(), rows.getColumn(1).getInt()}] = rows.getColumn(2).getInt64();
    }
  } catch (const std::exception&) {
    // The persister is creating the file right now; the next poll sees it.
  }
  return offsets;
}

std::int64_t committedRecords(const std::string& path) {
  std::int64_t total = 0;
  for (const auto& [partition, next] : storedOffsets(path)) total += next;
  return total;
}

std::map<std::string, std::string> persisterEnv(const std::string& prefix, const std::string& data_dir) {
  return {
      {"POINTTRON_KAFKA__BOOTSTRAP_SERVERS", testBrokers()},
      {"POINTTRON_KAFKA__TOPIC_PREFIX", prefix},
      {"POINTTRON_KAFKA__DATA_PARTITIONS", "3"},
      // Static membership: a restarted persister takes its partitions back at once instead of
      // waiting for the killed member's session to time out.
      {"POINTTRON_KAFKA__RDKAFKA__GROUP_INSTANCE_ID", "persister-test"},
      {"POINTTRON_METRICS__PUBLISH_INTERVAL_MS", "0"},
      {"POINTTRON_INSTANCE__ID", "persister-test"},
      {"POINTTRON_PERSISTER__DATA_DIR", data_dir},
      // Small batches: many transactions, so kills land between and inside them.
      {"POINTTRON_PERSISTER__BATCH_MAX_RECORDS", "50"},
      {"POINTTRON_PERSISTER__BATCH_MAX_DELAY_MS", "20"},
  };
}

// `method` `target` with the bearer token; the status and body.
std::optional<RawResponse> apiRequest(std::uint16_t port, std::string_view method, const std::string& target,
                                      const std::string& token) {
  RawConnection connection(port);
  if (!connection.connected()) return std::nullopt;
  if (!connection.send(fmt::format("{} {} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n"
                                   "Content-Length: 0\r\nConnection: close\r\n\r\n",
                                   method, target, token))) {
    return std::nullopt;
  }
  return connection.readResponse();
}

std::string readToken(const std::string& data_dir) {
  std::ifstream token_file(data_dir + "/api_token");
  std::string token;
  std::getline(token_file, token);
  return token;
}

// Ingests while being SIGKILLed at 20 random moments (each after a random share of what was
// produced so far is committed, from "nothing yet" to "everything"); the database then equals an
// uninterrupted run's table by table, and holds every height exactly once.
TEST(PersisterTest, SurvivesTwentySigkillsWithTheSameDatabase) {
  const std::vector<Input> inputs = makeInputs();
  const std::string prefix = fetcher::uniquePrefix("persister");
  data::TempDir dir;
  const std::string killed_dir = dir.file("killed");
  const std::string killed_db = killed_dir + "/pointtron.db";
  const unsigned seed = std::random_device{}();
  std::mt19937 random(seed);
  SCOPED_TRACE(fmt::format("seed {}", seed));

  auto persister = StageProcess::start("persister", persisterEnv(prefix, killed_dir));
  ASSERT_NE(nullptr, persister);
  std::map<std::pair<std::string, std::int32_t>, std::int64_t> end_offsets;
  std::int64_t produced = 0;
  int killed_while_behind = 0;  // kills that left records produced but not committed
  for (int round = 0; round < kKills; ++round) {
    const std::size_t from = inputs.size() * round / kKills;
    const std::size_t to = inputs.size() * (round + 1) / kKills;
    produce(prefix, inputs, from, to, end_offsets);
    ASSERT_FALSE(::testing::Test::HasFatalFailure());
    produced += static_cast<std::int64_t>(to - from);
    const std::int64_t committed = committedRecords(killed_db);
    const std::int64_t target = std::uniform_int_distribution<std::int64_t>(committed, produced)(random);
    ASSERT_TRUE(waitFor([&] { return committedRecords(killed_db) >= target; }, seconds(60)))
        << "round " << round << ": stuck below " << target << " committed records\n" << persister->log();
    auto status = persister->kill();
    ASSERT_TRUE(status && WIFSIGNALED(*status)) << persister->log();
    if (committedRecords(killed_db) < produced) ++killed_while_behind;
    persister = StageProcess::start("persister", persisterEnv(prefix, killed_dir));
    ASSERT_NE(nullptr, persister);
  }
  // Targets are uniform between committed and produced, so most kills cut ingestion short; a
  // run where fewer than a quarter did would not have tested much.
  EXPECT_GE(killed_while_behind, kKills / 4);
  ASSERT_TRUE(waitFor([&] { return storedOffsets(killed_db) == end_offsets; }, seconds(60)))
      << "the killed run did not catch up\n" << persister->log();

  // The API answers from what was ingested, with the token from the generated file.
  auto answer = apiRequest(persister->httpPort(), "GET", "/api/blocks/stats", readToken(killed_dir));
  ASSERT_TRUE(answer);
  EXPECT_EQ(200, answer->status) << answer->body;
  EXPECT_NE(std::string::npos, answer->body.find(fmt::format(R"("height":{})", kFirst + kHeights - 1)))
      << answer->body;
  auto stopped = persister->stop();
  EXPECT_TRUE(stopped && WIFEXITED(*stopped) && WEXITSTATUS(*stopped) == 0) << persister->log();

  // The uninterrupted run over the same topics, into its own database.
  const std::string reference_dir = dir.file("reference");
  const std::string reference_db = reference_dir + "/pointtron.db";
  auto reference = StageProcess::start("persister", persisterEnv(prefix, reference_dir));
  ASSERT_NE(nullptr, reference);
  ASSERT_TRUE(waitFor([&] { return storedOffsets(reference_db) == end_offsets; }, seconds(60)))
      << reference->log();
  auto reference_stopped = reference->stop();
  EXPECT_TRUE(reference_stopped && WIFEXITED(*reference_stopped) && WEXITSTATUS(*reference_stopped) == 0);

  const std::string killed_dump = data::dumpDatabase(killed_db);
  const std::string reference_dump = data::dumpDatabase(reference_db);
  EXPECT_TRUE(killed_dump == reference_dump) << "the databases differ";
  SQLite::Database db(killed_db, SQLite::OPEN_READONLY);
  EXPECT_EQ(kHeights, db.execAndGet("SELECT COUNT(DISTINCT height) FROM blocks").getInt64());
  EXPECT_EQ(kHeights, db.execAndGet("SELECT COUNT(*) FROM blocks").getInt64());
  EXPECT_EQ(kFirst, db.execAndGet("SELECT MIN(height) FROM blocks").getInt64());
  EXPECT_EQ(kFirst + kHeights - 1, db.execAndGet("SELECT MAX(height) FROM blocks").getInt64());
  EXPECT_EQ(kHeights, db.execAndGet("SELECT COUNT(*) FROM points").getInt64());
  // Forked heights hold the replacement, never the orphan.
  EXPECT_EQ(data::blockId(kFirst + 7, 7, 1),
            db.execAndGet(fmt::format("SELECT block_id FROM blocks WHERE height = {}", kFirst + 7)).getString());
  EXPECT_EQ(kHeights / 20 - kHeights / 200, db.execAndGet("SELECT COUNT(*) FROM candles").getInt64());
  EXPECT_EQ(kHeights, db.execAndGet("SELECT blocks FROM daily_stats").getInt64());
}


// A database whose stored offsets lie past the end of the topics (the topics were deleted and
// created again, or the broker's data was wiped) reads them from the beginning: its records are
// written again rather than skipped as replays of offsets the new topics never had.
TEST(PersisterTest, StoredOffsetsPastTheEndOfRecreatedTopicsAreReadFromTheStart) {
  const std::string prefix = fetcher::uniquePrefix("persister-reset");
  data::TempDir dir;
  const std::string data_dir = dir.file("data");
  const std::string db_path = data_dir + "/pointtron.db";
  const auto inputs = makeInputs(kFirst, kFirst + 200);
  std::map<std::pair<std::string, std::int32_t>, std::int64_t> end_offsets;
  {
    auto persister = StageProcess::start("persister", persisterEnv(prefix, data_dir));  // creates the topics
    ASSERT_NE(nullptr, persister);
    produce(prefix, inputs, 0, inputs.size(), end_offsets);
    ASSERT_TRUE(waitFor([&] { return storedOffsets(db_path) == end_offsets; }, seconds(60))) << persister->log();
    persister->stop();
  }
  {
    // What the database says after the topics it knew were replaced by new, shorter ones.
    SQLite::Database db(db_path, SQLite::OPEN_READWRITE);
    db.exec("UPDATE kafka_offsets SET next_offset = next_offset + 100000");
    db.exec("DELETE FROM blocks");
  }
  auto persister = StageProcess::start("persister", persisterEnv(prefix, data_dir));
  ASSERT_NE(nullptr, persister);
  ASSERT_TRUE(waitFor([&] { return storedOffsets(db_path) == end_offsets; }, seconds(60))) << persister->log();
  EXPECT_NE(std::string::npos, persister->log().find("Stored offset is past the end of the partition"));
  persister->stop();
  SQLite::Database db(db_path, SQLite::OPEN_READONLY);
  EXPECT_EQ(200, db.execAndGet("SELECT COUNT(*) FROM blocks").getInt64());
}

// Runs `pointtron-persister backup <args>` with the configuration file; its exit code and output.
std::pair<int, std::string> backupCommand(const std::vector<std::string>& args, const std::string& config) {
  std::vector<std::string> argv = {stagePath("persister"), "backup"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), {"--config", config});
  auto child = ChildProcess::spawn(argv);
  if (!child) return {-1, ""};
  std::string out;
  child->readToEnd([&](std::string_view line) { out.append(line).append("\n"); }, seconds(120));
  const auto status = child->waitExit(seconds(5));
  return {status && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1, out};
}

// The rows a database holds, without the backup catalogue (a backup's own row is written after
// its snapshot, so it differs between a database and its restored copy by design).
std::string dataRows(const std::string& path) {
  const std::string dump = data::dumpDatabase(path);
  return dump.substr(0, dump.find("== backups"));
}

// RPO 0: a backup is taken after 2 000 heights, a second one while 5 000 more are being ingested;
// then the database is deleted and each backup restored (with the CLI) and given to a persister,
// which replays Kafka from the offsets inside it. Both end equal to an uninterrupted run: nothing
// committed to Kafka is lost, and the backup taken under load was one consistent state.
TEST(PersisterTest, RestoredBackupsReplayToTheUninterruptedState) {
  const std::string prefix = fetcher::uniquePrefix("persister-rpo");
  data::TempDir dir;
  const std::string live_dir = dir.file("live");
  const std::string live_db = live_dir + "/pointtron.db";
  const std::string key_file = dir.file("k2026.key");
  std::ofstream(key_file) << std::string(64, 'c') << "\n";
  ::chmod(key_file.c_str(), 0600);
  const std::string config = dir.file("pointtron.yaml");
  std::ofstream(config) << fmt::format("persister:\n  data_dir: {}\nbackup:\n  key_file: {}\n  directory: {}\n"
                                       "  work_dir: {}\n",
                                       live_dir, key_file, dir.file("backups"), dir.file("work"));
  auto env = persisterEnv(prefix, live_dir);
  env["POINTTRON_BACKUP__KEY_FILE"] = key_file;
  env["POINTTRON_BACKUP__DIRECTORY"] = dir.file("backups");
  env["POINTTRON_BACKUP__INTERVAL_S"] = "0";
  env["POINTTRON_BACKUP__DRILL_INTERVAL_S"] = "0";
  env["POINTTRON_PERSISTER__BATCH_MAX_RECORDS"] = "500";

  auto persister = StageProcess::start("persister", env);
  ASSERT_NE(nullptr, persister);
  std::map<std::pair<std::string, std::int32_t>, std::int64_t> end_offsets;
  produce(prefix, makeInputs(kFirst, kFirst + 2'000), 0, makeInputs(kFirst, kFirst + 2'000).size(), end_offsets);
  ASSERT_TRUE(waitFor([&] { return storedOffsets(live_db) == end_offsets; }, seconds(60))) << persister->log();
  const std::string token = readToken(live_dir);
  const auto succeeded = [&](int count) {
    auto status = apiRequest(persister->httpPort(), "GET", "/api/backups", token);
    if (!status || status->status != 200 || status->body.find(R"("in_progress":false)") == std::string::npos) {
      return false;
    }
    std::size_t found = 0;
    for (auto at = status->body.find(R"("status":"succeeded")"); at != std::string::npos;
         at = status->body.find(R"("status":"succeeded")", at + 1)) {
      ++found;
    }
    return found >= static_cast<std::size_t>(2 * count);  // each row appears in history and last/last_success
  };
  auto started = apiRequest(persister->httpPort(), "POST", "/api/backups", token);
  ASSERT_TRUE(started);
  ASSERT_EQ(202, started->status) << started->body;
  ASSERT_TRUE(waitFor([&] { return succeeded(1); }, seconds(60))) << persister->log();

  // 5 000 more heights; the second backup starts after the first 1 000 of them are produced.
  const auto more = makeInputs(kFirst + 2'000, kFirst + 7'000);
  produce(prefix, more, 0, more.size() / 5, end_offsets);
  started = apiRequest(persister->httpPort(), "POST", "/api/backups", token);
  ASSERT_TRUE(started);
  ASSERT_EQ(202, started->status) << started->body;
  produce(prefix, more, more.size() / 5, more.size(), end_offsets);
  ASSERT_TRUE(waitFor([&] { return succeeded(2); }, seconds(120))) << persister->log();
  ASSERT_TRUE(waitFor([&] { return storedOffsets(live_db) == end_offsets; }, seconds(60))) << persister->log();
  auto stopped = persister->stop();
  ASSERT_TRUE(stopped && WIFEXITED(*stopped) && WEXITSTATUS(*stopped) == 0) << persister->log();

  std::vector<std::string> archives;
  for (const auto& entry : std::filesystem::directory_iterator(dir.file("backups"))) {
    archives.push_back(entry.path().filename().string());
  }
  std::sort(archives.begin(), archives.end());
  ASSERT_EQ(2u, archives.size());

  // The database is lost; the first backup comes back in its place.
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(live_db + suffix);
  const auto [restored, restore_out] = backupCommand({"restore", archives[0], "--to", live_db}, config);
  ASSERT_EQ(0, restored) << restore_out;
  // The backup taken under load goes to a second database.
  const std::string loaded_dir = dir.file("loaded");
  std::filesystem::create_directories(loaded_dir);
  const auto [verified, verify_out] = backupCommand({"verify", archives[1]}, config);
  ASSERT_EQ(0, verified) << verify_out;
  const auto [restored_loaded, loaded_out] =
      backupCommand({"restore", archives[1], "--to", loaded_dir + "/pointtron.db"}, config);
  ASSERT_EQ(0, restored_loaded) << loaded_out;
  EXPECT_LT(committedRecords(live_db), committedRecords(loaded_dir + "/pointtron.db"));

  // Each restored database catches up from its own offsets: it writes exactly the records that
  // came after its backup, not the topics from their beginning.
  std::int64_t produced = 0;
  for (const auto& [partition, next] : end_offsets) produced += next;
  for (const std::string& data_dir : {live_dir, loaded_dir}) {
    const std::int64_t in_backup = committedRecords(data_dir + "/pointtron.db");
    auto resumed_env = persisterEnv(prefix, data_dir);
    if (data_dir == loaded_dir) {
      // Backups on: staleness counts from the first backup, whose catalogue row the second one holds.
      resumed_env["POINTTRON_BACKUP__KEY_FILE"] = key_file;
      resumed_env["POINTTRON_BACKUP__DIRECTORY"] = dir.file("backups-loaded");
      resumed_env["POINTTRON_BACKUP__INTERVAL_S"] = "0";
    }
    auto resumed = StageProcess::start("persister", resumed_env);
    ASSERT_NE(nullptr, resumed);
    ASSERT_TRUE(waitFor([&] { return storedOffsets(data_dir + "/pointtron.db") == end_offsets; }, seconds(60)))
        << data_dir << "\n" << resumed->log();
    const auto written = [&](const char* topic) {
      return resumed->metric("point_tron_persister_written_records_total", {{"topic", topic}}).value_or(-1);
    };
    EXPECT_EQ(static_cast<double>(produced - in_backup), written("blocks") + written("stats")) << data_dir;
    if (data_dir == loaded_dir) {
      const auto last_success = resumed->metric("point_tron_backup_last_success_timestamp_seconds");
      ASSERT_TRUE(last_success);
      EXPECT_GT(*last_success, 1.7e9);  // the first backup's finish, not 0
    } else {
      EXPECT_EQ(0.0, resumed->metric("point_tron_backup_enabled").value_or(-1));
    }
    auto resumed_stopped = resumed->stop();
    EXPECT_TRUE(resumed_stopped && WIFEXITED(*resumed_stopped) && WEXITSTATUS(*resumed_stopped) == 0);
  }
  const std::string reference_dir = dir.file("reference");
  auto reference = StageProcess::start("persister", persisterEnv(prefix, reference_dir));
  ASSERT_NE(nullptr, reference);
  ASSERT_TRUE(waitFor([&] { return storedOffsets(reference_dir + "/pointtron.db") == end_offsets; }, seconds(60)))
      << reference->log();
  reference->stop();

  const std::string expected = dataRows(reference_dir + "/pointtron.db");
  EXPECT_TRUE(dataRows(live_db) == expected) << "the database restored from the first backup differs";
  EXPECT_TRUE(dataRows(loaded_dir + "/pointtron.db") == expected)
      << "the database restored from the backup taken under load differs";
  SQLite::Database db(live_db, SQLite::OPEN_READONLY);
  EXPECT_EQ(7'000, db.execAndGet("SELECT COUNT(*) FROM blocks").getInt64());
  EXPECT_EQ(7'000, db.execAndGet("SELECT COUNT(DISTINCT height) FROM blocks").getInt64());
}

}  // namespace
}  // namespace testsupport
