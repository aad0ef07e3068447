#include "stages/persister/sqlite_store.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <type_traits>
#include <unordered_map>

#include <fmt/format.h>

#include "pipeline/clock.h"

namespace stages::persister {
namespace {

using pipeline::Error;
using pipeline::ErrorType;
using pipeline::Result;

constexpr std::int64_t kDayMs = 86'400'000;

// SQLite's result codes sorted into the stage's error classes (store.h).
ErrorType classify(int code) noexcept {
  switch (code & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return ErrorType::Unavailable;
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PROTOCOL:
    case SQLITE_PERM:
      return ErrorType::Io;
    default:
      return ErrorType::Internal;  // corrupt, not a database, constraint, misuse: not retryable
  }
}

Error sqliteError(std::string_view what, const std::exception& e) {
  if (const auto* sqlite = dynamic_cast<const SQLite::Exception*>(&e)) {
    return Error{classify(sqlite->getExtendedErrorCode()), fmt::format("{}: {}", what, sqlite->what())};
  }
  return Error{ErrorType::Internal, fmt::format("{}: {}", what, e.what())};
}

// Runs `body`, turning SQLiteCpp's exceptions into the Result the callers return.
template <typename Body>
auto guarded(std::string_view what, Body&& body) -> Result<std::invoke_result_t<Body>> {
  try {
    return body();
  } catch (const std::exception& e) {
    return sqliteError(what, e);
  }
}


void bindOptional(SQLite::Statement& statement, int index, const std::optional<double>& value) {
  if (value) statement.bind(index, *value);
  else statement.bind(index);
}

std::optional<std::int64_t> optionalInt(const SQLite::Column& column) {
  if (column.isNull()) return std::nullopt;
  return column.getInt64();
}

std::optional<double> optionalDouble(const SQLite::Column& column) {
  if (column.isNull()) return std::nullopt;
  return column.getDouble();
}

void applyPragmas(SQLite::Database& db, std::int64_t busy_timeout_ms, bool writer) {
  db.setBusyTimeout(static_cast<int>(busy_timeout_ms));
  db.exec("PRAGMA foreign_keys = ON");
  if (writer) {
    const std::string mode = db.execAndGet("PRAGMA journal_mode = WAL").getString();
    if (mode != "wal") {
      throw SQLite::Exception("journal_mode is " + mode + ", not wal", SQLITE_IOERR);
    }
    db.exec("PRAGMA synchronous = NORMAL");
  }
}

int currentSchemaVersion(SQLite::Database& db) {
  if (!db.tableExists("schema_version")) return 0;
  return db.execAndGet("SELECT COALESCE(MAX(version), 0) FROM schema_version").getInt();
}

// The columns of blocks and of the bucket tables, in one place for every statement that names them.
constexpr const char* kBlockColumns =
    "height, block_id, parent_id, timestamp_ms, witness, witness_hex, version, tx_count, "
    "tx_by_type, tx_failed, trx_transferred_sun, trc20_transfers, usdt_transfers, usdt_volume, "
    "last_digit, is_odd, size_bytes, fetched_at_ms, decoded_at_ms, source";
constexpr const char* kBucketColumns =
    "utc_offset, start_ms, blocks, odd, even, odd_rate, transactions, failed_transactions, "
    "trx_transferred_sun, trc20_transfers, usdt_transfers, usdt_volume, missed_slots, "
    "first_height, last_height, score_close";

std::string bucketUpsert(std::string_view table, std::string_view key) {
  return fmt::format(
      "INSERT OR REPLACE INTO {} ({}, {}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", table, key,
      kBucketColumns);
}

void bindBucket(SQLite::Statement& statement, const BucketRow& row) {
  statement.bind(1, row.bucket);
  statement.bind(2, row.utc_offset);
  statement.bind(3, row.start_ms);
  statement.bind(4, row.blocks);
  statement.bind(5, row.odd);
  statement.bind(6, row.even);
  statement.bind(7, row.odd_rate);
  statement.bind(8, row.transactions);
  statement.bind(9, row.failed_transactions);
  statement.bind(10, row.trx_transferred_sun);
  statement.bind(11, row.trc20_transfers);
  statement.bind(12, row.usdt_transfers);
  statement.bind(13, row.usdt_volume);
  statement.bind(14, row.missed_slots);
  statement.bind(15, row.first_height);
  statement.bind(16, row.last_height);
  statement.bind(17, row.score_close);
}

// Reads a bucket row selected as `<key>, <kBucketColumns>`.
BucketRow readBucket(SQLite::Statement& statement) {
  BucketRow row;
  row.bucket = statement.getColumn(0).getString();
  row.utc_offset = statement.getColumn(1).getString();
  row.start_ms = statement.getColumn(2).getInt64();
  row.blocks = statement.getColumn(3).getInt64();
  row.odd = statement.getColumn(4).getInt64();
  row.even = statement.getColumn(5).getInt64();
  row.odd_rate = statement.getColumn(6).getDouble();
  row.transactions = statement.getColumn(7).getInt64();
  row.failed_transactions = statement.getColumn(8).getInt64();
  row.trx_transferred_sun = statement.getColumn(9).getString();
  row.trc20_transfers = statement.getColumn(10).getInt64();
  row.usdt_transfers = statement.getColumn(11).getInt64();
  row.usdt_volume = statement.getColumn(12).getString();
  row.missed_slots = statement.getColumn(13).getInt64();
  row.first_height = statement.getColumn(14).getInt64();
  row.last_height = statement.getColumn(15).getInt64();
  row.score_close = statement.getColumn(16).getInt64();
  return row;
}

// Reads a block selected as `<kBlockColumns>` (prefixed b.), then p.point, p.score.
BlockView readBlockView(SQLite::Statement& statement) {
  BlockView view;
  BlockRow& b = view.block;
  b.height = statement.getColumn(0).getInt64();
  b.block_id = statement.getColumn(1).getString();
  b.parent_id = statement.getColumn(2).getString();
  b.timestamp_ms = statement.getColumn(3).getInt64();
  b.witness = statement.getColumn(4).getString();
  b.witness_hex = statement.getColumn(5).getString();
  b.version = statement.getColumn(6).getInt64();
  b.tx_count = statement.getColumn(7).getInt64();
  b.tx_by_type = statement.getColumn(8).getString();
  b.tx_failed = statement.getColumn(9).getInt64();
  b.trx_transferred_sun = statement.getColumn(10).getString();
  b.trc20_transfers = statement.getColumn(11).getInt64();
  b.usdt_transfers = statement.getColumn(12).getInt64();
  b.usdt_volume = statement.getColumn(13).getString();
  b.last_digit = statement.getColumn(14).getInt64();
  b.is_odd = statement.getColumn(15).getInt() != 0;
  b.size_bytes = statement.getColumn(16).getInt64();
  b.fetched_at_ms = optionalInt(statement.getColumn(17));
  b.decoded_at_ms = statement.getColumn(18).getInt64();
  b.source = statement.getColumn(19).getString();
  view.point = optionalInt(statement.getColumn(20));
  view.score = optionalInt(statement.getColumn(21));
  return view;
}

PointsRow readPoints(SQLite::Statement& statement) {
  return PointsRow{.height = statement.getColumn(0).getInt64(),
                   .block_id = statement.getColumn(1).getString(),
                   .timestamp_ms = statement.getColumn(2).getInt64(),
                   .last_digit = statement.getColumn(3).getInt64(),
                   .is_odd = statement.getColumn(4).getInt() != 0,
                   .point = statement.getColumn(5).getInt64(),
                   .score = statement.getColumn(6).getInt64()};
}

CandleRow readCandle(SQLite::Statement& statement) {
  return CandleRow{.period = statement.getColumn(0).getString(),
                   .start = statement.getColumn(1).getInt64(),
                   .end = statement.getColumn(2).getInt64(),
                   .open = statement.getColumn(3).getInt64(),
                   .high = statement.getColumn(4).getInt64(),
                   .low = statement.getColumn(5).getInt64(),
                   .close = statement.getColumn(6).getInt64(),
                   .volume = statement.getColumn(7).getInt64(),
                   .first_height = statement.getColumn(8).getInt64(),
                   .last_height = statement.getColumn(9).getInt64()};
}

const std::string kSelectBlockView = fmt::format(
    "SELECT b.{}, p.point, p.score FROM blocks b "
    "LEFT JOIN points p ON p.height = b.height AND p.block_id = b.block_id ",
    [] {
      // Every block column qualified with b.
      std::string qualified;
      std::string_view columns = kBlockColumns;
      bool first = true;
      while (!columns.empty()) {
        const auto comma = columns.find(", ");
        const auto column = columns.substr(0, comma);
        if (!first) qualified += ", b.";
        qualified += column;
        first = false;
        columns = comma == std::string_view::npos ? std::string_view() : columns.substr(comma + 2);
      }
      return qualified;
    }());

constexpr const char* kCandleColumns =
    "period, start, end, open, high, low, close, volume, first_height, last_height";

}  // namespace

// ---- SqliteStore ----------------------------------------------------------------------------

struct SqliteStore::Impl {
  explicit Impl(const SqliteOptions& options)
      : retention_ms(options.block_retention_days * kDayMs),
        db(options.path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE) {}

  // Statements are prepared once the schema exists (after migrations).
  void prepare() {
    const auto make = [&](const std::string& sql) { return std::make_unique<SQLite::Statement>(db, sql); };
    upsert_block = make(fmt::format("INSERT OR REPLACE INTO blocks ({}) VALUES "
                                    "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                                    kBlockColumns));
    retract_block = make("DELETE FROM blocks WHERE height = ? AND block_id = ?");
    upsert_points = make(
        "INSERT OR REPLACE INTO points (height, block_id, timestamp_ms, last_digit, is_odd, point, "
        "score) VALUES (?,?,?,?,?,?,?)");
    delete_points = make("DELETE FROM points WHERE height = ?");
    upsert_daily = make(bucketUpsert("daily_stats", "date"));
    delete_daily = make("DELETE FROM daily_stats WHERE date = ?");
    upsert_hourly = make(bucketUpsert("hourly_stats", "hour"));
    delete_hourly = make("DELETE FROM hourly_stats WHERE hour = ?");
    upsert_candle = make(fmt::format("INSERT OR REPLACE INTO candles ({}) VALUES (?,?,?,?,?,?,?,?,?,?)",
                                     kCandleColumns));
    delete_candle = make("DELETE FROM candles WHERE period = ? AND start = ?");
    upsert_witness = make(
        "INSERT OR REPLACE INTO witness_stats (date, witness, witness_hex, blocks, missed_slots) "
        "VALUES (?,?,?,?,?)");
    delete_witness = make("DELETE FROM witness_stats WHERE date = ? AND witness = ?");
    upsert_parity = make(
        "INSERT OR REPLACE INTO parity (window, height, blocks, odd, z_score) VALUES (?,?,?,?,?)");
    delete_parity = make("DELETE FROM parity WHERE window = ?");
    // An older batch of an instance (a replayed metrics record) never overwrites a newer one.
    upsert_status = make(
        "INSERT INTO stage_status (stage, instance, ts_ms, received_events, sent_events, errors, "
        "discarded_events, bugs, in_flight_events, health_status, consumer_lag_messages, heights) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (stage, instance) DO UPDATE SET "
        "ts_ms = excluded.ts_ms, received_events = excluded.received_events, "
        "sent_events = excluded.sent_events, errors = excluded.errors, "
        "discarded_events = excluded.discarded_events, bugs = excluded.bugs, "
        "in_flight_events = excluded.in_flight_events, health_status = excluded.health_status, "
        "consumer_lag_messages = excluded.consumer_lag_messages, heights = excluded.heights "
        "WHERE excluded.ts_ms >= stage_status.ts_ms");
    upsert_offset = make(
        "INSERT OR REPLACE INTO kafka_offsets (topic, partition, next_offset) VALUES (?,?,?)");
    newest_block_time = make("SELECT MAX(timestamp_ms) FROM blocks");
    prune_blocks = make(fmt::format(
        "DELETE FROM blocks WHERE height IN (SELECT height FROM blocks WHERE timestamp_ms < ? "
        "ORDER BY timestamp_ms LIMIT {})", kPruneRowsPerWrite));
    prune_points = make(fmt::format(
        "DELETE FROM points WHERE height IN (SELECT height FROM points WHERE timestamp_ms < ? "
        "ORDER BY timestamp_ms LIMIT {})", kPruneRowsPerWrite));
    select_offsets = make("SELECT topic, partition, next_offset FROM kafka_offsets");
  }

  static void run(SQLite::Statement& statement) {
    statement.exec();
    statement.reset();
  }

  void apply(const BlockRow& b) {
    auto& s = *upsert_block;
    s.bind(1, b.height);
    s.bind(2, b.block_id);
    s.bind(3, b.parent_id);
    s.bind(4, b.timestamp_ms);
    s.bind(5, b.witness);
    s.bind(6, b.witness_hex);
    s.bind(7, b.version);
    s.bind(8, b.tx_count);
    s.bind(9, b.tx_by_type);
    s.bind(10, b.tx_failed);
    s.bind(11, b.trx_transferred_sun);
    s.bind(12, b.trc20_transfers);
    s.bind(13, b.usdt_transfers);
    s.bind(14, b.usdt_volume);
    s.bind(15, b.last_digit);
    s.bind(16, static_cast<std::int64_t>(b.is_odd));
    s.bind(17, b.size_bytes);
    if (b.fetched_at_ms) s.bind(18, *b.fetched_at_ms);
    else s.bind(18);
    s.bind(19, b.decoded_at_ms);
    s.bind(20, b.source);
    run(s);
  }
  void apply(const BlockRetraction& r) {
    retract_block->bind(1, r.height);
    retract_block->bind(2, r.block_id);
    run(*retract_block);
  }
  void apply(const PointsRow& p) {
    auto& s = *upsert_points;
    s.bind(1, p.height);
    s.bind(2, p.block_id);
    s.bind(3, p.timestamp_ms);
    s.bind(4, p.last_digit);
    s.bind(5, static_cast<std::int64_t>(p.is_odd));
    s.bind(6, p.point);
    s.bind(7, p.score);
    run(s);
  }
  void apply(const DailyRow& d) {
    bindBucket(*upsert_daily, d);
    run(*upsert_daily);
  }
  void apply(const HourlyRow& h) {
    bindBucket(*upsert_hourly, h);
    run(*upsert_hourly);
  }
  void apply(const CandleRow& c) {
    auto& s = *upsert_candle;
    s.bind(1, c.period);
    s.bind(2, c.start);
    s.bind(3, c.end);
    s.bind(4, c.open);
    s.bind(5, c.high);
    s.bind(6, c.low);
    s.bind(7, c.close);
    s.bind(8, c.volume);
    s.bind(9, c.first_height);
    s.bind(10, c.last_height);
    run(s);
  }
  void apply(const WitnessRow& w) {
    auto& s = *upsert_witness;
    s.bind(1, w.date);
    s.bind(2, w.witness);
    s.bind(3, w.witness_hex);
    s.bind(4, w.blocks);
    s.bind(5, w.missed_slots);
    run(s);
  }
  void apply(const ParityRow& p) {
    auto& s = *upsert_parity;
    s.bind(1, p.window);
    s.bind(2, p.height);
    s.bind(3, p.blocks);
    s.bind(4, p.odd);
    s.bind(5, p.z_score);
    run(s);
  }
  void apply(const StatsDeletion& deletion) {
    const StatsKey& key = deletion.key;
    using Kind = StatsKey::Kind;
    switch (key.kind) {
      case Kind::Points: delete_points->bind(1, key.number); run(*delete_points); break;
      case Kind::Daily: delete_daily->bind(1, key.text); run(*delete_daily); break;
      case Kind::Hourly: delete_hourly->bind(1, key.text); run(*delete_hourly); break;
      case Kind::Candle:
        delete_candle->bind(1, key.text);
        delete_candle->bind(2, key.number);
        run(*delete_candle);
        break;
      case Kind::Witness:
        delete_witness->bind(1, key.text);
        delete_witness->bind(2, key.address);
        run(*delete_witness);
        break;
      case Kind::Parity: delete_parity->bind(1, key.number); run(*delete_parity); break;
    }
  }
  void apply(const StageStatusRow& row) {
    auto& s = *upsert_status;
    s.bind(1, row.stage);
    s.bind(2, row.instance);
    s.bind(3, row.ts_ms);
    bindOptional(s, 4, row.received_events);
    bindOptional(s, 5, row.sent_events);
    bindOptional(s, 6, row.errors);
    bindOptional(s, 7, row.discarded_events);
    bindOptional(s, 8, row.bugs);
    bindOptional(s, 9, row.in_flight_events);
    bindOptional(s, 10, row.health_status);
    bindOptional(s, 11, row.consumer_lag_messages);
    s.bind(12, row.heights);
    run(s);
  }

  // Deletes at most kPruneRowsPerWrite expired rows of each per-block table, so one write never
  // turns into a long delete; a backlog shrinks by that much per batch.
  std::int64_t prune() {
    if (retention_ms <= 0) return 0;
    if (!newest_block_time->executeStep() || newest_block_time->getColumn(0).isNull()) {
      newest_block_time->reset();
      return 0;
    }
    const std::int64_t cutoff = newest_block_time->getColumn(0).getInt64() - retention_ms;
    newest_block_time->reset();
    std::int64_t pruned = 0;
    for (auto* statement : {prune_blocks.get(), prune_points.get()}) {
      statement->bind(1, cutoff);
      pruned += statement->exec();
      statement->reset();
    }
    return pruned;
  }

  std::int64_t retention_ms;
  SQLite::Database db;
  std::unique_ptr<SQLite::Statement> upsert_block, retract_block, upsert_points, delete_points,
      upsert_daily, delete_daily, upsert_hourly, delete_hourly, upsert_candle, delete_candle,
      upsert_witness, delete_witness, upsert_parity, delete_parity, upsert_status, upsert_offset,
      newest_block_time, prune_blocks, prune_points, select_offsets;
};

SqliteStore::SqliteStore(std::unique_ptr<Impl> impl, int schema_version)
    : impl_(std::move(impl)), schema_version_(schema_version) {}
SqliteStore::~SqliteStore() = default;

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const SqliteOptions& options,
                                                       std::span<const Migration> migrations) {
  std::unique_ptr<Impl> impl;
  try {
    impl = std::make_unique<Impl>(options);
    applyPragmas(impl->db, options.busy_timeout_ms, /*writer=*/true);
  } catch (const std::exception& e) {
    auto error = sqliteError("opening " + options.path, e);
    if (error.type == ErrorType::Internal) error.type = ErrorType::Io;
    return error;
  }
  const int newest = migrations.empty() ? 0 : migrations.back().version;
  int version = 0;
  try {
    version = currentSchemaVersion(impl->db);
  } catch (const std::exception& e) {
    return sqliteError("reading schema_version of " + options.path, e);
  }
  if (version > newest) {
    return Error{ErrorType::InvalidConfig,
                 fmt::format("database {} has schema version {}, newer than this binary's {}; "
                             "run a newer pointtron-persister",
                             options.path, version, newest)};
  }
  for (const Migration& migration : migrations) {
    if (migration.version <= version) continue;
    try {
      SQLite::Transaction transaction(impl->db);
      impl->db.exec(std::string(migration.sql));
      SQLite::Statement record(impl->db,
                               "INSERT INTO schema_version (version, name, applied_at_ms) VALUES (?,?,?)");
      record.bind(1, migration.version);
      record.bind(2, std::string(migration.name));
      record.bind(3, pipeline::wallClockMs());
      record.exec();
      transaction.commit();
    } catch (const std::exception& e) {
      return sqliteError(fmt::format("migration {:04d}_{}", migration.version, migration.name), e);
    }
    version = migration.version;
  }
  try {
    SQLite::Statement meta(impl->db, "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)");
    for (const auto& [key, value] :
         {std::pair<std::string, std::string>{"created_at_ms", std::to_string(pipeline::wallClockMs())},
          {"created_by_version", POINTTRON_VERSION}}) {
      meta.bind(1, key);
      meta.bind(2, value);
      meta.exec();
      meta.reset();
    }
    impl->prepare();
  } catch (const std::exception& e) {
    return sqliteError("preparing statements", e);
  }
  return std::unique_ptr<SqliteStore>(new SqliteStore(std::move(impl), version));
}

Result<std::vector<PartitionOffset>> SqliteStore::offsets() {
  return guarded("reading kafka_offsets", [&] {
    std::vector<PartitionOffset> out;
    auto& s = *impl_->select_offsets;
    while (s.executeStep()) {
      out.push_back({.topic = s.getColumn(0).getString(),
                     .partition = s.getColumn(1).getInt(),
                     .next_offset = s.getColumn(2).getInt64()});
    }
    s.reset();
    return out;
  });
}

pipeline::Status SqliteStore::recordBackup(const BackupRow& row) {
  auto written = guarded("recording a backup", [&] {
    SQLite::Statement insert(impl_->db,
                             "INSERT INTO backups (started_at_ms, finished_at_ms, location, size_bytes, "
                             "sha256, status, verified) VALUES (?,?,?,?,?,?,?)");
    insert.bind(1, row.started_at_ms);
    if (row.finished_at_ms) insert.bind(2, *row.finished_at_ms);
    insert.bind(3, row.location);
    if (row.size_bytes) insert.bind(4, *row.size_bytes);
    if (row.sha256) insert.bind(5, *row.sha256);
    insert.bind(6, row.status);
    insert.bind(7, row.verified ? 1 : 0);
    insert.exec();
    return true;
  });
  return written.status();
}

Result<WriteResult> SqliteStore::write(const WriteBatch& batch) {
  Impl& impl = *impl_;
  bool open_transaction = false;
  try {
    impl.db.exec("BEGIN IMMEDIATE");
    open_transaction = true;
    for (const Mutation& mutation : batch.mutations) {
      std::visit([&](const auto& change) { impl.apply(change); }, mutation);
    }
    for (const PartitionOffset& offset : batch.offsets) {
      impl.upsert_offset->bind(1, offset.topic);
      impl.upsert_offset->bind(2, offset.partition);
      impl.upsert_offset->bind(3, offset.next_offset);
      Impl::run(*impl.upsert_offset);
    }
    WriteResult result{.pruned_rows = impl.prune(),
                       .latest_block_height =
                           optionalInt(impl.db.execAndGet("SELECT MAX(height) FROM blocks"))};
    impl.db.exec("COMMIT");
    return result;
  } catch (const std::exception& e) {
    Error error = sqliteError("writing a batch", e);
    // A statement that failed mid-step keeps its state; reset them all before the next batch.
    for (auto* statement :
         {impl.upsert_block.get(), impl.retract_block.get(), impl.upsert_points.get(),
          impl.delete_points.get(), impl.upsert_daily.get(), impl.delete_daily.get(),
          impl.upsert_hourly.get(), impl.delete_hourly.get(), impl.upsert_candle.get(),
          impl.delete_candle.get(), impl.upsert_witness.get(), impl.delete_witness.get(),
          impl.upsert_parity.get(), impl.delete_parity.get(), impl.upsert_status.get(),
          impl.upsert_offset.get(), impl.newest_block_time.get(), impl.prune_blocks.get(),
          impl.prune_points.get()}) {
      try {
        statement->reset();
      } catch (const std::exception&) {
        // reset() re-reports the statement's last error, which `error` already holds.
      }
    }
    if (open_transaction && sqlite3_get_autocommit(impl.db.getHandle()) == 0) {
      try {
        impl.db.exec("ROLLBACK");
      } catch (const std::exception&) {
        // SQLite may already have rolled back (disk full, I/O error); nothing is committed.
      }
    }
    return error;
  }
}

// ---- SqliteQueries --------------------------------------------------------------------------

namespace {

// Resets a cached statement when its query is done, also on an exception: a statement left
// stepped keeps its read transaction open, so the connection would go on reading an old snapshot
// and hold back WAL checkpoints.
class StatementReset {
 public:
  explicit StatementReset(SQLite::Statement& statement) : statement_(statement) {}
  ~StatementReset() {
    // Its result repeats the error of the last step, which the query has already reported.
    (void)statement_.tryReset();
  }
  StatementReset(const StatementReset&) = delete;
  StatementReset& operator=(const StatementReset&) = delete;

 private:
  SQLite::Statement& statement_;
};

}  // namespace

struct SqliteQueries::Impl {
  Impl(const std::string& path, std::int64_t busy_timeout_ms)
      // Only the loop thread uses the connection: SQLite's per-call mutex would be pure cost.
      : db(path, SQLite::OPEN_READONLY | SQLite::OPEN_NOMUTEX) {
    applyPragmas(db, busy_timeout_ms, /*writer=*/false);
  }

  // The statement for `sql`, compiled on first use. Compiling costs more than running these
  // indexed queries: under load, most of the API's time went to SQLite's parser and allocator.
  // Callers hold a StatementReset while they use it. Throws SQLite::Exception (guarded()).
  SQLite::Statement& statement(const std::string& sql) {
    auto& cached = statements[sql];
    if (!cached) cached = std::make_unique<SQLite::Statement>(db, sql);
    return *cached;
  }

  // A single-column, single-row query's value (NULL or no row: nullopt).
  std::optional<std::int64_t> singleInt(const std::string& sql) {
    auto& s = statement(sql);
    const StatementReset reset(s);
    if (!s.executeStep()) return std::nullopt;
    return optionalInt(s.getColumn(0));
  }

  SQLite::Database db;
  // Declared after db: the statements are finalized before the connection closes.
  std::unordered_map<std::string, std::unique_ptr<SQLite::Statement>> statements;
};

SqliteQueries::SqliteQueries(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SqliteQueries::~SqliteQueries() = default;

Result<std::unique_ptr<SqliteQueries>> SqliteQueries::open(const std::string& path,
                                                           std::int64_t busy_timeout_ms) {
  try {
    return std::unique_ptr<SqliteQueries>(
        new SqliteQueries(std::make_unique<Impl>(path, busy_timeout_ms)));
  } catch (const std::exception& e) {
    auto error = sqliteError("opening " + path + " read-only", e);
    error.type = ErrorType::Io;
    return error;
  }
}

Result<std::optional<BlockView>> SqliteQueries::latestBlock() {
  return guarded("latest block", [&]() -> std::optional<BlockView> {
    auto& s = impl_->statement(kSelectBlockView + "ORDER BY b.height DESC LIMIT 1");
    const StatementReset reset(s);
    if (!s.executeStep()) return std::nullopt;
    return readBlockView(s);
  });
}

Result<std::vector<BlockView>> SqliteQueries::blocks(std::int64_t from, std::int64_t to, int limit) {
  return guarded("blocks", [&] {
    auto& s = impl_->statement(kSelectBlockView +
                               "WHERE b.height BETWEEN ? AND ? ORDER BY b.height LIMIT ?");
    const StatementReset reset(s);
    s.bind(1, from);
    s.bind(2, to);
    s.bind(3, limit);
    std::vector<BlockView> out;
    while (s.executeStep()) out.push_back(readBlockView(s));
    return out;
  });
}

Result<std::optional<DailyRow>> SqliteQueries::dayContaining(std::int64_t ms) {
  return guarded("day containing", [&]() -> std::optional<DailyRow> {
    auto& s = impl_->statement(fmt::format("SELECT date, {} FROM daily_stats WHERE start_ms <= ? "
                                           "ORDER BY start_ms DESC LIMIT 1",
                                           kBucketColumns));
    const StatementReset reset(s);
    s.bind(1, ms);
    if (!s.executeStep()) return std::nullopt;
    DailyRow row{readBucket(s)};
    if (ms >= row.start_ms + kDayMs) return std::nullopt;
    return row;
  });
}

Result<std::optional<DailyRow>> SqliteQueries::day(const std::string& date) {
  return guarded("day", [&]() -> std::optional<DailyRow> {
    auto& s = impl_->statement(
        fmt::format("SELECT date, {} FROM daily_stats WHERE date = ?", kBucketColumns));
    const StatementReset reset(s);
    s.bind(1, date);
    if (!s.executeStep()) return std::nullopt;
    return DailyRow{readBucket(s)};
  });
}

Result<std::vector<ParityRow>> SqliteQueries::parity() {
  return guarded("parity", [&] {
    auto& s = impl_->statement(
        "SELECT window, height, blocks, odd, z_score FROM parity ORDER BY window LIMIT 100");
    const StatementReset reset(s);
    std::vector<ParityRow> out;
    while (s.executeStep()) {
      out.push_back({.window = s.getColumn(0).getInt64(),
                     .height = s.getColumn(1).getInt64(),
                     .blocks = s.getColumn(2).getInt64(),
                     .odd = s.getColumn(3).getInt64(),
                     .z_score = s.getColumn(4).getDouble()});
    }
    return out;
  });
}

constexpr const char* kPointsColumns =
    "height, block_id, timestamp_ms, last_digit, is_odd, point, score";

Result<std::vector<PointsRow>> SqliteQueries::points(std::int64_t from, std::int64_t to, int limit) {
  return guarded("points", [&] {
    auto& s = impl_->statement(fmt::format("SELECT {} FROM points WHERE height BETWEEN ? AND ? "
                                           "ORDER BY height DESC LIMIT ?",
                                           kPointsColumns));
    const StatementReset reset(s);
    s.bind(1, from);
    s.bind(2, to);
    s.bind(3, limit);
    std::vector<PointsRow> out;
    while (s.executeStep()) out.push_back(readPoints(s));
    std::reverse(out.begin(), out.end());
    return out;
  });
}

Result<std::vector<PointsRow>> SqliteQueries::pointsEvery(std::int64_t from, std::int64_t to,
                                                          std::int64_t step) {
  return guarded("sampled points", [&] {
    // One primary-key lookup per sample rather than a scan of the whole window.
    auto& s =
        impl_->statement(fmt::format("SELECT {} FROM points WHERE height = ?", kPointsColumns));
    const StatementReset reset(s);
    std::vector<PointsRow> out;
    for (std::int64_t height = from; height <= to; height += step) {
      s.bind(1, height);
      if (s.executeStep()) out.push_back(readPoints(s));
      s.reset();
    }
    return out;
  });
}

Result<std::vector<CandleRow>> SqliteQueries::candles(const std::string& period, std::int64_t from,
                                                      std::int64_t to) {
  return guarded("candles", [&] {
    auto& s = impl_->statement(fmt::format("SELECT {} FROM candles WHERE period = ? AND start "
                                           "BETWEEN ? AND ? ORDER BY start",
                                           kCandleColumns));
    const StatementReset reset(s);
    s.bind(1, period);
    s.bind(2, from);
    s.bind(3, to);
    std::vector<CandleRow> out;
    while (s.executeStep()) out.push_back(readCandle(s));
    return out;
  });
}

Result<std::optional<CandleRow>> SqliteQueries::candleAtOrBefore(const std::string& period,
                                                                 std::int64_t at_most) {
  return guarded("candle", [&]() -> std::optional<CandleRow> {
    auto& s = impl_->statement(fmt::format("SELECT {} FROM candles WHERE period = ? AND start <= ? "
                                           "ORDER BY start DESC LIMIT 1",
                                           kCandleColumns));
    const StatementReset reset(s);
    s.bind(1, period);
    s.bind(2, at_most);
    if (!s.executeStep()) return std::nullopt;
    return readCandle(s);
  });
}

Result<std::vector<WitnessRow>> SqliteQueries::witnesses(const std::string& date, int limit) {
  return guarded("witnesses", [&] {
    // A day has a few dozen witnesses: sorting them after the primary-key range is cheap.
    auto& s = impl_->statement(
        "SELECT date, witness, witness_hex, blocks, missed_slots FROM witness_stats "
                        "WHERE date = ? ORDER BY blocks DESC, witness LIMIT ?");
    const StatementReset reset(s);
    s.bind(1, date);
    s.bind(2, limit);
    std::vector<WitnessRow> out;
    while (s.executeStep()) {
      out.push_back({.date = s.getColumn(0).getString(),
                     .witness = s.getColumn(1).getString(),
                     .witness_hex = s.getColumn(2).getString(),
                     .blocks = s.getColumn(3).getInt64(),
                     .missed_slots = s.getColumn(4).getInt64()});
    }
    return out;
  });
}

Result<std::optional<std::string>> SqliteQueries::latestWitnessDate() {
  return guarded("latest witness date", [&]() -> std::optional<std::string> {
    auto& s = impl_->statement("SELECT date FROM witness_stats ORDER BY date DESC LIMIT 1");
    const StatementReset reset(s);
    if (!s.executeStep()) return std::nullopt;
    return s.getColumn(0).getString();
  });
}

Result<std::vector<StageStatusRow>> SqliteQueries::stageStatus() {
  return guarded("stage status", [&] {
    auto& s = impl_->statement(
        "SELECT stage, instance, ts_ms, received_events, sent_events, errors, "
                        "discarded_events, bugs, in_flight_events, health_status, "
                        "consumer_lag_messages, heights FROM stage_status ORDER BY stage, instance "
                        "LIMIT 1000");
    const StatementReset reset(s);
    std::vector<StageStatusRow> out;
    while (s.executeStep()) {
      out.push_back({.stage = s.getColumn(0).getString(),
                     .instance = s.getColumn(1).getString(),
                     .ts_ms = s.getColumn(2).getInt64(),
                     .received_events = optionalDouble(s.getColumn(3)),
                     .sent_events = optionalDouble(s.getColumn(4)),
                     .errors = optionalDouble(s.getColumn(5)),
                     .discarded_events = optionalDouble(s.getColumn(6)),
                     .bugs = optionalDouble(s.getColumn(7)),
                     .in_flight_events = optionalDouble(s.getColumn(8)),
                     .health_status = optionalDouble(s.getColumn(9)),
                     .consumer_lag_messages = optionalDouble(s.getColumn(10)),
                     .heights = s.getColumn(11).getString()});
    }
    return out;
  });
}

namespace {

constexpr const char* kBackupColumns =
    "id, started_at_ms, finished_at_ms, location, size_bytes, sha256, status, verified";

BackupRow backupRowOf(SQLite::Statement& s) {
  return BackupRow{.id = s.getColumn(0).getInt64(),
                   .started_at_ms = s.getColumn(1).getInt64(),
                   .finished_at_ms = optionalInt(s.getColumn(2)),
                   .location = s.getColumn(3).getString(),
                   .size_bytes = optionalInt(s.getColumn(4)),
                   .sha256 = s.getColumn(5).isNull() ? std::nullopt
                                                     : std::optional<std::string>(s.getColumn(5).getString()),
                   .status = s.getColumn(6).getString(),
                   .verified = s.getColumn(7).getInt() != 0};
}

}  // namespace

Result<std::optional<BackupRow>> SqliteQueries::lastBackup() {
  return guarded("last backup", [&]() -> std::optional<BackupRow> {
    auto& s = impl_->statement(fmt::format("SELECT {} FROM backups WHERE status = 'succeeded' "
                                           "ORDER BY finished_at_ms DESC LIMIT 1",
                                           kBackupColumns));
    const StatementReset reset(s);
    if (!s.executeStep()) return std::nullopt;
    return backupRowOf(s);
  });
}

Result<std::vector<BackupRow>> SqliteQueries::recentBackups(int limit) {
  return guarded("recent backups", [&] {
    auto& s = impl_->statement(fmt::format("SELECT {} FROM backups ORDER BY id DESC LIMIT ?", kBackupColumns));
    const StatementReset reset(s);
    s.bind(1, limit);
    std::vector<BackupRow> out;
    while (s.executeStep()) out.push_back(backupRowOf(s));
    return out;
  });
}

Result<DatabaseFigures> SqliteQueries::databaseFigures() {
  return guarded("database figures", [&] {
    DatabaseFigures figures;
    Impl& impl = *impl_;
    figures.latest_block_height = impl.singleInt("SELECT MAX(height) FROM blocks");
    figures.latest_points_height = impl.singleInt("SELECT MAX(height) FROM points");
    figures.size_bytes = impl.singleInt("PRAGMA page_count").value_or(0) *
                         impl.singleInt("PRAGMA page_size").value_or(0);
    figures.schema_version =
        static_cast<int>(impl.singleInt("SELECT MAX(version) FROM schema_version").value_or(0));
    return figures;
  });
}

Result<std::int64_t> SqliteQueries::dataVersion() {
  return guarded("data version", [&] { return impl_->singleInt("PRAGMA data_version").value_or(0); });
}

}  // namespace stages::persister
