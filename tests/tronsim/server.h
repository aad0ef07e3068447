#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>

#include "pipeline/http/server.h"
#include "pipeline/log/logging.h"
#include "pipeline/status.h"
#include "pipeline/uv/handle.h"
#include "tests/tronsim/faults.h"
#include "tests/tronsim/node.h"

namespace tronsim {

/** What the server has done since it started (GET /admin/stats). */
struct ServerStats {
  std::uint64_t requests = 0;        // API requests received (admin excluded)
  std::uint64_t responses = 0;       // API responses sent whole (faulted ones included)
  std::uint64_t body_bytes = 0;      // body bytes of those responses
  std::uint64_t faults = 0;          // requests a fault rule fired on
  std::uint64_t stalled = 0;         // requests never answered (stall faults)
  std::uint64_t reset = 0;           // connections closed without a response
  std::uint64_t truncated = 0;       // responses cut short
  std::map<std::string, std::uint64_t, std::less<>> by_path;  // API requests per path
};

/**
 * The java-tron HTTP API (docs/tronsim.md) over a Node, with Faults applied, plus the admin API
 * under /admin/. Every API endpoint is served under /wallet/ (head view) and /walletsolidity/
 * (solidified view), for GET and POST, following java-tron's conventions: compact JSON plus "\n",
 * `{}` for a missing block, HTTP 200 + {"Error":"class … : …"} for bad input.
 *
 * Lifecycle: construct -> listen() -> ... -> stop(on_stopped) -> destroy (on the loop thread).
 * The Node and Faults must outlive the server. Loop thread only.
 */
class TronServer {
 public:
  TronServer(uv_loop_t& loop, Node& node, Faults& faults, pipeline::http::ServerOptions options);
  TronServer(const TronServer&) = delete;
  TronServer& operator=(const TronServer&) = delete;
  ~TronServer();

  /** Errors: those of pipeline::http::Server::listen (Io naming the address, …). */
  [[nodiscard]] pipeline::Status listen() { return server_.listen(); }
  std::uint16_t port() const noexcept { return server_.port(); }
  /** Stops accepting, drops delayed and stalled requests, then calls `on_stopped` from the loop. */
  void stop(std::function<void()> on_stopped);

  const ServerStats& stats() const noexcept { return stats_; }

  /**
   * The fault-free answer to one API request: `api` is "wallet" or "walletsolidity", `endpoint`
   * e.g. "getblockbynum". Public for tests and the benchmark.
   */
  pipeline::http::Response render(std::string_view api, std::string_view endpoint,
                                  const pipeline::http::Request& request);

 private:
  void onApi(std::string api, std::string endpoint, const pipeline::http::Request& request,
             pipeline::http::Responder responder) noexcept;
  void execute(const std::string& api, const std::string& endpoint,
               const pipeline::http::Request& request, const pipeline::http::Responder& responder,
               const std::optional<FaultRule>& fault) noexcept;
  void send(const pipeline::http::Responder& responder, pipeline::http::Response response);
  void addAdminRoutes();

  uv_loop_t& loop_;
  Node& node_;
  Faults& faults_;
  pipeline::http::Server server_;
  pipeline::log::Logger log_{"server"};
  ServerStats stats_;
  std::uint64_t next_delay_id_ = 1;
  std::unordered_map<std::uint64_t, pipeline::uv::Timer> delays_;  // latency faults in flight
};

}  // namespace tronsim
