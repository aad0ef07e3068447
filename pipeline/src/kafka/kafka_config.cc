#include "pipeline/kafka/kafka_config.h"

#include <librdkafka/rdkafka.h>

#include <array>

#include <fmt/format.h>

#include "pipeline/log/logging.h"

namespace pipeline::kafka {
namespace {

// Properties whose values the delivery guarantee depends on (docs/specs/stage.md): a passthrough
// value for them is a start-up error, not a silent override.
constexpr std::array<std::string_view, 8> kOwnedProperties = {
    "enable.auto.commit",     "enable.auto.offset.store", "group.id",
    "enable.idempotence",     "bootstrap.servers",        "enable.partition.eof",
    "statistics.interval.ms", "message.timeout.ms"};

}  // namespace

void ConfDeleter::operator()(rd_kafka_conf_t* conf) const noexcept { rd_kafka_conf_destroy(conf); }

Status fatalError(rd_kafka_t* rk, std::string_view client) {
  char reason[512];
  const auto original = rd_kafka_fatal_error(rk, reason, sizeof(reason));
  return Status(ErrorType::Kafka,
                fmt::format("fatal {} error {}: {}", client, rd_kafka_err2name(original), reason));
}

Status setProperty(rd_kafka_conf_t* conf, const std::string& key, const std::string& value) {
  char error[512];
  if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), error, sizeof(error)) !=
      RD_KAFKA_CONF_OK) {
    return Status(ErrorType::InvalidConfig, fmt::format("kafka.rdkafka.{}: {}", key, error));
  }
  return Status::ok();
}

Result<ConfPtr> makeConf(const KafkaConfig& config,
                         const std::map<std::string, std::string>& defaults,
                         const std::map<std::string, std::string>& owned) {
  ConfPtr conf(rd_kafka_conf_new());
  for (const auto& [key, value] : defaults) {
    if (auto status = setProperty(conf.get(), key, value); !status) return status.error();
  }
  for (const auto& [key, value] : config.rdkafka) {
    for (auto owned_key : kOwnedProperties) {
      if (key == owned_key) {
        return Error{ErrorType::InvalidConfig,
                     fmt::format("kafka.rdkafka.{}: is set by point-tron itself and cannot be "
                                 "overridden",
                                 key)};
      }
    }
    if (auto status = setProperty(conf.get(), key, value); !status) return status.error();
  }
  std::map<std::string, std::string> common = {
      {"bootstrap.servers", config.bootstrap_servers},
      {"statistics.interval.ms", std::to_string(config.statistics_interval_ms)},
  };
  for (const auto& [key, value] : owned) common[key] = value;
  for (const auto& [key, value] : common) {
    if (auto status = setProperty(conf.get(), key, value); !status) return status.error();
  }
  // librdkafka's own log lines (from its threads) become JSON lines like ours, rate-limited per
  // facility so a broker outage does not flood the log.
  rd_kafka_conf_set_log_cb(conf.get(), [](const rd_kafka_t* rk, int level, const char* facility,
                                          const char* message) {
    static const log::Logger logger("librdkafka", std::make_shared<log::RateLimiter>());
    const log::Level mapped = level <= 3   ? log::Level::Error
                              : level == 4 ? log::Level::Warn
                              : level <= 6 ? log::Level::Info
                                           : log::Level::Debug;
    logger.logEvery(mapped, facility, {.interval = std::chrono::seconds(10), .max_per_interval = 5},
                    "librdkafka reported.",
                    {{"client", rd_kafka_name(rk)}, {"facility", facility}, {"detail", message}});
  });
  return conf;
}

}  // namespace pipeline::kafka
