#include "stages/persister/backup/snapshot.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <filesystem>
#include <memory>

#include <fmt/format.h>
#include <SQLiteCpp/SQLiteCpp.h>

#include "stages/persister/migrations.h"

namespace stages::persister::backup {
namespace {

using pipeline::Error;
using pipeline::ErrorType;
using pipeline::Result;
using pipeline::Status;

struct CloseDatabase {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using DatabaseHandle = std::unique_ptr<sqlite3, CloseDatabase>;

Result<DatabaseHandle> openRaw(const std::string& path, int flags) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  DatabaseHandle db(raw);
  if (rc != SQLITE_OK) {
    return Error{ErrorType::Io, fmt::format("opening {}: {}", path,
                                            raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc))};
  }
  return db;
}

int newestKnownSchema() {
  const auto migrations = bundledMigrations();
  return migrations.empty() ? 0 : migrations.back().version;
}

}  // namespace

Result<Manifest> takeSnapshot(const std::string& db_path, const std::string& snapshot_path,
                              std::int64_t now_ms, std::int64_t busy_timeout_ms) {
  std::error_code ignored;
  std::filesystem::remove(snapshot_path, ignored);
  {
    // Read-write without CREATE: a read-only open of a WAL database fails when its -shm is missing.
    auto source = openRaw(db_path, SQLITE_OPEN_READWRITE);
    if (!source) return source.error();
    sqlite3_busy_timeout(source->get(), static_cast<int>(busy_timeout_ms));
    auto target = openRaw(snapshot_path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    if (!target) return target.error();
    sqlite3_backup* copy = sqlite3_backup_init(target->get(), "main", source->get(), "main");
    if (copy == nullptr) {
      return Error{ErrorType::Io, fmt::format("snapshot of {}: {}", db_path, sqlite3_errmsg(target->get()))};
    }
    // One step of all pages: a single read transaction, so no concurrent commit can restart it.
    const int step = sqlite3_backup_step(copy, -1);
    const int finish = sqlite3_backup_finish(copy);
    if (step != SQLITE_DONE || finish != SQLITE_OK) {
      const int rc = step != SQLITE_DONE ? step : finish;
      std::filesystem::remove(snapshot_path, ignored);
      return Error{rc == SQLITE_BUSY || rc == SQLITE_LOCKED ? ErrorType::Unavailable : ErrorType::Io,
                   fmt::format("snapshot of {}: {}", db_path, sqlite3_errstr(rc))};
    }
    // The copy is a standalone file: no WAL beside it, readable on its own.
    char* message = nullptr;
    if (sqlite3_exec(target->get(), "PRAGMA journal_mode=DELETE", nullptr, nullptr, &message) != SQLITE_OK) {
      std::string text = message ? message : "unknown error";
      sqlite3_free(message);
      std::filesystem::remove(snapshot_path, ignored);
      return Error{ErrorType::Io, fmt::format("snapshot {}: {}", snapshot_path, text)};
    }
  }
  ::chmod(snapshot_path.c_str(), 0600);
  auto manifest = describeDatabase(snapshot_path);
  if (!manifest) {
    std::filesystem::remove(snapshot_path, ignored);
    return manifest.error();
  }
  manifest->created_at_ms = now_ms;
  return manifest;
}

Result<Manifest> describeDatabase(const std::string& path) {
  Manifest manifest;
  try {
    SQLite::Database db(path, SQLite::OPEN_READONLY);
    if (!db.tableExists("schema_version") || !db.tableExists("kafka_offsets") || !db.tableExists("blocks")) {
      return Error{ErrorType::InvalidPayload, fmt::format("{}: not a point-tron database", path)};
    }
    manifest.schema_version = db.execAndGet("SELECT COALESCE(MAX(version), 0) FROM schema_version").getInt64();
    const auto highest = db.execAndGet("SELECT MAX(height) FROM blocks");
    if (!highest.isNull()) manifest.highest_block_height = highest.getInt64();
    SQLite::Statement tables(db,
                             "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE "
                             "'sqlite_%' ORDER BY name");
    while (tables.executeStep()) {
      const std::string table = tables.getColumn(0).getString();
      manifest.row_counts[table] =
          db.execAndGet(fmt::format("SELECT COUNT(*) FROM \"{}\"", table)).getInt64();
    }
    SQLite::Statement offsets(
        db, "SELECT topic, partition, next_offset FROM kafka_offsets ORDER BY topic, partition");
    while (offsets.executeStep()) {
      manifest.kafka_offsets.push_back({.topic = offsets.getColumn(0).getString(),
                                        .partition = offsets.getColumn(1).getInt(),
                                        .next_offset = offsets.getColumn(2).getInt64()});
    }
  } catch (const std::exception& e) {
    return Error{ErrorType::InvalidPayload, fmt::format("{}: {}", path, e.what())};
  }
  std::error_code error;
  const auto size = std::filesystem::file_size(path, error);
  if (error) return Error{ErrorType::Io, fmt::format("{}: {}", path, error.message())};
  manifest.database_bytes = size;
  auto digest = sha256File(path);
  if (!digest) return digest.error();
  manifest.database_sha256 = std::move(*digest);
  return manifest;
}

Status verifyDatabase(const std::string& path, const Manifest& expected) {
  try {
    SQLite::Database db(path, SQLite::OPEN_READONLY);
    const std::string integrity = db.execAndGet("PRAGMA integrity_check").getString();
    if (integrity != "ok") {
      return Status(ErrorType::InvalidPayload, fmt::format("integrity_check failed: {}", integrity));
    }
  } catch (const std::exception& e) {
    return Status(ErrorType::InvalidPayload, fmt::format("{}: {}", path, e.what()));
  }
  auto actual = describeDatabase(path);
  if (!actual) return actual.error();
  const auto differs = [](std::string_view what) {
    return Status(ErrorType::InvalidPayload, fmt::format("{} differs from the manifest", what));
  };
  if (actual->schema_version > newestKnownSchema()) {
    return Status(ErrorType::InvalidPayload,
                  fmt::format("schema version {} is newer than this binary's {}",
                              actual->schema_version, newestKnownSchema()));
  }
  if (actual->schema_version != expected.schema_version) return differs("schema version");
  if (actual->database_bytes != expected.database_bytes) return differs("database size");
  if (actual->database_sha256 != expected.database_sha256) return differs("database SHA-256");
  if (actual->highest_block_height != expected.highest_block_height) return differs("highest block height");
  if (actual->row_counts != expected.row_counts) return differs("row counts");
  if (actual->kafka_offsets != expected.kafka_offsets) return differs("Kafka offsets");
  return Status::ok();
}

}  // namespace stages::persister::backup
