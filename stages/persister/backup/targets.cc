#include "stages/persister/backup/targets.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include <fmt/chrono.h>
#include <fmt/format.h>

namespace stages::persister::backup {
namespace {

using pipeline::Error;
using pipeline::ErrorType;
using pipeline::Result;
using pipeline::Status;

constexpr std::string_view kPrefix = "pointtron-";
constexpr std::string_view kSuffix = ".ptbk";
constexpr std::int64_t kDayMs = 86'400'000;

Status ioError(std::string_view what, const std::string& path, int error) {
  return Status(ErrorType::Io, fmt::format("{} {}: {}", what, path, std::strerror(error)));
}

Status fsyncPath(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return ioError("opening", path, errno);
  const int rc = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  return rc == 0 ? Status::ok() : ioError("fsync of", path, error);
}

// MD5 of a file as lower-case hex: what S3 reports as the ETag of a single-part upload.
Result<std::string> md5File(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{ErrorType::Io, fmt::format("opening {}", path)};
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_md5(), nullptr) != 1) {
    return Error{ErrorType::Internal, "MD5 unavailable"};
  }
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    if (in.gcount() > 0) EVP_DigestUpdate(ctx.get(), buffer.data(), static_cast<std::size_t>(in.gcount()));
  }
  if (in.bad()) return Error{ErrorType::Io, fmt::format("reading {}", path)};
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  EVP_DigestFinal_ex(ctx.get(), digest.data(), &length);
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) fmt::format_to(std::back_inserter(hex), "{:02x}", digest[i]);
  return hex;
}

class DirectoryTarget final : public BackupTarget {
 public:
  explicit DirectoryTarget(std::string directory) : directory_(std::move(directory)) {}

  std::string describe() const override { return "dir:" + directory_; }

  Status upload(const std::string& local_path, const std::string& name,
                const ArchiveInfo& archive) override {
    std::error_code error;
    std::filesystem::create_directories(directory_, error);
    if (error) return Status(ErrorType::Io, fmt::format("creating {}: {}", directory_, error.message()));
    ::chmod(directory_.c_str(), 0700);
    const std::string final_path = pathOf(name);
    const std::string temp_path = final_path + ".tmp";
    if (std::filesystem::equivalent(local_path, final_path, error)) return verify(name, archive);
    std::filesystem::copy_file(local_path, temp_path, std::filesystem::copy_options::overwrite_existing, error);
    if (error) return Status(ErrorType::Io, fmt::format("copying to {}: {}", temp_path, error.message()));
    if (auto synced = fsyncPath(temp_path, O_RDONLY); !synced) return synced;
    if (::rename(temp_path.c_str(), final_path.c_str()) != 0) return ioError("renaming", temp_path, errno);
    if (auto synced = fsyncPath(directory_, O_RDONLY | O_DIRECTORY); !synced) return synced;
    return verify(name, archive);
  }

  Result<std::vector<StoredBackup>> list() override {
    std::vector<StoredBackup> out;
    std::error_code error;
    if (!std::filesystem::exists(directory_, error)) return out;
    for (const auto& entry : std::filesystem::directory_iterator(directory_, error)) {
      const std::string name = entry.path().filename().string();
      const auto created = archiveTime(name);
      if (!created || !entry.is_regular_file()) continue;
      out.push_back({.name = name, .bytes = entry.file_size(), .created_at_ms = *created});
    }
    if (error) return Error{ErrorType::Io, fmt::format("listing {}: {}", directory_, error.message())};
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
    return out;
  }

  Status download(const std::string& name, const std::string& local_path) override {
    std::error_code error;
    std::filesystem::copy_file(pathOf(name), local_path, std::filesystem::copy_options::overwrite_existing, error);
    if (error) return Status(ErrorType::Io, fmt::format("copying {}: {}", pathOf(name), error.message()));
    return Status::ok();
  }

  Status remove(const std::string& name) override {
    if (::unlink(pathOf(name).c_str()) != 0 && errno != ENOENT) return ioError("deleting", pathOf(name), errno);
    return Status::ok();
  }

 private:
  std::string pathOf(const std::string& name) const {
    return (std::filesystem::path(directory_) / name).string();
  }

  Status verify(const std::string& name, const ArchiveInfo& archive) {
    auto digest = sha256File(pathOf(name));
    if (!digest) return digest.error();
    std::error_code error;
    const auto size = std::filesystem::file_size(pathOf(name), error);
    if (error || size != archive.bytes || *digest != archive.sha256) {
      return Status(ErrorType::Io, fmt::format("{}: the stored copy differs from the archive written", pathOf(name)));
    }
    return Status::ok();
  }

  std::string directory_;
};

class S3Target final : public BackupTarget {
 public:
  explicit S3Target(S3Config config)
      : description_(fmt::format("s3://{}/{}", config.bucket, config.prefix)), client_(std::move(config)) {}

  std::string describe() const override { return description_; }

  Status upload(const std::string& local_path, const std::string& name,
                const ArchiveInfo& archive) override {
    auto md5 = md5File(local_path);
    if (!md5) return md5.error();
    auto put = client_.putFile(name, local_path);
    if (!put) return put.error();
    // Read back what the server stored, not what it answered to the PUT.
    auto stored = client_.head(name);
    if (!stored) return stored.error();
    if (stored->size != archive.bytes || stored->etag != *md5) {
      return Status(ErrorType::Io, fmt::format("{}{}: the stored object differs from the archive "
                                               "written (size {} vs {}, ETag vs MD5)",
                                               description_, name, stored->size, archive.bytes));
    }
    return Status::ok();
  }

  Result<std::vector<StoredBackup>> list() override {
    auto objects = client_.list(kPrefix);
    if (!objects) return objects.error();
    std::vector<StoredBackup> out;
    for (const auto& object : *objects) {
      const auto created = archiveTime(object.key);
      if (created) out.push_back({.name = object.key, .bytes = object.size, .created_at_ms = *created});
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
    return out;
  }

  Status download(const std::string& name, const std::string& local_path) override {
    return client_.getToFile(name, local_path);
  }

  Status remove(const std::string& name) override { return client_.remove(name); }

 private:
  std::string description_;
  S3Client client_;
};

}  // namespace

std::string archiveName(std::int64_t created_at_ms) {
  const std::chrono::sys_time<std::chrono::milliseconds> at{std::chrono::milliseconds(created_at_ms)};
  const auto seconds = std::chrono::floor<std::chrono::seconds>(at);
  return fmt::format("{}{:%Y%m%dT%H%M%S}{:03d}Z{}", kPrefix, seconds,
                     static_cast<int>((at - seconds).count()), kSuffix);
}

std::optional<std::int64_t> archiveTime(std::string_view name) {
  // pointtron-YYYYMMDDTHHMMSSmmmZ.ptbk
  constexpr std::size_t kStampLength = 19;
  if (name.size() != kPrefix.size() + kStampLength + kSuffix.size() || !name.starts_with(kPrefix) ||
      !name.ends_with(kSuffix)) {
    return std::nullopt;
  }
  const std::string_view stamp = name.substr(kPrefix.size(), kStampLength);
  const auto digits = [&](std::size_t at, std::size_t count) -> std::optional<int> {
    int value = 0;
    for (std::size_t i = at; i < at + count; ++i) {
      if (stamp[i] < '0' || stamp[i] > '9') return std::nullopt;
      value = value * 10 + (stamp[i] - '0');
    }
    return value;
  };
  const auto year = digits(0, 4), month = digits(4, 2), day = digits(6, 2), hour = digits(9, 2),
             minute = digits(11, 2), second = digits(13, 2), milli = digits(15, 3);
  if (stamp[8] != 'T' || stamp[18] != 'Z' || !year || !month || !day || !hour || !minute || !second ||
      !milli || *hour > 23 || *minute > 59 || *second > 59) {
    return std::nullopt;
  }
  const std::chrono::year_month_day date{std::chrono::year(*year),
                                         std::chrono::month(static_cast<unsigned>(*month)),
                                         std::chrono::day(static_cast<unsigned>(*day))};
  if (!date.ok()) return std::nullopt;
  const auto at = std::chrono::sys_days(date) + std::chrono::hours(*hour) +
                  std::chrono::minutes(*minute) + std::chrono::seconds(*second) +
                  std::chrono::milliseconds(*milli);
  return std::chrono::duration_cast<std::chrono::milliseconds>(at.time_since_epoch()).count();
}

std::vector<std::string> prunable(std::vector<StoredBackup> backups, int keep_last,
                                  int keep_daily_days, std::int64_t now_ms) {
  std::sort(backups.begin(), backups.end(),
            [](const auto& a, const auto& b) { return a.created_at_ms > b.created_at_ms; });
  std::set<std::string> kept;
  for (std::size_t i = 0; i < backups.size() && i < static_cast<std::size_t>(std::max(keep_last, 1)); ++i) {
    kept.insert(backups[i].name);
  }
  const auto dayOf = [](std::int64_t ms) { return ms >= 0 ? ms / kDayMs : (ms - kDayMs + 1) / kDayMs; };
  const std::int64_t today = dayOf(now_ms);
  std::set<std::int64_t> days_kept;
  for (const auto& backup : backups) {  // newest first: the first of each day is its newest
    const std::int64_t day = dayOf(backup.created_at_ms);
    if (day > today - keep_daily_days && day <= today && days_kept.insert(day).second) {
      kept.insert(backup.name);
    }
  }
  std::vector<std::string> out;
  for (auto it = backups.rbegin(); it != backups.rend(); ++it) {
    if (!kept.contains(it->name)) out.push_back(it->name);
  }
  return out;
}

std::unique_ptr<BackupTarget> directoryTarget(std::string directory) {
  return std::make_unique<DirectoryTarget>(std::move(directory));
}

std::unique_ptr<BackupTarget> s3Target(S3Config config) {
  return std::make_unique<S3Target>(std::move(config));
}

}  // namespace stages::persister::backup
