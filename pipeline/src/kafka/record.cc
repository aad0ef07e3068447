#include "pipeline/kafka/record.h"

#include <librdkafka/rdkafka.h>

namespace pipeline::kafka {

Record Record::adopt(rd_kafka_message_t* message) {
  Record record;
  record.storage_ = std::shared_ptr<const void>(
      message, [](const void* m) { rd_kafka_message_destroy(static_cast<rd_kafka_message_t*>(const_cast<void*>(m))); });
  record.topic_ = rd_kafka_topic_name(message->rkt);
  record.partition_ = message->partition;
  record.offset_ = message->offset;
  if (message->key != nullptr) {
    record.key_ = std::string_view(static_cast<const char*>(message->key), message->key_len);
  }
  if (message->payload != nullptr) {
    record.value_ = std::string_view(static_cast<const char*>(message->payload), message->len);
  }
  rd_kafka_timestamp_type_t type;
  const std::int64_t timestamp = rd_kafka_message_timestamp(message, &type);
  record.timestamp_ms_ = timestamp > 0 ? timestamp : 0;
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(message, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char* name = nullptr;
    const void* value = nullptr;
    size_t size = 0;
    for (size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &value, &size) ==
                       RD_KAFKA_RESP_ERR_NO_ERROR;
         ++i) {
      record.headers_.emplace_back(
          name, value != nullptr ? std::string_view(static_cast<const char*>(value), size)
                                 : std::string_view());
    }
  }
  return record;
}

Record Record::make(std::string topic, std::int32_t partition, std::int64_t offset,
                    std::string key, std::string value, std::vector<Header> headers,
                    std::int64_t timestamp_ms) {
  struct Owned {
    std::string topic, key, value;
    std::vector<Header> headers;
  };
  auto owned = std::make_shared<Owned>(
      Owned{std::move(topic), std::move(key), std::move(value), std::move(headers)});
  Record record;
  record.topic_ = owned->topic;
  record.partition_ = partition;
  record.offset_ = offset;
  record.key_ = owned->key;
  record.value_ = owned->value;
  record.timestamp_ms_ = timestamp_ms;
  for (const auto& [name, value] : owned->headers) record.headers_.emplace_back(name, value);
  record.storage_ = std::move(owned);
  return record;
}

std::optional<std::string_view> Record::header(std::string_view name) const noexcept {
  for (auto it = headers_.rbegin(); it != headers_.rend(); ++it) {
    if (it->first == name) return it->second;
  }
  return std::nullopt;
}

}  // namespace pipeline::kafka
