#pragma once

// Child processes of the integration tests: stage binaries, their logs, their admin HTTP.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tests/integration/child_process.h"

namespace testsupport {

/** build/bin/pointtron-<stage>, or "" when this build has no such binary. */
std::string stagePath(const std::string& stage);

/** One blocking HTTP/1.1 exchange with 127.0.0.1:port (Connection: close); nullopt on failure. */
struct HttpAnswer {
  int status = 0;
  std::string body;
};
std::optional<HttpAnswer> httpRequest(std::uint16_t port, std::string_view method,
                                      std::string_view path, std::string_view body = {},
                                      std::chrono::milliseconds timeout = std::chrono::seconds(5));

/** The integer after `"<name>":` in a JSON text (a flat scan, for small admin answers). */
std::optional<std::int64_t> jsonInt(std::string_view text, std::string_view name);

/** Wall clock, ms since the epoch. */
std::int64_t wallMs();

/**
 * Evaluates `check` every `period` until it holds (true) or `deadline` passes (false): for
 * conditions only observable by asking (a child's /metrics), never as a delay.
 */
bool waitUntil(const std::function<bool()>& check, std::chrono::milliseconds deadline,
               std::chrono::milliseconds period = std::chrono::milliseconds(20));

/** The stdout lines of a child, kept (the last `keep`) for failure messages. */
class ChildLog {
 public:
  explicit ChildLog(std::size_t keep = 200) : keep_(keep) {}
  /** Takes every line the child printed so far (does not wait). */
  void collect(ChildProcess& child);
  void add(std::string_view line);
  /** The kept lines, one per line, for a failure message. */
  std::string text() const;

 private:
  std::size_t keep_;
  std::vector<std::string> lines_;
};

/** The port in the first line containing `message` (a JSON log line with a "port" field). */
std::optional<std::uint16_t> waitForPort(ChildProcess& child, ChildLog& log,
                                         std::string_view message,
                                         std::chrono::milliseconds deadline);

/**
 * A stage binary (build/bin/pointtron-<stage>) as a child process, configured only through
 * POINTTRON_* environment variables (inherited POINTTRON_*__* variables are removed). start()
 * waits for the `Admin HTTP listening.` line (POINTTRON_HTTP__PORT=0 unless `env` says otherwise)
 * and takes the port from it.
 */
class StageProcess {
 public:
  /** nullptr after an ADD_FAILURE when the binary is missing or it does not come up in 30 s. */
  static std::unique_ptr<StageProcess> start(const std::string& stage,
                                             const std::map<std::string, std::string>& env);
  ~StageProcess();

  std::uint16_t httpPort() const { return http_port_; }
  /** The value of the first sample of /metrics with this name and (at least) these labels;
   *  nullopt when absent or unreachable. */
  std::optional<double> metric(const std::string& name,
                               const std::map<std::string, std::string>& labels = {});
  /** The whole /metrics text ("" when unreachable). */
  std::string metricsText();
  /** SIGKILL, then reap; returns the wait status. */
  std::optional<int> kill();
  /** SIGTERM; the wait status once it exited (nullopt if it had to be killed after 30 s). */
  std::optional<int> stop();
  /** True while the process has not exited (no output EOF observed yet). */
  bool running();
  std::string log();

 private:
  std::unique_ptr<ChildProcess> child_;
  ChildLog log_;
  std::uint16_t http_port_ = 0;
};

}  // namespace testsupport
