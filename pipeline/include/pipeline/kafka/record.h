#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct rd_kafka_message_s;

namespace pipeline::kafka {

using Header = std::pair<std::string, std::string>;

/**
 * One consumed Kafka record. Views point into storage the record keeps alive (the librdkafka
 * message, or owned strings for records made in tests), so a Record may be moved into an
 * asynchronous handler and outlive the poll that produced it. Immutable; any thread.
 */
class Record {
 public:
  /** Takes ownership of a consumed message (destroyed with rd_kafka_message_destroy). */
  static Record adopt(rd_kafka_message_s* message);

  /** A record backed by copies of the given data, for tests and replays. */
  static Record make(std::string topic, std::int32_t partition, std::int64_t offset,
                     std::string key, std::string value, std::vector<Header> headers = {},
                     std::int64_t timestamp_ms = 0);

  std::string_view topic() const noexcept { return topic_; }
  std::int32_t partition() const noexcept { return partition_; }
  std::int64_t offset() const noexcept { return offset_; }
  std::string_view key() const noexcept { return key_; }
  std::string_view value() const noexcept { return value_; }
  /** Producer-assigned or log-append time in ms since the epoch; 0 if unknown. */
  std::int64_t timestampMs() const noexcept { return timestamp_ms_; }
  const std::vector<std::pair<std::string_view, std::string_view>>& headers() const noexcept {
    return headers_;
  }
  /** The last header of that name (Kafka allows repeats), if any. */
  std::optional<std::string_view> header(std::string_view name) const noexcept;

 private:
  Record() = default;
  std::shared_ptr<const void> storage_;
  std::string_view topic_;
  std::int32_t partition_ = -1;
  std::int64_t offset_ = -1;
  std::string_view key_;
  std::string_view value_;
  std::int64_t timestamp_ms_ = 0;
  std::vector<std::pair<std::string_view, std::string_view>> headers_;
};

}  // namespace pipeline::kafka
