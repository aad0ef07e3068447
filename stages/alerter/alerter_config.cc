#include "stages/alerter/alerter_config.h"

namespace stages::alerter {

pipeline::Result<AlerterConfig> AlerterConfig::parse(const pipeline::config::ConfigSource& source) {
  AlerterConfig config;
  auto shipped = source.getBool("alerter.shipped_rules", config.shipped_rules);
  if (!shipped) return shipped.error();
  config.shipped_rules = *shipped;
  auto files = source.getStringList("alerter.rules_files", {});
  if (!files) return files.error();
  config.rules_files = std::move(*files);
  if (!config.shipped_rules && config.rules_files.empty()) {
    return pipeline::Error{pipeline::ErrorType::InvalidConfig,
                           "alerter.rules_files: empty while alerter.shipped_rules is false: no rule to evaluate"};
  }
  auto notify = source.getString("alerter.notify_file", "");
  if (!notify) return notify.error();
  config.notify_file = *notify;
  auto interval = source.getInt("alerter.evaluation_interval_ms", config.evaluation_interval_ms, 1'000, 600'000);
  if (!interval) return interval.error();
  config.evaluation_interval_ms = *interval;
  auto url = source.getString("alerter.external_url", config.external_url);
  if (!url) return url.error();
  if (!url->starts_with("http://") && !url->starts_with("https://")) {
    return pipeline::Error{pipeline::ErrorType::InvalidConfig, "alerter.external_url: must start with http:// or https://"};
  }
  config.external_url = *url;
  while (config.external_url.ends_with('/')) config.external_url.pop_back();
  auto state = source.getInt("alerter.state_interval_ms", config.state_interval_ms, 100, 600'000);
  if (!state) return state.error();
  config.state_interval_ms = *state;
  return config;
}

}  // namespace stages::alerter
