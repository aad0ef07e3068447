#include "stages/persister/backup/backup_config.h"

#include <filesystem>

#include <fmt/format.h>

namespace stages::persister::backup {
namespace {

using pipeline::Error;
using pipeline::ErrorType;
using pipeline::Result;

constexpr std::int64_t kMaxIntervalS = 31'536'000;

}  // namespace

Result<BackupConfig> BackupConfig::parse(const pipeline::config::ConfigSource& source,
                                         const std::string& data_dir) {
  BackupConfig config;
  auto key_file = source.getString("backup.key_file", "");
  if (!key_file) return key_file.error();
  config.key_file = *key_file;
  auto key_hex = source.getString("backup.encryption_secret", "");
  if (!key_hex) return key_hex.error();
  config.key_hex = *key_hex;
  auto key_id = source.getString("backup.key_id", config.key_id);
  if (!key_id) return key_id.error();
  if (!isValidKeyId(*key_id)) {
    return Error{ErrorType::InvalidConfig, "backup.key_id: 1-64 characters of A-Z a-z 0-9 . _ -"};
  }
  config.key_id = *key_id;
  if (!config.key_file.empty() && !config.key_hex.empty()) {
    return Error{ErrorType::InvalidConfig, "backup.encryption_secret: give backup.key_file or backup.encryption_secret, not both"};
  }
  auto previous = source.getStringList("backup.previous_key_files", {});
  if (!previous) return previous.error();
  config.previous_key_files = std::move(*previous);
  auto directory = source.getString("backup.directory", config.directory);
  if (!directory) return directory.error();
  config.directory = *directory;

  auto bucket = source.getString("backup.s3.bucket", "");
  if (!bucket) return bucket.error();
  if (!bucket->empty()) {
    S3Config s3;
    s3.bucket = *bucket;
    const auto text = [&](std::string_view key, std::string& out, std::string_view fallback) -> pipeline::Status {
      auto value = source.getString(key, fallback);
      if (!value) return value.error();
      out = *value;
      return pipeline::Status::ok();
    };
    for (auto status : {text("backup.s3.endpoint", s3.endpoint, "https://s3.amazonaws.com"),
                        text("backup.s3.region", s3.region, "us-east-1"),
                        text("backup.s3.prefix", s3.prefix, ""),
                        text("backup.s3.access_key_id", s3.access_key_id, ""),
                        text("backup.s3.secret_access_key", s3.secret_access_key, ""),
                        text("backup.s3.session_token", s3.session_token, "")}) {
      if (!status) return status.error();
    }
    auto path_style = source.getBool("backup.s3.path_style", true);
    if (!path_style) return path_style.error();
    s3.path_style = *path_style;
    auto timeout = source.getInt("backup.s3.timeout_ms", 60'000, 1'000, 3'600'000);
    if (!timeout) return timeout.error();
    s3.timeout = std::chrono::milliseconds(*timeout);
    if (auto valid = S3Client::validate(s3); !valid) {
      return Error{ErrorType::InvalidConfig, "backup.s3: " + valid.error().message};
    }
    config.s3 = std::move(s3);
  }
  // Without a bucket the other S3 keys are not read; say why rather than call them unknown.
  if (!config.s3) {
    for (const std::string& key : source.keys()) {
      if (key.starts_with("backup.s3.") && key != "backup.s3.bucket") {
        return Error{ErrorType::InvalidConfig,
                     key + ": set, but backup.s3.bucket is not: the S3 target needs a bucket"};
      }
    }
  }
  if (config.directory.empty() && !config.s3) {
    return Error{ErrorType::InvalidConfig, "backup.directory: empty and no backup.s3.bucket: backups need a target"};
  }

  auto interval = source.getInt("backup.interval_s", config.interval_s, 0, kMaxIntervalS);
  if (!interval) return interval.error();
  config.interval_s = *interval;
  auto drill = source.getInt("backup.drill_interval_s", config.drill_interval_s, 0, kMaxIntervalS);
  if (!drill) return drill.error();
  config.drill_interval_s = *drill;
  auto keep_last = source.getInt("backup.keep_last", config.keep_last, 1, 10'000);
  if (!keep_last) return keep_last.error();
  config.keep_last = static_cast<int>(*keep_last);
  auto keep_daily = source.getInt("backup.keep_daily_days", config.keep_daily_days, 0, 3'650);
  if (!keep_daily) return keep_daily.error();
  config.keep_daily_days = static_cast<int>(*keep_daily);
  auto level = source.getInt("backup.compression_level", config.compression_level, 1, 19);
  if (!level) return level.error();
  config.compression_level = static_cast<int>(*level);
  auto work_dir = source.getString("backup.work_dir",
                                   (std::filesystem::path(data_dir) / "backup-work").string());
  if (!work_dir) return work_dir.error();
  config.work_dir = *work_dir;
  return config;
}

Result<Keyring> BackupConfig::loadKeyring() const {
  std::vector<BackupKey> keys;
  std::string current;
  if (!key_file.empty()) {
    current = std::filesystem::path(key_file).stem().string();
    auto key = loadKeyFile(key_file, current);
    if (!key) return Error{key.error().type, "backup.key_file: " + key.error().message};
    keys.push_back(std::move(*key));
  } else if (!key_hex.empty()) {
    current = key_id;
    auto key = keyFromHex(key_id, key_hex);
    if (!key) return Error{ErrorType::InvalidConfig, "backup.encryption_secret: must be 64 hex digits (256 bits)"};
    keys.push_back(std::move(*key));
  } else {
    return Error{ErrorType::InvalidConfig,
                 "backup.key_file: not set (nor backup.encryption_secret): backups are always encrypted and need a key"};
  }
  for (const auto& file : previous_key_files) {
    auto key = loadKeyFile(file, std::filesystem::path(file).stem().string());
    if (!key) return Error{key.error().type, "backup.previous_key_files: " + key.error().message};
    keys.push_back(std::move(*key));
  }
  auto keyring = Keyring::create(std::move(keys), current);
  if (!keyring) return Error{ErrorType::InvalidConfig, "backup keys: " + keyring.error().message};
  return keyring;
}

std::vector<std::unique_ptr<BackupTarget>> BackupConfig::targets() const {
  std::vector<std::unique_ptr<BackupTarget>> out;
  if (!directory.empty()) out.push_back(directoryTarget(directory));
  if (s3) out.push_back(s3Target(*s3));
  return out;
}

BackupPlan BackupConfig::plan(const std::string& db_path, std::int64_t busy_timeout_ms) const {
  BackupPlan plan;
  plan.db_path = db_path;
  plan.work_dir = work_dir;
  plan.busy_timeout_ms = busy_timeout_ms;
  plan.archive.compression_level = compression_level;
  plan.keep_last = keep_last;
  plan.keep_daily_days = keep_daily_days;
  return plan;
}

}  // namespace stages::persister::backup
