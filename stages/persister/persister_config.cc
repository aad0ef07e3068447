#include "stages/persister/persister_config.h"

#include <filesystem>

namespace stages::persister {

pipeline::Result<PersisterConfig> PersisterConfig::parse(const pipeline::config::ConfigSource& source) {
  PersisterConfig config;
  auto data_dir = source.getString("persister.data_dir", config.data_dir);
  if (!data_dir) return data_dir.status();
  if (data_dir->empty()) {
    return pipeline::Error{pipeline::ErrorType::InvalidConfig, "persister.data_dir: must not be empty"};
  }
  config.data_dir = *data_dir;
  auto db_path = source.getString("persister.db_path", "");
  if (!db_path) return db_path.status();
  config.db_path = db_path->empty()
                       ? (std::filesystem::path(config.data_dir) / "pointtron.db").string()
                       : *db_path;
  auto tokens = source.getStringList("persister.api_tokens", {});
  if (!tokens) return tokens.status();
  for (const auto& token : *tokens) {
    if (token.size() < kMinTokenLength) {
      // The message never shows the token (the key is secret).
      return pipeline::Error{pipeline::ErrorType::InvalidConfig,
                             "persister.api_tokens: every token must have at least 16 characters"};
    }
  }
  config.api_tokens = std::move(*tokens);
  auto batch_records = source.getInt("persister.batch_max_records",
                                     static_cast<std::int64_t>(config.batch_max_records), 1, 100'000);
  if (!batch_records) return batch_records.status();
  config.batch_max_records = static_cast<std::size_t>(*batch_records);
  auto batch_delay = source.getInt("persister.batch_max_delay_ms", config.batch_max_delay_ms, 1, 60'000);
  if (!batch_delay) return batch_delay.status();
  config.batch_max_delay_ms = *batch_delay;
  auto retention = source.getInt("persister.block_retention_days", config.block_retention_days, 0, 36'500);
  if (!retention) return retention.status();
  config.block_retention_days = *retention;
  auto busy = source.getInt("persister.busy_timeout_ms", config.busy_timeout_ms, 0, 600'000);
  if (!busy) return busy.status();
  config.busy_timeout_ms = *busy;
  auto cache = source.getInt("persister.api_answer_cache_ms", config.api_answer_cache_ms, 0, 60'000);
  if (!cache) return cache.status();
  config.api_answer_cache_ms = *cache;
  auto backup = backup::BackupConfig::parse(source, config.data_dir);
  if (!backup) return backup.error();
  config.backup = std::move(*backup);
  return config;
}

}  // namespace stages::persister
