#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <uv.h>

// `pointtron status`: every stage's health and key figures, read from the admin endpoints the
// stages serve (/health and /metrics), as an operator would with curl.

namespace stages::cli {

/** Where one stage's admin listener is. */
struct StageEndpoint {
  std::string stage;
  std::string address;  // host:port
};

/** The five stages on their default admin ports (+ `port_offset`) of `host`. */
std::vector<StageEndpoint> defaultEndpoints(const std::string& host, int port_offset = 0);

/** The samples of a Prometheus text exposition. */
class MetricSamples {
 public:
  using Labels = std::map<std::string, std::string, std::less<>>;

  /** Lines that are not samples (comments, malformed lines) are skipped. */
  static MetricSamples parse(std::string_view exposition);
  /** The value of the first series of `name` whose labels include `labels`; nullopt if none. */
  std::optional<double> value(std::string_view name, const Labels& labels = {}) const;
  /** The sum over every series of `name`; nullopt when there is none. */
  std::optional<double> sum(std::string_view name) const;
  bool empty() const { return samples_.empty(); }

 private:
  struct Sample {
    std::string name;
    Labels labels;
    double value = 0;
  };
  std::vector<Sample> samples_;
};

/** What one stage answered. */
struct StageReport {
  std::string stage;
  std::string address;
  /** healthy, degraded, unhealthy, or "down" when /health did not answer. */
  std::string health = "down";
  /** The first check that is not healthy, "name: detail"; or why the stage did not answer. */
  std::string detail;
  MetricSamples metrics;
};

/** When a report was taken, with the reports. */
struct Snapshot {
  std::chrono::steady_clock::time_point at;
  std::vector<StageReport> stages;
};

/** Asks every endpoint for /health and /metrics at once on `loop` and waits for the answers
 * (each bounded by `timeout`). */
Snapshot collect(uv_loop_t& loop, const std::vector<StageEndpoint>& endpoints,
                 std::chrono::milliseconds timeout);

/** A table for `pointtron status`: stage, address, health, figures, memory; then the detail of
 * every stage that is not healthy. */
std::string formatTable(const Snapshot& snapshot);

/** One line of progress: heights fetched / decoded / folded / persisted, the fetcher's lag,
 * blocks/s persisted since `previous` (when given), and health. */
std::string formatLine(const Snapshot& snapshot, const Snapshot* previous);

/** True when every stage answered and none is unhealthy. */
bool allUp(const Snapshot& snapshot);

/** `pointtron status [--watch] [--interval SECONDS] [--host HOST]`; returns the exit code. */
int runStatus(const std::vector<std::string_view>& arguments);

}  // namespace stages::cli
