#include "pipeline/kafka/tail.h"

#include <librdkafka/rdkafka.h>

#include <memory>
#include <thread>

#include <fmt/format.h>

#include "pipeline/kafka/admin.h"

namespace pipeline::kafka {

Result<std::vector<std::vector<Record>>> readTail(const KafkaConfig& config,
                                                  const std::string& topic,
                                                  std::size_t per_partition,
                                                  std::chrono::milliseconds timeout) {
  const auto give_up = std::chrono::steady_clock::now() + timeout;
  auto left = [&] {
    return static_cast<int>(std::max<std::int64_t>(
        1, std::chrono::duration_cast<std::chrono::milliseconds>(give_up -
                                                                 std::chrono::steady_clock::now())
               .count()));
  };
  auto partitions = partitionCount(config, topic, timeout);
  if (!partitions) return partitions.error();

  // A group id is required by the consumer API, but nothing joins or commits: assign() only.
  auto conf = makeConf(config, {{"client.id", config.client_id + "-tail"}},
                       {{"group.id", config.client_id + "-tail-reader"},
                        {"enable.auto.commit", "false"},
                        {"enable.partition.eof", "false"}});
  if (!conf) return conf.error();
  char error[512];
  rd_kafka_t* raw = rd_kafka_new(RD_KAFKA_CONSUMER, conf->get(), error, sizeof(error));
  if (raw == nullptr) return Error{ErrorType::InvalidConfig, fmt::format("kafka tail: {}", error)};
  (void)conf->release();
  std::unique_ptr<rd_kafka_t, void (*)(rd_kafka_t*)> rk(raw, [](rd_kafka_t* r) {
    rd_kafka_consumer_close(r);
    rd_kafka_destroy(r);
  });

  std::vector<std::vector<Record>> tails(static_cast<std::size_t>(*partitions));
  std::vector<std::int64_t> end(tails.size(), 0);
  std::unique_ptr<rd_kafka_topic_partition_list_t, void (*)(rd_kafka_topic_partition_list_t*)>
      assignment(rd_kafka_topic_partition_list_new(*partitions),
                 rd_kafka_topic_partition_list_destroy);
  std::vector<bool> pending(tails.size(), false);
  std::size_t remaining = 0;
  for (std::int32_t p = 0; p < *partitions; ++p) {
    std::int64_t low = 0, high = 0;
    auto err = rd_kafka_query_watermark_offsets(rk.get(), topic.c_str(), p, &low, &high, left());
    // A topic created a moment ago may not have a leader yet: ask again until the deadline.
    while (err != RD_KAFKA_RESP_ERR_NO_ERROR && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      err = rd_kafka_query_watermark_offsets(rk.get(), topic.c_str(), p, &low, &high, left());
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return Error{ErrorType::Unavailable, fmt::format("end offsets of {}[{}]: {}", topic, p,
                                                       rd_kafka_err2str(err))};
    }
    end[static_cast<std::size_t>(p)] = high;
    if (high <= low || per_partition == 0) continue;
    const std::int64_t from = std::max(low, high - static_cast<std::int64_t>(per_partition));
    rd_kafka_topic_partition_list_add(assignment.get(), topic.c_str(), p)->offset = from;
    pending[static_cast<std::size_t>(p)] = true;
    ++remaining;
  }
  if (remaining == 0) return tails;
  if (auto err = rd_kafka_assign(rk.get(), assignment.get()); err) {
    return Error{ErrorType::Kafka, fmt::format("assign {}: {}", topic, rd_kafka_err2str(err))};
  }
  while (remaining > 0) {
    rd_kafka_message_t* message = rd_kafka_consumer_poll(rk.get(), left());
    if (message == nullptr) {
      if (std::chrono::steady_clock::now() >= give_up) {
        return Error{ErrorType::Unavailable,
                     fmt::format("reading the tail of {}: {} partitions unread within {} ms",
                                 topic, remaining, timeout.count())};
      }
      continue;
    }
    const auto partition = static_cast<std::size_t>(message->partition);
    if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR || partition >= tails.size() ||
        message->offset >= end[partition]) {
      rd_kafka_message_destroy(message);  // informational error or past the measured end
      continue;
    }
    const bool last = message->offset + 1 >= end[partition];
    // Copied: a message keeps its client alive, and this client is destroyed on return.
    const Record view = Record::adopt(message);
    std::vector<Header> headers;
    for (const auto& [name, value] : view.headers()) headers.emplace_back(name, value);
    tails[partition].push_back(Record::make(std::string(view.topic()), view.partition(),
                                            view.offset(), std::string(view.key()),
                                            std::string(view.value()), std::move(headers),
                                            view.timestampMs()));
    if (last && pending[partition]) {
      pending[partition] = false;
      --remaining;
    }
  }
  return tails;
}

}  // namespace pipeline::kafka
