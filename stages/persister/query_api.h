#pragma once

#include <cstdint>
#include <functional>

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
 * Loop thread only; the queries, metrics and clocks outlive it.
 */
class QueryApi {
 public:
  /** Milliseconds since the Unix epoch: what "today" and stage ages are measured against. */
  using WallClock = std::function<std::int64_t()>;
  using WriterHealth = std::function<pipeline::health::CheckResult()>;

  QueryApi(Queries& queries, TokenAuthenticator authenticator, PersisterMetrics& metrics,
           WallClock wall_clock, WriterHealth writer_health);

  /** Answers one GET (or HEAD) request whose path starts with /api/. Never throws. */
  pipeline::http::Response handle(const pipeline::http::Request& request);

 private:
  Queries& queries_;
  TokenAuthenticator authenticator_;
  PersisterMetrics& metrics_;
  WallClock wall_clock_;
  WriterHealth writer_health_;
};

}  // namespace stages::persister
