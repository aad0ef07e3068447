// Hot backup of a large persister database, restore and verification (docs/performance.md):
//
//   bench/backup_throughput --dir /var/tmp/pt-backup-bench [--gigabytes 1] [--keep]
//
// 1. Builds (or reuses, if --dir holds one) a database of at least --gigabytes with the
//    persister's own store: blocks and their points, 5 000 per transaction.
// 2. Ingest rate alone: 100 batches of 1 000 blocks (+ points), blocks/s.
// 3. A backup (snapshot, manifest, zstd, AES-256-GCM, directory target with read-back) on a
//    background worker thread (runInBackground, as in the persister) while the same ingestion
//    continues on this thread: backup seconds and MB/s,
//    archive size, the ingest rate meanwhile and its drop against step 2.
// 4. Restore + verify of the archive (decrypt, decompress, SHA-256, integrity_check, manifest
//    figures): seconds and seconds per GB.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>

#include <SQLiteCpp/SQLiteCpp.h>

#include <fmt/format.h>

#include "stages/persister/backup/backup_job.h"
#include "stages/persister/records.h"
#include "stages/persister/sqlite_store.h"
#include "tests/stages/persister/test_data.h"

namespace {

namespace backup = stages::persister::backup;
namespace data = stages::persister::testing;
using stages::persister::Input;
using Clock = std::chrono::steady_clock;

constexpr std::int64_t kBaseMs = 1795564800000;  // 2026-11-25T00:00:00Z

double secondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Writes `count` blocks from `next` with their points in one transaction.
void writeBatch(stages::persister::SqliteStore& store, std::int64_t& next, int count) {
  stages::persister::RecordParser parser;
  stages::persister::WriteBatch batch;
  for (int i = 0; i < count; ++i, ++next) {
    const std::int64_t ts = kBaseMs + next * 3000;
    batch.mutations.push_back(*parser.parse(Input::Blocks, std::to_string(next), data::blockJson(next, ts)));
    batch.mutations.push_back(
        *parser.parse(Input::Stats, fmt::format("points:{}", next), data::pointsJson(next, ts, next % 1000)));
  }
  batch.offsets.push_back({.topic = "bench.blocks", .partition = 0, .next_offset = next});
  batch.offsets.push_back({.topic = "bench.stats", .partition = 0, .next_offset = next});
  if (!store.write(batch)) {
    std::fprintf(stderr, "write failed\n");
    std::exit(1);
  }
}

// Blocks/s of `batches` batches of 1 000, or until `until` returns true (at least one batch).
double ingest(stages::persister::SqliteStore& store, std::int64_t& next, int batches,
              const std::function<bool()>& until = {}) {
  const auto start = Clock::now();
  int written = 0;
  while (until ? (written == 0 || !until()) : written < batches) {
    writeBatch(store, next, 1000);
    ++written;
  }
  return written * 1000 / secondsSince(start);
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir;
  double gigabytes = 1.0;
  bool keep = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--dir" && i + 1 < argc) dir = argv[++i];
    else if (arg == "--gigabytes" && i + 1 < argc) gigabytes = std::stod(argv[++i]);
    else if (arg == "--keep") keep = true;
    else {
      std::fprintf(stderr, "usage: backup_throughput --dir DIR [--gigabytes N] [--keep]\n");
      return 2;
    }
  }
  if (dir.empty()) {
    std::fprintf(stderr, "--dir is required\n");
    return 2;
  }
  std::filesystem::create_directories(dir);
  const std::string db_path = dir + "/bench.db";
  auto store = stages::persister::SqliteStore::open({.path = db_path});
  if (!store) {
    std::fprintf(stderr, "%s\n", store.error().message.c_str());
    return 1;
  }
  const auto target_bytes = static_cast<std::uintmax_t>(gigabytes * 1e9);
  std::int64_t next = 0;
  {
    SQLite::Database db(db_path, SQLite::OPEN_READONLY);
    next = db.execAndGet("SELECT COALESCE(MAX(height) + 1, 1000) FROM blocks").getInt64();
  }
  const auto building = Clock::now();
  const std::int64_t first_new = next;
  while (std::filesystem::file_size(db_path) < target_bytes) writeBatch(**store, next, 5000);
  if (next > first_new) {
    std::printf("database built: %lld blocks in %.1f s\n", static_cast<long long>(next - first_new),
                secondsSince(building));
  }
  const double db_bytes = static_cast<double>(std::filesystem::file_size(db_path));
  std::printf("database: %.2f GB, %lld blocks\n", db_bytes / 1e9, static_cast<long long>(next));

  auto key = backup::BackupKey::generate("bench");
  auto keyring = backup::Keyring::create({*key}, "bench");
  backup::BackupPlan plan;
  plan.db_path = db_path;
  plan.work_dir = dir + "/work";
  std::vector<std::unique_ptr<backup::BackupTarget>> targets;
  targets.push_back(backup::directoryTarget(dir + "/backups"));

  const double alone = ingest(**store, next, 100);
  std::printf("ingest alone: %.0f blocks/s (batches of 1000 blocks + points)\n", alone);

  std::atomic<bool> done = false;
  std::variant<backup::BackupReport, backup::BackupFailure> result;
  const auto backup_start = Clock::now();
  std::thread worker([&] {
    backup::runInBackground();  // as the persister's backup thread does
    result = backup::runBackup(plan, *keyring, targets, kBaseMs, [](auto) { return true; });
    done = true;
  });
  const double during = ingest(**store, next, 0, [&] { return done.load(); });
  worker.join();
  const double backup_seconds = secondsSince(backup_start);
  if (const auto* failure = std::get_if<backup::BackupFailure>(&result)) {
    std::fprintf(stderr, "backup failed: %s\n", failure->error.message.c_str());
    return 1;
  }
  const auto& report = std::get<backup::BackupReport>(result);
  std::printf("backup: %.2f s for %.2f GB (%.0f MB/s of database), archive %.2f GB (%.0f%%)\n",
              backup_seconds, static_cast<double>(report.manifest.database_bytes) / 1e9,
              static_cast<double>(report.manifest.database_bytes) / 1e6 / backup_seconds,
              static_cast<double>(report.archive.bytes) / 1e9,
              100.0 * static_cast<double>(report.archive.bytes) / static_cast<double>(report.manifest.database_bytes));
  std::printf("ingest during the backup: %.0f blocks/s (%+.1f%% against alone)\n", during,
              100.0 * (during - alone) / alone);

  const auto verify_start = Clock::now();
  auto verified = backup::verifyArchiveFile(dir + "/backups/" + report.name, *keyring, plan.work_dir);
  const double verify_seconds = secondsSince(verify_start);
  if (!verified) {
    std::fprintf(stderr, "verify failed: %s\n", verified.error().message.c_str());
    return 1;
  }
  std::printf("restore + verify: %.2f s (%.1f s per GB of database)\n", verify_seconds,
              verify_seconds / (static_cast<double>(verified->database_bytes) / 1e9));
  if (!keep) std::filesystem::remove_all(dir + "/backups");
  return 0;
}
