#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "pipeline/status.h"

// Pure delivery policy shared by the Sender's webhook and e-mail paths: outcome classification,
// backoff, Retry-After, and the webhook signature.
//
// Webhook signature (when hmac_secret is configured), Stripe-like:
//
//   X-PointTron-Signature: t=1714564800,v1=5f8c…(64 hex digits)
//
// where t is the sending time in Unix seconds and v1 = hex(HMAC-SHA256(secret, "<t>.<body>")),
// body being the exact bytes of the request body. A receiver recomputes v1 from the raw body and
// the t it received, compares in constant time, and rejects the request when it differs or when
// |now - t| exceeds its tolerance (5 minutes is usual): t is signed too, so a captured request
// cannot be replayed later with a fresh t. Each retry is signed anew (new t). Unknown `key=value`
// parts must be ignored, so further schemes (v2=…) can be added alongside v1 later.

namespace stages::alerter::notify {

inline constexpr std::string_view kSignatureHeader = "X-PointTron-Signature";

/** What to do with a notification after one attempt. */
enum class Outcome {
  Delivered,  // done
  Retry,      // transient: try again after a delay
  Reject,     // can never succeed as is: give up now
};
std::string_view outcomeName(Outcome outcome) noexcept;

/** 2xx: Delivered; 429 and 5xx: Retry; anything else (other 4xx, 1xx, 3xx): Reject. */
Outcome classifyHttpStatus(int status) noexcept;

/** A transport failure of pipeline::http::Client: InvalidArgument (a URL curl cannot use) is
 * Reject; Timeout, Http (connect, TLS, protocol) and Unavailable are Retry. */
Outcome classifyTransportError(pipeline::ErrorType type) noexcept;

/** Delay before attempt n+1 after n failed attempts (n >= 1): initial * 2^(n-1), at most max. */
std::chrono::milliseconds backoffDelay(std::uint32_t failed_attempts,
                                       std::chrono::milliseconds initial,
                                       std::chrono::milliseconds max);

/**
 * Parses a Retry-After value: delay-seconds ("120") or an HTTP-date (IMF-fixdate "Wed, 01 May
 * 2024 12:00:00 GMT", or the obsolete RFC 850 and asctime forms), relative to `now_ms` (a date
 * in the past gives 0). nullopt if it is neither.
 */
std::optional<std::chrono::milliseconds> parseRetryAfter(std::string_view value,
                                                         std::int64_t now_ms);

/** An HTTP-date (IMF-fixdate) for `ms` since the epoch, as Retry-After and Date use. */
std::string formatHttpDate(std::int64_t ms_since_epoch);

/** The X-PointTron-Signature value for `body` sent at `unix_seconds`. */
std::string signatureHeader(std::string_view secret, std::int64_t unix_seconds,
                            std::string_view body);

/** A receiver's check of a signature header: v1 matches and t is within `tolerance_s` of
 * `now_s`. Constant-time comparison. */
bool verifySignature(std::string_view header, std::string_view secret, std::string_view body,
                     std::int64_t now_s, std::int64_t tolerance_s = 300);

/** Lower-case hex of HMAC-SHA256(key, message). */
std::string hmacSha256Hex(std::string_view key, std::string_view message);

}  // namespace stages::alerter::notify
