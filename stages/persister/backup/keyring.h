#pragma once

#include <array>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/status.h"

namespace stages::persister::backup {

/** True when `id` is 1-64 characters of [A-Za-z0-9._-] (a key id, as stored in archive headers). */
bool isValidKeyId(std::string_view id) noexcept;

/**
 * One AES-256 backup key and its id. The key bytes are wiped with OPENSSL_cleanse when the object
 * is destroyed; no message this component produces ever contains them. Copyable (each copy wipes
 * its own bytes); immutable, so any thread may read it.
 */
class BackupKey {
 public:
  static constexpr std::size_t kSize = 32;

  /** Errors: InvalidConfig if `id` is not a valid key id or `bytes` is not 32 bytes long. */
  [[nodiscard]] static pipeline::Result<BackupKey> fromBytes(std::string id,
                                                             std::span<const unsigned char> bytes);
  /** A new random key (RAND_bytes). Errors: InvalidConfig (bad id), Internal (RAND failed). */
  [[nodiscard]] static pipeline::Result<BackupKey> generate(std::string id);

  BackupKey(const BackupKey&) = default;
  BackupKey& operator=(const BackupKey&) = default;
  ~BackupKey();

  const std::string& id() const noexcept { return id_; }
  /** The kSize key bytes. */
  const unsigned char* bytes() const noexcept { return bytes_.data(); }

 private:
  BackupKey(std::string id, std::span<const unsigned char, kSize> bytes);

  std::string id_;
  std::array<unsigned char, kSize> bytes_{};
};

/**
 * A key given as 64 hex digits (either case; surrounding whitespace ignored), e.g. from the
 * environment. Errors: InvalidConfig naming the id (never the text) if the id or the hex is bad.
 */
[[nodiscard]] pipeline::Result<BackupKey> keyFromHex(std::string id, std::string_view hex);

/**
 * The key in the file at `path`: exactly 32 raw bytes, or else 64 hex digits (whitespace
 * trimmed). Errors: Io (cannot open or read), InvalidConfig (bad id; not a regular file; any
 * permission bit for group or others, since a key others can read or replace protects nothing;
 * content that is not a key). Messages name the path, never the content.
 */
[[nodiscard]] pipeline::Result<BackupKey> loadKeyFile(const std::string& path, std::string id);

/**
 * The configured backup keys: one "current" key writes new archives, every key can read the
 * archives it wrote (rotation = add a key, make it current, keep the old ones while their
 * archives are kept). Immutable after create(); any thread.
 */
class Keyring {
 public:
  /**
   * Errors: InvalidConfig if `keys` is empty, two keys share an id, or no key has `current_id`.
   */
  [[nodiscard]] static pipeline::Result<Keyring> create(std::vector<BackupKey> keys,
                                                        std::string_view current_id);

  const BackupKey& current() const noexcept { return keys_[current_]; }
  /** The key with that id, or nullptr. */
  const BackupKey* find(std::string_view id) const noexcept;
  /** Every key id, in the order given to create(). */
  std::vector<std::string> ids() const;

 private:
  Keyring(std::vector<BackupKey> keys, std::size_t current)
      : keys_(std::move(keys)), current_(current) {}

  std::vector<BackupKey> keys_;
  std::size_t current_ = 0;
};

}  // namespace stages::persister::backup
