#pragma once

#include <cstdint>
#include <string>

#include "pipeline/status.h"
#include "stages/persister/backup/archive.h"

// Consistent copies of the live database and what they contain. Blocking (file I/O); meant for a
// worker thread. Each call opens its own connections, so it never shares the loop's.

namespace stages::persister::backup {

/**
 * Copies the database at `db_path` to `snapshot_path` (replaced if present) with SQLite's online
 * backup API in one step: one read transaction on a connection of its own, so the copy is the
 * state of one commit while the writer keeps committing (WAL readers never block it, and a single
 * step cannot restart). Then describes the copy. Errors: Io (open, copy, read), Unavailable (the
 * database was locked past `busy_timeout_ms`).
 */
[[nodiscard]] pipeline::Result<Manifest> takeSnapshot(const std::string& db_path,
                                                      const std::string& snapshot_path,
                                                      std::int64_t now_ms,
                                                      std::int64_t busy_timeout_ms = 5000);

/**
 * The manifest of a database file at rest: schema version, highest block height, the rows of
 * every table, the Kafka offsets it holds, its size and SHA-256 (created_at_ms and key_id are
 * left for the caller). Errors: Io, InvalidPayload (not a point-tron database).
 */
[[nodiscard]] pipeline::Result<Manifest> describeDatabase(const std::string& path);

/**
 * Proves that `path` is a restorable point-tron database matching `expected`: PRAGMA
 * integrity_check is "ok", the schema version is one this binary knows, and the row counts,
 * highest height, Kafka offsets, size and SHA-256 equal the manifest's. Errors: InvalidPayload
 * naming the first difference, Io.
 */
[[nodiscard]] pipeline::Status verifyDatabase(const std::string& path, const Manifest& expected);

}  // namespace stages::persister::backup
