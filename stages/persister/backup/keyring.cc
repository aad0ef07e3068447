#include "stages/persister/backup/keyring.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

#include <fmt/format.h>

namespace stages::persister::backup {
namespace {

using pipeline::Error;
using pipeline::ErrorType;
using pipeline::Result;

constexpr std::size_t kMaxIdLength = 64;
// A hex key with generous whitespace fits; anything longer is not a key file.
constexpr std::size_t kMaxKeyFileBytes = 4096;

// Wipes a stack buffer that held key material when the scope ends, whichever way it ends.
class Wipe {
 public:
  Wipe(void* data, std::size_t size) : data_(data), size_(size) {}
  ~Wipe() { OPENSSL_cleanse(data_, size_); }
  Wipe(const Wipe&) = delete;
  Wipe& operator=(const Wipe&) = delete;

 private:
  void* data_;
  std::size_t size_;
};

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view trim(std::string_view text) {
  while (!text.empty() && isSpace(text.front())) text.remove_prefix(1);
  while (!text.empty() && isSpace(text.back())) text.remove_suffix(1);
  return text;
}

// 64 hex digits into `out`; false (and `out` untouched in meaning) otherwise.
bool decodeHex(std::string_view hex, std::array<unsigned char, BackupKey::kSize>& out) {
  if (hex.size() != 2 * BackupKey::kSize) return false;
  for (std::size_t i = 0; i < BackupKey::kSize; ++i) {
    const int high = hexValue(hex[2 * i]);
    const int low = hexValue(hex[2 * i + 1]);
    if (high < 0 || low < 0) return false;
    out[i] = static_cast<unsigned char>(high * 16 + low);
  }
  return true;
}

Error badId(std::string_view id) {
  // An invalid id may hold anything, so it is described, not quoted.
  return Error{ErrorType::InvalidConfig,
               fmt::format("backup key id must be 1-{} characters of [A-Za-z0-9._-] (got {} "
                           "characters)",
                           kMaxIdLength, id.size())};
}

}  // namespace

bool isValidKeyId(std::string_view id) noexcept {
  return !id.empty() && id.size() <= kMaxIdLength &&
         std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
         });
}

BackupKey::BackupKey(std::string id, std::span<const unsigned char, kSize> bytes)
    : id_(std::move(id)) {
  std::copy(bytes.begin(), bytes.end(), bytes_.begin());
}

BackupKey::~BackupKey() { OPENSSL_cleanse(bytes_.data(), bytes_.size()); }

Result<BackupKey> BackupKey::fromBytes(std::string id, std::span<const unsigned char> bytes) {
  if (!isValidKeyId(id)) return badId(id);
  if (bytes.size() != kSize) {
    return Error{ErrorType::InvalidConfig,
                 fmt::format("backup key '{}' must be {} bytes (got {})", id, kSize, bytes.size())};
  }
  return BackupKey(std::move(id), bytes.first<kSize>());
}

Result<BackupKey> BackupKey::generate(std::string id) {
  if (!isValidKeyId(id)) return badId(id);
  std::array<unsigned char, kSize> bytes{};
  const Wipe wipe(bytes.data(), bytes.size());
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    return Error{ErrorType::Internal, "generating a backup key: RAND_bytes failed"};
  }
  return BackupKey(std::move(id), bytes);
}

Result<BackupKey> keyFromHex(std::string id, std::string_view hex) {
  if (!isValidKeyId(id)) return badId(id);
  std::array<unsigned char, BackupKey::kSize> bytes{};
  const Wipe wipe(bytes.data(), bytes.size());
  if (!decodeHex(trim(hex), bytes)) {
    return Error{ErrorType::InvalidConfig,
                 fmt::format("backup key '{}' must be {} hex digits", id, 2 * BackupKey::kSize)};
  }
  return BackupKey::fromBytes(std::move(id), bytes);
}

Result<BackupKey> loadKeyFile(const std::string& path, std::string id) {
  if (!isValidKeyId(id)) {
    return Error{ErrorType::InvalidConfig,
                 fmt::format("backup key file {}: {}", path, badId(id).message)};
  }
  // fstat of the opened descriptor, not stat of the path: the checked file is the one read.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return Error{ErrorType::Io, fmt::format("opening backup key file {}: {}", path,
                                            std::strerror(errno))};
  }
  struct Closer {
    int fd;
    ~Closer() { (void)::close(fd); }  // read-only descriptor: nothing to lose on close
  } closer{fd};
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    return Error{ErrorType::Io, fmt::format("reading backup key file {}: {}", path,
                                            std::strerror(errno))};
  }
  if (!S_ISREG(info.st_mode)) {
    return Error{ErrorType::InvalidConfig,
                 fmt::format("backup key file {} is not a regular file", path)};
  }
  if ((info.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    return Error{ErrorType::InvalidConfig,
                 fmt::format("backup key file {} is accessible by group or others (mode {:04o}); "
                             "chmod 600 it",
                             path, info.st_mode & 07777)};
  }
  std::array<char, kMaxKeyFileBytes + 1> content{};
  const Wipe wipe(content.data(), content.size());
  std::size_t size = 0;
  while (size < content.size()) {
    const ssize_t n = ::read(fd, content.data() + size, content.size() - size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return Error{ErrorType::Io, fmt::format("reading backup key file {}: {}", path,
                                              std::strerror(errno))};
    }
    if (n == 0) break;
    size += static_cast<std::size_t>(n);
  }
  const Error not_a_key{ErrorType::InvalidConfig,
                        fmt::format("backup key file {} must hold {} hex digits or exactly {} raw "
                                    "bytes",
                                    path, 2 * BackupKey::kSize, BackupKey::kSize)};
  if (size == BackupKey::kSize) {
    return BackupKey::fromBytes(
        std::move(id), std::span(reinterpret_cast<const unsigned char*>(content.data()), size));
  }
  if (size > kMaxKeyFileBytes) return not_a_key;
  std::array<unsigned char, BackupKey::kSize> bytes{};
  const Wipe wipe_bytes(bytes.data(), bytes.size());
  if (!decodeHex(trim(std::string_view(content.data(), size)), bytes)) return not_a_key;
  return BackupKey::fromBytes(std::move(id), bytes);
}

Result<Keyring> Keyring::create(std::vector<BackupKey> keys, std::string_view current_id) {
  if (keys.empty()) return Error{ErrorType::InvalidConfig, "no backup key is configured"};
  std::optional<std::size_t> current_index;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (keys[j].id() == keys[i].id()) {
        return Error{ErrorType::InvalidConfig,
                     fmt::format("backup key id '{}' is configured twice", keys[i].id())};
      }
    }
    if (keys[i].id() == current_id) current_index = i;
  }
  if (!current_index) {
    return Error{ErrorType::InvalidConfig,
                 fmt::format("the current backup key '{}' is not among the configured keys",
                             isValidKeyId(current_id) ? current_id : "<invalid id>")};
  }
  return Keyring(std::move(keys), *current_index);
}

const BackupKey* Keyring::find(std::string_view id) const noexcept {
  for (const BackupKey& key : keys_) {
    if (key.id() == id) return &key;
  }
  return nullptr;
}

std::vector<std::string> Keyring::ids() const {
  std::vector<std::string> ids;
  ids.reserve(keys_.size());
  for (const BackupKey& key : keys_) ids.push_back(key.id());
  return ids;
}

}  // namespace stages::persister::backup
