#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "stages/fetcher/block.h"

namespace stages::fetcher {

/** What a node's answer amounts to. Each kind has its own reaction in the node pool. */
enum class AnswerKind {
  Blocks,       // zero or more blocks (a block object, or {"block":[...]} incl. an empty list)
  NotFound,     // `{}`: block not found, or a getblockbylimitnext range the node refuses
  NodeError,    // {"Error":"..."} (HTTP 200 on java-tron), 404 (API disabled), other 4xx
  RateLimited,  // 429, 403 suspension, TronGrid frequency-limit body, "lack of computing resources"
  ServerError,  // 5xx (except a 503 that is a rate limit)
  Malformed,    // empty, truncated or non-JSON body, or a block that fails verification
};

std::string_view answerKindName(AnswerKind kind) noexcept;

/** A classified node answer. */
struct NodeAnswer {
  AnswerKind kind = AnswerKind::Malformed;
  /** Kind Blocks: in the order the node sent them (not checked for contiguity here). */
  std::vector<ParsedBlock> blocks;
  /** The node's Error text or what was wrong, at most 200 bytes; never contains request data. */
  std::string message;
  /** RateLimited: how long the node asked us to stay away (Retry-After, or "suspended for Ns"). */
  std::optional<Millis> retry_after;
  /** RateLimited: the key or address is suspended (TronGrid), not merely throttled. */
  bool suspended = false;
};

/**
 * Parses and classifies TRON HTTP API answers (java-tron's HTTP API; real answers in tests/fixtures/tron-blocks/):
 * getnowblock / getblockbynum / getblock block objects and getblockbylimitnext /
 * getblockbylatestnum lists. Accepts any whitespace and key order; int64 fields as JSON numbers
 * or decimal strings (int64_as_string). Each block is verified: blockID is 64 hex characters whose
 * first 16 are the height, parentHash is 64 hex (absent only at height 0), and a timestamp is
 * present above height 0. One bad block makes the whole answer Malformed: a node that sends one
 * wrong block is not trusted for its neighbours either.
 *
 * Lifecycle: construct once and reuse (simdjson parsers keep their buffers). Not thread-safe: one
 * instance per thread (the loop thread). No exceptions escape; every failure is a NodeAnswer.
 */
class BlockParser {
 public:
  BlockParser();
  ~BlockParser();
  BlockParser(const BlockParser&) = delete;
  BlockParser& operator=(const BlockParser&) = delete;

  /** Classifies the body of an HTTP 200 answer. */
  NodeAnswer parseBody(std::string_view body) noexcept;

  /**
   * Classifies a whole HTTP answer. `retry_after` is the Retry-After header value ("" if absent):
   * delta-seconds or an IMF-fixdate, the latter resolved against `now_unix_ms` (wall clock).
   */
  NodeAnswer interpret(int http_status, std::string_view retry_after, std::string_view body,
                       std::int64_t now_unix_ms) noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/**
 * Parses a Retry-After header value: delta-seconds, or an HTTP-date (IMF-fixdate) relative to
 * `now_unix_ms`. A date in the past gives 0. nullopt for anything else.
 */
std::optional<Millis> parseRetryAfter(std::string_view value, std::int64_t now_unix_ms) noexcept;

}  // namespace stages::fetcher
