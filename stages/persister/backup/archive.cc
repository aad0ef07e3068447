#include "stages/persister/backup/archive.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <simdjson.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <span>

#include <fmt/format.h>

#include "pipeline/json.h"

namespace stages::persister::backup {
namespace {

using pipeline::Error;
using pipeline::ErrorType;
using pipeline::Result;
using pipeline::Status;
using Bytes = std::vector<unsigned char>;

// docs/backup-format.md is the normative description of everything below.
constexpr std::array<unsigned char, 4> kMagic = {'P', 'T', 'B', 'K'};
constexpr unsigned char kFormatVersion = 1;
constexpr std::size_t kNoncePrefixSize = 8;
constexpr std::size_t kNonceSize = 12;  // prefix || chunk index (u32 BE)
constexpr std::size_t kTagSize = 16;
constexpr std::size_t kLengthSize = 4;
constexpr std::size_t kAadSuffixSize = 5;  // chunk index (u32 BE) || final flag
// Bounds what a reader allocates before anything is authenticated beyond the chunk.
constexpr std::uint32_t kMaxManifestBytes = 1u << 20;
// The chunk index is 32 bits of the nonce; a 33rd bit would repeat nonces under one key.
constexpr std::uint64_t kMaxChunks = std::uint64_t{1} << 32;
constexpr std::size_t kFileBlock = 1u << 16;

void storeU32(unsigned char* out, std::uint32_t value) {
  out[0] = static_cast<unsigned char>(value >> 24);
  out[1] = static_cast<unsigned char>(value >> 16);
  out[2] = static_cast<unsigned char>(value >> 8);
  out[3] = static_cast<unsigned char>(value);
}

std::uint32_t loadU32(const unsigned char* in) {
  return (std::uint32_t{in[0]} << 24) | (std::uint32_t{in[1]} << 16) |
         (std::uint32_t{in[2]} << 8) | std::uint32_t{in[3]};
}

std::string toHex(const unsigned char* data, std::size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * size);
  for (std::size_t i = 0; i < size; ++i) {
    hex.push_back(kDigits[data[i] >> 4]);
    hex.push_back(kDigits[data[i] & 0x0f]);
  }
  return hex;
}

bool isLowerHex(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

Error ioError(std::string_view what, const std::string& path, int error_number) {
  return Error{ErrorType::Io, fmt::format("{} {}: {}", what, path, std::strerror(error_number))};
}

Error internal(std::string_view what) { return Error{ErrorType::Internal, std::string(what)}; }

Error invalidArgument(std::string message) {
  return Error{ErrorType::InvalidArgument, std::move(message)};
}

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* ctx) const noexcept { EVP_CIPHER_CTX_free(ctx); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;
struct MdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const noexcept { EVP_MD_CTX_free(ctx); }
};
struct CCtxFree {
  void operator()(ZSTD_CCtx* ctx) const noexcept { ZSTD_freeCCtx(ctx); }
};
struct DCtxFree {
  void operator()(ZSTD_DCtx* ctx) const noexcept { ZSTD_freeDCtx(ctx); }
};

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;

  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  // Closing ignores errors: only for descriptors whose data is already safe (read-only, or
  // fsynced) or abandoned.
  void reset(int fd = -1) {
    if (fd_ >= 0) (void)::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

Status openForReading(const std::string& path, Fd& fd) {
  const int opened = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (opened < 0) return ioError("opening", path, errno);
  fd.reset(opened);
  return Status::ok();
}

// Fills `size` bytes unless the file ends first; returns how many were read.
Result<std::size_t> readUpTo(int fd, unsigned char* data, std::size_t size,
                             const std::string& path) {
  std::size_t got = 0;
  while (got < size) {
    const ssize_t n = ::read(fd, data + got, size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ioError("reading", path, errno);
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  return got;
}

Status fsyncDirectoryOf(const std::string& path) {
  std::string directory = std::filesystem::path(path).parent_path().string();
  if (directory.empty()) directory = ".";
  const int fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ioError("opening directory", directory, errno);
  const Fd owned(fd);
  if (::fsync(fd) != 0) return ioError("fsync of directory", directory, errno);
  return Status::ok();
}

// A file written as `<final>.tmp` and renamed over `<final>` by commit(); until then (and if
// commit fails) the destructor removes it, so a failed write leaves no file behind.
class PendingFile {
 public:
  explicit PendingFile(std::string final_path)
      : final_path_(std::move(final_path)), temp_path_(final_path_ + ".tmp") {}
  ~PendingFile() {
    if (committed_ || !created_) return;
    fd_.reset();
    (void)::unlink(temp_path_.c_str());  // best effort: the error being reported matters more
  }
  PendingFile(const PendingFile&) = delete;
  PendingFile& operator=(const PendingFile&) = delete;

  Status open() {
    // O_NOFOLLOW: a planted symlink at the temp path must not redirect the write.
    const int fd =
        ::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return ioError("creating", temp_path_, errno);
    fd_.reset(fd);
    created_ = true;
    if (::fchmod(fd, 0600) != 0) return ioError("chmod of", temp_path_, errno);  // a leftover
    return Status::ok();
  }

  Status write(const unsigned char* data, std::size_t size) {
    while (size > 0) {
      const ssize_t n = ::write(fd_.get(), data, size);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return ioError("writing", temp_path_, errno);
      data += n;
      size -= static_cast<std::size_t>(n);
    }
    return Status::ok();
  }

  Status commit() {
    if (::fsync(fd_.get()) != 0) return ioError("fsync of", temp_path_, errno);
    if (::close(fd_.release()) != 0) return ioError("closing", temp_path_, errno);
    if (::rename(temp_path_.c_str(), final_path_.c_str()) != 0) {
      return ioError(fmt::format("renaming {} to", temp_path_), final_path_, errno);
    }
    committed_ = true;
    if (Status synced = fsyncDirectoryOf(final_path_); !synced) {
      (void)::unlink(final_path_.c_str());  // a rename that may not survive a crash is no commit
      return synced;
    }
    return Status::ok();
  }

 private:
  std::string final_path_;
  std::string temp_path_;
  Fd fd_;
  bool created_ = false;
  bool committed_ = false;
};

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) {
    ok_ = ctx_ != nullptr && EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) == 1;
  }
  void update(const unsigned char* data, std::size_t size) {
    if (ok_ && size > 0) ok_ = EVP_DigestUpdate(ctx_.get(), data, size) == 1;
  }
  Result<std::string> hex() {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int size = 0;
    if (!ok_ || EVP_DigestFinal_ex(ctx_.get(), digest.data(), &size) != 1) {
      return internal("SHA-256 failed");
    }
    return toHex(digest.data(), size);
  }

 private:
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx_;
  bool ok_ = false;
};

using Nonce = std::array<unsigned char, kNonceSize>;

Nonce chunkNonce(const unsigned char* prefix, std::uint32_t index) {
  Nonce nonce{};
  std::copy(prefix, prefix + kNoncePrefixSize, nonce.begin());
  storeU32(nonce.data() + kNoncePrefixSize, index);
  return nonce;
}

// The AAD of a chunk is the header followed by kAadSuffixSize bytes set per chunk.
void setAadSuffix(Bytes& aad, std::uint32_t index, bool final) {
  unsigned char* suffix = aad.data() + aad.size() - kAadSuffixSize;
  storeU32(suffix, index);
  suffix[4] = final ? 1 : 0;
}

// Writes the header, then cuts what append() receives into chunks and seals each into the file.
class ArchiveWriter {
 public:
  ArchiveWriter(const std::string& out_path, const BackupKey& key, std::uint32_t chunk_size)
      : file_(out_path), key_(key), chunk_size_(chunk_size) {}

  Status open() {
    std::array<unsigned char, kNoncePrefixSize> prefix{};
    if (RAND_bytes(prefix.data(), static_cast<int>(prefix.size())) != 1) {
      return internal("RAND_bytes failed");
    }
    const std::string& id = key_.id();
    header_.assign(kMagic.begin(), kMagic.end());
    header_.push_back(kFormatVersion);
    header_.push_back(static_cast<unsigned char>(id.size()));  // ≤ 64: a valid key id
    header_.insert(header_.end(), id.begin(), id.end());
    header_.insert(header_.end(), prefix.begin(), prefix.end());
    header_.resize(header_.size() + 4);
    storeU32(header_.data() + header_.size() - 4, chunk_size_);
    nonce_prefix_ = prefix;
    aad_ = header_;
    aad_.resize(header_.size() + kAadSuffixSize);

    ctx_.reset(EVP_CIPHER_CTX_new());
    if (ctx_ == nullptr ||
        EVP_EncryptInit_ex(ctx_.get(), EVP_aes_256_gcm(), nullptr, key_.bytes(), nullptr) != 1) {
      return internal("initialising AES-256-GCM failed");
    }
    plain_.reserve(chunk_size_);
    frame_.reserve(kLengthSize + chunk_size_ + kTagSize);
    if (Status opened = file_.open(); !opened) return opened;
    return emit(header_.data(), header_.size());
  }

  Status append(const unsigned char* data, std::size_t size) {
    while (size > 0) {
      const std::size_t take = std::min<std::size_t>(size, chunk_size_ - plain_.size());
      plain_.insert(plain_.end(), data, data + take);
      data += take;
      size -= take;
      // A full chunk is never the final one: the final chunk is the one shorter than chunk_size.
      if (plain_.size() == chunk_size_) {
        if (Status sealed = seal(false); !sealed) return sealed;
      }
    }
    return Status::ok();
  }

  Result<ArchiveInfo> finish() {
    if (Status sealed = seal(true); !sealed) return sealed;
    auto sha256 = hash_.hex();
    if (!sha256) return sha256.error();
    if (Status committed = file_.commit(); !committed) return committed;
    return ArchiveInfo{.bytes = bytes_, .sha256 = std::move(*sha256)};
  }

 private:
  Status emit(const unsigned char* data, std::size_t size) {
    hash_.update(data, size);
    bytes_ += size;
    return file_.write(data, size);
  }

  Status seal(bool final) {
    if (index_ >= kMaxChunks) {
      return invalidArgument("the snapshot needs more than 2^32 chunks; use a larger chunk size");
    }
    const auto index = static_cast<std::uint32_t>(index_);
    const Nonce nonce = chunkNonce(nonce_prefix_.data(), index);
    setAadSuffix(aad_, index, final);
    const std::size_t size = plain_.size();
    frame_.resize(kLengthSize + size + kTagSize);
    storeU32(frame_.data(), static_cast<std::uint32_t>(size));
    unsigned char* cipher = frame_.data() + kLengthSize;
    int written = 0;
    int finished = 0;
    bool ok = EVP_EncryptInit_ex(ctx_.get(), nullptr, nullptr, nullptr, nonce.data()) == 1 &&
              EVP_EncryptUpdate(ctx_.get(), nullptr, &written, aad_.data(),
                                static_cast<int>(aad_.size())) == 1;
    written = 0;
    if (ok && size > 0) {
      ok = EVP_EncryptUpdate(ctx_.get(), cipher, &written, plain_.data(),
                             static_cast<int>(size)) == 1;
    }
    ok = ok && EVP_EncryptFinal_ex(ctx_.get(), cipher + written, &finished) == 1 &&
         static_cast<std::size_t>(written + finished) == size &&
         EVP_CIPHER_CTX_ctrl(ctx_.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTagSize),
                             cipher + size) == 1;
    if (!ok) return internal(fmt::format("AES-256-GCM encryption of chunk {} failed", index));
    plain_.clear();
    ++index_;
    return emit(frame_.data(), frame_.size());
  }

  PendingFile file_;
  const BackupKey& key_;
  const std::uint32_t chunk_size_;
  Bytes header_;
  std::array<unsigned char, kNoncePrefixSize> nonce_prefix_{};
  Bytes aad_;
  CipherCtx ctx_;
  Bytes plain_;
  Bytes frame_;
  std::uint64_t index_ = 0;
  Sha256 hash_;
  std::uint64_t bytes_ = 0;
};

// Reads the header, then authenticates and decrypts one chunk at a time, handing out the
// plaintext stream. No plaintext of a chunk is handed out before its tag has been verified.
class ArchiveReader {
 public:
  explicit ArchiveReader(const std::string& path) : path_(path) {}

  Error corrupt(std::string_view reason) const {
    return Error{ErrorType::InvalidPayload, fmt::format("{}: {}", path_, reason)};
  }

  Status open(const Keyring& keyring) {
    if (Status opened = openForReading(path_, fd_); !opened) return opened;
    if (Status read = readHeader(); !read) return read;
    const BackupKey* key = keyring.find(key_id_);
    if (key == nullptr) {
      // The id passed isValidKeyId, so it is safe to quote.
      return corrupt(fmt::format("encrypted with key '{}', which is not configured", key_id_));
    }
    ctx_.reset(EVP_CIPHER_CTX_new());
    if (ctx_ == nullptr ||
        EVP_DecryptInit_ex(ctx_.get(), EVP_aes_256_gcm(), nullptr, key->bytes(), nullptr) != 1) {
      return internal("initialising AES-256-GCM failed");
    }
    aad_ = header_;
    aad_.resize(header_.size() + kAadSuffixSize);
    return Status::ok();
  }

  // The manifest: u32 BE length, then that many bytes of JSON, at the start of the plaintext.
  Result<Manifest> readManifest() {
    std::array<unsigned char, 4> length_bytes{};
    auto got = readExact(length_bytes.data(), length_bytes.size());
    if (!got) return got.error();
    if (!*got) return corrupt("the plaintext ends inside the manifest");
    const std::uint32_t length = loadU32(length_bytes.data());
    if (length > kMaxManifestBytes) {
      return corrupt(fmt::format("manifest length {} exceeds {} bytes", length, kMaxManifestBytes));
    }
    Bytes json(length);
    got = readExact(json.data(), json.size());
    if (!got) return got.error();
    if (!*got) return corrupt("the plaintext ends inside the manifest");
    auto manifest =
        Manifest::parse(std::string_view(reinterpret_cast<const char*>(json.data()), json.size()));
    if (!manifest) return corrupt(manifest.error().message);
    if (manifest->key_id != key_id_) {
      return corrupt("the manifest's key_id differs from the header's");
    }
    return manifest;
  }

  // The next run of plaintext after what was read; empty once the final chunk is used up.
  Result<std::span<const unsigned char>> nextRun() {
    while (position_ == plain_.size() && !final_seen_) {
      if (Status next = nextChunk(); !next) return next.error();
    }
    std::span<const unsigned char> run(plain_.data() + position_, plain_.size() - position_);
    position_ = plain_.size();
    return run;
  }

  // After the final chunk: nothing may follow it.
  Status expectEnd() {
    unsigned char byte = 0;
    auto got = readUpTo(fd_.get(), &byte, 1, path_);
    if (!got) return got.error();
    if (*got != 0) return corrupt("trailing data after the final chunk");
    return Status::ok();
  }

 private:
  Status readHeader() {
    // Appends `size` more header bytes; false if the file ends first.
    const auto take = [this](std::size_t size) -> Result<bool> {
      const std::size_t old = header_.size();
      header_.resize(old + size);
      auto got = readUpTo(fd_.get(), header_.data() + old, size, path_);
      if (!got) return got.error();
      header_.resize(old + *got);
      return *got == size;
    };
    auto got = take(kMagic.size());
    if (!got) return got.error();
    if (!std::equal(header_.begin(), header_.end(), kMagic.begin())) {
      return corrupt("not a point-tron backup (bad magic)");
    }
    const Error truncated = corrupt("truncated: incomplete header");
    if (!*got) return truncated;
    if (got = take(1); !got || !*got) return got ? truncated : got.error();
    if (header_.back() != kFormatVersion) {
      return corrupt(fmt::format("unsupported format version {}", unsigned{header_.back()}));
    }
    if (got = take(1); !got || !*got) return got ? truncated : got.error();
    const std::size_t id_size = header_.back();
    if (got = take(id_size); !got || !*got) return got ? truncated : got.error();
    key_id_.assign(header_.end() - static_cast<std::ptrdiff_t>(id_size), header_.end());
    if (!isValidKeyId(key_id_)) return corrupt("bad header: invalid key id");
    if (got = take(kNoncePrefixSize); !got || !*got) return got ? truncated : got.error();
    std::copy(header_.end() - kNoncePrefixSize, header_.end(), nonce_prefix_.begin());
    if (got = take(4); !got || !*got) return got ? truncated : got.error();
    chunk_size_ = loadU32(header_.data() + header_.size() - 4);
    if (chunk_size_ < ArchiveOptions::kMinChunkSize ||
        chunk_size_ > ArchiveOptions::kMaxChunkSize) {
      return corrupt(fmt::format("bad header: chunk size {} is out of range", chunk_size_));
    }
    return Status::ok();
  }

  Status nextChunk() {
    if (index_ >= kMaxChunks) return corrupt("more chunks than the format allows");
    const auto index = static_cast<std::uint32_t>(index_);
    std::array<unsigned char, kLengthSize> length_bytes{};
    auto got = readUpTo(fd_.get(), length_bytes.data(), length_bytes.size(), path_);
    if (!got) return got.error();
    if (*got == 0) return corrupt("truncated: no final chunk");
    if (*got < length_bytes.size()) {
      return corrupt(fmt::format("truncated: chunk {} is incomplete", index));
    }
    const std::uint32_t size = loadU32(length_bytes.data());
    if (size > chunk_size_) {
      return corrupt(fmt::format("chunk {}: length {} exceeds the chunk size", index, size));
    }
    const bool final = size < chunk_size_;
    cipher_.resize(size + kTagSize);
    got = readUpTo(fd_.get(), cipher_.data(), cipher_.size(), path_);
    if (!got) return got.error();
    if (*got < cipher_.size()) {
      return corrupt(fmt::format("truncated: chunk {} is incomplete", index));
    }

    const Nonce nonce = chunkNonce(nonce_prefix_.data(), index);
    setAadSuffix(aad_, index, final);
    plain_.resize(size);
    int written = 0;
    int finished = 0;
    bool ok = EVP_DecryptInit_ex(ctx_.get(), nullptr, nullptr, nullptr, nonce.data()) == 1 &&
              EVP_DecryptUpdate(ctx_.get(), nullptr, &written, aad_.data(),
                                static_cast<int>(aad_.size())) == 1;
    written = 0;
    if (ok && size > 0) {
      ok = EVP_DecryptUpdate(ctx_.get(), plain_.data(), &written, cipher_.data(),
                             static_cast<int>(size)) == 1;
    }
    ok = ok && EVP_CIPHER_CTX_ctrl(ctx_.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTagSize),
                                   cipher_.data() + size) == 1 &&
         EVP_DecryptFinal_ex(ctx_.get(), plain_.data() + written, &finished) == 1 &&
         static_cast<std::size_t>(written + finished) == size;
    if (!ok) {
      plain_.clear();
      return corrupt(
          fmt::format("chunk {}: authentication failed (corrupted or wrong key)", index));
    }
    position_ = 0;
    final_seen_ = final;
    ++index_;
    return Status::ok();
  }

  // Exactly `size` plaintext bytes into `out`; false if the plaintext ends first.
  Result<bool> readExact(unsigned char* out, std::size_t size) {
    while (size > 0) {
      auto run = nextRun();
      if (!run) return run.error();
      if (run->empty()) return false;
      const std::size_t take = std::min(size, run->size());
      std::copy_n(run->data(), take, out);
      position_ -= run->size() - take;  // give back what was not taken
      out += take;
      size -= take;
    }
    return true;
  }

  const std::string path_;
  Fd fd_;
  Bytes header_;
  std::string key_id_;
  std::array<unsigned char, kNoncePrefixSize> nonce_prefix_{};
  std::uint32_t chunk_size_ = 0;
  CipherCtx ctx_;
  Bytes aad_;
  Bytes cipher_;
  Bytes plain_;
  std::size_t position_ = 0;
  std::uint64_t index_ = 0;
  bool final_seen_ = false;
};

// ---- manifest JSON

Error manifestError(std::string_view field, std::string_view why) {
  return Error{ErrorType::InvalidPayload, fmt::format("manifest: {}: {}", field, why)};
}

std::optional<Error> readString(const simdjson::dom::object& object, std::string_view field,
                                std::string& out) {
  simdjson::dom::element found;
  if (object[field].get(found) != simdjson::SUCCESS) return manifestError(field, "missing");
  std::string_view text;
  if (found.get_string().get(text) != simdjson::SUCCESS) {
    return manifestError(field, "not a string");
  }
  out.assign(text);
  return std::nullopt;
}

std::optional<Error> readCount(const simdjson::dom::element& found, std::string_view field,
                               std::int64_t& out) {
  if (found.get_int64().get(out) != simdjson::SUCCESS) {
    return manifestError(field, "not a 64-bit integer");
  }
  if (out < 0) return manifestError(field, "negative");
  return std::nullopt;
}

std::optional<Error> readCount(const simdjson::dom::object& object, std::string_view field,
                               std::int64_t& out) {
  simdjson::dom::element found;
  if (object[field].get(found) != simdjson::SUCCESS) return manifestError(field, "missing");
  return readCount(found, field, out);
}

}  // namespace

std::string Manifest::toJson() const {
  pipeline::json::Writer writer;
  writer.beginObject();
  writer.field("format", format);
  writer.field("created_at_ms", created_at_ms);
  writer.field("schema_version", schema_version);
  writer.key("highest_block_height");
  if (highest_block_height) {
    writer.value(*highest_block_height);
  } else {
    writer.null();
  }
  writer.key("row_counts").beginObject();
  for (const auto& [table, count] : row_counts) writer.field(table, count);
  writer.endObject();
  writer.key("kafka_offsets").beginArray();
  for (const PartitionOffset& offset : kafka_offsets) {
    writer.beginObject();
    writer.field("topic", offset.topic);
    writer.field("partition", std::int64_t{offset.partition});
    writer.field("next_offset", offset.next_offset);
    writer.endObject();
  }
  writer.endArray();
  writer.field("database_bytes", database_bytes);
  writer.field("database_sha256", database_sha256);
  writer.field("key_id", key_id);
  writer.endObject();
  return std::move(writer).str();
}

Result<Manifest> Manifest::parse(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::element document;
  if (parser.parse(json.data(), json.size()).get(document) != simdjson::SUCCESS) {
    return Error{ErrorType::InvalidPayload, "manifest: not valid JSON"};
  }
  simdjson::dom::object root;
  if (document.get_object().get(root) != simdjson::SUCCESS) {
    return Error{ErrorType::InvalidPayload, "manifest: not a JSON object"};
  }
  Manifest manifest;
  if (auto error = readString(root, "format", manifest.format)) return *error;
  if (manifest.format != kFormat) {
    return manifestError("format", fmt::format("expected {}", kFormat));
  }
  if (auto error = readCount(root, "created_at_ms", manifest.created_at_ms)) return *error;
  if (auto error = readCount(root, "schema_version", manifest.schema_version)) return *error;

  simdjson::dom::element height;
  if (root["highest_block_height"].get(height) == simdjson::SUCCESS && !height.is_null()) {
    std::int64_t value = 0;
    if (auto error = readCount(height, "highest_block_height", value)) return *error;
    manifest.highest_block_height = value;
  }

  simdjson::dom::element counts_element;
  simdjson::dom::object counts;
  if (root["row_counts"].get(counts_element) != simdjson::SUCCESS) {
    return manifestError("row_counts", "missing");
  }
  if (counts_element.get_object().get(counts) != simdjson::SUCCESS) {
    return manifestError("row_counts", "not an object");
  }
  for (const auto entry : counts) {
    std::int64_t count = 0;
    if (auto error = readCount(entry.value, "row_counts", count)) return *error;
    if (!manifest.row_counts.emplace(std::string(entry.key), count).second) {
      return manifestError("row_counts", "a table appears twice");
    }
  }

  simdjson::dom::element offsets_element;
  simdjson::dom::array offsets;
  if (root["kafka_offsets"].get(offsets_element) != simdjson::SUCCESS) {
    return manifestError("kafka_offsets", "missing");
  }
  if (offsets_element.get_array().get(offsets) != simdjson::SUCCESS) {
    return manifestError("kafka_offsets", "not an array");
  }
  for (const simdjson::dom::element item : offsets) {
    simdjson::dom::object entry;
    if (item.get_object().get(entry) != simdjson::SUCCESS) {
      return manifestError("kafka_offsets", "an entry is not an object");
    }
    PartitionOffset offset;
    std::int64_t partition = 0;
    if (auto error = readString(entry, "topic", offset.topic)) return *error;
    if (offset.topic.empty()) return manifestError("kafka_offsets.topic", "empty");
    if (auto error = readCount(entry, "partition", partition)) return *error;
    if (partition > std::numeric_limits<std::int32_t>::max()) {
      return manifestError("partition", "out of range");
    }
    offset.partition = static_cast<std::int32_t>(partition);
    if (auto error = readCount(entry, "next_offset", offset.next_offset)) return *error;
    manifest.kafka_offsets.push_back(std::move(offset));
  }

  simdjson::dom::element bytes;
  if (root["database_bytes"].get(bytes) != simdjson::SUCCESS) {
    return manifestError("database_bytes", "missing");
  }
  if (bytes.get_uint64().get(manifest.database_bytes) != simdjson::SUCCESS) {
    return manifestError("database_bytes", "not an unsigned 64-bit integer");
  }
  if (auto error = readString(root, "database_sha256", manifest.database_sha256)) return *error;
  if (manifest.database_sha256.size() != 64 || !isLowerHex(manifest.database_sha256)) {
    return manifestError("database_sha256", "not 64 lower-case hex digits");
  }
  if (auto error = readString(root, "key_id", manifest.key_id)) return *error;
  if (!isValidKeyId(manifest.key_id)) return manifestError("key_id", "not a valid key id");
  return manifest;
}

Result<ArchiveInfo> writeArchive(const std::string& snapshot_path, const Manifest& manifest,
                                 const BackupKey& key, const std::string& out_path,
                                 const ArchiveOptions& options) {
  if (options.chunk_size < ArchiveOptions::kMinChunkSize ||
      options.chunk_size > ArchiveOptions::kMaxChunkSize) {
    return invalidArgument(fmt::format("chunk size must be {}..{} bytes (got {})",
                                       ArchiveOptions::kMinChunkSize,
                                       ArchiveOptions::kMaxChunkSize, options.chunk_size));
  }
  if (options.compression_level < ZSTD_minCLevel() ||
      options.compression_level > ZSTD_maxCLevel()) {
    return invalidArgument(fmt::format("compression level must be {}..{} (got {})",
                                       ZSTD_minCLevel(), ZSTD_maxCLevel(),
                                       options.compression_level));
  }
  Manifest written = manifest;
  if (written.key_id.empty()) written.key_id = key.id();
  if (written.key_id != key.id()) {
    return invalidArgument(fmt::format("the manifest names key '{}' but the archive is encrypted "
                                       "with key '{}'",
                                       written.key_id, key.id()));
  }
  // What a reader could not parse must not be written.
  const std::string json = written.toJson();
  if (auto parsed = Manifest::parse(json); !parsed) {
    return invalidArgument(parsed.error().message);
  }
  if (json.size() > kMaxManifestBytes) {
    return invalidArgument(fmt::format("the manifest is {} bytes; at most {} are allowed",
                                       json.size(), kMaxManifestBytes));
  }

  Fd snapshot;
  if (Status opened = openForReading(snapshot_path, snapshot); !opened) return opened;
  std::unique_ptr<ZSTD_CCtx, CCtxFree> cctx(ZSTD_createCCtx());
  if (cctx == nullptr ||
      ZSTD_isError(ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_compressionLevel,
                                          options.compression_level))) {
    return internal("initialising zstd failed");
  }

  ArchiveWriter writer(out_path, key, options.chunk_size);
  if (Status opened = writer.open(); !opened) return opened;
  std::array<unsigned char, 4> length{};
  storeU32(length.data(), static_cast<std::uint32_t>(json.size()));
  if (Status appended = writer.append(length.data(), length.size()); !appended) return appended;
  if (Status appended =
          writer.append(reinterpret_cast<const unsigned char*>(json.data()), json.size());
      !appended) {
    return appended;
  }

  Bytes in(ZSTD_CStreamInSize());
  Bytes out(ZSTD_CStreamOutSize());
  Sha256 snapshot_hash;
  std::uint64_t snapshot_bytes = 0;
  bool last = false;
  while (!last) {
    auto got = readUpTo(snapshot.get(), in.data(), in.size(), snapshot_path);
    if (!got) return got.error();
    last = *got < in.size();  // readUpTo stops short only at the end of the file
    snapshot_hash.update(in.data(), *got);
    snapshot_bytes += *got;
    if (snapshot_bytes > written.database_bytes) {
      return invalidArgument(fmt::format("snapshot {} is larger than the manifest's {} bytes",
                                         snapshot_path, written.database_bytes));
    }
    const ZSTD_EndDirective mode = last ? ZSTD_e_end : ZSTD_e_continue;
    ZSTD_inBuffer input{in.data(), *got, 0};
    bool done = false;
    while (!done) {
      ZSTD_outBuffer output{out.data(), out.size(), 0};
      const std::size_t remaining = ZSTD_compressStream2(cctx.get(), &output, &input, mode);
      if (ZSTD_isError(remaining)) {
        return internal(fmt::format("zstd compression failed: {}", ZSTD_getErrorName(remaining)));
      }
      if (Status appended = writer.append(out.data(), output.pos); !appended) return appended;
      done = last ? remaining == 0 : input.pos == input.size;
    }
  }
  if (snapshot_bytes != written.database_bytes) {
    return invalidArgument(fmt::format("snapshot {} is {} bytes but the manifest says {}",
                                       snapshot_path, snapshot_bytes, written.database_bytes));
  }
  auto sha256 = snapshot_hash.hex();
  if (!sha256) return sha256.error();
  if (*sha256 != written.database_sha256) {
    return invalidArgument(
        fmt::format("snapshot {}: SHA-256 does not match the manifest", snapshot_path));
  }
  return writer.finish();
}

Result<Manifest> readManifest(const std::string& archive_path, const Keyring& keyring) {
  ArchiveReader reader(archive_path);
  if (Status opened = reader.open(keyring); !opened) return opened;
  return reader.readManifest();
}

Result<Manifest> extractArchive(const std::string& archive_path, const Keyring& keyring,
                                const std::string& database_out_path) {
  ArchiveReader reader(archive_path);
  if (Status opened = reader.open(keyring); !opened) return opened;
  auto manifest = reader.readManifest();
  if (!manifest) return manifest;

  std::unique_ptr<ZSTD_DCtx, DCtxFree> dctx(ZSTD_createDCtx());
  if (dctx == nullptr) return internal("initialising zstd failed");
  PendingFile file(database_out_path);
  if (Status opened = file.open(); !opened) return opened;
  Bytes out(ZSTD_DStreamOutSize());
  Sha256 hash;
  std::uint64_t size = 0;
  bool frame_done = false;
  while (true) {
    auto run = reader.nextRun();
    if (!run) return run.error();
    if (run->empty()) break;
    ZSTD_inBuffer input{run->data(), run->size(), 0};
    // zstd may hold decoded bytes back when the output buffer filled up: call until it did not.
    bool output_full = false;
    while (input.pos < input.size || output_full) {
      if (frame_done) return reader.corrupt("trailing data after the compressed database");
      ZSTD_outBuffer output{out.data(), out.size(), 0};
      const std::size_t hint = ZSTD_decompressStream(dctx.get(), &output, &input);
      if (ZSTD_isError(hint)) {
        return reader.corrupt(
            fmt::format("compressed database: {}", ZSTD_getErrorName(hint)));
      }
      size += output.pos;
      // Checked as it grows, so a lying archive cannot fill the disk first.
      if (size > manifest->database_bytes) {
        return reader.corrupt("the database is larger than the manifest says");
      }
      hash.update(out.data(), output.pos);
      if (Status wrote = file.write(out.data(), output.pos); !wrote) return wrote;
      output_full = output.pos == output.size;
      if (hint == 0) {
        frame_done = true;
        output_full = false;
      }
    }
  }
  if (!frame_done) return reader.corrupt("the compressed database is incomplete");
  if (Status end = reader.expectEnd(); !end) return end;
  if (size != manifest->database_bytes) {
    return reader.corrupt(fmt::format("the database is {} bytes but the manifest says {}", size,
                                      manifest->database_bytes));
  }
  auto sha256 = hash.hex();
  if (!sha256) return sha256.error();
  if (*sha256 != manifest->database_sha256) {
    return reader.corrupt("database SHA-256 does not match the manifest");
  }
  if (Status committed = file.commit(); !committed) return committed;
  return manifest;
}

Result<std::string> sha256File(const std::string& path) {
  Fd fd;
  if (Status opened = openForReading(path, fd); !opened) return opened;
  Bytes block(kFileBlock);
  Sha256 hash;
  while (true) {
    auto got = readUpTo(fd.get(), block.data(), block.size(), path);
    if (!got) return got.error();
    hash.update(block.data(), *got);
    if (*got < block.size()) break;
  }
  return hash.hex();
}

}  // namespace stages::persister::backup
