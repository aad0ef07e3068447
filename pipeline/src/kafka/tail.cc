#include "pipeline/kafka/tail.h"

#include <librdkafka/rdkafka.h>

#include <memory>
#include <thread>

#include <fmt/format.h>

#include "pipeline/kafka/admin.h"

namespace pipeline::kafka {
namespace {

enum class End { Head, Tail };

using Reader = std::unique_ptr<rd_kafka_t, void (*)(rd_kafka_t*)>;

// A consumer handle for assign()-only reads: a group id is required by the consumer API, but
// nothing joins or commits.
Result<Reader> makeReader(const KafkaConfig& config) {
  auto conf = makeConf(config, {{"client.id", config.client_id + "-tail"}},
                       {{"group.id", config.client_id + "-tail-reader"},
                        {"enable.auto.commit", "false"},
                        {"enable.partition.eof", "false"}});
  if (!conf) return conf.error();
  char error[512];
  rd_kafka_t* raw = rd_kafka_new(RD_KAFKA_CONSUMER, conf->get(), error, sizeof(error));
  if (raw == nullptr) return Error{ErrorType::InvalidConfig, fmt::format("kafka tail: {}", error)};
  (void)conf->release();
  return Reader(raw, [](rd_kafka_t* r) {
    rd_kafka_consumer_close(r);
    rd_kafka_destroy(r);
  });
}

// The low and high watermarks of partition `p`, asking again until `give_up` while the topic has
// no leader yet (created a moment ago).
Result<OffsetRange> watermarks(rd_kafka_t* rk, const std::string& topic, std::int32_t p,
                               std::chrono::steady_clock::time_point give_up) {
  auto left = [&] {
    return static_cast<int>(std::max<std::int64_t>(
        1, std::chrono::duration_cast<std::chrono::milliseconds>(give_up - std::chrono::steady_clock::now())
               .count()));
  };
  OffsetRange range;
  auto err = rd_kafka_query_watermark_offsets(rk, topic.c_str(), p, &range.low, &range.high, left());
  while (err != RD_KAFKA_RESP_ERR_NO_ERROR && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    err = rd_kafka_query_watermark_offsets(rk, topic.c_str(), p, &range.low, &range.high, left());
  }
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Error{ErrorType::Unavailable,
                 fmt::format("end offsets of {}[{}]: {}", topic, p, rd_kafka_err2str(err))};
  }
  return range;
}


// Reads up to `per_partition` records at one end of every partition, [from, to) per partition.
Result<std::vector<std::vector<Record>>> readEnd(const KafkaConfig& config, const std::string& topic,
                                                 std::size_t per_partition,
                                                 std::chrono::milliseconds timeout, End which) {
  const auto give_up = std::chrono::steady_clock::now() + timeout;
  auto left = [&] {
    return static_cast<int>(std::max<std::int64_t>(
        1, std::chrono::duration_cast<std::chrono::milliseconds>(give_up -
                                                                 std::chrono::steady_clock::now())
               .count()));
  };
  auto partitions = partitionCount(config, topic, timeout);
  if (!partitions) return partitions.error();
  auto rk = makeReader(config);
  if (!rk) return rk.error();

  std::vector<std::vector<Record>> tails(static_cast<std::size_t>(*partitions));
  std::vector<std::int64_t> end(tails.size(), 0);
  std::unique_ptr<rd_kafka_topic_partition_list_t, void (*)(rd_kafka_topic_partition_list_t*)>
      assignment(rd_kafka_topic_partition_list_new(*partitions),
                 rd_kafka_topic_partition_list_destroy);
  std::vector<bool> pending(tails.size(), false);
  std::size_t remaining = 0;
  for (std::int32_t p = 0; p < *partitions; ++p) {
    auto range = watermarks(rk->get(), topic, p, give_up);
    if (!range) return range.error();
    const std::int64_t low = range->low, high = range->high;
    if (high <= low || per_partition == 0) continue;
    const auto count = static_cast<std::int64_t>(per_partition);
    const std::int64_t from = which == End::Tail ? std::max(low, high - count) : low;
    end[static_cast<std::size_t>(p)] = which == End::Tail ? high : std::min(high, low + count);
    rd_kafka_topic_partition_list_add(assignment.get(), topic.c_str(), p)->offset = from;
    pending[static_cast<std::size_t>(p)] = true;
    ++remaining;
  }
  if (remaining == 0) return tails;
  if (auto err = rd_kafka_assign(rk->get(), assignment.get()); err) {
    return Error{ErrorType::Kafka, fmt::format("assign {}: {}", topic, rd_kafka_err2str(err))};
  }
  while (remaining > 0) {
    rd_kafka_message_t* message = rd_kafka_consumer_poll(rk->get(), left());
    if (message == nullptr) {
      if (std::chrono::steady_clock::now() >= give_up) {
        return Error{ErrorType::Unavailable,
                     fmt::format("reading the {} of {}: {} partitions unread within {} ms",
                                 which == End::Tail ? "tail" : "head", topic, remaining,
                                 timeout.count())};
      }
      continue;
    }
    const auto partition = static_cast<std::size_t>(message->partition);
    if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR || partition >= tails.size()) {
      rd_kafka_message_destroy(message);  // informational error
      continue;
    }
    // Reaching or passing the range's last offset completes the partition: compaction may have
    // removed the record at that very offset.
    const bool last = message->offset + 1 >= end[partition];
    if (message->offset < end[partition]) {
      // Copied: a message keeps its client alive, and this client is destroyed on return.
      const Record view = Record::adopt(message);
      std::vector<Header> headers;
      for (const auto& [name, value] : view.headers()) headers.emplace_back(name, value);
      tails[partition].push_back(Record::make(std::string(view.topic()), view.partition(),
                                              view.offset(), std::string(view.key()),
                                              std::string(view.value()), std::move(headers),
                                              view.timestampMs()));
    } else {
      rd_kafka_message_destroy(message);
    }
    if (last && pending[partition]) {
      pending[partition] = false;
      --remaining;
    }
  }
  return tails;
}

}  // namespace

Result<std::vector<std::vector<Record>>> readTail(const KafkaConfig& config,
                                                  const std::string& topic,
                                                  std::size_t per_partition,
                                                  std::chrono::milliseconds timeout) {
  return readEnd(config, topic, per_partition, timeout, End::Tail);
}

Result<std::vector<std::vector<Record>>> readHead(const KafkaConfig& config,
                                                  const std::string& topic,
                                                  std::size_t per_partition,
                                                  std::chrono::milliseconds timeout) {
  return readEnd(config, topic, per_partition, timeout, End::Head);
}

Result<std::vector<OffsetRange>> offsetRanges(const KafkaConfig& config, const std::string& topic,
                                              std::chrono::milliseconds timeout) {
  const auto give_up = std::chrono::steady_clock::now() + timeout;
  auto partitions = partitionCount(config, topic, timeout);
  if (!partitions) return partitions.error();
  auto rk = makeReader(config);
  if (!rk) return rk.error();
  std::vector<OffsetRange> ranges;
  for (std::int32_t p = 0; p < *partitions; ++p) {
    auto range = watermarks(rk->get(), topic, p, give_up);
    if (!range) return range.error();
    ranges.push_back(*range);
  }
  return ranges;
}

}  // namespace pipeline::kafka
