#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/status.h"
#include "stages/persister/backup/keyring.h"
#include "stages/persister/store.h"

// The encrypted backup archive of the persister's database: a plaintext header, then the manifest
// and the zstd-compressed SQLite snapshot, AES-256-GCM encrypted in authenticated chunks. The
// byte-level format is docs/backup-format.md. Every function here is blocking (file I/O, CPU) and
// meant for a worker thread; none touches the loop, and each call owns all the state it uses, so
// calls may run concurrently on different files.

namespace stages::persister::backup {

/** What an archive says about the snapshot inside it; authenticated like the snapshot. */
struct Manifest {
  static constexpr std::string_view kFormat = "point-tron-backup/1";

  std::string format = std::string(kFormat);
  std::int64_t created_at_ms = 0;
  std::int64_t schema_version = 0;
  std::optional<std::int64_t> highest_block_height;  // none: no block in the database
  std::map<std::string, std::int64_t> row_counts;    // table -> rows
  std::vector<PartitionOffset> kafka_offsets;        // what the snapshot's kafka_offsets held
  std::uint64_t database_bytes = 0;                  // size of the uncompressed snapshot file
  std::string database_sha256;                       // its SHA-256, 64 lower-case hex digits
  std::string key_id;                                // the key the archive is encrypted with

  /** Compact JSON, fields in declaration order; highest_block_height null when none. */
  std::string toJson() const;
  /**
   * Errors: InvalidPayload ("manifest: ...") if `json` is not an object, `format` is not kFormat,
   * a field is missing or ill-typed, a number is negative, database_sha256 is not 64 lower-case
   * hex digits, key_id is not a valid key id, or a topic is empty. Unknown fields are ignored
   * (additive changes keep the format).
   */
  [[nodiscard]] static pipeline::Result<Manifest> parse(std::string_view json);

  friend bool operator==(const Manifest&, const Manifest&) = default;
};

struct ArchiveOptions {
  static constexpr std::uint32_t kMinChunkSize = 1024;
  static constexpr std::uint32_t kMaxChunkSize = 16u << 20;

  /** Plaintext bytes per encrypted chunk; kMinChunkSize..kMaxChunkSize. */
  std::uint32_t chunk_size = 1u << 20;
  /** zstd level, ZSTD_minCLevel()..ZSTD_maxCLevel(). */
  int compression_level = 3;
};

/** The archive file writeArchive produced. */
struct ArchiveInfo {
  std::uint64_t bytes = 0;
  std::string sha256;  // of the archive file, 64 lower-case hex digits
};

/**
 * Writes the snapshot at `snapshot_path` with `manifest` as an archive encrypted with `key`, in
 * constant memory (about two chunks plus zstd's state): `out_path + ".tmp"` is written, fsynced,
 * renamed to `out_path` (replacing it) and the directory fsynced. manifest.key_id may be empty
 * (it is then set to key.id()). On failure no file is left at either path (an existing
 * `out_path` is untouched).
 *
 * Errors: InvalidArgument (options out of range; the manifest does not parse back; key_id names
 * another key; the snapshot's size or SHA-256 differs from manifest.database_bytes /
 * database_sha256, i.e. it is not the file the manifest describes or it changed while read), Io
 * (reading the snapshot, writing, fsync, rename), Internal (OpenSSL or zstd failed).
 */
[[nodiscard]] pipeline::Result<ArchiveInfo> writeArchive(const std::string& snapshot_path,
                                                         const Manifest& manifest,
                                                         const BackupKey& key,
                                                         const std::string& out_path,
                                                         const ArchiveOptions& options = {});

/**
 * The manifest of an archive, decrypting only the chunks that hold it. It is authenticated, but
 * the rest of the archive is not read: only extractArchive proves the whole file intact.
 *
 * Errors: Io (cannot open or read), InvalidPayload with a one-line reason naming the archive
 * ("not a point-tron backup (bad magic)", "encrypted with key 'k2', which is not configured",
 * "chunk 0: authentication failed (corrupted or wrong key)", "truncated: ...").
 */
[[nodiscard]] pipeline::Result<Manifest> readManifest(const std::string& archive_path,
                                                      const Keyring& keyring);

/**
 * Decrypts and decompresses the archive's snapshot to `database_out_path` (via
 * `database_out_path + ".tmp"`, fsync, rename, directory fsync; mode 0600) and returns its
 * manifest. Every chunk's tag, the final chunk, the absence of trailing bytes, and the snapshot's
 * size and SHA-256 against the manifest are all checked before the rename; on any failure no file
 * is left at either path (an existing `database_out_path` is untouched).
 *
 * Errors: as readManifest, plus InvalidPayload "chunk N: authentication failed (corrupted or
 * wrong key)", "truncated: no final chunk", "trailing data after the final chunk", "database
 * SHA-256 does not match the manifest", ...; Io for the output file.
 */
[[nodiscard]] pipeline::Result<Manifest> extractArchive(const std::string& archive_path,
                                                        const Keyring& keyring,
                                                        const std::string& database_out_path);

/** SHA-256 of a file, streamed, as 64 lower-case hex digits. Errors: Io. */
[[nodiscard]] pipeline::Result<std::string> sha256File(const std::string& path);

}  // namespace stages::persister::backup
