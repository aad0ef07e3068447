#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace testsupport {

/** One HTTP response as RawConnection read it. Header names are compared case-insensitively. */
struct RawResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  /** The first value of `name`, or "" if absent. */
  std::string header(std::string_view name) const;
};

/**
 * A blocking loopback TCP client speaking raw bytes, for server tests: run it on a std::thread
 * (see BackgroundTask) while the test thread turns the loop. Every blocking call is bounded by a
 * socket timeout, so a broken server fails the test instead of hanging it.
 */
class RawConnection {
 public:
  static constexpr std::chrono::milliseconds kDefaultTimeout{5000};

  /** Connects to 127.0.0.1:port; connected() tells whether it worked. */
  explicit RawConnection(std::uint16_t port, std::chrono::milliseconds timeout = kDefaultTimeout);
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool connected() const { return fd_ >= 0; }
  /** Sends every byte; false on error. */
  bool send(std::string_view data);
  /** Reads one response (Content-Length framed; no body if `head`). nullopt on EOF, timeout or
   * a malformed response. */
  std::optional<RawResponse> readResponse(bool head = false);
  /** Reads until the peer closes; true on EOF or reset, false on timeout. */
  bool waitClosed();
  /** After waitClosed(): whether the peer reset the connection (RST) rather than closing it. */
  bool resetByPeer() const { return reset_by_peer_; }
  /** Bytes received and not consumed by readResponse(). */
  const std::string& unread() const { return buffer_; }
  /** Half-closes the sending side (FIN). */
  void shutdownWrite();

 private:
  bool fill();  // reads more into buffer_; false on EOF, error or timeout
  int fd_ = -1;
  std::string buffer_;
  bool closed_by_peer_ = false;
  bool reset_by_peer_ = false;
};

/** Runs `task` on its own thread; done() turns true when it returned. Joins on destruction. */
class BackgroundTask {
 public:
  explicit BackgroundTask(std::function<void()> task);
  ~BackgroundTask();
  BackgroundTask(const BackgroundTask&) = delete;
  BackgroundTask& operator=(const BackgroundTask&) = delete;

  bool done() const { return done_.load(); }

 private:
  std::atomic<bool> done_{false};
  std::thread thread_;
};

/**
 * A TCP socket bound to 127.0.0.1 on a free port. With listening, the kernel completes
 * handshakes into the backlog but nobody ever reads or answers (a server that hangs); without
 * listening, connecting is refused.
 */
class SilentSocket {
 public:
  explicit SilentSocket(bool listening);
  ~SilentSocket();
  SilentSocket(const SilentSocket&) = delete;
  SilentSocket& operator=(const SilentSocket&) = delete;

  std::uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

}  // namespace testsupport
