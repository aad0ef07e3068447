#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/kafka/record.h"
#include "pipeline/status.h"

namespace pipeline {

/** One event to publish: a full topic name, a key (the entity), a value and headers. */
struct Event {
  std::string topic;
  std::string key;
  std::string value;
  /**
   * Publish a null value instead of `value` (which must then be empty): the tombstone that tells a
   * compacted topic, and its readers, that the key no longer exists. An empty `value` is not one.
   */
  bool tombstone = false;
  std::vector<kafka::Header> headers;
  /** Explicit partition; by default the key's hash chooses it (murmur2, as the Java client). */
  std::optional<std::int32_t> partition;
};

/** Where an acknowledged event landed. */
struct Delivery {
  std::int32_t partition = -1;
  std::int64_t offset = -1;
};

/**
 * The port through which stage logic publishes events. The runtime's Kafka producer implements
 * it; tests use a fake. The callback runs exactly once, on the loop thread and never from inside
 * send() itself, with ok once the broker acknowledged the event (idempotent producer: no
 * duplicates from retries) or with the error that made delivery impossible.
 */
class EventSink {
 public:
  using DeliveryCallback = std::function<void(const Status& status, const Delivery& delivery)>;
  virtual ~EventSink() = default;
  virtual void send(Event event, DeliveryCallback on_delivery) = 0;
};

}  // namespace pipeline
