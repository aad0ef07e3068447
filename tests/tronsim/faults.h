#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/status.h"

namespace tronsim {

/** What a fired fault does to one request (docs/tronsim.md, "Fault model"). */
enum class FaultKind {
  HttpError,   // a non-200 status (500/502/503/429/403…), body {"Error":"…"}, optional Retry-After
  Suspended,   // TronGrid's "query server is suspended for 30s" body, 403 by default
  Empty,       // HTTP 200 with `{}`
  JavaError,   // HTTP 200 with {"Error":"class java.lang.… : …"}
  Truncate,    // the status line, headers and part of the body are sent, then the connection closes
  Reset,       // the connection closes without any response
  Stall,       // the request is accepted and never answered
};

std::string_view faultKindName(FaultKind kind) noexcept;

/** One fault rule. A request matches when its path is in scope; a match fires per the limits. */
struct FaultRule {
  FaultKind kind = FaultKind::HttpError;
  /** "" for every endpoint; an exact path ("/wallet/getblockbynum"); a prefix ending in '/'
   *  ("/walletsolidity/"); or a bare endpoint name ("getblockbynum") for both APIs. */
  std::string path;
  /** Chance that a matching request fires the rule, 0..1. */
  double probability = 1.0;
  /** Fire at most this many times (then the rule is inert); 0 = no limit. */
  std::uint64_t count = 0;
  /** HttpError / Suspended: the status. 0 = the kind's default (500 / 403). */
  int status = 0;
  /** Seconds for a Retry-After header; nullopt = the default (1 for http_error 429 and 403, else
   *  none); a negative value = never send one. */
  std::optional<std::int64_t> retry_after_s;
  /** JavaError / HttpError / Suspended: overrides the default body text. */
  std::string message;

  std::uint64_t fired = 0;  // times fired so far (reported by GET /admin/faults)
};

/** All fault settings; what POST /admin/faults replaces and GET /admin/faults shows. */
struct FaultConfig {
  /** Added to every non-admin response, before any rule's effect. */
  std::uint64_t latency_ms = 0;
  /** A uniform random 0..jitter_ms is added to latency_ms. */
  std::uint64_t jitter_ms = 0;
  /** Latency only for requests in this scope (same syntax as FaultRule::path); "" = all. */
  std::string latency_path;
  std::vector<FaultRule> rules;
  /** Seeds the random draws; the same seed and request sequence give the same faults. */
  std::uint64_t seed = 1;

  /**
   * Parses the JSON object of POST /admin/faults (docs/tronsim.md). Unknown keys are rejected.
   * Errors: InvalidArgument naming the field, e.g. `rules[0].kind: unknown "boom"`.
   */
  [[nodiscard]] static pipeline::Result<FaultConfig> fromJson(std::string_view json);
  /** Parses a CLI rule `kind[:key=value,…]`, e.g. `http_error:status=503,probability=0.1`.
   *  Errors: InvalidArgument. */
  [[nodiscard]] static pipeline::Result<FaultRule> parseRuleSpec(std::string_view spec);

  /** The compact JSON form (the shape fromJson accepts, plus each rule's `fired`). */
  std::string toJson() const;
};

/** The decision for one request: how long to wait, then which rule (if any) replaces it. */
struct FaultDecision {
  std::uint64_t delay_ms = 0;
  std::optional<FaultRule> fault;  // a copy of the rule that fired
};

/**
 * Decides, request by request, which fault applies. Pure logic (no loop, no I/O): the server
 * asks decide() once per API request, in arrival order, so a given seed and request sequence
 * always produce the same decisions. Rules are tried in order; the first that fires wins.
 * Loop thread only (not thread-safe).
 */
class Faults {
 public:
  Faults() : Faults(FaultConfig{}) {}
  explicit Faults(FaultConfig config);

  /** Replaces every setting and reseeds. */
  void configure(FaultConfig config);
  /** Removes rules and latency; keeps the seed. */
  void clear();
  const FaultConfig& config() const noexcept { return config_; }

  FaultDecision decide(std::string_view path);

  /** True when `path` is in `scope` (FaultRule::path syntax). */
  static bool inScope(std::string_view scope, std::string_view path) noexcept;

  /** The response body a kind sends by default ("{}" for Empty, a java-tron Error otherwise). */
  static std::string bodyFor(const FaultRule& rule);
  /** The status a rule answers with (200 for the HTTP-200 kinds). */
  static int statusFor(const FaultRule& rule) noexcept;
  /** Retry-After seconds to send, if any. */
  static std::optional<std::int64_t> retryAfterFor(const FaultRule& rule) noexcept;

 private:
  double uniform();

  FaultConfig config_;
  std::mt19937_64 random_;
};

}  // namespace tronsim
