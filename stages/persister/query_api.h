#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>

#include "pipeline/health/health.h"
#include "pipeline/http/server.h"
#include "stages/persister/api_token.h"
#include "stages/persister/persister_metrics.h"
#include "stages/persister/store.h"

namespace stages::persister {

/** Bounds every list the API returns. */
inline constexpr int kMaxLimit = 1000;

/**
 * The query API under /api/ (docs/api.md): bearer-token auth, strict parameter validation, the
 * queries, indicators computed on request, and the `{"success":…}` envelope.
 *
 * Every route answers from a bounded number of indexed rows, on the loop thread: the slowest
 * (a 1000-candle indicator request) takes about a millisecond (stages/persister/README.md), well
 * below a batch commit, so reads do not stall ingestion and a thread pool would only add copies.
 * Parameters are parsed strictly (unknown or repeated ones, non-numbers, out-of-range numbers,
 * bad dates and unknown periods are 400) and reach SQL only as bound parameters.
 *
 * Answers are cached: a successful answer is served again for the same route and query string
 * while no commit happened since (Queries::dataVersion) and it is younger than
 * persister.api_answer_cache_ms (the wall clock decides "today" and `server_time_ms`). Dashboards polling the same routes then cost
 * no query; the cache holds at most kMaxCachedBytes and is emptied at every commit. /api/system/status,
 * which reports the writer's health and stage ages, is never cached.
 *
 * Loop thread only; the queries, metrics and clocks outlive it.
 */
class QueryApi {
 public:
  /** Milliseconds since the Unix epoch: what "today" and stage ages are measured against. */
  using WallClock = std::function<std::int64_t()>;
  using WriterHealth = std::function<pipeline::health::CheckResult()>;

  /** `max_answer_age_ms`: how long a cached answer may be served (0: no cache). */
  QueryApi(Queries& queries, TokenAuthenticator authenticator, PersisterMetrics& metrics,
           WallClock wall_clock, WriterHealth writer_health, std::int64_t max_answer_age_ms = 1000);

  /** Answers one GET (or HEAD) request whose path starts with /api/. Never throws. */
  pipeline::http::Response handle(const pipeline::http::Request& request);

  /** The 401 answer (counted in the auth failures) for a request without a valid bearer token;
   * nullopt when the token is valid. For the API's other routes (backups). */
  std::optional<pipeline::http::Response> refuse(const pipeline::http::Request& request);

 private:
  struct CachedAnswer {
    pipeline::http::Response response;
    std::int64_t rendered_at_ms = 0;
  };
  static constexpr std::size_t kMaxCachedBytes = 16 << 20;

  Queries& queries_;
  TokenAuthenticator authenticator_;
  PersisterMetrics& metrics_;
  WallClock wall_clock_;
  WriterHealth writer_health_;
  std::int64_t max_answer_age_ms_;
  std::unordered_map<std::string, CachedAnswer> cache_;  // by route path + '?' + query
  std::int64_t cache_data_version_ = -1;
  std::size_t cached_bytes_ = 0;
};

}  // namespace stages::persister
