#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/event_sink.h"
#include "tests/integration/child_process.h"
#include "tests/integration/stage_process.h"

struct rd_kafka_s;
struct rd_kafka_message_s;

namespace testsupport::fetcher {

/** pointtron-fetcher as a child process: StageProcess::start("fetcher", env). */
using Fetcher = StageProcess;

/** Path of build/bin/tronsim. */
std::string tronsimPath();




/** GET /admin/stats of tronsim. */
struct TronsimStats {
  std::int64_t requests = 0;
  std::int64_t faults = 0;
  std::map<std::string, std::int64_t> by_path;
  /** Requests to the /wallet and /walletsolidity APIs (everything but /admin). */
  std::int64_t apiRequests() const;
  std::int64_t path(const std::string& p) const {
    auto it = by_path.find(p);
    return it == by_path.end() ? 0 : it->second;
  }
};

/** POST /admin/fork's answer. */
struct ForkAnswer {
  std::int64_t from_height = 0;
  std::int64_t head = 0;
};

/**
 * `tronsim serve --port 0 <args>` as a child process; start() waits for its `Listening.` line and
 * takes the bound port from it. Destruction kills it.
 */
class Tronsim {
 public:
  /** nullptr after an ADD_FAILURE when it does not come up within 20 s. */
  static std::unique_ptr<Tronsim> start(const std::vector<std::string>& args);

  std::uint16_t port() const { return port_; }
  std::string url() const;

  std::optional<TronsimStats> stats();
  /** GET /admin/head: the current head. */
  std::optional<std::int64_t> head();
  /** GET /admin/head: the current solidified head (what /walletsolidity serves). */
  std::optional<std::int64_t> solidHead();
  bool setFaults(const std::string& json);
  bool clearFaults();
  std::optional<ForkAnswer> fork(int depth);
  /** POST /wallet/getblockbynum: the body without its trailing newline. */
  std::optional<std::string> blockByNum(std::int64_t height);
  /** The lines it printed, for failure messages. */
  std::string log();

 private:
  /** One field of GET /admin/head's answer. */
  std::optional<std::int64_t> headField(std::string_view name);

  std::unique_ptr<ChildProcess> child_;
  ChildLog log_;
  std::uint16_t port_ = 0;
};


/** One record of blocks.raw as a TopicReader saw it. */
struct SeenRecord {
  std::int32_t partition = -1;
  std::int64_t offset = -1;
  std::string key;
  std::string value;
  bool tombstone = false;     // the value is null (a compacted topic's delete marker)
  std::int64_t height = -1;   // the key parsed, -1 if not a decimal
  bool retraction = false;    // value is a block.raw.retraction.v1
  std::optional<std::int64_t> fetched_at_ms;  // header
  std::optional<std::string> source;          // header: host:port of the node
  std::map<std::string, std::string> headers;  // all of them (the last value of a repeated name)
  std::int64_t received_wall_ms = 0;          // when this reader got it
};

/**
 * A group-less reader of a whole topic (assign() from the beginning of every partition; no group
 * membership, nothing committed), for checking what the fetcher wrote. Waits for the topic to
 * exist. Test thread only.
 */
class TopicReader {
 public:
  explicit TopicReader(std::string topic);
  ~TopicReader();
  TopicReader(const TopicReader&) = delete;
  TopicReader& operator=(const TopicReader&) = delete;

  /**
   * Reads until `done()` holds (checked whenever the reader has caught up with what was
   * available) or the deadline passes (false). `done` may look at records() and the indexes.
   */
  bool readUntil(const std::function<bool()>& done, std::chrono::milliseconds deadline);

  /** Reads until every partition's end offset, as measured now, was read (false on timeout). */
  bool readAll(std::chrono::milliseconds deadline);

  const std::vector<SeenRecord>& records() const { return records_; }
  /** Heights that have at least one block (non-retraction) record. */
  const std::set<std::int64_t>& blockHeights() const { return block_heights_; }
  /** The first height >= from that has no block record (so [from, result) are all present). */
  std::int64_t contiguousEnd(std::int64_t from);
  std::size_t retractions() const { return retractions_; }
  std::string error() const { return error_; }

 private:
  bool connect(std::chrono::steady_clock::time_point give_up);
  void add(rd_kafka_message_s* message);

  std::string topic_;
  rd_kafka_s* rk_ = nullptr;
  std::vector<SeenRecord> records_;
  std::set<std::int64_t> block_heights_;
  std::size_t retractions_ = 0;
  std::int64_t contiguous_from_ = -1;
  std::int64_t contiguous_end_ = -1;
  std::int32_t partitions_ = 0;
  std::map<std::int32_t, std::int64_t> next_offset_;  // per partition: last read + 1
  std::string error_;
};

/** The fetcher's environment for one test: fresh topic prefix, the test broker, given nodes. */
std::map<std::string, std::string> fetcherEnv(const std::string& topic_prefix,
                                              const std::vector<std::string>& node_urls,
                                              int data_partitions);

/**
 * Sends `events` through a pipeline producer on a private loop and waits up to 60 s for every
 * acknowledgement; returns where each landed, in order (an ADD_FAILURE for each error).
 */
std::vector<pipeline::Delivery> produceAll(std::vector<pipeline::Event> events);

/** A topic prefix no other test run uses, ending in ".". */
std::string uniquePrefix(const std::string& name);

/** Percentile (0..100) of a sample (nearest rank); 0 for an empty one. */
double percentile(std::vector<double> values, double p);

}  // namespace testsupport::fetcher
