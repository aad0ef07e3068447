#pragma once

// The content of a persister database as text, table by table in primary-key order, for tests
// that compare two databases. Bookkeeping that differs between equal runs (applied_at_ms,
// created_at_ms, stage_status from the stages' own metric batches) is left out.

#include <SQLiteCpp/SQLiteCpp.h>

#include <string>

namespace stages::persister::testing {

inline std::string dumpTable(SQLite::Database& db, const std::string& table, const std::string& order) {
  std::string out = "== " + table + "\n";
  SQLite::Statement rows(db, "SELECT * FROM " + table + " ORDER BY " + order);
  while (rows.executeStep()) {
    for (int i = 0; i < rows.getColumnCount(); ++i) {
      const auto column = rows.getColumn(i);
      out += column.isNull() ? std::string("NULL") : column.getString();
      out += i + 1 < rows.getColumnCount() ? "|" : "\n";
    }
  }
  return out;
}

/** Every data table of the database at `path` (opened read-only). */
inline std::string dumpDatabase(const std::string& path) {
  SQLite::Database db(path, SQLite::OPEN_READONLY);
  std::string out;
  out += dumpTable(db, "blocks", "height");
  out += dumpTable(db, "points", "height");
  out += dumpTable(db, "daily_stats", "date");
  out += dumpTable(db, "hourly_stats", "hour");
  out += dumpTable(db, "candles", "period, start");
  out += dumpTable(db, "witness_stats", "date, witness");
  out += dumpTable(db, "parity", "window");
  out += dumpTable(db, "backups", "id");
  return out;
}

}  // namespace stages::persister::testing
