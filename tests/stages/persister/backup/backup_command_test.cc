#include "stages/persister/backup/backup_command.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <variant>
#include <vector>

#include "stages/persister/backup/backup_config.h"
#include "stages/persister/backup/backup_job.h"
#include "stages/persister/records.h"
#include "stages/persister/sqlite_store.h"
#include "tests/stages/persister/sqlite_dump.h"
#include "tests/stages/persister/test_data.h"

namespace stages::persister::backup {
namespace {

namespace fs = std::filesystem;
using stages::persister::testing::TempDir;
using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr std::int64_t kBase = 1795564800000;      // 2026-11-25T00:00Z
constexpr std::int64_t kBackupAt = 1795662245123;  // 2026-11-26T03:04:05.123Z
constexpr std::int64_t kNow = kBackupAt + 60'000;
constexpr const char* kKeyHex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
constexpr const char* kOtherKeyHex =
    "f0e0d0c0b0a090807060504030201000ffeeddccbbaa99887766554433221100";
constexpr const char* kToken = "0123456789abcdef0123456789abcdef";

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

void writeFile(const std::string& path, const std::string& content,
               fs::perms mode = fs::perms(0600)) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
  fs::permissions(path, mode);
}

Mutation parsed(Input input, const std::string& key, const std::string& value) {
  RecordParser parser;
  auto mutation = parser.parse(input, key, value);
  EXPECT_TRUE(mutation) << mutation.error().message;
  return mutation ? std::move(*mutation) : Mutation{};
}

struct CommandResult {
  std::optional<int> code;
  std::string out;
  std::string err;
};

class BackupCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    fs::create_directories(dir_.file("data"));
    {
      auto store = SqliteStore::open({.path = db_});
      ASSERT_TRUE(store) << store.error().message;
      WriteBatch batch;
      for (std::int64_t height = 100; height <= 102; ++height) {
        const std::int64_t ts = kBase + (height - 100) * 3000;
        batch.mutations.push_back(
            parsed(Input::Blocks, std::to_string(height), testing::blockJson(height, ts)));
        batch.mutations.push_back(parsed(Input::Stats, "points:" + std::to_string(height),
                                         testing::pointsJson(height, ts, height - 99)));
      }
      batch.offsets = {{"p.blocks", 0, 8}, {"p.stats", 2, 41}};
      auto written = (*store)->write(batch);
      ASSERT_TRUE(written) << written.error().message;
    }
    writeFile(key_file_, std::string(kKeyHex) + "\n");
    config_ = writeConfig("config.yaml", key_file_);

    auto source = pipeline::config::ConfigSource::load(config_, {});
    ASSERT_TRUE(source) << source.error().message;
    auto config = BackupConfig::parse(*source, dir_.file("data"));
    ASSERT_TRUE(config) << config.error().message;
    auto keyring = config->loadKeyring();
    ASSERT_TRUE(keyring) << keyring.error().message;
    auto outcome = runBackup(config->plan(db_, 5000), *keyring, config->targets(), kBackupAt,
                             [](std::chrono::milliseconds) { return false; });
    auto* report = std::get_if<BackupReport>(&outcome);
    ASSERT_NE(nullptr, report) << std::get<BackupFailure>(outcome).error.message;
    name_ = report->name;
    archive_ = (fs::path(dir_.file("backups")) / name_).string();
    ASSERT_TRUE(fs::exists(archive_));
  }

  // A configuration file in the temp dir; `key_file` empty leaves backup.key_file out.
  std::string writeConfig(const std::string& name, const std::string& key_file,
                          const std::string& extra = "") {
    std::string yaml = fmt::format("persister:\n  data_dir: \"{}\"\nbackup:\n", dir_.file("data"));
    if (!key_file.empty()) yaml += fmt::format("  key_file: \"{}\"\n", key_file);
    yaml += fmt::format("  directory: \"{}\"\n  work_dir: \"{}\"\n", dir_.file("backups"),
                        dir_.file("work"));
    yaml += extra;
    const std::string path = dir_.file(name);
    writeFile(path, yaml);
    return path;
  }

  // `pointtron-persister backup <args…>` with this test's config (unless `config` is empty).
  CommandResult run(std::vector<std::string> args, const std::string& config) {
    std::vector<std::string> words = {"pointtron-persister", "backup"};
    words.insert(words.end(), args.begin(), args.end());
    if (!config.empty()) {
      words.push_back("--config");
      words.push_back(config);
    }
    std::vector<const char*> argv;
    for (const auto& word : words) argv.push_back(word.c_str());
    std::ostringstream out, err;
    auto code = runBackupCommand(static_cast<int>(argv.size()), argv.data(), out, err, env_, deps_);
    return {code, out.str(), err.str()};
  }
  CommandResult run(std::vector<std::string> args) { return run(std::move(args), config_); }

  TempDir dir_;
  std::string db_ = dir_.file("data/pointtron.db");
  std::string key_file_ = dir_.file("keys/k1.key");
  std::string config_;
  std::string name_;
  std::string archive_;
  pipeline::config::ConfigSource::Environment env_;
  std::int64_t clock_ms_ = kNow;
  BackupCommandDeps deps_{
      .wall_ms = [this] { return clock_ms_; },
      .http = [](std::string_view, const std::string&,
                 const std::string&) -> pipeline::Result<HttpReply> {
        return pipeline::Error{pipeline::ErrorType::Http, "no HTTP in this test"};
      },
      .sleep = [this](std::chrono::milliseconds delay) { clock_ms_ += delay.count(); }};
};

// Any first argument but "backup" is left to the stage.
TEST_F(BackupCommandTest, LeavesOtherArgumentsToTheStage) {
  std::vector<const char*> argv = {"pointtron-persister", "--config", "x.yaml"};
  std::ostringstream out, err;
  EXPECT_EQ(std::nullopt, runBackupCommand(3, argv.data(), out, err, env_, deps_));
  std::vector<const char*> alone = {"pointtron-persister"};
  EXPECT_EQ(std::nullopt, runBackupCommand(1, alone.data(), out, err, env_, deps_));
  EXPECT_EQ("", out.str() + err.str());
}

// create backs up the database at rest from the command itself (the cold backup): a second
// archive appears at the target and verifies; without a database it fails saying so.
TEST_F(BackupCommandTest, CreateWritesAVerifiedArchive) {
  clock_ms_ = kBackupAt + 60'000;
  const auto created = run({"create"});
  ASSERT_EQ(0, created.code) << created.err;
  EXPECT_NE(std::string::npos, created.out.find("stored and read back: dir:")) << created.out;
  std::vector<std::string> archives;
  for (const auto& entry : fs::directory_iterator(dir_.file("backups"))) {
    archives.push_back(entry.path().filename().string());
  }
  ASSERT_EQ(2u, archives.size());
  std::sort(archives.begin(), archives.end());
  EXPECT_EQ(0, run({"verify", archives[1]}).code);
  fs::remove(db_);
  const auto missing = run({"create"});
  EXPECT_EQ(1, missing.code);
  EXPECT_NE(std::string::npos, missing.err.find("no database at")) << missing.err;
}

// list shows every archive of the directory target with its size and creation time (UTC).
TEST_F(BackupCommandTest, ListShowsTheArchive) {
  const auto listed = run({"list"});
  ASSERT_EQ(0, listed.code) << listed.err;
  EXPECT_THAT(listed.out, HasSubstr("TARGET"));
  EXPECT_THAT(listed.out, ContainsRegex("dir:" + dir_.file("backups") + " +" + name_ + " +" +
                                        std::to_string(fs::file_size(archive_)) +
                                        " +2026-11-26T03:04:05.123Z\n"));
  EXPECT_THAT(listed.out, Not(HasSubstr("manifest:")));
}

// list --manifest decrypts each manifest (read in place for a directory target).
TEST_F(BackupCommandTest, ListWithManifestShowsTheManifest) {
  const auto listed = run({"list", "--manifest"});
  ASSERT_EQ(0, listed.code) << listed.err;
  EXPECT_THAT(listed.out, HasSubstr("manifest: schema "));
  EXPECT_THAT(listed.out, HasSubstr("highest height 102, key k1"));
  EXPECT_THAT(listed.out, HasSubstr("blocks=3"));
  EXPECT_THAT(listed.out, HasSubstr("p.blocks[0]=8 p.stats[2]=41"));
  EXPECT_TRUE(fs::is_empty(dir_.file("work")) || !fs::exists(dir_.file("work")));
}

// verify of an archive file proves it and prints the manifest's figures, then OK.
TEST_F(BackupCommandTest, VerifyFilePrintsTheManifest) {
  const auto verified = run({"verify", archive_});
  ASSERT_EQ(0, verified.code) << verified.err;
  EXPECT_THAT(verified.out, HasSubstr("created:         2026-11-26T03:04:05.123Z\n"));
  EXPECT_THAT(verified.out, HasSubstr("highest height:  102\n"));
  EXPECT_THAT(verified.out, ContainsRegex("\n  blocks +3\n"));
  EXPECT_THAT(verified.out, ContainsRegex("\n  points +3\n"));
  EXPECT_THAT(verified.out, HasSubstr("kafka offsets:   2 partitions\n"));
  EXPECT_THAT(verified.out,
              HasSubstr("\n  p.blocks[0]  next offset 8\n  p.stats[2]   next offset 41\n"));
  EXPECT_THAT(verified.out, ::testing::EndsWith("OK\n"));
  EXPECT_EQ("", verified.err);
}

// verify accepts a bare archive name and fetches it from the target that holds it.
TEST_F(BackupCommandTest, VerifyByNameFetchesFromTheTarget) {
  const auto verified = run({"verify", name_});
  ASSERT_EQ(0, verified.code) << verified.err;
  EXPECT_THAT(verified.out,
              HasSubstr("archive:         dir:" + dir_.file("backups") + "/" + name_));
  EXPECT_THAT(verified.out, ::testing::EndsWith("OK\n"));
  EXPECT_TRUE(fs::is_empty(dir_.file("work")));  // the fetched copy is gone

  const auto missing = run({"verify", "pointtron-20200101T000000000Z.ptbk"});
  EXPECT_EQ(1, missing.code);
  EXPECT_THAT(missing.err,
              HasSubstr("verify failed: pointtron-20200101T000000000Z.ptbk: no configured target"));
}

// One flipped byte anywhere in the archive fails verification with one line on stderr.
TEST_F(BackupCommandTest, VerifyOfAFlippedByteFails) {
  std::string bytes = readFile(archive_);
  bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x01);
  const std::string copy = dir_.file("flipped.ptbk");
  writeFile(copy, bytes);
  const auto verified = run({"verify", copy});
  EXPECT_EQ(1, verified.code);
  EXPECT_THAT(verified.err, ::testing::StartsWith("verify failed: "));
  EXPECT_EQ(1, std::count(verified.err.begin(), verified.err.end(), '\n')) << verified.err;
  EXPECT_THAT(verified.out, Not(HasSubstr("OK")));
}

// An archive read with another key of the same id fails authentication.
TEST_F(BackupCommandTest, VerifyWithTheWrongKeyFails) {
  const std::string other_key = dir_.file("other/k1.key");
  writeFile(other_key, std::string(kOtherKeyHex) + "\n");
  const auto verified = run({"verify", archive_}, writeConfig("other.yaml", other_key));
  EXPECT_EQ(1, verified.code);
  EXPECT_THAT(verified.err, HasSubstr("verify failed: "));
  EXPECT_THAT(verified.err, HasSubstr("authentication failed"));
}

// restore by name places a database identical to the original at --to, nothing else beside it.
TEST_F(BackupCommandTest, RestoreCreatesAnIdenticalDatabase) {
  const std::string restored = dir_.file("restored/pointtron.db");
  const auto result = run({"restore", name_, "--to", restored});
  ASSERT_EQ(0, result.code) << result.err;
  EXPECT_EQ(testing::dumpDatabase(db_), testing::dumpDatabase(restored));
  EXPECT_THAT(result.out, HasSubstr("restored to " + restored + "\n"));
  EXPECT_THAT(result.out, HasSubstr("start the persister: it resumes from the Kafka offsets in the "
                                    "backup (2 partitions) and replays what came after\n"));
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(dir_.file("restored"))) {
    files.push_back(entry.path().filename().string());
  }
  EXPECT_EQ(std::vector<std::string>{"pointtron.db"}, files);
  EXPECT_EQ(fs::perms(0600), fs::status(restored).permissions() & fs::perms::mask);
}

// Without --force an existing database is never replaced, nor touched.
TEST_F(BackupCommandTest, RestoreRefusesAnExistingDatabaseWithoutForce) {
  const std::string restored = dir_.file("restored.db");
  ASSERT_EQ(0, run({"restore", archive_, "--to", restored}).code);
  {
    SQLite::Database db(restored, SQLite::OPEN_READWRITE);
    db.exec("DELETE FROM points");
  }
  const std::string before = readFile(restored);
  const auto again = run({"restore", archive_, "--to", restored});
  EXPECT_EQ(1, again.code);
  EXPECT_THAT(again.err, HasSubstr("restore refused: " + restored + " exists"));
  EXPECT_THAT(again.err, HasSubstr("--force"));
  EXPECT_EQ(before, readFile(restored));
  EXPECT_FALSE(fs::exists(restored + ".restore.tmp"));

  // A leftover WAL without its database counts too: it would be applied to the restored file.
  const std::string lone = dir_.file("lone.db");
  writeFile(lone + "-wal", "stale");
  const auto refused = run({"restore", archive_, "--to", lone});
  EXPECT_EQ(1, refused.code);
  EXPECT_THAT(refused.err, HasSubstr("restore refused: " + lone + "-wal exists"));
  EXPECT_FALSE(fs::exists(lone));
}

// Without --to the target is persister.db_path, here the live database: refused.
TEST_F(BackupCommandTest, RestoreDefaultsToTheConfiguredDatabase) {
  const std::string before = readFile(db_);
  const auto result = run({"restore", name_});
  EXPECT_EQ(1, result.code);
  EXPECT_THAT(result.err, HasSubstr("restore refused: " + db_ + " exists"));
  EXPECT_EQ(before, readFile(db_));
}

// --force replaces the database and deletes its stale -wal and -shm first.
TEST_F(BackupCommandTest, RestoreWithForceReplacesTheDatabaseAndItsWal) {
  const std::string restored = dir_.file("restored.db");
  ASSERT_EQ(0, run({"restore", archive_, "--to", restored}).code);
  {
    SQLite::Database db(restored, SQLite::OPEN_READWRITE);
    db.exec("DELETE FROM blocks");
  }
  ASSERT_NE(testing::dumpDatabase(db_), testing::dumpDatabase(restored));
  writeFile(restored + "-wal", std::string(4096, 'w'));
  writeFile(restored + "-shm", std::string(4096, 's'));
  const auto forced = run({"restore", archive_, "--to", restored, "--force"});
  ASSERT_EQ(0, forced.code) << forced.err;
  EXPECT_FALSE(fs::exists(restored + "-wal"));
  EXPECT_FALSE(fs::exists(restored + "-shm"));
  EXPECT_EQ(testing::dumpDatabase(db_), testing::dumpDatabase(restored));
}

// --force still refuses a database another connection has open (a running persister).
TEST_F(BackupCommandTest, RestoreWithForceRefusesADatabaseInUse) {
  const std::string restored = dir_.file("restored.db");
  ASSERT_EQ(0, run({"restore", archive_, "--to", restored}).code);
  auto store = SqliteStore::open({.path = restored});
  ASSERT_TRUE(store) << store.error().message;
  const auto forced = run({"restore", archive_, "--to", restored, "--force"});
  EXPECT_EQ(1, forced.code);
  EXPECT_THAT(forced.err, HasSubstr("is open in another process"));
  EXPECT_FALSE(fs::exists(restored + ".restore.tmp"));
  store->reset();
  EXPECT_EQ(0, run({"restore", archive_, "--to", restored, "--force"}).code);
}

// A restore whose archive does not verify leaves no file behind.
TEST_F(BackupCommandTest, RestoreOfACorruptArchiveLeavesNothing) {
  std::string bytes = readFile(archive_);
  bytes[bytes.size() - 40] = static_cast<char>(bytes[bytes.size() - 40] ^ 0x80);
  const std::string copy = dir_.file("corrupt.ptbk");
  writeFile(copy, bytes);
  const std::string restored = dir_.file("restored.db");
  const auto result = run({"restore", copy, "--to", restored});
  EXPECT_EQ(1, result.code);
  EXPECT_THAT(result.err, HasSubstr("verify failed: "));
  EXPECT_FALSE(fs::exists(restored));
  EXPECT_FALSE(fs::exists(restored + ".restore.tmp"));
  EXPECT_FALSE(fs::exists(restored + ".restore.tmp.tmp"));
}

// drill fetches and verifies the newest archive of every target.
TEST_F(BackupCommandTest, DrillSucceeds) {
  const auto drilled = run({"drill"});
  ASSERT_EQ(0, drilled.code) << drilled.err;
  EXPECT_THAT(drilled.out, HasSubstr("dir:" + dir_.file("backups") +
                                     ": ok: newest archive (created "
                                     "2026-11-26T03:04:05.123Z, highest height 102)"));

  std::string bytes = readFile(archive_);
  bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x01);
  writeFile(archive_, bytes);
  const auto failed = run({"drill"});
  EXPECT_EQ(1, failed.code);
  EXPECT_THAT(failed.err, HasSubstr("drill failed"));
}

// No key configured: a configuration error naming the key, exit 78.
TEST_F(BackupCommandTest, MissingKeyIsAConfigurationError) {
  const auto verified = run({"verify", archive_}, writeConfig("nokey.yaml", ""));
  EXPECT_EQ(78, verified.code);
  EXPECT_THAT(verified.err, HasSubstr("backup.key_file"));
  EXPECT_EQ(1, std::count(verified.err.begin(), verified.err.end(), '\n')) << verified.err;
}

// A misspelt key of the persister's sections is refused as the stage refuses it; other
// processes' sections in a shared file are not this command's business.
TEST_F(BackupCommandTest, UnknownBackupKeyIsAConfigurationError) {
  const auto misspelt = run({"list"}, writeConfig("typo.yaml", key_file_, "  keep_lst: 3\n"));
  EXPECT_EQ(78, misspelt.code);
  EXPECT_THAT(misspelt.err, HasSubstr("backup.keep_lst"));
  const auto shared =
      run({"list"},
          writeConfig("shared.yaml", key_file_,
                      "kafka:\n  bootstrap_servers: b:9092\nfetcher:\n  node_urls: [http://a]\n"));
  EXPECT_EQ(0, shared.code) << shared.err;
}

// Unknown commands and missing or misplaced arguments are usage errors (exit 2); --help is not.
TEST_F(BackupCommandTest, BadUsageExitsTwo) {
  const auto unknown = run({"frobnicate"});
  EXPECT_EQ(2, unknown.code);
  EXPECT_THAT(unknown.err, HasSubstr("unknown command \"frobnicate\""));
  EXPECT_THAT(unknown.err, HasSubstr("Usage: pointtron-persister backup <command>"));
  EXPECT_EQ(2, run({}, "").code);
  EXPECT_EQ(2, run({"verify"}).code);
  EXPECT_EQ(2, run({"verify", "a", "b"}).code);
  EXPECT_EQ(2, run({"list", "--force"}).code);
  EXPECT_EQ(2, run({"restore", archive_, "--to"}, "").code);
  EXPECT_EQ(2, run({"now", "--timeout-s", "0"}).code);
  EXPECT_EQ(2, run({"verify", "s3://bucket-only"}).code);
  const auto help = run({"--help"}, "");
  EXPECT_EQ(0, help.code);
  EXPECT_EQ(std::string(backupCommandUsage()), help.out);
}

// An s3:// source needs the backup.s3.* settings.
TEST_F(BackupCommandTest, S3SourceWithoutS3SettingsIsAConfigurationError) {
  const auto verified = run({"verify", "s3://bucket/" + name_});
  EXPECT_EQ(78, verified.code);
  EXPECT_THAT(verified.err, HasSubstr("backup.s3.bucket"));
}

// `now` without a token file never creates one: the persister is not running.
TEST_F(BackupCommandTest, NowWithoutATokenFails) {
  const auto result = run({"now"});
  EXPECT_EQ(1, result.code);
  EXPECT_THAT(result.err, HasSubstr("no API token: is the persister running?"));
  EXPECT_FALSE(fs::exists(dir_.file("data/api_token")));
}

// `now` posts, then polls until a backup started after the request has finished.
TEST_F(BackupCommandTest, NowWaitsForTheBackupItRequested) {
  writeFile(dir_.file("data/api_token"), std::string(kToken) + "\n");
  const std::string config =
      writeConfig("now.yaml", key_file_, "http:\n  listen_address: 0.0.0.0\n  port: 3100\n");
  std::vector<std::string> calls;
  int gets = 0;
  deps_.http = [&](std::string_view method, const std::string& url,
                   const std::string& token) -> pipeline::Result<HttpReply> {
    calls.push_back(fmt::format("{} {} {}", method, url, token));
    if (method == "POST") return HttpReply{202, R"({"success":true,"data":{"started":true}})"};
    ++gets;
    const std::string old_backup =
        R"({"id":1,"started_at_ms":1000,"finished_at_ms":2000,"location":"old","size_bytes":1,)"
        R"("sha256":"x","status":"succeeded","verified":true})";
    if (gets == 1) return HttpReply{503, R"({"success":false,"error":"busy"})"};
    if (gets == 2) {
      return HttpReply{
          200, R"({"success":true,"data":{"enabled":true,"in_progress":true,"last":)" + old_backup +
                   R"(,"history":[],"drill":{"last_success_ms":null,"last_result":"never"}}})"};
    }
    return HttpReply{
        200,
        fmt::format(R"({{"success":true,"data":{{"enabled":true,"in_progress":false,"last":)"
                    R"({{"id":2,"started_at_ms":{},"finished_at_ms":{},"location":"dir:b/n.ptbk",)"
                    R"("size_bytes":4242,"sha256":"abc","status":"succeeded","verified":true}},)"
                    R"("history":[],"drill":{{"last_success_ms":null,"last_result":"never"}}}}}})",
                    kNow + 10, kNow + 2510)};
  };
  const auto result = run({"now"}, config);
  ASSERT_EQ(0, result.code) << result.err;
  ASSERT_EQ(4u, calls.size());
  EXPECT_EQ(fmt::format("POST http://127.0.0.1:3100/api/backups {}", kToken), calls[0]);
  EXPECT_EQ(fmt::format("GET http://127.0.0.1:3100/api/backups {}", kToken), calls[3]);
  EXPECT_THAT(result.out,
              HasSubstr("backup succeeded: dir:b/n.ptbk, 4242 bytes, sha256 abc, verified, 2.5 s"));
}

// `now` reports a refused request (a backup already running) and a backup that failed.
TEST_F(BackupCommandTest, NowReportsRefusalsAndFailures) {
  writeFile(dir_.file("data/api_token"), std::string(kToken) + "\n");
  deps_.http = [](std::string_view method, const std::string&,
                  const std::string&) -> pipeline::Result<HttpReply> {
    if (method == "POST")
      return HttpReply{409, R"({"success":false,"error":"a backup is already running"})"};
    return HttpReply{500, ""};
  };
  const auto conflict = run({"now"});
  EXPECT_EQ(1, conflict.code);
  EXPECT_THAT(conflict.err, HasSubstr("HTTP 409): a backup is already running"));

  deps_.http = [](std::string_view method, const std::string&,
                  const std::string&) -> pipeline::Result<HttpReply> {
    if (method == "POST") return HttpReply{202, R"({"success":true,"data":{"started":true}})"};
    return HttpReply{
        200,
        fmt::format(R"({{"success":true,"data":{{"in_progress":false,"last":)"
                    R"({{"started_at_ms":{},"status":"failed","error":"upload: disk full"}}}}}})",
                    kNow)};
  };
  const auto failed = run({"now"});
  EXPECT_EQ(1, failed.code);
  EXPECT_THAT(failed.err, HasSubstr("backup failed: upload: disk full"));
}

// `now` gives up after --timeout-s when the backup never finishes.
TEST_F(BackupCommandTest, NowTimesOut) {
  writeFile(dir_.file("data/api_token"), std::string(kToken) + "\n");
  int gets = 0;
  deps_.http = [&](std::string_view method, const std::string&,
                   const std::string&) -> pipeline::Result<HttpReply> {
    if (method == "POST") return HttpReply{202, R"({"success":true,"data":{"started":true}})"};
    ++gets;
    return HttpReply{200, R"({"success":true,"data":{"in_progress":true,"last":null}})"};
  };
  const auto result = run({"now", "--timeout-s", "3"});
  EXPECT_EQ(1, result.code);
  EXPECT_THAT(result.err, HasSubstr("no result after 3 s"));
  EXPECT_EQ(4, gets);  // at 0, 1, 2 and 3 s
}

}  // namespace
}  // namespace stages::persister::backup
