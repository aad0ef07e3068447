#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace testsupport {

/**
 * A child process (posix_spawn) whose stdout is read line by line on a thread, so a test can wait
 * for what the child reported without sleeping. stderr and stdin are inherited.
 *
 * Lifecycle: spawn() -> readUntil()/signal()/readToEnd() -> waitExit() or destruction, which
 * SIGKILLs a child still running and reaps it. One test thread uses it; the reader thread only
 * appends lines.
 */
class ChildProcess {
 public:
  /** Starts argv[0] (a path) with argv; nullptr after an ADD_FAILURE if that is impossible. */
  static std::unique_ptr<ChildProcess> spawn(const std::vector<std::string>& argv);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  /**
   * Hands every line not handed out before to `on_line`, in order, until it returns true (then
   * true), or the deadline passes or stdout ends first (then false).
   */
  bool readUntil(const std::function<bool(std::string_view line)>& on_line,
                 std::chrono::milliseconds deadline);

  /** Hands out the remaining lines until stdout ends (true) or the deadline passes (false). */
  bool readToEnd(const std::function<void(std::string_view line)>& on_line,
                 std::chrono::milliseconds deadline);

  void signal(int signum);

  /**
   * The wait status once the child exited. Closing stdout is the child's last act, so call this
   * after readToEnd() returned true; a child still running after `deadline` is killed first and
   * the result is nullopt.
   */
  std::optional<int> waitExit(std::chrono::milliseconds deadline);

  pid_t pid() const noexcept { return pid_; }

 private:
  ChildProcess(pid_t pid, int stdout_fd);
  void readLoop();

  pid_t pid_;
  int stdout_fd_;
  bool reaped_ = false;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::string> lines_;  // read, not yet handed out
  bool eof_ = false;
  std::thread reader_;
};

/**
 * Runs a command to completion (blocking) with extra environment variables; returns its exit
 * code, or -1 if it could not run or died from a signal. For scripts with their own timeouts,
 * such as ops/kafka/broker.sh.
 */
int runCommand(const std::vector<std::string>& argv,
               const std::map<std::string, std::string>& extra_env = {});

}  // namespace testsupport
