#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "pipeline/kafka/kafka_config.h"
#include "pipeline/kafka/record.h"
#include "pipeline/status.h"

namespace pipeline::kafka {

/** The offsets a partition holds: [low, high), high being the next offset to be written. */
struct OffsetRange {
  std::int64_t low = 0;
  std::int64_t high = 0;
};

/**
 * The last `per_partition` records of every partition of `topic`, in offset order, indexed by
 * partition (an empty vector for an empty partition). How a producer that must never re-emit or
 * skip (the fetcher) learns where it stopped. Reads with a group-less assignment: commits and
 * group membership are untouched. Blocking, bounded by `timeout`: for start-up, before the loop
 * runs. Errors: Unavailable when the broker or the records cannot be reached in time; Kafka for
 * an unknown topic.
 */
Result<std::vector<std::vector<Record>>> readTail(const KafkaConfig& config,
                                                  const std::string& topic,
                                                  std::size_t per_partition,
                                                  std::chrono::milliseconds timeout);

/**
 * The first `per_partition` records of every partition of `topic` (the oldest still retained), in
 * offset order, indexed by partition; otherwise as readTail. How a fold that must start at the
 * beginning of a topic (the aggregator without a checkpoint) learns where that is.
 */
Result<std::vector<std::vector<Record>>> readHead(const KafkaConfig& config,
                                                  const std::string& topic,
                                                  std::size_t per_partition,
                                                  std::chrono::milliseconds timeout);

/**
 * The offset range of every partition of `topic`, indexed by partition. How a consumer that keeps
 * its own offsets (the persister) notices that a topic was recreated: a stored offset past `high`
 * belongs to a log that no longer exists. Blocking, bounded by `timeout`; errors as readTail.
 */
Result<std::vector<OffsetRange>> offsetRanges(const KafkaConfig& config, const std::string& topic,
                                              std::chrono::milliseconds timeout);

}  // namespace pipeline::kafka
