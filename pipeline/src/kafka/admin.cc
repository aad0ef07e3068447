#include "pipeline/kafka/admin.h"

#include <librdkafka/rdkafka.h>

#include <memory>
#include <thread>

#include <fmt/format.h>

namespace pipeline::kafka {
namespace {

struct KafkaDeleter {
  void operator()(rd_kafka_t* rk) const noexcept { rd_kafka_destroy(rk); }
};
using KafkaPtr = std::unique_ptr<rd_kafka_t, KafkaDeleter>;

Result<KafkaPtr> adminClient(const KafkaConfig& config) {
  auto conf = makeConf(config, {{"client.id", config.client_id + "-admin"}}, {});
  if (!conf) return conf.error();
  char error[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf->get(), error, sizeof(error));
  if (rk == nullptr) return Error{ErrorType::InvalidConfig, fmt::format("kafka admin: {}", error)};
  (void)conf->release();
  return KafkaPtr(rk);
}

}  // namespace

Status ensureTopics(const KafkaConfig& config, const std::vector<TopicSpec>& topics,
                    std::chrono::milliseconds timeout) {
  if (topics.empty()) return Status::ok();
  auto rk = adminClient(config);
  if (!rk) return rk.status();

  std::vector<rd_kafka_NewTopic_t*> new_topics;
  auto destroy_new_topics = [&] {
    rd_kafka_NewTopic_destroy_array(new_topics.data(), new_topics.size());
  };
  char error[512];
  for (const auto& spec : topics) {
    rd_kafka_NewTopic_t* topic = rd_kafka_NewTopic_new(
        spec.name.c_str(), spec.partitions, spec.replication_factor, error, sizeof(error));
    if (topic == nullptr) {
      destroy_new_topics();
      return Status(ErrorType::InvalidConfig, fmt::format("topic {}: {}", spec.name, error));
    }
    new_topics.push_back(topic);
    for (const auto& [key, value] : spec.config) {
      if (auto err = rd_kafka_NewTopic_set_config(topic, key.c_str(), value.c_str()); err) {
        destroy_new_topics();
        return Status(ErrorType::InvalidConfig,
                      fmt::format("topic {} config {}: {}", spec.name, key, rd_kafka_err2str(err)));
      }
    }
  }

  rd_kafka_AdminOptions_t* options = rd_kafka_AdminOptions_new(rk->get(), RD_KAFKA_ADMIN_OP_CREATETOPICS);
  (void)rd_kafka_AdminOptions_set_operation_timeout(options, static_cast<int>(timeout.count()),
                                                    error, sizeof(error));
  (void)rd_kafka_AdminOptions_set_request_timeout(options, static_cast<int>(timeout.count()),
                                                  error, sizeof(error));
  rd_kafka_queue_t* queue = rd_kafka_queue_new(rk->get());
  rd_kafka_CreateTopics(rk->get(), new_topics.data(), new_topics.size(), options, queue);
  rd_kafka_event_t* event = rd_kafka_queue_poll(queue, static_cast<int>(timeout.count()) + 1000);
  Status status;
  if (event == nullptr) {
    status = Status(ErrorType::Unavailable,
                    fmt::format("creating topics: no answer from {} within {} ms",
                                config.bootstrap_servers, timeout.count()));
  } else if (rd_kafka_event_error(event) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    status = Status(rd_kafka_event_error(event) == RD_KAFKA_RESP_ERR__TIMED_OUT
                        ? ErrorType::Unavailable
                        : ErrorType::Kafka,
                    fmt::format("creating topics on {}: {}", config.bootstrap_servers,
                                rd_kafka_event_error_string(event)));
  } else {
    const rd_kafka_CreateTopics_result_t* result = rd_kafka_event_CreateTopics_result(event);
    size_t count = 0;
    const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(result, &count);
    for (size_t i = 0; i < count && status; ++i) {
      const auto err = rd_kafka_topic_result_error(results[i]);
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        const char* message = rd_kafka_topic_result_error_string(results[i]);
        status = Status(ErrorType::Kafka,
                        fmt::format("creating topic {}: {}", rd_kafka_topic_result_name(results[i]),
                                    message != nullptr ? message : rd_kafka_err2str(err)));
      }
    }
  }
  if (event != nullptr) rd_kafka_event_destroy(event);
  rd_kafka_queue_destroy(queue);
  rd_kafka_AdminOptions_destroy(options);
  destroy_new_topics();
  if (!status) return status;

  // A topic just created may take a moment to appear in metadata: ask until the deadline.
  const auto give_up = std::chrono::steady_clock::now() + timeout;
  for (const auto& spec : topics) {
    auto partitions = partitionCount(config, spec.name, timeout);
    while (!partitions && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      partitions = partitionCount(config, spec.name, timeout);
    }
    if (!partitions) return partitions.status();
    if (*partitions < spec.partitions) {
      return Status(ErrorType::InvalidConfig,
                    fmt::format("topic {} has {} partitions, fewer than the {} configured; "
                                "increase them with kafka-topics --alter",
                                spec.name, *partitions, spec.partitions));
    }
  }
  return Status::ok();
}

Result<std::int32_t> partitionCount(const KafkaConfig& config, const std::string& topic,
                                    std::chrono::milliseconds timeout) {
  auto rk = adminClient(config);
  if (!rk) return rk.error();
  rd_kafka_topic_t* handle = rd_kafka_topic_new(rk->get(), topic.c_str(), nullptr);
  const rd_kafka_metadata_t* metadata = nullptr;
  const auto err =
      rd_kafka_metadata(rk->get(), 0, handle, &metadata, static_cast<int>(timeout.count()));
  rd_kafka_topic_destroy(handle);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Error{ErrorType::Unavailable,
                 fmt::format("metadata for {} from {}: {}", topic, config.bootstrap_servers,
                             rd_kafka_err2str(err))};
  }
  Result<std::int32_t> result = Error{ErrorType::Kafka, fmt::format("topic {} not found", topic)};
  for (int i = 0; i < metadata->topic_cnt; ++i) {
    if (topic == metadata->topics[i].topic && metadata->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      result = metadata->topics[i].partition_cnt;
    }
  }
  rd_kafka_metadata_destroy(metadata);
  return result;
}

}  // namespace pipeline::kafka
